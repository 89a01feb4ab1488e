"""The ``subscribers`` commands: import a CSV file, unsubscribe, list.

Registered on the ``syndicate`` group by :mod:`syndicate.cli`. The subscriber
stage is imported inside each command, so ``--help`` loads none of it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import click

from syndicate.cli_base import Context, errors_to_exit, fail, pass_ctx


@click.group()
def subscribers() -> None:
    """Import and list subscribers.

    \b
    Example:
        syndicate subscribers import examples/subscribers.csv
        syndicate subscribers list
        syndicate subscribers unsubscribe kim@example.kr
    """


@subscribers.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--digest", "digest_id", metavar="ID", help="Digest for rows without one.")
@pass_ctx
def subscribers_import(ctx: Context, file: str, digest_id: str | None) -> None:
    """Import subscribers from a CSV file (validated completely first).

    Columns: email (required), name, digest, sections (ids or names separated
    by spaces), consented_at (ISO 8601), status (active or unsubscribed).
    People who unsubscribed are never re-subscribed by an import.

    \b
    Example:
        syndicate subscribers import examples/subscribers.csv
        syndicate subscribers import --digest morning list.csv
    """
    from pathlib import Path

    from syndicate.subscribers import import_subscribers

    with errors_to_exit(ctx):
        if digest_id is not None and digest_id not in {d.id for d in ctx.config.digests}:
            raise click.BadParameter(f"unknown digest {digest_id!r}", param_hint="--digest")
        report = import_subscribers(ctx.config, ctx.store(), Path(file), default_digest=digest_id)
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
        for subscriber, subscriptions in ctx.store().list_subscribers(digest_id):
            for sub in subscriptions:
                sections = " ".join(sub.sections) or "*"
                paused = ""
                if sub.paused_until is not None and sub.paused_at(now):
                    paused = sub.paused_until.astimezone(ctx.config.timezone).isoformat()
                click.echo(
                    f"{subscriber.email}\t{subscriber.name}\t{sub.digest_id}\t{sub.status}"
                    f"\t{sections}\t{paused}"
                )
