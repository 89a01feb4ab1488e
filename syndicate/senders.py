"""The connections of one pass over an edition: one transport and one thread each.

A batch claimed by the send loop is handed to :meth:`Senders.run`: each
connection's thread takes the next message whose recipient domain may be sent
to now (:class:`~syndicate.pace.Pace`), so a throttled domain never holds back
the others, and sends it on its own connection (kept open across batches and
reused with ``RSET``). At most one message per connection is in flight at any
moment: that is what bounds duplicates after a crash (connections x 1).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Generic, TypeVar

from syndicate.config import Config, DigestConfig
from syndicate.pace import Pace
from syndicate.retry import recipient_domain

if TYPE_CHECKING:
    from syndicate.transports import Transport

Entry = TypeVar("Entry")

SCAN = 256
"""How far down the queue a connection looks for a message it may send now."""


class Queue(Generic[Entry]):
    """The messages of one batch not yet taken, in order, under the pace of the pass."""

    def __init__(
        self,
        entries: Sequence[tuple[str, Entry]],
        pace: Pace,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Queue ``entries`` as (recipient address, entry) pairs."""
        self._entries = list(entries)
        self._pace = pace
        self._clock = clock
        self._ready = threading.Condition()
        self._stopped = False

    def take(self) -> Entry | None:
        """The first entry whose recipient's domain may be sent to now, waiting when none
        may; None once the queue is empty or stopped."""
        with self._ready:
            while not self._stopped and self._entries:
                now = self._clock()
                wait = self._pick(now)
                if isinstance(wait, float):
                    self._ready.wait(wait)
                else:
                    return wait[0]
            return None

    def _pick(self, now: float) -> tuple[Entry] | float:
        """(entry,) taken now, or the seconds until the first of the scanned ones may go."""
        soonest = float("inf")
        for index, (address, _) in enumerate(self._entries[:SCAN]):
            domain = recipient_domain(address)
            delay = self._pace.delay(domain, now)
            if delay <= 0:
                self._pace.spend(domain, now)
                return (self._entries.pop(index)[1],)
            soonest = min(soonest, delay)
        return soonest

    def stop(self) -> list[Entry]:
        """Take nothing more; the entries never taken, in order."""
        with self._ready:
            self._stopped = True
            left, self._entries = [entry for _, entry in self._entries], []
            self._ready.notify_all()
            return left


class Senders:
    """``count`` transports made by ``make`` (opened lazily), sharing one :class:`Pace`.

    Used as a context manager around a pass; the transports are closed at its end.
    """

    def __init__(
        self,
        make: Callable[[], Transport],
        count: int = 1,
        pace: Pace | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Up to ``count`` connections, each from ``make`` when first needed."""
        self._make = make
        self.count = max(1, count)
        self.pace = pace if pace is not None else Pace()
        self.clock = clock
        self.transports: list[Transport] = []

    def __enter__(self) -> Senders:
        """Start a pass."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close every connection."""
        for transport in self.transports:
            transport.__exit__(exc_type, exc, tb)
        self.transports = []

    def _transport(self, index: int) -> Transport:
        while len(self.transports) <= index:
            self.transports.append(self._make().__enter__())
        return self.transports[index]

    def run(
        self,
        entries: Sequence[tuple[str, Entry]],
        send: Callable[[Transport, Entry], None],
    ) -> list[Entry]:
        """Call ``send(transport, entry)`` for each (address, entry), spread over the
        connections; the entries never taken (empty unless a thread failed).

        The first exception raised by ``send`` stops every thread (each finishes the
        message it is sending) and is raised here once they all ended.
        """
        queue = Queue(entries, self.pace, self.clock)
        failures: list[BaseException] = []
        threads = [
            threading.Thread(
                target=self._work, args=(queue, self._transport(n), send, failures), daemon=True
            )
            for n in range(min(self.count, len(entries)))
        ]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            left = queue.stop()
            for thread in threads:
                thread.join()
        if failures:
            raise failures[0]
        return left

    @staticmethod
    def _work(
        queue: Queue[Entry],
        transport: Transport,
        send: Callable[[Transport, Entry], None],
        failures: list[BaseException],
    ) -> None:
        """One connection's thread: send what it takes until the queue is empty."""
        try:
            while (entry := queue.take()) is not None:
                send(transport, entry)
        except BaseException as exc:  # handed to the caller's thread
            failures.append(exc)
            queue.stop()


def senders_for(
    config: Config, digest: DigestConfig, transport: Transport | None = None
) -> Senders:
    """The connections of a pass over an edition of ``digest``: as many as its delivery
    configures, paced by its rate limits; a given ``transport`` is the only one."""
    from syndicate.deliveries import delivery_kind
    from syndicate.transports import make_transport

    kind = delivery_kind(digest.delivery)
    rate, domains = kind.pace(digest.delivery)
    pace = Pace(rate, domains)
    if transport is not None:
        return Senders(lambda: transport, 1, pace)
    count = kind.connections(digest.delivery)
    return Senders(lambda: make_transport(config, digest), count, pace)
