"""Daemon commands: ``runs``, ``status``, ``pause``, ``resume`` and ``reload``.

Registered on the ``syndicate`` group by :mod:`syndicate.cli`. Everything they
show or ask goes through the database, so they work from any host that reaches
it. Times are shown in the configured timezone.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from types import FrameType
from typing import TYPE_CHECKING

import click

from syndicate.cli_base import EXIT_ERROR, Context, errors_to_exit, fail, pass_ctx

if TYPE_CHECKING:
    from syndicate.config import Config
    from syndicate.store import Store
    from syndicate.store.runs import JobRun

_STAMP = "%Y-%m-%d %H:%M:%S %z"


def _local(config: Config, moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(config.timezone).strftime(_STAMP)


def _since(config: Config, text: str | None) -> datetime | None:
    """``--since``: a duration back from now (``2h``, ``7d``) or a local date/time."""
    from syndicate.model import utcnow
    from syndicate.schedule import parse_duration

    if text is None:
        return None
    try:
        return utcnow() - parse_duration(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is neither a duration (2h, 7d) nor a date/time (2026-11-28 07:00)",
            param_hint="--since",
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=config.timezone)


class _StoppedEarly(BaseException):
    """SIGTERM or SIGINT before the daemon took over signals (not an error: exit 0)."""


@contextmanager
def stop_signals_at_startup(daemon: bool) -> Iterator[None]:
    """While ``run`` starts (config, store), SIGTERM and SIGINT exit 0 with one line.

    The daemon installs its own handlers once it runs; this covers the seconds
    before, when loading the configuration or reaching the store.
    """
    if not daemon:
        yield
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        raise _StoppedEarly(signum)

    numbers = (signal.SIGTERM, signal.SIGINT)
    previous = {number: signal.signal(number, stop) for number in numbers}
    try:
        yield
    except _StoppedEarly as early:
        click.echo(f"signal {early.args[0]} received before the daemon ran; stopped", err=True)
        sys.exit(0)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def run_daemon(ctx: Context) -> None:
    """``run`` without ``--once``: print the job table, then run until SIGTERM."""
    from syndicate import daemon
    from syndicate.config import load_config

    config, store = ctx.config, ctx.store()
    loader = lambda: load_config(ctx.config_path)  # noqa: E731
    daemon.run_forever(config, store, loader=loader, on_start=lambda: print_jobs(config, store))


def print_jobs(config: Config, store: Store) -> None:
    """The job table of ``run`` and ``jobs``: next run in the configured timezone, pauses."""
    from syndicate.scheduler import job_table

    paused = store.paused()
    for job in job_table(config):
        when = job.next_run.strftime("%Y-%m-%d %H:%M %z") if job.next_run else "never"
        mark = "  (paused)" if job.id.partition(":")[2] in paused else ""
        click.echo(f"{job.id:<20} {job.schedule.text:<18} next {when}  {job.description}{mark}")


def _run_line(config: Config, run: JobRun) -> str:
    took = (
        "-"
        if run.finished_at is None
        else f"{(run.finished_at - run.started_at).total_seconds():.1f}s"
    )
    counts = " ".join(f"{k}={v}" for k, v in sorted(run.counts.items()) if v)
    error = f"  error: {run.error}" if run.error else ""
    return (
        f"{run.job_id:<20} due {_local(config, run.due_at)}"
        f"  started {_local(config, run.started_at)}  {took:>7}"
        f"  {run.outcome or 'running':<8} {run.runner}  {counts}{error}"
    )


@click.command()
@click.option(
    "--job", "job_id", metavar="ID", help="Only this job (collect, digest:ID, prune, resume)."
)
@click.option(
    "--since", metavar="WHEN", help="Only runs started since (2h, 7d or a local date/time)."
)
@click.option("--limit", default=100, show_default=True, help="At most this many runs.")
@pass_ctx
def runs(ctx: Context, job_id: str | None, since: str | None, limit: int) -> None:
    """List recorded job runs, newest first: due time, start, duration, outcome, process.

    Outcomes: ok, failed, skipped (past its grace, or paused), lost (its process
    lost the scheduler lease), running.

    \b
    Example:
        syndicate runs
        syndicate runs --job digest:morning --since 7d
    """
    with errors_to_exit(ctx):
        config = ctx.config
        for run in ctx.store().job_runs(job_id=job_id, since=_since(config, since), limit=limit):
            click.echo(_run_line(config, run))


@click.command()
@pass_ctx
def status(ctx: Context) -> None:
    """Show the active daemon, failing sources, unfinished editions, next runs, paused items.

    \b
    Example:
        syndicate status
    """
    with errors_to_exit(ctx):
        config, store = ctx.config, ctx.store()
        _print_lease(config, store)
        _print_jobs(config, store)
        _print_sources(config, store)
        _print_editions(config, store)
        paused = store.paused()
        click.echo(
            "paused: " + (", ".join(f"{p.kind} {t}" for t, p in paused.items()) or "nothing")
        )


def _print_lease(config: Config, store: Store) -> None:
    from syndicate.leader import LEASE_NAME
    from syndicate.model import utcnow

    state = store.lease_state(LEASE_NAME)
    if state is None or not state.active(utcnow()):
        click.echo("active: no daemon holds the scheduler lease")
        return
    click.echo(
        f"active: {state.holder} since {_local(config, state.acquired_at)}, "
        f"last heartbeat {_local(config, state.heartbeat_at)} (fence {state.fence})"
    )


def _print_jobs(config: Config, store: Store) -> None:
    from syndicate.scheduler import job_table

    last = store.last_runs()
    paused = store.paused()
    for job in job_table(config):
        run = last.get(job.id)
        latest = (
            "never ran"
            if run is None
            else f"last {run.outcome or 'running'} {_local(config, run.started_at)}"
        )
        target = job.id.partition(":")[2]
        note = "  (paused)" if target and target in paused else ""
        click.echo(f"job {job.id:<20} next {_local(config, job.next_run)}  {latest}{note}")


def _print_sources(config: Config, store: Store) -> None:
    for source in config.sources:
        state = store.get_source_state(source.id)
        if state.last_error:
            click.echo(
                f"failing source {source.id}: {state.last_error} "
                f"({state.error_count} times, last checked {_local(config, state.last_checked_at)})"
            )


def _print_editions(config: Config, store: Store) -> None:
    from syndicate.model import utcnow

    unfinished = ("sending", "deferred", "uncertain")
    for counts in store.edition_counts([d.id for d in config.digests]):
        if counts.slot < utcnow() - timedelta(days=3):
            break
        owed = {
            state.value: n for state, n in counts.sends.items() if state.value in unfinished and n
        }
        if owed:
            what = ", ".join(f"{n} {state}" for state, n in sorted(owed.items()))
            click.echo(
                f"unfinished edition {counts.digest_id} {_local(config, counts.slot)}: {what}"
            )


def _target_kind(config: Config, target: str) -> str:
    digests = {d.id for d in config.digests}
    sources = {s.id for s in config.sources}
    if target in digests and target in sources:
        fail(f"{target!r} names both a digest and a source; rename one")
    if target in digests:
        return "digest"
    if target in sources:
        return "source"
    fail(f"{target!r} is neither a digest nor a source of {config.path}")


@click.command()
@click.argument("target", metavar="DIGEST_ID|SOURCE_ID")
@pass_ctx
def pause(ctx: Context, target: str) -> None:
    """Pause a digest (no new editions, no sends) or a source (not collected) until `resume`.

    Recorded in the database, so every daemon sharing it obeys from its next run.

    \b
    Example:
        syndicate pause morning
        syndicate pause yonhap-it
    """
    with errors_to_exit(ctx):
        kind = _target_kind(ctx.config, target)
        changed = ctx.store().pause(target, kind)
        click.echo(f"{kind} {target} paused" if changed else f"{kind} {target} was already paused")


@click.command()
@click.argument("target", metavar="DIGEST_ID|SOURCE_ID")
@pass_ctx
def resume(ctx: Context, target: str) -> None:
    """Resume a paused digest or source (exit 1 when it was not paused).

    \b
    Example:
        syndicate resume morning
    """
    with errors_to_exit(ctx):
        if not ctx.store().unpause(target):
            click.echo(f"{target} was not paused", err=True)
            sys.exit(EXIT_ERROR)
        click.echo(f"{target} resumed")


@click.command()
@pass_ctx
def reload(ctx: Context) -> None:
    """Ask every `syndicate run` on this database to re-read its configuration.

    Works from any host reaching the database; an invalid file is rejected by
    the daemon (its errors logged) and the previous configuration keeps running.
    The file is checked here first, so a mistake shows at once.

    \b
    Example:
        syndicate reload
    """
    from syndicate.leader import LEASE_NAME

    with errors_to_exit(ctx):
        config = ctx.config  # an invalid file stops here with its errors
        asked = ctx.store().request_reload(LEASE_NAME)
        click.echo(f"reload asked at {_local(config, asked)}")
