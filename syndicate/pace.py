"""How fast one pass over an edition may send: overall and per recipient domain.

Plain decisions on a clock the caller reads, no I/O: :class:`Pace` keeps one
token bucket for all messages (``rate_limit``) and one per limited recipient
domain (``domain_limits``), each holding a single token, so messages leave
evenly spaced (``1 / rate`` seconds apart) instead of in bursts that mailbox
providers throttle. The connection threads share one :class:`Pace` and ask it
under their lock.
"""

from __future__ import annotations

from collections.abc import Mapping


class Pace:
    """Token buckets (one token each) overall and per recipient domain.

    ``rate`` is messages per second over every connection (None: unlimited);
    ``domains`` maps a lowercase recipient domain to its messages per second.
    Times are seconds on any monotonic clock.
    """

    def __init__(self, rate: float | None = None, domains: Mapping[str, float] | None = None):
        """Limit to ``rate`` messages/s overall and ``domains`` per domain."""
        self.rate = rate
        self.domains = dict(domains or {})
        self._next_any = float("-inf")
        self._next: dict[str, float] = {}

    @property
    def limited(self) -> bool:
        """True when any limit is set (else every message may go at once)."""
        return self.rate is not None or bool(self.domains)

    def delay(self, domain: str, now: float) -> float:
        """Seconds from ``now`` until a message to ``domain`` may go (0: now)."""
        due = self._next_any
        if domain in self.domains:
            due = max(due, self._next.get(domain, float("-inf")))
        return max(0.0, due - now)

    def spend(self, domain: str, now: float) -> None:
        """A message to ``domain`` goes at ``now``: take its tokens."""
        if self.rate is not None:
            self._next_any = max(self._next_any, now) + 1 / self.rate
        if (rate := self.domains.get(domain)) is not None:
            self._next[domain] = max(self._next.get(domain, now), now) + 1 / rate
