"""Operator commands on stored articles: ``articles list``, ``articles hide``, ``articles unhide``.

Registered on the ``syndicate`` group by :mod:`syndicate.cli`. The store is
imported inside the commands, so ``--help`` loads no database library.
"""

from __future__ import annotations

import os
from datetime import datetime, time
from typing import TYPE_CHECKING, Any

import click

from syndicate.cli_base import Context, errors_to_exit, fail, pass_ctx

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from syndicate.store import ArticleEntry

MAX_REASON = 2000
"""Characters a takedown reason may have."""
MAX_LIST = 100_000
"""Most articles ``articles list --limit`` shows."""


def operator_name() -> str:
    """Who runs this command: the OS user name, else the numeric user id."""
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"


def parse_since(text: str, zone: ZoneInfo, now: datetime) -> datetime:
    """``--since``: a duration back from now (``7d``), a date or a date and time (local)."""
    from syndicate.schedule import parse_duration

    value = text.strip()
    if value[:1].isdigit() and value[-1:].isalpha():
        try:
            return now - parse_duration(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a duration (7d), a date (2026-11-29) or a date and time"
        ) from None
    if len(value) == 10:
        parsed = datetime.combine(parsed.date(), time())
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


@click.group()
def articles() -> None:
    """List stored articles; hide one from every feed, archive page and edition.

    \b
    Example:
        syndicate articles list --section it --since 2d
        syndicate articles hide 1234 --reason "언론중재위원회 조정 2026-101"
        syndicate articles unhide 1234 --reason "정정 보도 반영"
    """


def _reason(text: str) -> str:
    reason = " ".join(text.split())
    if len(reason) > MAX_REASON:
        raise click.BadParameter(f"at most {MAX_REASON} characters", param_hint="--reason")
    return reason


def _set_hidden(ctx: Context, ref: str, hidden: bool, reason: str, by: str | None) -> None:
    word = "hidden" if hidden else "shown"
    with errors_to_exit(ctx):
        store = ctx.store()
        article = store.find_article(ref)
        actor = by.strip() if by and by.strip() else operator_name()
        changed = store.set_hidden(article.seq or 0, hidden, reason=_reason(reason), actor=actor)
        label = f"article {article.seq} ({article.public_id}) {article.title!r}"
        if not changed:
            click.echo(f"{label} was already {word}; nothing recorded")
            return
        click.echo(f"{label} {word} by {actor}; feeds and archive pages change at the next write")


@articles.command("hide")
@click.argument("ref", metavar="ID")
@click.option("--reason", required=True, help="Why (recorded with who and when).")
@click.option("--by", help="Who asked or decided (default: the OS user).")
@pass_ctx
def articles_hide(ctx: Context, ref: str, reason: str, by: str | None) -> None:
    """Hide article ID (its sequence number or public id) from feeds, archive and editions.

    The reason, who (--by, else the OS user) and when are recorded. Feeds drop
    the article at their next write, archive pages at once, editions not yet
    built never include it.

    \b
    Example:
        syndicate articles hide 1234 --reason "언론중재위원회 조정 2026-101" --by 법무팀
    """
    if not reason.strip():
        fail("--reason must say why the article is hidden")
    _set_hidden(ctx, ref, True, reason, by)


@articles.command("unhide")
@click.argument("ref", metavar="ID")
@click.option("--reason", default="", help="Why it is shown again (recorded).")
@click.option("--by", help="Who asked or decided (default: the OS user).")
@pass_ctx
def articles_unhide(ctx: Context, ref: str, reason: str, by: str | None) -> None:
    """Show hidden article ID again (recorded like a hide).

    \b
    Example:
        syndicate articles unhide 1234 --reason "정정 보도 반영"
    """
    _set_hidden(ctx, ref, False, reason, by)


def _line(entry: ArticleEntry, zone: ZoneInfo) -> str:
    article = entry.article
    first = article.first_seen_at
    seen = "" if first is None else first.astimezone(zone).isoformat(timespec="minutes")
    state = "shown"
    if entry.hidden_at is not None:
        state = "hidden"
        if entry.takedown is not None:
            state += f" ({entry.takedown.actor}: {entry.takedown.reason})"
    fields = (str(article.seq), seen, article.section_id, ",".join(entry.sources), state,
              article.public_id or "", article.title)  # fmt: skip
    return "\t".join(" ".join(field.split()) for field in fields)


@articles.command("list")
@click.option("--source", "source_id", help="Only articles this source gave.")
@click.option("--section", "section_id", help="Only articles of this section.")
@click.option("--since", help="First seen since: a duration (7d), a date or a date and time.")
@click.option("--hidden", is_flag=True, help="Only hidden articles.")
@click.option("--limit", type=click.IntRange(1, MAX_LIST), default=50, show_default=True)
@pass_ctx
def articles_list(ctx: Context, /, since: str | None, hidden: bool, **chosen: Any) -> None:
    """List stored articles, newest first, tab-separated.

    Columns: sequence, first seen (local time), section, sources, shown or
    hidden (with who and why), public id, title.

    \b
    Example:
        syndicate articles list --source yonhap --since 2026-11-28
        syndicate articles list --hidden
    """
    from syndicate.model import utcnow

    with errors_to_exit(ctx):
        zone = ctx.config.timezone
        start = None if since is None else parse_since(since, zone, utcnow())
        entries = ctx.store().list_articles(since=start, hidden=True if hidden else None, **chosen)
        for entry in entries:
            click.echo(_line(entry, zone))
