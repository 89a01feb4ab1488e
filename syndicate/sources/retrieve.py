"""Fetch the bytes of a source from a local path, a ``file://`` URL or an http(s) URL.

Retrievers never parse: they return the body plus the caching headers
(``ETag`` / ``Last-Modified``) so the next run can make a conditional request.
Every failure becomes a one-line :class:`~syndicate.errors.SourceError`.

An HTTP fetch has one total deadline (the source timeout) for connecting,
redirects, headers and body together, not a timeout per read: a
:class:`Deadline` shuts the connection's socket down when the time is up, so a
server dripping one byte at a time cannot hold a run; a reused connection is
watched from its first byte too (see :mod:`syndicate.sources.deadline`).

An answer other than 2xx or 304 raises :class:`FetchRefused`, which carries the
status and any ``Retry-After`` (seconds or an HTTP date); a permanent redirect
(301, 308) shows in :attr:`Retrieved.moved_to`. Responses may be gzip or br.
"""

from __future__ import annotations

import email.utils
import itertools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import httpx

from syndicate import WEB_SCHEMES
from syndicate.errors import SourceError
from syndicate.files import UnreadableFile, read_regular_file
from syndicate.model import SourceState
from syndicate.sources.deadline import Deadline, fetching, watch_connections

logger = logging.getLogger(__name__)

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)


@dataclass(frozen=True)
class Retrieved:
    """The outcome of one retrieval: the body (None when not modified) and cache headers."""

    content: bytes | None
    content_type: str | None
    final_url: str
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False
    moved_to: str | None = None
    """Where permanent redirects (301/308, from the first hop on) led, if anywhere."""


PERMANENT = frozenset({301, 308})
RETRY_AFTER_STATUSES = frozenset({429, 503})
MAX_RETRY_AFTER = 7 * 24 * 3600.0


class FetchRefused(SourceError):
    """The server answered with an error status (``retry_after`` in seconds, if it said)."""

    def __init__(
        self, source_id: str, message: str, *, status: int, url: str, retry_after: float | None
    ) -> None:
        super().__init__(source_id, message)
        self.status = status
        self.url = url
        self.retry_after = retry_after


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` value asks to wait (delay or HTTP date), at most a week.

    None when absent or unreadable; a date in the past gives 0.
    """
    text = (value or "").strip()
    if text.isdigit():
        return min(float(text), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    wait = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(wait, 0.0), MAX_RETRY_AFTER)


def retrieve(
    location: str,
    *,
    state: SourceState,
    timeout: float,
    user_agent: str,
    max_bytes: int,
    client: httpx.Client | None = None,
) -> Retrieved:
    """Return the bytes at ``location`` (path, ``file://`` or http(s) URL).

    HTTP requests are conditional on ``state.etag`` / ``state.last_modified``;
    a 304 answer gives ``not_modified=True``. Raise :class:`SourceError` naming
    ``state.source_id`` on any failure.
    """
    scheme = urlsplit(location).scheme.lower()
    if scheme in WEB_SCHEMES:
        with _client(client, timeout, user_agent) as http:
            return _retrieve_http(
                http, location, state, timeout=timeout, user_agent=user_agent, max_bytes=max_bytes
            )
    if scheme == "file":
        return _retrieve_file(_file_url_path(location, state), state, max_bytes)
    if len(scheme) > 1:
        raise SourceError(state.source_id, f"unsupported URL scheme {scheme!r} in {location}")
    return _retrieve_file(Path(location), state, max_bytes)


# --- local files -------------------------------------------------------------


def _file_url_path(location: str, state: SourceState) -> Path:
    parts = urlsplit(location)
    if parts.netloc not in ("", "localhost"):
        raise SourceError(state.source_id, f"file URL on another host is not supported: {location}")
    return Path(url2pathname(parts.path))


def _retrieve_file(path: Path, state: SourceState, max_bytes: int) -> Retrieved:
    try:
        content = read_regular_file(path, max_bytes)
    except UnreadableFile as exc:
        reason = f"file not found: {path}" if exc.missing else f"{path}: {exc}"
        raise SourceError(state.source_id, reason) from None
    return Retrieved(content=content, content_type=None, final_url=path.resolve().as_uri())


# --- HTTP ----------------------------------------------------------------------


@contextmanager
def _client(client: httpx.Client | None, timeout: float, user_agent: str) -> Iterator[httpx.Client]:
    """Yield ``client``, or a temporary client closed afterwards."""
    if client is not None:
        yield client
        return
    with make_client(timeout=timeout, user_agent=user_agent) as temporary:
        yield temporary


def make_client(*, timeout: float, user_agent: str, keepalive: int = 0) -> httpx.Client:
    """Return an httpx client suited for fetching feeds (redirects followed).

    With ``keepalive`` 0 every fetch opens its own connection, which its
    :class:`Deadline` watches from the start; a shared client for a whole run
    keeps up to ``keepalive`` idle connections for reuse per host.
    """
    client = httpx.Client(
        timeout=timeout,
        follow_redirects=True,
        headers={"User-Agent": user_agent, "Accept": ACCEPT},
        limits=httpx.Limits(max_keepalive_connections=keepalive, keepalive_expiry=10.0),
    )
    watch_connections(client)
    return client


def _request_headers(state: SourceState, user_agent: str) -> dict[str, str]:
    headers = {"User-Agent": user_agent, "Accept": ACCEPT}
    if state.etag:
        headers["If-None-Match"] = state.etag
    if state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    return headers


def _retrieve_http(
    client: httpx.Client,
    url: str,
    state: SourceState,
    *,
    timeout: float,
    user_agent: str,
    max_bytes: int,
) -> Retrieved:
    headers = _request_headers(state, user_agent)
    deadline = Deadline(timeout)
    try:
        with fetching(deadline), client.stream(
            "GET", url, headers=headers, timeout=timeout, follow_redirects=True,
            extensions={"trace": deadline.trace},
        ) as response:  # fmt: skip
            deadline.watch(response.extensions.get("network_stream"))
            return _read_response(response, state, max_bytes, deadline)
    except httpx.HTTPError as exc:
        problem = _timed_out(url, timeout) if deadline.passed else None
        raise SourceError(
            state.source_id, problem or _describe_http_error(exc, url, timeout)
        ) from exc
    except httpx.InvalidURL as exc:
        raise SourceError(state.source_id, f"invalid URL {url}: {exc}") from exc


def _timed_out(url: str, timeout: float) -> str:
    return f"timed out after {timeout:g}s fetching {url}"


def _read_response(
    response: httpx.Response, state: SourceState, max_bytes: int, deadline: Deadline
) -> Retrieved:
    final_url = str(response.url)
    etag = response.headers.get("etag")
    last_modified = response.headers.get("last-modified")
    if response.status_code == 304:
        response.read()  # the (empty) body read to its end: the connection can be reused
        logger.debug("source %s: not modified (%s)", state.source_id, final_url)
        return Retrieved(
            content=None,
            content_type=None,
            final_url=final_url,
            etag=etag or state.etag,
            last_modified=last_modified or state.last_modified,
            not_modified=True,
            moved_to=_moved(response),
        )
    if not 200 <= response.status_code < 300:
        raise _refused(response, state)
    content = _read_limited(response, state, max_bytes, deadline)
    content_type = response.headers.get("content-type")
    return Retrieved(
        content, content_type, final_url, etag, last_modified, moved_to=_moved(response)
    )


def _refused(response: httpx.Response, state: SourceState) -> FetchRefused:
    status, url = response.status_code, str(response.url)
    phrase = httpx.codes.get_reason_phrase(status) or response.reason_phrase
    reason = f" {' '.join(phrase.split())}" if phrase else ""
    wait = None
    if status in RETRY_AFTER_STATUSES:
        wait = retry_after_seconds(response.headers.get("retry-after"))
    later = f" (retry after {wait:.0f}s)" if wait is not None else ""
    return FetchRefused(state.source_id, f"HTTP {status}{reason} from {url}{later}",
                        status=status, url=url, retry_after=wait)  # fmt: skip


def _moved(response: httpx.Response) -> str | None:
    """The URL that the permanent redirects at the start of the chain point to."""
    hops = [*response.history, response]
    moved = None
    for hop, after in itertools.pairwise(hops):
        if hop.status_code not in PERMANENT:
            break
        moved = str(after.url)
    return moved


def _read_limited(
    response: httpx.Response, state: SourceState, max_bytes: int, deadline: Deadline
) -> bytes:
    declared = response.headers.get("content-length", "")
    too_big = f"response from {response.url} is larger than {max_bytes} bytes"
    if declared.isdigit() and int(declared) > max_bytes:
        raise SourceError(state.source_id, too_big)
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > max_bytes:
            raise SourceError(state.source_id, too_big)
        if deadline.passed:
            raise httpx.ReadTimeout("total deadline passed")
    return bytes(body)


def _describe_http_error(exc: httpx.HTTPError, url: str, timeout: float) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return _timed_out(url, timeout)
    if isinstance(exc, httpx.TooManyRedirects):
        return f"too many redirects fetching {url}"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect to {url}: {_reason(exc)}"
    if isinstance(exc, httpx.UnsupportedProtocol):
        return f"unsupported URL {url}: {_reason(exc)}"
    if isinstance(exc, httpx.DecodingError):
        return f"cannot decode the response from {url}: {_reason(exc)}"
    return f"request to {url} failed: {type(exc).__name__}: {_reason(exc)}"


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
