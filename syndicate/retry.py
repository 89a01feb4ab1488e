"""When to try a deferred send again, and when one pass over an edition stops sending.

Plain decisions, no I/O: :func:`retry_delay` is the backoff of deferred sends;
:class:`Brakes` watches the answers of one pass over an edition and says when
the relay is down (stop the pass) or a recipient domain keeps refusing by
policy (pause that domain for the rest of the pass). What is held back stays
owed and is sent by a later run.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import timedelta

BACKOFF_FACTOR = 3


def retry_delay(attempts: int, first: timedelta, maximum: timedelta) -> timedelta:
    """The wait before the next try of a send deferred after ``attempts`` tries.

    ``first`` after the first try, then three times longer each time, never more
    than ``maximum``: 5 min, 15 min, 45 min, 2 h 15 min, 3 h, 3 h, ...
    """
    delay = first
    for _ in range(max(attempts, 1) - 1):
        if delay >= maximum:
            break
        delay *= BACKOFF_FACTOR
    return min(delay, maximum)


def recipient_domain(address: str) -> str:
    """The domain part of an address, lowercased ("" when there is none)."""
    return address.rpartition("@")[2].lower() if "@" in address else ""


@dataclass
class Brakes:
    """The stops of one pass over an edition.

    ``relay_limit`` consecutive failures to use the server stop the pass
    (``stopped`` holds why); ``domain_limit`` consecutive policy refusals from one
    recipient domain pause it (``paused`` maps domain to why). Each trip returns
    its one log line once. The connection threads of a pass share one: each
    method runs under its lock.
    """

    relay_limit: int
    domain_limit: int
    stopped: str | None = None
    paused: dict[str, str] = field(default_factory=dict)
    _relay_failures: int = 0
    _refusals: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def allows(self, recipient: str) -> bool:
        """True when a message to ``recipient`` may be attempted now."""
        with self._lock:
            return self.stopped is None and recipient_domain(recipient) not in self.paused

    def answered(self, recipient: str) -> None:
        """The server answered for ``recipient``, not refusing by policy: both counts restart."""
        with self._lock:
            self._relay_failures = 0
            self._refusals.pop(recipient_domain(recipient), None)

    def unreachable(self, reason: str) -> str | None:
        """The server could not be used; the stop line when this failure stops the pass."""
        with self._lock:
            self._relay_failures += 1
            if self.stopped is None and self._relay_failures >= self.relay_limit:
                self.stopped = f"{reason} ({self._relay_failures} times in a row)"
                return self.stopped
            return None

    def refused_by_policy(self, recipient: str, reason: str) -> str | None:
        """A policy refusal for ``recipient``; the pause line when it pauses the domain."""
        domain = recipient_domain(recipient)
        with self._lock:
            self._relay_failures = 0
            count = self._refusals.get(domain, 0) + 1
            self._refusals[domain] = count
            if count >= self.domain_limit and domain not in self.paused:
                line = f"{domain} refused {count} messages in a row by policy: {reason}"
                self.paused[domain] = line
                return self.paused[domain]
            return None
