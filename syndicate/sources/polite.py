"""Per-host politeness for every HTTP fetch: a delay between requests, a cap on those in flight.

One :class:`HostGate` exists per host (and port) for the whole process, so sources
read in parallel threads share it. The first source to use a host sets its
concurrency; the delay is the largest any source asked for.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

__all__ = ["HostGate", "host_gate"]


class HostGate:
    """At most ``concurrency`` requests at once, request starts ``delay`` seconds apart."""

    def __init__(self, delay: float, concurrency: int) -> None:
        self.delay = max(0.0, delay)
        self.concurrency = max(1, concurrency)
        self._slots = threading.BoundedSemaphore(self.concurrency)
        self._lock = threading.Lock()
        self._next_start = 0.0

    def _wait_turn(self) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_start)
            self._next_start = start + self.delay
        if start > now:
            time.sleep(start - now)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one request slot for this host, after waiting for the host's turn."""
        with self._slots:
            self._wait_turn()
            yield


_GATES: dict[str, HostGate] = {}
_GATES_LOCK = threading.Lock()


def host_gate(url: str, delay: float, concurrency: int) -> HostGate:
    """The process-wide gate for ``url``'s host and port (local files share one, without delay)."""
    host = urlsplit(url).netloc.lower().rpartition("@")[2]
    with _GATES_LOCK:
        gate = _GATES.get(host)
        if gate is None:
            gate = _GATES[host] = HostGate(delay if host else 0.0, concurrency)
        elif host:
            gate.delay = max(gate.delay, delay)
        return gate
