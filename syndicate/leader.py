"""Which ``syndicate run`` is active: the scheduler lease as one process sees it.

Each daemon calls :meth:`Leadership.beat` every ``takeover / 4``: the active one
renews the lease for ``takeover * 3 / 4``, a standby takes it once it expired.
So a standby is active at most ``takeover`` after the active daemon stopped
renewing (a ``kill -9``, a lost host); a clean stop gives the lease up at once.
A daemon that could not renew in time stops starting jobs even before another
takes over (:meth:`Leadership.active` compares with its own expiry).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from syndicate.errors import StoreError
from syndicate.store.runs import Fence

if TYPE_CHECKING:
    from syndicate.store import Store

logger = logging.getLogger(__name__)

LEASE_NAME = "scheduler"


def holder_name() -> str:
    """This process as a lease holder: ``host:pid:random`` (unique across restarts)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Leadership:
    """The lease from one daemon's side: take it, keep it, notice losing it, give it up."""

    def __init__(
        self,
        store: Store,
        takeover: timedelta,
        clock: Callable[[], datetime],
        holder: str | None = None,
    ) -> None:
        """Contend for the lease of ``store``; ``clock`` gives the current time (UTC)."""
        self.store, self.clock = store, clock
        self.holder = holder or holder_name()
        self.ttl = takeover * 3 / 4
        self.interval = takeover / 4
        self.fence: Fence | None = None
        self.until: datetime | None = None
        self.next_beat: datetime | None = None

    def active(self) -> bool:
        """True while this process holds the lease by its own clock."""
        return self.fence is not None and self.until is not None and self.clock() < self.until

    def beat(self) -> bool:
        """Renew (or try to take) the lease when a beat is due; True when just taken."""
        now = self.clock()
        if self.next_beat is not None and now < self.next_beat:
            return False
        self.next_beat = now + self.interval
        try:
            return self._renew(now) if self.fence is not None else self._take(now)
        except StoreError as exc:
            logger.error("scheduler lease: %s", exc)
            return False

    def _take(self, now: datetime) -> bool:
        fence = self.store.acquire_lease(LEASE_NAME, self.holder, self.ttl, now=now)
        if fence is None:
            return False
        self.fence, self.until = Fence(LEASE_NAME, self.holder, fence), now + self.ttl
        logger.info("scheduler: %s is active (fence %d)", self.holder, fence)
        lost = self.store.mark_lost_runs(self.fence, now=now)
        if lost:
            logger.warning("scheduler: %d runs of an earlier active process were lost", lost)
        return True

    def _renew(self, now: datetime) -> bool:
        assert self.fence is not None
        if self.store.renew_lease(LEASE_NAME, self.holder, self.fence.fence, self.ttl, now=now):
            self.until = now + self.ttl
            return False
        logger.warning("scheduler: %s lost the lease; standing by", self.holder)
        self.fence = self.until = None
        return False

    def release(self) -> None:
        """Give the lease up (a clean stop) so a standby takes over at once."""
        if self.fence is None:
            return
        try:
            self.store.release_lease(LEASE_NAME, self.holder, self.fence.fence, now=self.clock())
        except StoreError as exc:
            logger.error("scheduler lease: %s", exc)
        self.fence = self.until = None
