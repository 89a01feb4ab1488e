"""The ``syndicate`` command line: thin wrappers over :mod:`syndicate.pipeline`.

Exit codes: 0 success; 1 error (bad config, store unreachable, bad file);
2 usage error; 3 the command ran but some sources or deliveries failed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from syndicate import (
    CONFIG_ENV,
    DEFAULT_CONFIG,
    __version__,
    cli_articles,
    cli_data,
    cli_db,
    cli_digest,
    cli_ops,
    cli_sched,
    cli_sources,
    cli_subscribers,
)
from syndicate.cli_base import EXIT_ERROR, EXIT_PARTIAL, Context, errors_to_exit, pass_ctx
from syndicate.cli_digest import print_digest
from syndicate.errors import ConfigError

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
    from pathlib import Path

    if source_id is None and not Path(ctx.config_path).exists():
        return None
    config = ctx.config
    if source_id is not None and source_id not in {s.id for s in config.sources}:
        raise click.BadParameter(f"unknown source {source_id!r}", param_hint="--source")
    return config


def _outcome_line(outcome: Any) -> str:
    return str(outcome.describe())


@cli.command()
@pass_ctx
def feeds(ctx: Context) -> None:
    """Write the RSS, Atom and JSON Feed files (per section, combined, per source).

    Unchanged files are left untouched, WebSub hubs (feeds.hubs) told of changed
    ones; each is written on its own, exit code 3 means some could not be.

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

    Several daemons may share one database: one is active, the others stand
    by and take over within scheduler.takeover (default 60s). SIGHUP or
    `syndicate reload` re-reads the configuration.

    \b
    Example:
        syndicate run            # daemon; stop with Ctrl-C or SIGTERM
        syndicate run --once     # one cycle, e.g. from cron or CI
        syndicate run --metrics-port 9464
    """
    from syndicate import metrics

    with cli_sched.stop_signals_at_startup(not once), errors_to_exit(ctx):
        config, store = ctx.config, ctx.store()
        stop_metrics = (
            metrics.serve_metrics(store, config, metrics_host, metrics_port)
            if metrics_port is not None
            else lambda: None
        )
        try:
            _run(ctx, once)
        finally:
            stop_metrics()


def _run(ctx: Context, once: bool) -> None:
    from syndicate import pipeline

    if not once:
        cli_sched.run_daemon(ctx)
        return
    config, store = ctx.config, ctx.store()
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
        print_digest(config, run)
    for error in report.errors:
        click.echo(f"error: {error}", err=True)


@cli.command()
@pass_ctx
def jobs(ctx: Context) -> None:
    """List the scheduled jobs and when each runs next (configured timezone);
    paused digests are marked (paused).

    \b
    Example:
        syndicate jobs
    """
    with errors_to_exit(ctx):
        cli_sched.print_jobs(ctx.config, ctx.store())


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
cli.add_command(cli_digest.digest)
cli.add_command(cli_subscribers.subscribers)
cli.add_command(cli_ops.sends)
cli.add_command(cli_ops.editions)
cli.add_command(cli_articles.articles)
cli.add_command(cli_data.export_command)
cli.add_command(cli_data.import_command)
cli.add_command(cli_sources.sources)
cli.add_command(cli_sched.runs)
cli.add_command(cli_sched.status)
cli.add_command(cli_sched.pause)
cli.add_command(cli_sched.resume)
cli.add_command(cli_sched.reload)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="syndicate")
