"""One total time limit per HTTP fetch, whatever the server drips.

httpx times each socket operation; a :class:`Deadline` watches the whole fetch
(connecting, TLS, redirects, headers and body): at its time the connection's
socket is shut down, which wakes a blocked read. It learns the socket from the
connection itself: :func:`watch_connections` gives a client's pools a network
backend whose streams report, on each read and write, to the deadline of the
fetch the calling thread is making (:func:`fetching`), so a reused connection is
watched from its first byte as a new one is. One daemon thread
(:class:`_Watchdog`) serves the deadlines of every fetch of the process.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx


def watch_connections(client: httpx.Client) -> None:
    """Let the fetch deadline of the calling thread watch every connection ``client`` uses.

    httpcore's trace tells which socket a new connection has, not which one a
    request reuses; streams that report themselves on each read and write do.
    (httpx takes no network backend of its own: it is set on each pool.)
    """
    transports = [client._transport, *client._mounts.values()]
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if isinstance(backend, httpcore.NetworkBackend) and not isinstance(backend, _Watched):
            pool._network_backend = _Watched(backend)  # type: ignore[union-attr]


_FETCHING = threading.local()
"""``deadline``: the :class:`Deadline` of the fetch the thread is making, if any."""


@contextmanager
def fetching(deadline: Deadline) -> Iterator[Deadline]:
    """Make ``deadline`` the one the calling thread's connections report to; cancel it after."""
    _FETCHING.deadline = deadline
    try:
        yield deadline
    finally:
        _FETCHING.deadline = None
        deadline.cancel()


def _report(stream: httpcore.NetworkStream) -> None:
    deadline = getattr(_FETCHING, "deadline", None)
    if deadline is not None:
        deadline.watch(stream)


class _Watched(httpcore.NetworkBackend):
    """A network backend whose streams report to the calling thread's deadline."""

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None, socket_options: Any = None,
                    ) -> httpcore.NetworkStream:  # fmt: skip
        """Connect as the wrapped backend does; watch the stream from the start."""
        stream = _WatchedStream(
            self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        )
        _report(stream)
        return stream

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Any = None) -> httpcore.NetworkStream:  # fmt: skip
        """Connect as the wrapped backend does."""
        return _WatchedStream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        """Sleep as the wrapped backend does."""
        self._inner.sleep(seconds)


class _WatchedStream(httpcore.NetworkStream):
    """A connection that reports itself to the deadline of whichever fetch uses it."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Read, watched by the current fetch's deadline."""
        _report(self)
        return self._inner.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """Write, watched by the current fetch's deadline."""
        _report(self)
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        """Close the connection."""
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:  # fmt: skip
        """Start TLS (watched: a handshake can drip too)."""
        _report(self)
        stream = _WatchedStream(self._inner.start_tls(ssl_context, server_hostname, timeout))
        _report(stream)
        return stream

    def get_extra_info(self, info: str) -> Any:
        """What the wrapped stream says (its socket, whether it is readable...)."""
        return self._inner.get_extra_info(info)


class _Watchdog:
    """One daemon thread running callbacks at their times, for every fetch of the process.

    A fetch's deadline costs a heap entry, not a thread of its own; a cancelled
    entry is dropped when it comes up (or when cancelled ones are most of the heap).
    """

    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._heap: list[list[Any]] = []
        self._order = itertools.count()
        self._cancelled = 0
        self._thread: threading.Thread | None = None

    def call_at(self, at: float, callback: Callable[[], None]) -> list[Any]:
        """Run ``callback`` at monotonic time ``at`` unless cancelled; the entry to cancel."""
        entry = [at, next(self._order), callback]
        with self._wake:
            heapq.heappush(self._heap, entry)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="fetch-deadlines",
                                                daemon=True)  # fmt: skip
                self._thread.start()
            self._wake.notify()
        return entry

    def cancel(self, entry: list[Any]) -> None:
        """Forget ``entry`` (nothing happens if it already ran)."""
        with self._wake:
            if entry[2] is None:
                return
            entry[2] = None
            self._cancelled += 1
            if self._cancelled > 64 and self._cancelled * 2 > len(self._heap):
                self._heap = [e for e in self._heap if e[2] is not None]
                heapq.heapify(self._heap)
                self._cancelled = 0

    def _next_due(self) -> Callable[[], None]:
        """Wait for the earliest live entry's time; take it off the heap."""
        with self._wake:
            while True:
                while self._heap and self._heap[0][2] is None:
                    heapq.heappop(self._heap)
                    self._cancelled = max(0, self._cancelled - 1)
                if not self._heap:
                    self._wake.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._wake.wait(wait)
                    continue
                entry = heapq.heappop(self._heap)
                callback: Callable[[], None] = entry[2]
                entry[2] = None
                return callback

    def _run(self) -> None:
        while True:
            self._next_due()()


_WATCHDOG = _Watchdog()


class Deadline:
    """One total time limit for a fetch: when it passes, the connection is shut down.

    httpx times each socket operation; this watches the whole: it learns each
    connection's socket from httpcore's ``trace`` extension (and from the
    response, for a reused connection) and shuts it down at the deadline, which
    wakes a blocked read.
    """

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds
        self.fired = False
        self._entry: list[Any] | None = None
        self._sock: socket.socket | None = None

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore trace hook: watch each new connection (redirects open more)."""
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            self.watch(info.get("return_value"))

    def watch(self, stream: Any) -> None:
        """Shut ``stream``'s socket down at the deadline (at once if it has passed)."""
        sock = stream.get_extra_info("socket") if stream is not None else None
        if not isinstance(sock, socket.socket) or sock is self._sock:
            return
        self._sock = sock
        self.cancel()
        self._entry = _WATCHDOG.call_at(self.at, lambda: self._fire(sock))

    def _fire(self, sock: socket.socket) -> None:
        self.fired = True
        with contextlib.suppress(OSError):  # already closed: the fetch ended on its own
            # socket.socket's own shutdown: an SSLSocket's would drop its TLS state
            # under the reading thread's feet.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)

    @property
    def passed(self) -> bool:
        """True once the deadline has passed (whether or not a socket was shut)."""
        return self.fired or time.monotonic() >= self.at

    def cancel(self) -> None:
        """Stop watching (the fetch is over)."""
        if self._entry is not None:
            _WATCHDOG.cancel(self._entry)
            self._entry = None
