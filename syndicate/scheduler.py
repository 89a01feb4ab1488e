"""Wire the daemon's jobs to pipeline functions; nothing else happens here.

Each job function does one job's work and returns its counts for the run
history; :mod:`syndicate.daemon` decides when, and :mod:`syndicate.jobs` records.
Paused digests and sources (``syndicate pause``) are left out here.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from syndicate import digest, jobs, pipeline
from syndicate.errors import EditionNotDue
from syndicate.model import utcnow
from syndicate.outage import retrying

if TYPE_CHECKING:
    from syndicate.config import Config
    from syndicate.schedule import Schedule
    from syndicate.store import Store

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobInfo:
    """A scheduled job as shown by ``syndicate jobs`` and ``status``."""

    id: str
    description: str
    schedule: Schedule
    next_run: datetime | None


def collect_job(
    config: Config, store: Store, paused: Collection[str] = (), now: datetime | None = None
) -> dict[str, int]:
    """Collect every enabled source that is not paused, then rewrite the feeds."""
    ids = [s.id for s in config.sources if s.enabled and s.id not in paused]
    outcomes = retrying(
        lambda: pipeline.run_collect(config, store, source_ids=ids, now=now),
        store.limits,
        "collect job",
    )
    feeds = retrying(lambda: pipeline.run_feeds(config, store), store.limits, "feeds")
    return {
        "sources": len(outcomes),
        "new": sum(o.new for o in outcomes),
        "updated": sum(o.updated for o in outcomes),
        "source_failures": sum(1 for o in outcomes if o.error),
        "feeds_failed": len(feeds.failed),
    }


def digest_job(
    config: Config,
    store: Store,
    digest_id: str,
    slot: datetime | None = None,
    now: datetime | None = None,
) -> dict[str, int]:
    """Build and send the digest's edition for ``slot`` (default: the latest due slot,
    if it is still due: see :func:`syndicate.digest.check_due`)."""
    try:
        edition, created = retrying(
            lambda: digest.build_edition(config, store, digest_id, now=now, slot=slot),
            store.limits,
            f"digest job {digest_id}",
        )
    except EditionNotDue:
        return {"editions": 0}  # logged where it was decided
    run = retrying(
        lambda: pipeline.send_edition(config, store, edition, created=created, now=now),
        store.limits,
        f"digest job {digest_id}",
    )
    return _send_counts([run]) | {"editions": int(created)}


def resume_job(
    config: Config, store: Store, paused: Collection[str] = (), now: datetime | None = None
) -> dict[str, int]:
    """Send what the unfinished editions of every digest that is not paused owe now."""
    runs = []
    for digest_config in config.digests:
        if digest_config.id not in paused:
            resume = functools.partial(
                pipeline.resume_digest, config, store, digest_config.id, now=now
            )
            runs += retrying(resume, store.limits, f"resume {digest_config.id}")
    return _send_counts(runs)


def prune_job(config: Config, store: Store, now: datetime | None = None) -> dict[str, int]:
    """Delete run history and final send records older than the configured retention
    (counted back from ``now``, default the current time; the daemon passes the slot),
    and subscribe requests whose confirmation links all expired."""
    runs, sends = store.prune_history((now or utcnow()) - config.scheduler.retention)
    pending = store.prune_pending(now=now)
    logger.info(
        "prune: %d job runs, %d send records and %d unconfirmed requests deleted",
        runs, sends, pending,
    )  # fmt: skip
    return {"runs": runs, "sends": sends, "pending": pending}


def _send_counts(runs: list[pipeline.DigestRun]) -> dict[str, int]:
    return {
        "sent": sum(r.sent for r in runs),
        "deferred": sum(r.deferred for r in runs),
        "bounced": sum(len(r.bounced) for r in runs),
        "failed": sum(len(r.failed) for r in runs),
        "uncertain": sum(r.uncertain for r in runs),
    }


def action_for(
    config: Config,
    store: Store,
    due: jobs.Due,
    paused: Mapping[str, object],
    clock: Callable[[], datetime] = utcnow,
) -> Callable[[], Mapping[str, int]]:
    """The function that does the work of ``due`` (a job and its slot) at ``clock()``."""
    kind, target = due.job.kind, due.job.target
    if kind == jobs.COLLECT:
        return lambda: collect_job(config, store, paused, clock())
    if kind == jobs.DIGEST and target is not None:
        return lambda: digest_job(config, store, target, due.slot, clock())
    if kind == jobs.PRUNE:
        return lambda: prune_job(config, store, due.slot)
    return lambda: resume_job(config, store, paused, clock())


def job_table(config: Config, now: datetime | None = None) -> list[JobInfo]:
    """Describe every job with its next run time in the configured timezone."""
    local = (now or utcnow()).astimezone(config.timezone)
    return [
        JobInfo(j.id, j.description, j.schedule, j.schedule.next_slot(local, config.timezone))
        for j in jobs.job_list(config)
    ]
