"""One registry entry per delivery kind: its transport, batch size, output and checks.

Adding a delivery kind means adding its config model in :mod:`syndicate.config`
(to the ``Delivery`` union) and one :class:`DeliveryKind` here; the pipeline,
``check`` and the CLI ask this registry and never test for a kind themselves.
Transports are built lazily so that importing this module loads no mail library.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syndicate.config import Config, Delivery, FileDelivery, SmtpDelivery

if TYPE_CHECKING:
    from syndicate.transports import Transport

__all__ = ["DEFAULT_LIMITS", "DELIVERY_KINDS", "FILE_BATCH_SIZE", "DeliveryKind", "delivery_kind"]

FILE_BATCH_SIZE = 500
DEFAULT_LIMITS = (3, 3)


@dataclass(frozen=True)
class DeliveryKind:
    """What one delivery kind provides to the rest of the program.

    ``transport`` builds the transport for one digest; ``batch_size`` says how
    many messages share one transport; ``output`` is the folder messages are
    written to (None when they leave the machine); ``environment`` lists
    ``(key, problem)`` pairs the config file alone cannot show; ``output_key``
    names the key that sets ``output``; ``limits`` gives (failures in a row to
    use the transport before an edition stops, policy refusals in a row before
    a recipient domain is paused); ``exchange_seconds`` how long one exchange
    with the server may wait for an answer; ``connections`` how many messages
    may be in flight at once (one per connection); ``pace`` the rate limits
    (messages per second overall or None, and per recipient domain).
    """

    transport: Callable[[Config, Any], Transport]
    batch_size: Callable[[Any], int]
    output: Callable[[Config, Any], Path | None] = lambda config, delivery: None
    environment: Callable[[Any], list[tuple[str, str]]] = lambda delivery: []
    output_key: str = "folder"
    limits: Callable[[Any], tuple[int, int]] = lambda delivery: DEFAULT_LIMITS
    exchange_seconds: Callable[[Any], float] = lambda delivery: 0.0
    connections: Callable[[Any], int] = lambda delivery: 1
    pace: Callable[[Any], tuple[float | None, Mapping[str, float]]] = lambda delivery: (None, {})


def _file_transport(config: Config, delivery: FileDelivery) -> Transport:
    from syndicate.transports import FileTransport

    return FileTransport(config.resolve(delivery.folder))


def _smtp_transport(config: Config, delivery: SmtpDelivery) -> Transport:
    from syndicate.smtp import SmtpTransport

    return SmtpTransport(delivery)


def _smtp_environment(delivery: SmtpDelivery) -> list[tuple[str, str]]:
    """An unset password variable, named by its key."""
    if not delivery.password_env or os.environ.get(delivery.password_env):
        return []
    return [("password_env", f"environment variable {delivery.password_env} is not set")]


DELIVERY_KINDS: dict[str, DeliveryKind] = {
    "file": DeliveryKind(
        transport=_file_transport,
        batch_size=lambda delivery: FILE_BATCH_SIZE,
        output=lambda config, delivery: config.resolve(delivery.folder),
    ),
    "smtp": DeliveryKind(
        transport=_smtp_transport,
        batch_size=lambda delivery: delivery.batch_size,
        environment=_smtp_environment,
        limits=lambda delivery: (delivery.relay_failures, delivery.domain_refusals),
        exchange_seconds=lambda delivery: delivery.timeout,
        connections=lambda delivery: delivery.connections,
        pace=lambda delivery: (delivery.rate_limit, delivery.domain_limits),
    ),
}


def delivery_kind(delivery: Delivery) -> DeliveryKind:
    """The registry entry for ``delivery`` (KeyError for a kind nobody registered)."""
    return DELIVERY_KINDS[delivery.kind]
