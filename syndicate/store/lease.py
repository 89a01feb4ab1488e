"""The scheduler lease: which ``syndicate run`` is active, with its fencing counter.

:class:`LeaseMixin` gives :class:`syndicate.store.Store` one row per lease name in
``scheduler_lease``. A process takes the lease when it is free or expired (the
fence grows by one each time), renews it while it holds it, and gives it up
on a clean stop. Every statement that must only happen under the lease
checks holder and fence in its own transaction (:func:`holds_lease`), with the
row locked, so work begun under a lost lease never commits its record.
The same statements run on SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from syndicate.store.base import Conflict, StoreBase, now_or
from syndicate.store.tables import scheduler_lease

_NEVER = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class LeaseState:
    """The lease row as stored: who holds it (None when free), since when, until when."""

    name: str
    holder: str | None
    acquired_at: datetime | None
    heartbeat_at: datetime | None
    expires_at: datetime
    fence: int
    reload_at: datetime | None

    def active(self, now: datetime) -> bool:
        """True when a holder has it and it has not expired at ``now``."""
        return self.holder is not None and now < self.expires_at


def holds_lease(conn: sa.Connection, name: str, holder: str, fence: int) -> bool:
    """True when ``holder`` still holds lease ``name`` under ``fence`` (row locked till commit)."""
    row = conn.execute(
        sa.select(scheduler_lease.c.holder, scheduler_lease.c.fence)
        .where(scheduler_lease.c.name == name)
        .with_for_update()
    ).first()
    return row is not None and row.holder == holder and row.fence == fence


def _row_state(row: sa.Row[object]) -> LeaseState:
    return LeaseState(
        name=str(row.name),
        holder=row.holder,
        acquired_at=row.acquired_at,
        heartbeat_at=row.heartbeat_at,
        expires_at=row.expires_at,
        fence=int(row.fence),
        reload_at=row.reload_at,
    )


class LeaseMixin(StoreBase):
    """Take, renew, give up and read the scheduler lease; ask the daemons to reload."""

    def _ensure_lease_row(self, name: str) -> None:
        """Create the free row of lease ``name`` once (a concurrent creator may win)."""
        try:
            with self._tx(write=True) as conn:
                exists = conn.execute(
                    sa.select(scheduler_lease.c.name).where(scheduler_lease.c.name == name)
                ).first()
                if exists is None:
                    conn.execute(
                        scheduler_lease.insert().values(name=name, expires_at=_NEVER, fence=0)
                    )
        except Conflict:
            pass

    def acquire_lease(
        self, name: str, holder: str, ttl: timedelta, *, now: datetime | None = None
    ) -> int | None:
        """Take lease ``name`` for ``holder`` if free or expired: the new fence, else None."""
        moment = now_or(now)
        self._ensure_lease_row(name)
        table = scheduler_lease.c
        with self._tx(write=True) as conn:
            taken = conn.execute(
                scheduler_lease.update()
                .where(table.name == name)
                .where(sa.or_(table.holder.is_(None), table.expires_at <= moment))
                .values(
                    holder=holder,
                    fence=table.fence + 1,
                    acquired_at=moment,
                    heartbeat_at=moment,
                    expires_at=moment + ttl,
                )
            )
            if taken.rowcount != 1:
                return None
            fence = conn.execute(sa.select(table.fence).where(table.name == name)).scalar_one()
            return int(fence)

    def renew_lease(
        self, name: str, holder: str, fence: int, ttl: timedelta, *, now: datetime | None = None
    ) -> bool:
        """Extend the lease ``holder`` holds under ``fence``; False when it was lost."""
        moment = now_or(now)
        table = scheduler_lease.c
        with self._tx(write=True) as conn:
            renewed = conn.execute(
                scheduler_lease.update()
                .where(table.name == name, table.holder == holder, table.fence == fence)
                .where(table.expires_at > moment)
                .values(heartbeat_at=moment, expires_at=moment + ttl)
            )
            return renewed.rowcount == 1

    def release_lease(
        self, name: str, holder: str, fence: int, *, now: datetime | None = None
    ) -> bool:
        """Give the lease up at once (a clean stop), so a standby need not wait for it to expire."""
        table = scheduler_lease.c
        with self._tx(write=True) as conn:
            released = conn.execute(
                scheduler_lease.update()
                .where(table.name == name, table.holder == holder, table.fence == fence)
                .values(holder=None, expires_at=now_or(now))
            )
            return released.rowcount == 1

    def lease_state(self, name: str) -> LeaseState | None:
        """The row of lease ``name``; None before any daemon ran."""
        with self._tx() as conn:
            row = conn.execute(
                sa.select(scheduler_lease).where(scheduler_lease.c.name == name)
            ).first()
            return None if row is None else _row_state(row)

    def request_reload(self, name: str, *, now: datetime | None = None) -> datetime:
        """Ask every daemon sharing lease ``name`` to re-read its config; when asked."""
        moment = now_or(now)
        self._ensure_lease_row(name)
        with self._tx(write=True) as conn:
            conn.execute(
                scheduler_lease.update()
                .where(scheduler_lease.c.name == name)
                .values(reload_at=moment)
            )
        return moment
