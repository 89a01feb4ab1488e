"""Run history of the scheduler's jobs, what ops paused, and pruning by age.

:class:`RunsMixin` gives :class:`syndicate.store.Store` the ``job_runs`` rows (one
per job and due time: the unique pair makes a due time run at most once, whoever
tries), the ``paused`` digests and sources, and the retention pruning of run
history and send records. Starting, skipping and finishing a run check the
scheduler lease's holder and fence in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from syndicate.model import SendState
from syndicate.store.base import Conflict, now_or
from syndicate.store.lease import LeaseMixin, holds_lease
from syndicate.store.tables import job_runs, paused, sends

OUTCOMES = ("ok", "failed", "skipped", "lost")
_FINAL_SENDS = (SendState.SENT.value, SendState.FAILED.value, SendState.BOUNCED.value)


@dataclass(frozen=True)
class Fence:
    """The lease a run is recorded under: its name, holder and fencing counter."""

    name: str
    holder: str
    fence: int


@dataclass(frozen=True)
class JobRun:
    """One recorded run of a scheduled job (``outcome`` None while it runs)."""

    id: int
    job_id: str
    kind: str
    due_at: datetime
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    runner: str = ""


@dataclass(frozen=True)
class Paused:
    """A digest or source that ops paused, and since when."""

    target: str
    kind: str
    paused_at: datetime


def _row_run(row: sa.Row[object]) -> JobRun:
    return JobRun(
        id=int(row.id),
        job_id=str(row.job_id),
        kind=str(row.kind),
        due_at=row.due_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        outcome=row.outcome,
        counts=json.loads(str(row.counts)) if row.counts else {},
        error=row.error,
        runner=str(row.runner),
    )


class RunsMixin(LeaseMixin):
    """Record, list and prune job runs; pause and resume digests and sources."""

    def start_run(
        self, lease: Fence, job_id: str, kind: str, due_at: datetime, *, now: datetime | None = None
    ) -> int | None:
        """Record that ``job_id`` starts for ``due_at``: its run id, or None when that due
        time was already taken (by anyone) or the lease was lost."""
        values = {
            "job_id": job_id, "kind": kind, "due_at": due_at, "started_at": now_or(now),
            "runner": lease.holder, "fence": lease.fence,
        }  # fmt: skip
        try:
            with self._tx(write=True) as conn:
                if not holds_lease(conn, lease.name, lease.holder, lease.fence):
                    return None
                inserted = conn.execute(job_runs.insert().values(**values))
                key = inserted.inserted_primary_key
                return None if key is None else int(key[0])
        except Conflict:
            return None

    def record_skipped(
        self,
        lease: Fence,
        job_id: str,
        kind: str,
        due_at: datetime,
        reason: str,
        *,
        now: datetime | None = None,
    ) -> bool:
        """Record ``due_at`` of ``job_id`` as skipped (``reason``); False if already recorded."""
        run_id = self.start_run(lease, job_id, kind, due_at, now=now)
        return run_id is not None and self.finish_run(
            lease, run_id, "skipped", error=reason, now=now
        )

    def finish_run(
        self,
        lease: Fence,
        run_id: int,
        outcome: str,
        *,
        counts: Mapping[str, int] | None = None,
        error: str | None = None,
        now: datetime | None = None,
    ) -> bool:
        """Record how run ``run_id`` ended; nothing is written (False) when the lease was lost."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown run outcome {outcome!r}")
        values = {
            "finished_at": now_or(now), "outcome": outcome,
            "counts": json.dumps(dict(counts or {}), sort_keys=True), "error": error,
        }  # fmt: skip
        with self._tx(write=True) as conn:
            if not holds_lease(conn, lease.name, lease.holder, lease.fence):
                return False
            conn.execute(job_runs.update().where(job_runs.c.id == run_id).values(**values))
            return True

    def mark_lost_runs(self, lease: Fence, *, now: datetime | None = None) -> int:
        """Close the runs left open under an earlier fence (their process lost the lease)."""
        with self._tx(write=True) as conn:
            if not holds_lease(conn, lease.name, lease.holder, lease.fence):
                return 0
            lost = conn.execute(
                job_runs.update()
                .where(job_runs.c.finished_at.is_(None), job_runs.c.fence < lease.fence)
                .values(finished_at=now_or(now), outcome="lost", error="the lease was lost")
            )
            return int(lost.rowcount)

    def has_run(self, job_id: str, due_at: datetime) -> bool:
        """True when a run of ``job_id`` for ``due_at`` was recorded (in any outcome)."""
        with self._tx() as conn:
            row = conn.execute(
                sa.select(job_runs.c.id).where(
                    job_runs.c.job_id == job_id, job_runs.c.due_at == due_at
                )
            ).first()
            return row is not None

    def job_runs(
        self, *, job_id: str | None = None, since: datetime | None = None, limit: int = 1000
    ) -> list[JobRun]:
        """Recorded runs, newest first (of ``job_id``, started at or after ``since``)."""
        query = sa.select(job_runs).order_by(job_runs.c.started_at.desc(), job_runs.c.id.desc())
        if job_id is not None:
            query = query.where(job_runs.c.job_id == job_id)
        if since is not None:
            query = query.where(job_runs.c.started_at >= since)
        with self._tx() as conn:
            return [_row_run(row) for row in conn.execute(query.limit(limit))]

    def last_runs(self, *outcomes: str) -> dict[str, JobRun]:
        """The latest run of every job that ever ran, by job id (with one of ``outcomes``)."""
        latest = sa.select(job_runs.c.job_id, sa.func.max(job_runs.c.id).label("id"))
        if outcomes:
            latest = latest.where(job_runs.c.outcome.in_(outcomes))
        found = latest.group_by(job_runs.c.job_id).subquery()
        query = sa.select(job_runs).join(found, found.c.id == job_runs.c.id)
        with self._tx() as conn:
            return {row.job_id: _row_run(row) for row in conn.execute(query)}

    def run_outcomes(self) -> dict[tuple[str, str], int]:
        """Finished runs in the history, counted by job id and outcome."""
        query = (
            sa.select(job_runs.c.job_id, job_runs.c.outcome, sa.func.count())
            .where(job_runs.c.outcome.is_not(None))
            .group_by(job_runs.c.job_id, job_runs.c.outcome)
        )
        with self._tx() as conn:
            return {(row[0], row[1]): int(row[2]) for row in conn.execute(query)}

    def prune_history(self, before: datetime) -> tuple[int, int]:
        """Delete finished runs started and final sends last changed before ``before``;
        how many of each."""
        with self._tx(write=True) as conn:
            runs = conn.execute(
                job_runs.delete().where(
                    job_runs.c.started_at < before, job_runs.c.finished_at.is_not(None)
                )
            ).rowcount
            old_sends = conn.execute(
                sends.delete().where(sends.c.updated_at < before, sends.c.status.in_(_FINAL_SENDS))
            ).rowcount
        return int(runs), int(old_sends)

    def pause(self, target: str, kind: str, *, now: datetime | None = None) -> bool:
        """Pause digest or source ``target``; False when it already was."""
        try:
            with self._tx(write=True) as conn:
                conn.execute(
                    paused.insert().values(target=target, kind=kind, paused_at=now_or(now))
                )
        except Conflict:
            return False
        return True

    def unpause(self, target: str) -> bool:
        """Resume ``target``; False when it was not paused."""
        with self._tx(write=True) as conn:
            return int(conn.execute(paused.delete().where(paused.c.target == target)).rowcount) > 0

    def paused(self) -> dict[str, Paused]:
        """Every paused digest and source, by id."""
        with self._tx() as conn:
            rows = conn.execute(sa.select(paused).order_by(paused.c.target))
            return {r.target: Paused(r.target, r.kind, r.paused_at) for r in rows}
