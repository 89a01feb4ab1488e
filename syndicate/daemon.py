"""The ``syndicate run`` loop: one active daemon, jobs by kind beside each other, reloads.

The engine is APScheduler's ``BackgroundScheduler``: an interval job runs
:meth:`Daemon.step` every ``poll`` seconds, which beats the lease
(:mod:`syndicate.leader`) and, while active, asks :func:`syndicate.jobs.plan` what
is owed. Each owed job goes to the named executor of its kind as a one-off job:
collection, sending (digests and resumes) and pruning each have their own thread,
so a long edition never delays a collect. Due times come from the database
(:mod:`syndicate.jobs`), never from APScheduler's triggers or job store. A job
already running is not started twice; its next slot waits for it. A digest due
while a collect runs starts when that collect ends (its edition gets what it brought).

Unfinished editions are resumed when the daemon becomes active, after each
collect and when the earliest deferred send comes due. SIGHUP, or ``syndicate
reload`` through the database, re-reads the configuration; SIGTERM and SIGINT
stop: an edition being sent stops at its next batch, the lease is given up.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from datetime import UTC, datetime
from types import FrameType
from typing import TYPE_CHECKING

from syndicate import jobs, pipeline, scheduler
from syndicate.errors import ConfigError, SyndicateError
from syndicate.leader import LEASE_NAME, Leadership
from syndicate.model import utcnow
from syndicate.store.runs import Fence

if TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler

    from syndicate.config import Config
    from syndicate.store import Store

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.5
_LANES = {jobs.COLLECT: "collect", jobs.DIGEST: "send", jobs.RESUME: "send", jobs.PRUNE: "prune"}
_POLL_LANE = "poll"


def _engine() -> BackgroundScheduler:
    """A started APScheduler with one single-thread executor per lane, and one for polling."""
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler

    names = sorted({*_LANES.values(), _POLL_LANE})
    executors = {
        name: ThreadPoolExecutor(1, pool_kwargs={"thread_name_prefix": f"syndicate-{name}"})
        for name in names
    }
    defaults = {"misfire_grace_time": None, "coalesce": True, "max_instances": 1}
    logging.getLogger("apscheduler").setLevel(logging.ERROR)  # a late poll is not news
    engine = BackgroundScheduler(executors=executors, job_defaults=defaults, timezone=UTC)
    engine.start()
    return engine


class Daemon:
    """One ``syndicate run`` process: its lease, its engine and lanes, its configuration.

    The engine starts with the daemon (so :meth:`step` can be driven by hand in
    tests); :meth:`close` shuts it down, waiting for running jobs.
    """

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        clock: Callable[[], datetime] = utcnow,
        loader: Callable[[], Config] | None = None,
    ) -> None:
        """Run ``config``'s jobs on ``store``; ``loader`` re-reads the config on reload."""
        self.config, self.store, self.clock = config, store, clock
        self.loader = loader
        self.leader = Leadership(store, config.scheduler.takeover, clock)
        self.engine = _engine()
        self.gate = threading.Lock()  # no job is handed to the engine once closing began
        self.closed = False
        self.running: dict[str, Future[None]] = {}
        self.resume_at: datetime | None = None
        self.stopping = threading.Event()
        self.hangup = threading.Event()
        state = store.lease_state(LEASE_NAME)
        self.reload_seen = None if state is None else state.reload_at

    def step(self) -> None:
        """One pass: reload if asked, beat the lease, start what is owed."""
        self._maybe_reload()
        if self.leader.beat():
            self._resume_by(self.clock())  # just became active: finish what others left
        if not self.leader.active():
            return
        paused = self.store.paused()
        plan = jobs.plan(self.config, self.store, self.clock(), paused)
        assert self.leader.fence is not None
        for due, reason in plan.skipped:
            self.store.record_skipped(
                self.leader.fence, due.job.id, due.job.kind, due.slot, reason, now=self.clock()
            )
        for due in plan.due:
            self._start(due, scheduler.action_for(self.config, self.store, due, paused, self.clock))
        self._maybe_resume(paused)

    def _busy(self, job_id: str) -> bool:
        running = self.running.get(job_id)
        return running is not None and not running.done()

    def _start(self, due: jobs.Due, action: jobs.Action) -> None:
        """Hand ``due`` to its kind's executor unless that job is still running.

        A digest due while a collect runs waits for it, so its edition holds what
        that collect brings; a running edition never holds a collect back.
        """
        if self._busy(due.job.id) or (due.job.kind == jobs.DIGEST and self._busy("collect")):
            return
        fence = self.leader.fence
        assert fence is not None
        with self.gate:
            if self.closed or self.stopping.is_set():
                return
            done: Future[None] = Future()
            self.running[due.job.id] = done
            self.engine.add_job(
                self._run,
                "date",  # once, now; the due time itself came from the database
                args=(fence, due, action, done),
                executor=_LANES[due.job.kind],
                name=due.job.id,
            )

    def _run(self, fence: Fence, due: jobs.Due, action: jobs.Action, done: Future[None]) -> None:
        """Run one job in its lane (unless stopping), then plan the resume its kind calls for."""
        try:
            if not self.stopping.is_set():
                self._run_job(fence, due, action)
        finally:
            done.set_result(None)

    def _run_job(self, fence: Fence, due: jobs.Due, action: jobs.Action) -> None:
        try:
            jobs.run_recorded(self.store, fence, due, action, self.clock)
        except Exception as exc:  # a bug must not end the lane's thread silently
            logger.error("%s: stopped by an unexpected error: %r", due.job.id, exc)
        if due.job.kind == jobs.COLLECT:
            self._resume_by(self.clock())
        elif due.job.kind in (jobs.DIGEST, jobs.RESUME):
            self._plan_next_resume()

    def _resume_by(self, moment: datetime | None) -> None:
        """Have the resume job run at ``moment`` at the latest."""
        if moment is not None and (self.resume_at is None or moment < self.resume_at):
            self.resume_at = moment

    def _plan_next_resume(self) -> None:
        """Plan the resume job for the earliest deferred send (from the database)."""
        try:
            self._resume_by(pipeline.next_resume(self.config, self.store, now=self.clock()))
        except SyndicateError as exc:
            logger.error("resume: %s", exc)

    def _maybe_resume(self, paused: Mapping[str, object]) -> None:
        """Start the resume job when it is due (it runs in the sending lane)."""
        now = self.clock()
        if self.resume_at is None or now < self.resume_at:
            return
        if self._busy(jobs.RESUME):
            return
        self.resume_at = None
        resume = jobs.Job(jobs.RESUME, jobs.RESUME, self.config.collect.schedule, now - now, "")
        due = jobs.Due(resume, now)
        self._start(due, scheduler.action_for(self.config, self.store, due, paused, self.clock))

    def _maybe_reload(self) -> None:
        """Reload on SIGHUP or when ``syndicate reload`` asked through the database."""
        state = self.store.lease_state(LEASE_NAME)
        asked = state.reload_at if state is not None else None
        fresh = asked is not None and (self.reload_seen is None or asked > self.reload_seen)
        if not (self.hangup.is_set() or fresh):
            return
        self.hangup.clear()
        self.reload_seen = asked
        self.reload()

    def reload(self) -> bool:
        """Re-read the configuration; keep the running one (errors logged) when it is invalid."""
        if self.loader is None:
            return False
        try:
            config = self.loader()
        except ConfigError as exc:
            for line in exc.lines():
                logger.error("reload rejected: %s", line)
            logger.error("reload rejected: the previous configuration keeps running")
            return False
        if config.store != self.config.store:
            logger.warning("reload: a new store takes a restart; this daemon keeps its store")
        self.config = config
        logger.info("reload: configuration re-read from %s", config.path)
        return True

    def tick(self) -> None:
        """The engine's interval job: one :meth:`step`, its errors logged as one line."""
        if self.stopping.is_set():
            return
        try:
            self.step()
        except SyndicateError as exc:
            logger.error("scheduler: %s", exc)
        except Exception as exc:  # a bug must not print a traceback from the engine
            logger.error("scheduler: unexpected error: %r", exc)

    def run(self, poll: float = POLL_SECONDS) -> None:
        """Step every ``poll`` seconds until :meth:`stop`; then wait for running jobs."""
        try:
            with self.gate:
                if not self.closed:
                    self.engine.add_job(
                        self.tick, "interval", seconds=poll, next_run_time=datetime.now(UTC),
                        executor=_POLL_LANE, name="step",
                    )  # fmt: skip
            self.stopping.wait()
        finally:
            pipeline.request_stop()
            self.close()
            self.leader.release()

    def close(self) -> None:
        """Shut the engine down, waiting for running jobs; jobs not yet started never start."""
        with self.gate:
            if self.closed:
                return
            self.closed = True
            self.engine.remove_all_jobs()
        self.engine.shutdown(wait=True)
        for done in self.running.values():
            done.cancel()  # only those never started are still pending

    def stop(self) -> None:
        """Stop after the running jobs (an edition stops at its next batch)."""
        pipeline.request_stop()
        self.stopping.set()


def run_forever(
    config: Config,
    store: Store,
    *,
    loader: Callable[[], Config] | None = None,
    on_start: Callable[[], None] | None = None,
) -> None:
    """Run the daemon until SIGINT or SIGTERM; SIGHUP reloads the configuration."""
    daemon = Daemon(config, store, loader=loader)

    def stop(signum: int, frame: FrameType | None) -> None:
        if not daemon.stopping.is_set():
            logger.info("signal %d received, stopping after running jobs", signum)
        daemon.stop()

    def hangup(signum: int, frame: FrameType | None) -> None:
        daemon.hangup.set()

    handlers = {signal.SIGTERM: stop, signal.SIGINT: stop, signal.SIGHUP: hangup}
    previous = {number: signal.signal(number, handler) for number, handler in handlers.items()}
    try:
        if on_start:
            on_start()
        daemon.run()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
