"""The ``syndicate`` command line: thin wrappers over :mod:`syndicate.pipeline`.

Exit codes: 0 success; 1 error (bad config, store unreachable, bad file);
2 usage error; 3 the command ran but some sources or deliveries failed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from syndicate import CONFIG_ENV, DEFAULT_CONFIG, __version__, cli_db, cli_ops
from syndicate.cli_base import EXIT_ERROR, EXIT_PARTIAL, Context, errors_to_exit, fail, pass_ctx
from syndicate.errors import ConfigError, EditionNotDue

# The config model and the stages are imported inside the commands that use them:
# `--help` loads neither, and a command loads only its own stage.
if TYPE_CHECKING:
    from syndicate import pipeline
    from syndicate.config import Config
    from syndicate.store import Store

SILENT_COMMANDS = frozenset({"check"})
"""Commands that print their findings and log nothing: they skip loading ``logging``."""


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-c",
    "--config",
    "config_path",
    envvar=CONFIG_ENV,
    default=DEFAULT_CONFIG,
    show_default=True,
    metavar="PATH",
    help=f"Config file (or set {CONFIG_ENV}).",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Log lines on stderr: text, or one JSON object per line (for log shippers).",
)
@click.version_option(__version__, prog_name="syndicate")
@click.pass_context
def cli(
    click_ctx: click.Context, config_path: str, verbose: int, quiet: bool, log_format: str
) -> None:
    """Collect articles, publish RSS/Atom feeds and send e-mail digests.

    Everything is described in one config file, schedules.yaml.

    \b
    Example:
        syndicate check
        syndicate db upgrade
        syndicate subscribers import examples/subscribers.csv
        syndicate run --once
        syndicate --log-format json run

    Exit codes: 0 ok, 1 error, 2 usage error, 3 some sources or deliveries failed.
    """
    if click_ctx.invoked_subcommand not in SILENT_COMMANDS:
        from syndicate.logs import setup_logging

        setup_logging(verbose, quiet, log_format)
    click_ctx.obj = Context(config_path)


@cli.command()
@pass_ctx
def check(ctx: Context) -> None:
    """Validate the config file; print OK or one line per problem.

    Exits 1 when there is any problem.

    \b
    Example:
        syndicate check
        syndicate -c /etc/syndicate/schedules.yaml check
    """
    try:
        config = ctx.config
    except ConfigError as exc:
        for line in exc.lines():
            click.echo(line, err=True)
        sys.exit(EXIT_ERROR)
    from syndicate.preflight import run_problems

    problems = run_problems(config)
    for problem in problems:
        click.echo(f"{ctx.config_path}: {problem}", err=True)
    if problems:
        sys.exit(EXIT_ERROR)
    click.echo(
        f"OK: {len(config.sections)} sections, {len(config.sources)} sources, "
        f"{len(config.digests)} digests"
    )


def _progress(total: int, label: str) -> tuple[Callable[[Any], None], Callable[[], None]]:
    """A progress bar on a terminal's stderr, or no-ops elsewhere."""
    if total <= 1 or not sys.stderr.isatty():
        return (lambda _item: None), (lambda: None)
    bar = click.progressbar(length=total, label=label, file=sys.stderr)
    bar.__enter__()
    return (lambda _item: bar.update(1)), (lambda: bar.__exit__(None, None, None))


@cli.command()
@click.argument("source_ids", nargs=-1, metavar="[SOURCE_ID]...")
@pass_ctx
def collect(ctx: Context, source_ids: tuple[str, ...]) -> None:
    """Collect new articles from every enabled source (or the ones named).

    One failing source never stops the others; exit code 3 when any failed.

    \b
    Example:
        syndicate collect
        syndicate collect it-rss opinion-folder
    """
    from syndicate import pipeline

    with errors_to_exit(ctx):
        known = {s.id for s in ctx.config.sources}
        unknown = [s for s in source_ids if s not in known]
        if unknown:
            raise click.BadParameter(f"unknown source {unknown[0]!r}", param_hint="SOURCE_ID")
        store = ctx.store()
        count = len(source_ids) or sum(1 for s in ctx.config.sources if s.enabled)
        tick, done = _progress(count, "collecting")
        try:
            outcomes = pipeline.run_collect(
                ctx.config, store, source_ids=source_ids or None, progress=tick
            )
        finally:
            done()
        for outcome in outcomes:
            click.echo(_outcome_line(outcome))
        if any(o.error for o in outcomes):
            sys.exit(EXIT_PARTIAL)


@cli.command()
@click.argument("location", metavar="URL_OR_FILE")
@click.option("--source", "source_id", metavar="ID", help="Read dates in this source's timezone.")
@pass_ctx
def extract(ctx: Context, location: str, source_id: str | None) -> None:
    """Print the article on one page as JSON, to check a site before adding it.

    Keys: title, author, authors, published, updated, section, summary, text,
    html, image, captions, url. Exit 1 with one line when there is no article.

    \b
    Example:
        syndicate extract https://www.inews24.com/view/1601234
        syndicate extract tests/data/pages/article_inews24_altman.html --source it-pages
    """
    import json

    from syndicate import pipeline

    with errors_to_exit(ctx):
        found = pipeline.extract_page(_optional_config(ctx, source_id), location, source_id)
        click.echo(json.dumps(found.as_json(), ensure_ascii=False, indent=2))


def _optional_config(ctx: Context, source_id: str | None) -> Config | None:
    """The config; None when no config file exists and no source is named."""
    if source_id is None and not Path(ctx.config_path).exists():
        return None
    config = ctx.config
    if source_id is not None and source_id not in {s.id for s in config.sources}:
        raise click.BadParameter(f"unknown source {source_id!r}", param_hint="--source")
    return config


def _outcome_line(outcome: Any) -> str:
    if outcome.error:
        return f"{outcome.source_id}: FAILED: {outcome.error}"
    if outcome.not_modified:
        return f"{outcome.source_id}: not modified"
    return (
        f"{outcome.source_id}: {outcome.new} new, {outcome.updated} updated, "
        f"{outcome.unchanged} unchanged"
    )


@cli.command()
@pass_ctx
def feeds(ctx: Context) -> None:
    """Write the RSS and Atom feeds (per section and combined).

    Files whose content did not change are left untouched; each file is written
    on its own, and exit code 3 means some could not be written.

    \b
    Example:
        syndicate feeds
    """
    from syndicate import pipeline

    with errors_to_exit(ctx):
        report = pipeline.run_feeds(ctx.config, ctx.store())
        _print_feeds(ctx.config, report)
        if report.failed:  # each failed file was logged, naming it
            sys.exit(EXIT_PARTIAL)


def _print_feeds(config: Config, report: Any) -> None:
    folder = config.feeds.output
    failed = f", {len(report.failed)} failed" if report.failed else ""
    click.echo(
        f"feeds: {len(report.written)} written, {len(report.unchanged)} unchanged{failed} "
        f"in {folder}"
    )


@cli.command()
@click.argument("digest_id")
@click.option(
    "--resume",
    is_flag=True,
    help="Only send what earlier editions still owe; build no new edition.",
)
@click.option(
    "--preview",
    "preview_to",
    metavar="ADDRESS",
    help="Write this subscriber's next message to a file; record nothing.",
)
@click.option(
    "--to", "test_to", metavar="ADDRESS", help="Send a test copy of the next message here."
)
@click.option(
    "--slot",
    metavar="TIME",
    help="With --preview/--to: this slot (2026-11-29-0700 or ISO 8601) instead of the next.",
)
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder for --preview's file.",
)
@pass_ctx
def digest(
    ctx: Context,
    digest_id: str,
    *,
    resume: bool,
    preview_to: str | None,
    test_to: str | None,
    slot: str | None,
    output: Path,
) -> None:
    """Build and send the edition of DIGEST_ID's latest due slot.

    Running it again for the same slot sends nothing twice. With --resume: send
    what the digest's unfinished editions owe now (deferred sends whose next try
    is due, uncertain ones under `uncertain: resend`, never attempted ones), as
    the scheduler does at start and after each collect.

    SIGTERM stops sending at the next batch boundary (the rest waits for --resume).
    Exit code 3 when this run failed sends, left sends deferred (also those
    waiting for their next try) or uncertain, or stopped sending early;
    bounced addresses alone are normal and exit 0. An edition is not built in
    the digest's quiet hours (it waits) nor past its grace (it is skipped); both
    say so and exit 0.

    With --preview ADDRESS: write that subscriber's next message (the stored
    edition of the slot, else a draft) to an .eml file and print its path;
    nothing is recorded. With --to ADDRESS: send a test copy (subject
    "[테스트] ...", header X-Syndicate-Test) through the digest's delivery;
    nothing is recorded either.

    \b
    Example:
        syndicate digest morning
        syndicate digest morning --resume
        syndicate digest morning --preview kim@example.kr --output /tmp
        syndicate digest morning --to desk@news.example.kr --slot 2026-11-29-0700
    """
    import signal

    from syndicate import pipeline

    previous = signal.signal(signal.SIGTERM, lambda signum, frame: pipeline.request_stop())
    try:
        _digest(
            ctx, digest_id,
            resume=resume, preview_to=preview_to, test_to=test_to, slot=slot, output=output,
        )  # fmt: skip
    finally:
        signal.signal(signal.SIGTERM, previous)


def _digest(
    ctx: Context,
    digest_id: str,
    *,
    resume: bool,
    preview_to: str | None,
    test_to: str | None,
    slot: str | None,
    output: Path,
) -> None:
    from syndicate import pipeline

    with errors_to_exit(ctx):
        try:
            ctx.config.digest(digest_id)
        except KeyError:
            known = ", ".join(d.id for d in ctx.config.digests) or "none configured"
            raise click.BadParameter(
                f"unknown digest {digest_id!r} (known: {known})", param_hint="DIGEST_ID"
            ) from None
        _one_mode(resume, preview_to, test_to, slot)
        if preview_to is not None:
            return cli_ops.preview_command(ctx, digest_id, preview_to, slot, output)
        if test_to is not None:
            return cli_ops.test_copy_command(ctx, digest_id, test_to, slot)
        if resume:
            runs = pipeline.resume_digest(ctx.config, ctx.store(), digest_id)
            if not runs:
                click.echo(f"digest {digest_id}: nothing to resume")
        else:
            try:
                runs = [pipeline.run_digest(ctx.config, ctx.store(), digest_id)]
            except EditionNotDue as exc:
                click.echo(str(exc))  # quiet hours or a slot past its grace: not a failure
                return
        for run in runs:
            _print_digest(ctx.config, run)
        if any(run.unfinished for run in runs):
            sys.exit(EXIT_PARTIAL)


def _one_mode(resume: bool, preview_to: str | None, test_to: str | None, slot: str | None) -> None:
    """Refuse options that do not go together (a usage error, exit code 2)."""
    modes = [
        name
        for name, on in (("--resume", resume), ("--preview", preview_to), ("--to", test_to))
        if on
    ]
    if len(modes) > 1:
        raise click.UsageError(f"{modes[0]} and {modes[1]} cannot be used together")
    if slot is not None and not (preview_to or test_to):
        raise click.UsageError("--slot only goes with --preview or --to")


def _print_digest(config: Config, run: pipeline.DigestRun) -> None:
    slot = run.edition.slot.astimezone(config.timezone).strftime("%Y-%m-%d %H:%M %Z")
    state = "new edition" if run.created else "existing edition"
    stopped = "; stopped early, the rest waits for the next run" if run.stopped else ""
    click.echo(
        f"digest {run.digest_id} {slot} ({state}, {len(run.edition.articles)} articles): "
        f"{run.sent} sent, {run.deferred} deferred, {len(run.bounced)} bounced, "
        f"{len(run.failed)} failed, {run.uncertain} uncertain; {run.empty} with nothing new, "
        f"{run.already_sent} already sent, {run.failed_earlier} failed earlier, "
        f"{run.waiting} waiting to retry"
        + (f", {run.paused} paused" if run.paused else "")
        + stopped
    )
    _print_leftovers(run)
    from syndicate.deliveries import delivery_kind

    delivery = config.digest(run.digest_id).delivery
    folder = delivery_kind(delivery).output(config, delivery)
    if folder is not None and run.sent:
        click.echo(f"  e-mails written to {folder}")


def _print_leftovers(run: pipeline.DigestRun) -> None:
    """What earlier runs left and this one will not touch, then each refused address."""
    if run.uncertain_earlier:
        click.echo(
            f"  {run.uncertain_earlier} sends are uncertain and not resent (uncertain: skip)",
            err=True,
        )
    if run.claimed_elsewhere:
        click.echo(f"  {run.claimed_elsewhere} sends were claimed by another run", err=True)
    if run.closed:
        click.echo(f"  {run.closed} deferred sends failed: the retry window ended", err=True)
    for address, reason in sorted(run.bounced.items()):
        click.echo(f"  bounced {address}: {reason}", err=True)
    for address, reason in sorted(run.failed.items()):
        click.echo(f"  failed {address}: {reason}", err=True)


@cli.command()
@click.option("--once", is_flag=True, help="Run one full cycle and exit.")
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    metavar="PORT",
    help="Also serve /metrics (Prometheus) on this port.",
)
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="Its address.")
@pass_ctx
def run(ctx: Context, once: bool, metrics_port: int | None, metrics_host: str) -> None:
    """Run the scheduler: collect+feeds on the collect schedule, each digest on its own.

    With --once: collect, write feeds, run every digest once and resume earlier
    editions that still owe sends, then exit (exit code 3 when any source failed
    or sends are left failed, deferred or uncertain; bounces alone exit 0).

    \b
    Example:
        syndicate run            # daemon; stop with Ctrl-C or SIGTERM
        syndicate run --once     # one cycle, e.g. from cron or CI
        syndicate run --metrics-port 9464
    """
    from syndicate import metrics

    with errors_to_exit(ctx):
        config, store = ctx.config, ctx.store()
        stop_metrics = (
            metrics.serve_metrics(store, config, metrics_host, metrics_port)
            if metrics_port is not None
            else lambda: None
        )
        try:
            _run(config, store, once)
        finally:
            stop_metrics()


def _run(config: Config, store: Store, once: bool) -> None:
    from syndicate import pipeline, scheduler

    if not once:
        scheduler.run_forever(config, store, on_start=lambda: _print_jobs(config))
        return
    count = sum(1 for s in config.sources if s.enabled)
    tick, done = _progress(count, "collecting")
    try:
        report = pipeline.run_once(config, store, progress=tick)
    finally:
        done()
    _print_cycle(config, report)
    if report.has_failures:
        sys.exit(EXIT_PARTIAL)


def _print_cycle(config: Config, report: pipeline.CycleReport) -> None:
    for outcome in report.sources:
        click.echo(_outcome_line(outcome))
    if report.feeds is not None:
        _print_feeds(config, report.feeds)
    for run in report.digests:
        _print_digest(config, run)
    for error in report.errors:
        click.echo(f"error: {error}", err=True)


def _print_jobs(config: Config) -> None:
    from syndicate import scheduler

    for job in scheduler.job_table(config):
        when = job.next_run.strftime("%Y-%m-%d %H:%M %z") if job.next_run else "never"
        click.echo(f"{job.id:<20} {job.schedule.text:<18} next {when}  {job.description}")


@cli.command()
@pass_ctx
def jobs(ctx: Context) -> None:
    """List the scheduled jobs and when each runs next (configured timezone).

    \b
    Example:
        syndicate jobs
    """
    with errors_to_exit(ctx):
        _print_jobs(ctx.config)


@cli.group()
def subscribers() -> None:
    """Import and list subscribers.

    \b
    Example:
        syndicate subscribers import examples/subscribers.csv
        syndicate subscribers list
        syndicate subscribers unsubscribe kim@example.kr
    """


@subscribers.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--digest", "digest_id", metavar="ID", help="Digest for rows without one.")
@pass_ctx
def subscribers_import(ctx: Context, file: Path, digest_id: str | None) -> None:
    """Import subscribers from a CSV file (validated completely first).

    Columns: email (required), name, digest, sections (ids or names separated
    by spaces), consented_at (ISO 8601), status (active or unsubscribed).
    People who unsubscribed are never re-subscribed by an import.

    \b
    Example:
        syndicate subscribers import examples/subscribers.csv
        syndicate subscribers import --digest morning list.csv
    """
    from syndicate.subscribers import import_subscribers

    with errors_to_exit(ctx):
        if digest_id is not None and digest_id not in {d.id for d in ctx.config.digests}:
            raise click.BadParameter(f"unknown digest {digest_id!r}", param_hint="--digest")
        report = import_subscribers(ctx.config, ctx.store(), file, default_digest=digest_id)
        click.echo(
            f"{file}: {report.created} subscriptions created, {report.updated} updated, "
            f"{report.unchanged} unchanged, {report.kept_unsubscribed} kept unsubscribed"
        )


@subscribers.command("unsubscribe")
@click.argument("who", metavar="ADDRESS_OR_TOKEN")
@click.option("--digest", "digest_id", metavar="ID", help="Only from this digest.")
@pass_ctx
def subscribers_unsubscribe(ctx: Context, who: str, digest_id: str | None) -> None:
    """Unsubscribe an address (from every digest, or --digest) or one token.

    The token is the one in the List-Unsubscribe link of a message. Exits 1
    when nothing active matched.

    \b
    Example:
        syndicate subscribers unsubscribe kim@example.kr
        syndicate subscribers unsubscribe kim@example.kr --digest morning
        syndicate subscribers unsubscribe S0MkFeHrRQkbmzqgddGcBDiCNzcpM2rf
    """
    from syndicate.subscribers import unsubscribe

    with errors_to_exit(ctx):
        changed = unsubscribe(ctx.store(), who, digest_id=digest_id)
        for sub in changed:
            click.echo(f"{sub.subscriber.email}: unsubscribed from {sub.digest_id}")
        if not changed:
            fail(f"no active subscription matches {who!r}")


@subscribers.command("list")
@click.option("--digest", "digest_id", metavar="ID", help="Only this digest's subscriptions.")
@pass_ctx
def subscribers_list(ctx: Context, digest_id: str | None) -> None:
    """List subscribers with their subscriptions, tab-separated.

    Columns: email, name, digest, status (pending: waiting for the address owner
    to confirm), sections ("*" = all offered), paused until (a local time, empty
    when not paused).

    \b
    Example:
        syndicate subscribers list
        syndicate subscribers list --digest morning | cut -f1
    """
    with errors_to_exit(ctx):
        now = datetime.now(UTC)
        for subscriber, subscriptions in ctx.store().list_subscribers():
            for sub in subscriptions:
                if digest_id and sub.digest_id != digest_id:
                    continue
                sections = " ".join(sub.sections) or "*"
                paused = ""
                if sub.paused_until is not None and sub.paused_at(now):
                    paused = sub.paused_until.astimezone(ctx.config.timezone).isoformat()
                click.echo(
                    f"{subscriber.email}\t{subscriber.name}\t{sub.digest_id}\t{sub.status}"
                    f"\t{sections}\t{paused}"
                )


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8080,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="TCP port (0: any free port).",
)
@pass_ctx
def serve(ctx: Context, host: str, port: int) -> None:
    """Serve the web pages: feeds, archive, unsubscribe, subscribe, preferences.

    URLs live under the path of public_base_url; put nginx or Caddy in front for
    HTTPS. Stops gracefully on SIGTERM or Ctrl-C (exit code 0).

    \b
    Example:
        syndicate serve
        syndicate serve --host 0.0.0.0 --port 8000
        curl http://127.0.0.1:8080/healthz
    """
    from syndicate.web.server import serve as serve_web

    with errors_to_exit(ctx):
        store = _web_store(ctx)
        serve_web(
            ctx.config,
            store,
            host,
            port,
            on_start=lambda url: click.echo(f"serving {ctx.config.public_base_url} at {url}"),
        )


def _web_store(ctx: Context) -> Store:
    """The store, checked to be current; an unreachable one is served anyway (503 pages).

    Pages do not wait through an outage: they answer 503 at once.
    """
    from syndicate.errors import SchemaOutOfDate, StoreError
    from syndicate.store import Store

    ctx._store = Store(ctx.config.store, ctx.config.database.limits(patient=False))
    try:
        ctx._store.ensure_current()
    except SchemaOutOfDate:
        raise
    except StoreError as exc:
        click.echo(f"warning: {exc} (serving anyway; /healthz answers 503)", err=True)
    return ctx._store


cli.add_command(cli_db.db)
cli.add_command(cli_ops.sends)
cli.add_command(cli_ops.editions)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="syndicate")
