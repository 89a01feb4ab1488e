"""The ``web:`` section of ``schedules.yaml``: what ``syndicate serve`` needs.

Kept apart from :mod:`syndicate.config` (which imports :class:`WebConfig`) so the
web keys live in one short module. Errors carry key paths such as
``web.rate_limits.per_address`` like every other config key.
"""

import ipaddress
from datetime import timedelta
from typing import Annotated, Any

from syndicate.config_checks import Length, Range, before
from syndicate.config_model import ConfigModel, model, nested
from syndicate.schedule import parse_duration

MIN_CONFIRM_TTL = timedelta(minutes=10)
MAX_CONFIRM_TTL = timedelta(days=30)


def _ttl(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        duration = value
    elif isinstance(value, str):
        duration = parse_duration(value)
    else:
        raise ValueError("expected a duration such as 48h or 2d")
    if not MIN_CONFIRM_TTL <= duration <= MAX_CONFIRM_TTL:
        raise ValueError(f"invalid duration {value!r}: between 10m and 30d")
    return duration


def _header_value(value: str) -> str:
    if not value.isprintable() or not value.isascii():
        raise ValueError(f"{value!r}: a header value is printable ASCII on one line")
    return value


def _proxy(value: str) -> str:
    if value == "*":
        return value
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address or network (e.g. 10.0.0.0/8)") from None
    return value


ConfirmTtl = Annotated[timedelta, before(_ttl)]
HeaderValue = Annotated[str, Length(1, 200), _header_value]
Proxy = Annotated[str, Length(1, 64), _proxy]
Count = Annotated[int, Range(ge=1, le=100_000)]


@model
class RateLimitsConfig(ConfigModel):
    """Limits against abuse of the subscribe form.

    ``per_address``: confirmation mails one address may receive per day;
    ``per_client``: subscribe posts one client (IP address) may make per hour.
    """

    per_address: Count = 3
    per_client: Count = 20


@model
class WebConfig(ConfigModel):
    """``syndicate serve``: confirmation links, rate limits, feed caching, proxies.

    ``confirm_ttl``: how long a subscription's confirmation link works;
    ``feeds_cache_control``: the ``Cache-Control`` of files under ``/feeds/``;
    ``trusted_proxies``: addresses (or networks, or ``*``) of reverse proxies whose
    ``X-Forwarded-For`` and ``X-Forwarded-Proto`` are believed.
    """

    confirm_ttl: ConfirmTtl = timedelta(hours=48)
    rate_limits: RateLimitsConfig = nested(RateLimitsConfig)
    feeds_cache_control: HeaderValue = "public, max-age=300"
    trusted_proxies: tuple[Proxy, ...] = ("127.0.0.1", "::1")
