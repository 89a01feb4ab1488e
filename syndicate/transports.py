"""Where a message goes: the :class:`Transport` protocol, ``.eml`` files, and the
configured transport of a digest.

SMTP itself lives in :mod:`syndicate.smtp` (the only module importing :mod:`smtplib`).
"""

from __future__ import annotations

import hashlib
import logging
import re
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Protocol

from syndicate.assemble import Assembled
from syndicate.config import Config, DigestConfig
from syndicate.errors import DeliveryError
from syndicate.files import write_atomic

Outgoing = EmailMessage | Assembled
"""A message ready to go: composed by the email package, or assembled from a template."""

logger = logging.getLogger(__name__)

_UNSAFE_NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")


class Transport(Protocol):
    """Something that delivers messages; used as a context manager around a batch."""

    def __enter__(self) -> Transport:
        """Prepare for a batch (connections may still be opened lazily)."""

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Release what the batch used (close connections)."""

    written: list[Path]
    """Files written so far, oldest first (empty when messages leave the machine)."""

    def send(self, message: Outgoing, recipient: str) -> None:
        """Deliver ``message`` to ``recipient``; raise :class:`DeliveryError` on failure."""


def _message_id(message: Outgoing) -> str:
    """Return the message's Message-ID, or a hash of its bytes when it has none."""
    value = message.get("Message-ID")
    if value:
        return str(value)
    return hashlib.sha256(message.as_bytes()).hexdigest()


def eml_name(message: Outgoing) -> str:
    """Return the file name of ``message``: its Message-ID in safe characters + ``.eml``."""
    name = _UNSAFE_NAME_RE.sub("_", _message_id(message).strip("<> ")).strip("._")
    return f"{name[:200] or 'message'}.eml"


class FileTransport:
    """Write each message as one ``.eml`` file directly in ``folder``.

    The file name comes from the Message-ID, so re-sending a message overwrites
    its file instead of adding one. Files are written atomically.
    """

    def __init__(self, folder: Path) -> None:
        """Deliver into ``folder`` (created when needed)."""
        self.folder = Path(folder)
        self.written: list[Path] = []

    def __enter__(self) -> FileTransport:
        """Start a batch."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Nothing to release."""

    def path_for(self, message: Outgoing) -> Path:
        """Return the file ``message`` is (or would be) written to."""
        return self.folder / eml_name(message)

    def send(self, message: Outgoing, recipient: str) -> None:
        """Write ``message`` to its ``.eml`` file (temporary file, then rename)."""
        path = self.path_for(message)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_atomic(path, message.as_bytes(), new_mode=0o600)  # holds an address
        except OSError as exc:
            reason = exc.strerror or str(exc)
            problem = f"cannot write {path}: {reason}"
            raise DeliveryError(recipient, problem, unreachable=True) from exc
        self.written.append(path)
        logger.debug("wrote %s for %s", path, recipient)


def make_transport(config: Config, digest: DigestConfig) -> Transport:
    """Return the transport configured for ``digest``."""
    from syndicate.deliveries import DELIVERY_KINDS

    kind = DELIVERY_KINDS.get(digest.delivery.kind)
    if kind is None:
        message = f"unknown delivery kind {digest.delivery.kind!r}"
        raise DeliveryError(digest.id, message, permanent=True)
    return kind.transport(config, digest.delivery)
