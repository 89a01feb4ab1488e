"""Field types shared by the config models: validated text, ids, URLs, paths, durations.

Each type is an ``Annotated`` alias whose checks say in one line what is wrong
(:mod:`syndicate.config_model` puts the key path in front). Paths and locations
are resolved against the config folder (:func:`~syndicate.config_checks.base_folder`).

The config modules do without ``from __future__ import annotations``: the
validation layer reads each field's annotation as an object; a method's forward
reference is quoted instead.
"""

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from syndicate import WEB_SCHEMES
from syndicate.config_checks import Length, Range, base_folder, before
from syndicate.schedule import Schedule, parse_duration

MAX_DURATION = timedelta(days=3660)
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_HOST_RE = re.compile(
    r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$"
)


def _schedule(value: Any) -> Schedule:
    if isinstance(value, Schedule):
        return value
    return Schedule.parse(value)


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float):
        raise ValueError(f"invalid duration {value!r}: add a unit, e.g. 30m or 7d")
    if not isinstance(value, str):
        raise ValueError("expected a duration such as 30m or 7d")
    duration = parse_duration(value)
    if duration > MAX_DURATION:
        raise ValueError(f"invalid duration {value!r}: at most {MAX_DURATION.days}d")
    return duration


def _zone(value: Any) -> ZoneInfo:
    if isinstance(value, ZoneInfo):
        return value
    if not isinstance(value, str):
        raise ValueError("expected an IANA timezone name such as Asia/Seoul")
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"unknown timezone {value!r} (use an IANA name such as Asia/Seoul)"
        ) from None


def _ident(value: Any) -> str:
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise ValueError(
            f"invalid id {value!r}: use lowercase letters, digits, '-' or '_' (at most 64)"
        )
    return value


def _line(value: Any) -> Any:
    if isinstance(value, str) and any(c in value for c in "\r\n\t"):
        raise ValueError("must be one line (no line breaks or tabs)")
    return value


def _absolute(path: Path) -> Path:
    """Resolve ``path`` against the config folder being validated."""
    base = base_folder()
    if base is None or path.is_absolute():
        return path
    try:
        return (base / path).resolve()
    except (OSError, ValueError, RuntimeError) as exc:
        raise ValueError(f"cannot resolve path {str(path)!r}: {exc}") from None


def _path(value: Any) -> Path:
    if isinstance(value, Path):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a path (text, not empty)")
    return _absolute(Path(value))


def resolve_location(value: str) -> str:
    """An http(s) URL, a ``file:`` URL, or a path made absolute against the config folder."""
    scheme = urlsplit(value).scheme
    if scheme in WEB_SCHEMES:
        return http_url(value)
    if scheme == "file":
        return value
    if scheme and len(scheme) > 1:
        raise ValueError(
            f"{value!r}: unsupported URL scheme {scheme!r} (use http, https or a path)"
        )
    return str(_absolute(Path(value)))


def http_url(value: str) -> str:
    """Check that ``value`` is an absolute http(s) URL a reader could open."""
    if any(c.isspace() for c in value) or not value.isprintable():
        raise ValueError(f"{value!r} is not a URL: it contains spaces or control characters")
    try:
        parts = urlsplit(value)
        host = (parts.hostname or "").encode("idna").decode("ascii")
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except (ValueError, UnicodeError):
        raise ValueError(f"{value!r} is not a valid http(s) URL") from None
    if parts.scheme not in WEB_SCHEMES or not _HOST_RE.match(host):
        raise ValueError(f"{value!r} is not an http(s) URL with a host name")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{value!r}: user names and passwords do not belong in this URL")
    return value


# A ``before`` function makes the value from what YAML gave; the other checks run
# after the type check, in order. Types are strict: ``Flag`` takes only true/false.
ScheduleField = Annotated[Schedule, before(_schedule)]
DurationField = Annotated[timedelta, before(_duration)]
ZoneField = Annotated[ZoneInfo, before(_zone)]
Ident = Annotated[str, before(_ident)]
PathField = Annotated[Path, before(_path)]
Flag = bool
Seconds = Annotated[float, Range(gt=0, le=3600)]
Line = Annotated[str, Length(1, 300), _line]
Url = Annotated[str, Length(1, 2000), _line]
Text = Annotated[str, Length(0, 5000)]
Location = Annotated[Url, resolve_location]
