"""Operator commands on sources: ``sources`` (their health) and ``sources enable``.

Registered on the ``syndicate`` group by :mod:`syndicate.cli`. The store is
imported inside the commands, so ``--help`` loads none of it.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import TYPE_CHECKING

import click

from syndicate.cli_base import Context, errors_to_exit, fail, pass_ctx

if TYPE_CHECKING:
    from syndicate.config_sources import SourceConfig
    from syndicate.model import SourceState

COLUMNS = ("source", "status", "last success", "next due", "backoff", "last error", "moved to")


def _when(value: datetime | None, zone: tzinfo) -> str:
    return "-" if value is None else value.astimezone(zone).isoformat(timespec="seconds")


def _span(seconds: int) -> str:
    """``seconds`` as a short duration: 45s, 5m, 2h30m, 1d6h."""
    if seconds <= 0:
        return "-"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "",
             f"{minutes}m" if minutes else "", f"{secs}s" if secs and not days else ""]  # fmt: skip
    return "".join(parts[:3] if days else parts)


def status_of(source: SourceConfig, state: SourceState, now: datetime) -> str:
    """One word: disabled, retired, waiting (backing off), failing, ok, or new (never read)."""
    if not source.enabled:
        return "disabled"
    if state.retired_at is not None:
        return "retired"
    if state.next_due_at is not None and state.next_due_at > now:
        return "waiting"
    if state.error_count:
        return "failing"
    return "ok" if state.last_success_at is not None else "new"


def source_row(source: SourceConfig, state: SourceState, zone: tzinfo, now: datetime) -> str:
    """One tab-separated line of ``syndicate sources``."""
    moved = state.location if state.location and state.moved_from == source.location else "-"
    cells = (
        source.id, status_of(source, state, now), _when(state.last_success_at, zone),
        _when(state.next_due_at, zone), _span(state.backoff_seconds),
        " ".join((state.last_error or "-").split()), moved,
    )  # fmt: skip
    return "\t".join(cells)


@click.group(invoke_without_command=True)
@pass_ctx
@click.pass_context
def sources(click_ctx: click.Context, ctx: Context) -> None:
    """Show each configured source's health, or re-enable one (`sources enable ID`).

    Tab-separated columns: source, status (ok, new, failing, waiting, retired,
    disabled), last success and next due time (local time), backoff, last
    error, and where a permanent redirect moved it.

    \b
    Example:
        syndicate sources
        syndicate sources | awk -F'\\t' '$2 == "retired"'
        syndicate sources enable it-rss
    """
    if click_ctx.invoked_subcommand is not None:
        return
    from syndicate.model import utcnow

    with errors_to_exit(ctx):
        config = ctx.config
        states = ctx.store().get_source_states([s.id for s in config.sources])
        now = utcnow()
        click.echo("\t".join(COLUMNS))
        for source in config.sources:
            click.echo(source_row(source, states[source.id], config.timezone, now))


@sources.command("enable")
@click.argument("source_id", metavar="ID")
@pass_ctx
def sources_enable(ctx: Context, source_id: str) -> None:
    """Re-enable source ID after a 410 Gone retired it (or end its backoff now).

    It is read at the next collect; its error count and backoff start again.

    \b
    Example:
        syndicate sources enable it-rss
    """
    with errors_to_exit(ctx):
        if source_id not in {s.id for s in ctx.config.sources}:
            fail(f"unknown source {source_id!r} (not in {ctx.config.path})")
        before = ctx.store().get_source_state(source_id)
        ctx.store().enable_source(source_id)
        was = "retired" if before.retired_at is not None else "not retired"
        click.echo(f"{source_id}: enabled ({was} before); it is read at the next collect")
