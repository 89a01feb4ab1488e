"""What the daemon should run now, derived from the config and the recorded runs.

Nothing here lives in memory between runs: a job's due time is the latest slot
of its schedule, and it is owed when the database has no run recorded for that
slot (for a digest, no edition either). A slot later than its job's ``grace`` is
recorded as skipped with one log line; a digest slot inside quiet hours waits.
:func:`run_recorded` runs one due job and records it under the scheduler lease:
its start and its result are each written only while the lease is still held.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from syndicate import digest
from syndicate.errors import EditionNotDue, SyndicateError
from syndicate.model import as_utc

if TYPE_CHECKING:
    from syndicate.config import Config
    from syndicate.schedule import Schedule
    from syndicate.store import Store
    from syndicate.store.runs import Fence

logger = logging.getLogger(__name__)

COLLECT, DIGEST, PRUNE, RESUME = "collect", "digest", "prune", "resume"
KINDS = (COLLECT, DIGEST, PRUNE, RESUME)

Action = Callable[[], Mapping[str, int]]


@dataclass(frozen=True)
class Job:
    """A scheduled job: ``collect``, ``digest:<id>`` or ``prune``."""

    id: str
    kind: str
    schedule: Schedule
    grace: timedelta
    description: str
    target: str | None = None


@dataclass(frozen=True)
class Due:
    """A job owed for one slot (UTC)."""

    job: Job
    slot: datetime


@dataclass(frozen=True)
class Plan:
    """What to run now, and the slots to record as skipped with their reason."""

    due: list[Due]
    skipped: list[tuple[Due, str]]


def job_list(config: Config) -> list[Job]:
    """Every scheduled job of ``config``, collect first."""
    collect = config.collect
    what = "collect sources, write feeds, resume editions"
    jobs = [Job("collect", COLLECT, collect.schedule, collect.grace, what)]
    jobs += [
        Job(f"digest:{d.id}", DIGEST, d.schedule, d.grace, f"digest {d.title}", d.id)
        for d in config.digests
    ]
    sched = config.scheduler
    prune = f"prune run history and send records older than {sched.retention.days}d"
    jobs.append(Job("prune", PRUNE, sched.prune_schedule, timedelta(days=1), prune))
    return jobs


def plan(config: Config, store: Store, now: datetime, paused: Mapping[str, object]) -> Plan:
    """The jobs owed at ``now`` and the slots to skip (late, or a paused digest)."""
    result = Plan([], [])
    for job in job_list(config):
        slot = job.schedule.latest_slot(as_utc(now).astimezone(config.timezone), config.timezone)
        if slot is None or store.has_run(job.id, as_utc(slot)):
            continue
        due = Due(job, as_utc(slot))
        reason = _digest_reason(config, store, due, now, paused) if job.target else None
        if reason == "":
            continue
        reason = reason or _late(config, due, now)
        if reason is None:
            result.due.append(due)
        else:
            result.skipped.append((due, reason))
    return result


def _late(config: Config, due: Due, now: datetime) -> str | None:
    """Why a collect or prune slot is skipped (past its grace), or None when it is owed."""
    late = as_utc(now) - due.slot
    if late <= due.job.grace:
        return None
    local = due.slot.astimezone(config.timezone).isoformat(timespec="minutes")
    message = (
        f"{due.job.id}: slot {local} skipped: {late} after it, past the grace of {due.job.grace}"
    )
    logger.warning("%s", message)
    return message


def _digest_reason(
    config: Config, store: Store, due: Due, now: datetime, paused: Mapping[str, object]
) -> str | None:
    """None when the digest slot is owed, "" when nothing is to be done now (its edition
    exists, or quiet hours), else why it is skipped (paused, or past its grace)."""
    assert due.job.target is not None
    if store.get_edition(due.job.target, due.slot) is not None:
        return ""
    if due.job.target in paused:
        return f"digest {due.job.target} is paused"
    settings, zone = digest.digest_config(config, due.job.target), config.timezone
    quiet = settings.quiet_hours
    waiting = digest.quiet_end(quiet, now, zone) is not None
    if waiting and digest.awake_time(quiet, due.slot, now, zone) <= settings.grace:
        return ""  # waits for the end of the quiet hours (not logged at every pass)
    try:
        digest.check_due(config, settings, due.slot, now)
    except EditionNotDue as exc:
        return "" if exc.until is not None else str(exc)
    return None


def run_recorded(
    store: Store,
    lease: Fence,
    due: Due,
    action: Action,
    clock: Callable[[], datetime],
) -> str | None:
    """Run ``action`` for ``due`` if its start can be recorded under ``lease``; the outcome
    recorded (``ok`` or ``failed``), or None when the slot was taken or the lease lost."""
    run_id = store.start_run(lease, due.job.id, due.job.kind, due.slot, now=clock())
    if run_id is None:
        return None
    outcome, counts, error = "ok", {}, None
    try:
        counts = dict(action())
    except SyndicateError as exc:
        outcome, error = "failed", str(exc)
        logger.error("%s: %s", due.job.id, exc)
    except Exception as exc:  # a bug: recorded as a failure, with its traceback logged
        outcome, error = "failed", f"unexpected error: {exc!r}"
        logger.exception("%s: unexpected error", due.job.id)
    if not store.finish_run(lease, run_id, outcome, counts=counts, error=error, now=clock()):
        logger.warning(
            "%s: the lease was lost while it ran; its result is not recorded", due.job.id
        )
        return None
    return outcome
