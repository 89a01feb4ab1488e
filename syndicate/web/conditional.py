"""HTTP request headers for cached files: ``If-None-Match``, ``If-Modified-Since``,
``Accept-Encoding``. Parsing is memoised per header value (clients repeat theirs).
"""

from __future__ import annotations

import functools
from email.utils import parsedate_to_datetime


@functools.lru_cache(maxsize=1024)
def entity_tags(header: str) -> frozenset[str] | None:
    """The opaque tags of an ``If-None-Match`` value (``W/`` dropped); None for ``*``."""
    if header.strip() == "*":
        return None
    tags = (tag.strip().removeprefix("W/") for tag in header.split(","))
    return frozenset(tag for tag in tags if tag)


def none_match(header: str, etag: str) -> bool:
    """Whether ``If-None-Match: header`` matches ``etag`` (weak comparison, RFC 9110 13.1.2)."""
    tags = entity_tags(header)
    return tags is None or etag in tags


@functools.lru_cache(maxsize=1024)
def http_date_seconds(header: str) -> int | None:
    """An HTTP date as seconds since the epoch; None when it is not a valid date."""
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None
    return int(when.timestamp())


def not_modified(
    if_none_match: str | None, if_modified_since: str | None, etag: str, mtime: int
) -> bool:
    """Whether a GET/HEAD with these validators gets 304.

    ``If-None-Match`` wins when present (``If-Modified-Since`` is then ignored).
    """
    if if_none_match is not None:
        return none_match(if_none_match, etag)
    if if_modified_since is not None:
        since = http_date_seconds(if_modified_since)
        return since is not None and mtime <= since
    return False


@functools.lru_cache(maxsize=256)
def accepts_gzip(header: str) -> bool:
    """Whether ``Accept-Encoding: header`` allows gzip (``gzip`` or ``*`` with q > 0)."""
    weights: dict[str, float] = {}
    for part in header.lower().split(","):
        name, _, params = part.strip().partition(";")
        weights[name.strip()] = _quality(params)
    if "gzip" in weights:
        return weights["gzip"] > 0
    return weights.get("*", 0) > 0


def _quality(params: str) -> float:
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.strip() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0
