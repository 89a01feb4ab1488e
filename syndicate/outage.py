"""How long to wait for a database that misbehaves, and retrying through a short outage.

:class:`StoreLimits` is what the store takes (the ``database:`` section of the
config builds one); :func:`retrying` runs a unit of work again, with backoff,
while the store is unavailable, and gives up with one line after ``outage``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from syndicate.errors import StoreUnavailable

logger = logging.getLogger(__name__)

T = TypeVar("T")

FIRST_DELAY = 0.25
MAX_DELAY = 5.0


@dataclass(frozen=True)
class StoreLimits:
    """Timeouts of the store, in seconds.

    ``connect``: one connection attempt (PostgreSQL ``connect_timeout``);
    ``statement``: one statement (PostgreSQL ``statement_timeout``; a statement
    without any answer for ``statement + silence`` seconds means the network is
    gone and its connection is cut on this side); ``busy``: SQLite's busy
    timeout; ``outage``: how long a unit of work is retried while the database
    does not answer; ``idle_ping``: a pooled connection idle for longer is
    checked with one round trip before use; ``patient``: a connection attempt
    that fails is retried (with backoff) for ``outage`` seconds before giving up
    (jobs and commands wait through a short outage; web pages answer 503 at once).
    """

    connect: float = 10.0
    statement: float = 60.0
    busy: float = 15.0
    outage: float = 30.0
    silence: float = 5.0
    idle_ping: float = 30.0
    patient: bool = False

    @property
    def unanswered(self) -> float:
        """Seconds without an answer after which a statement's connection is cut."""
        return self.statement + self.silence


def backoff(first: float = FIRST_DELAY, most: float = MAX_DELAY) -> Iterator[float]:
    """Delays 0.25, 0.5, 1, 2, 4, 5, 5, ... seconds."""
    delay = first
    while True:
        yield delay
        delay = min(delay * 2, most)


def retrying(
    action: Callable[[], T],
    limits: StoreLimits,
    what: str,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Run ``action``; while it raises StoreUnavailable, wait and run it again.

    After ``limits.outage`` seconds of failures, StoreUnavailable says in one
    line that the work is given up (the next run picks it up again); ``what``
    names the work in the log line of each retry.
    """
    started: float | None = None
    for delay in backoff():
        try:
            return action()
        except StoreUnavailable as exc:
            started = clock() if started is None else started
            waited = clock() - started
            if waited + delay > limits.outage:
                raise StoreUnavailable(
                    f"database unavailable for {waited:.0f} s, giving up until the next run: {exc}"
                ) from exc
            logger.warning("%s: database unavailable, retrying in %.2f s: %s", what, delay, exc)
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
