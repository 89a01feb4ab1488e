"""Wire APScheduler jobs to pipeline functions; nothing else happens here.

Jobs run one at a time (a single worker thread): the embedded SQLite store wants
one writer, and a digest should see the articles of a collect that started first.
"""

from __future__ import annotations

import functools
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import FrameType
from typing import TYPE_CHECKING

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from syndicate import pipeline
from syndicate.config import Config
from syndicate.errors import EditionNotDue, SyndicateError
from syndicate.model import utcnow
from syndicate.outage import retrying
from syndicate.schedule import Schedule

if TYPE_CHECKING:
    from syndicate.store import Store

logger = logging.getLogger(__name__)

MISFIRE_GRACE_SECONDS = 3600
RESUME_JOB = "resume"


@dataclass(frozen=True)
class JobInfo:
    """A scheduled job as shown by ``syndicate jobs``."""

    id: str
    description: str
    schedule: Schedule
    next_run: datetime | None


def collect_job(config: Config, store: Store, scheduler: BaseScheduler | None = None) -> None:
    """Scheduled job: collect every source, rewrite the feeds, then resume unfinished editions."""
    try:
        retrying(lambda: pipeline.run_collect(config, store), store.limits, "collect job")
        retrying(lambda: pipeline.run_feeds(config, store), store.limits, "feeds")
    except SyndicateError as exc:
        logger.error("collect job: %s", exc)
    resume_job(config, store, scheduler)


def digest_job(
    config: Config,
    store: Store,
    digest_id: str,
    scheduler: BaseScheduler | None = None,
    now: datetime | None = None,
) -> None:
    """Scheduled job: build and send the digest's edition for the slot that just came due.

    An edition due in the digest's quiet hours is built by a one-off job at their end.
    ``now`` (default: the current time) is the moment the job runs at.
    """
    try:
        run = functools.partial(pipeline.run_digest, config, store, digest_id, now=now)
        retrying(run, store.limits, f"digest job {digest_id}")
    except EditionNotDue as exc:
        _plan_after_quiet(scheduler, config, store, digest_id, exc.until)
    except SyndicateError as exc:
        logger.error("digest job %s: %s", digest_id, exc)
    _plan_resume(config, store, scheduler)


def _plan_after_quiet(
    scheduler: BaseScheduler | None,
    config: Config,
    store: Store,
    digest_id: str,
    until: datetime | None,
) -> None:
    """Run the digest job again at ``until`` (the end of its quiet hours), if given."""
    if scheduler is None or until is None:
        return
    scheduler.add_job(
        digest_job,
        args=(config, store, digest_id, scheduler),
        id=f"digest:{digest_id}:after-quiet",
        name=f"digest {digest_id} after quiet hours",
        next_run_time=until,
        replace_existing=True,
    )


def resume_job(
    config: Config,
    store: Store,
    scheduler: BaseScheduler | None = None,
    now: datetime | None = None,
) -> None:
    """Scheduled job: send what unfinished editions owe now, then plan the next resume.

    ``now`` (default: the current time) decides which deferred sends are due.
    """
    try:
        retrying(lambda: pipeline.resume_editions(config, store, now=now), store.limits, "resume")
    except SyndicateError as exc:
        logger.error("resume job: %s", exc)
    _plan_resume(config, store, scheduler, now)


def _plan_resume(
    config: Config,
    store: Store,
    scheduler: BaseScheduler | None,
    now: datetime | None = None,
) -> None:
    """Run the resume job again when the earliest deferred send comes due."""
    if scheduler is None:
        return
    try:
        due = pipeline.next_resume(config, store, now=now)
    except SyndicateError as exc:
        logger.error("resume job: %s", exc)
        return
    if due is not None:
        scheduler.add_job(
            resume_job,
            args=(config, store, scheduler),
            id=RESUME_JOB,
            name="resume unfinished editions",
            next_run_time=max(due, now or utcnow()),
            replace_existing=True,
        )


def job_table(config: Config, now: datetime | None = None) -> list[JobInfo]:
    """Describe every job with its next run time in the configured timezone."""
    now = (now or utcnow()).astimezone(config.timezone)
    what = "collect sources, write feeds, resume editions"
    jobs = [JobInfo("collect", what, config.collect.schedule, None)]
    jobs += [
        JobInfo(f"digest:{d.id}", f"digest {d.title}", d.schedule, None) for d in config.digests
    ]
    return [
        JobInfo(j.id, j.description, j.schedule, j.schedule.next_slot(now, config.timezone))
        for j in jobs
    ]


def add_jobs(
    scheduler: BaseScheduler, config: Config, store: Store, now: datetime | None = None
) -> None:
    """Register the collect job and one job per digest on ``scheduler``.

    Unfinished editions are resumed and collection runs once right away (each
    collect resumes them again, and a one-off resume job is planned for the
    earliest deferred send); a digest whose slot passed while the daemon was
    down (within the digest's ``grace``) is caught up right away. Digest jobs
    run however late APScheduler fires them: :func:`~syndicate.digest.check_due`
    alone decides whether a late slot is still built.
    ``now`` (default: the current time) decides what was missed.
    """
    tz = config.timezone
    now = now or utcnow()
    scheduler.add_job(
        collect_job,
        config.collect.schedule.trigger(tz),
        args=(config, store, scheduler),
        id="collect",
        name="collect sources, write feeds, resume editions",
    )
    scheduler.add_job(resume_job, args=(config, store, scheduler), id=RESUME_JOB, next_run_time=now)
    scheduler.add_job(
        collect_job, args=(config, store, scheduler), id="collect:start", next_run_time=now
    )
    missed = set(pipeline.missed_digests(config, store, now=now))
    for digest in config.digests:
        scheduler.add_job(
            digest_job,
            digest.schedule.trigger(tz),
            args=(config, store, digest.id, scheduler),
            id=f"digest:{digest.id}",
            name=f"digest {digest.id}",
            misfire_grace_time=None,
        )
        if digest.id in missed:
            logger.info("digest %s: catching up the slot missed while stopped", digest.id)
            scheduler.add_job(
                digest_job,
                args=(config, store, digest.id, scheduler),
                id=f"digest:{digest.id}:catch-up",
                next_run_time=now + timedelta(seconds=1),
            )


def build_scheduler(
    config: Config,
    store: Store,
    now: datetime | None = None,
    executor: ThreadPoolExecutor | None = None,
) -> BlockingScheduler:
    """A blocking scheduler with every job registered, running jobs one at a time.

    ``now`` (default: the current time) is the moment the jobs are added at;
    ``executor`` (default: a new one-thread pool) runs the jobs.
    """
    scheduler = BlockingScheduler(
        timezone=config.timezone,
        executors={"default": executor or ThreadPoolExecutor(max_workers=1)},
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": MISFIRE_GRACE_SECONDS,
        },
    )
    add_jobs(scheduler, config, store, now)
    return scheduler


def run_forever(config: Config, store: Store, on_start: Callable[[], None] | None = None) -> None:
    """Run the scheduler until SIGINT or SIGTERM; running jobs finish first.

    A signal while the jobs are being set up stops the daemon before it starts.
    """
    executor = ThreadPoolExecutor(max_workers=1)
    built: list[BlockingScheduler] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        if pipeline.stop_requested():  # a second signal while the jobs finish
            return
        logger.info("signal %d received, stopping after running jobs", signum)
        pipeline.request_stop()  # an edition being sent stops at its next batch
        # No waiting here: the interrupted main thread may hold the scheduler's lock
        # that a running job needs to plan its next run (waiting would deadlock).
        if built and built[0].running:
            built[0].shutdown(wait=False)

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        built.append(build_scheduler(config, store, executor=executor))
        if on_start:
            on_start()
        if not pipeline.stop_requested():
            built[0].start()
    finally:
        executor.shutdown(wait=True)  # the running job ends before the store is closed
        for number, handler in previous.items():
            signal.signal(number, handler)
