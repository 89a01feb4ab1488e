"""``syndicate db``: create or migrate the schema, and check the database."""

from __future__ import annotations

import sys

import click

from syndicate.cli_base import EXIT_ERROR, Context, errors_to_exit, pass_ctx


@click.group()
def db() -> None:
    """Manage the database schema.

    \b
    Example:
        syndicate db upgrade
    """


@db.command("upgrade")
@pass_ctx
def db_upgrade(ctx: Context) -> None:
    """Create the database or migrate it to the current schema.

    \b
    Example:
        syndicate db upgrade
        SYNDICATE_STORE_URL=postgresql+psycopg://news@db/news syndicate db upgrade
    """
    from syndicate.store import Store

    with errors_to_exit(ctx):
        store = Store(ctx.config.store, ctx.config.database.limits())
        ctx._store = store
        before = store.current_revision()
        store.upgrade()
        after = store.current_revision()
        state = "already current" if before == after else f"upgraded from {before or 'empty'}"
        click.echo(f"database {store.url}: revision {after} ({state})")


@db.command("check")
@pass_ctx
def db_check(ctx: Context) -> None:
    """Check the database: it answers, is intact, is at the newest schema, matches the models.

    On SQLite this includes `PRAGMA quick_check`. Exits 1 with one line per problem.

    \b
    Example:
        syndicate db check
    """
    from syndicate.store import Store

    with errors_to_exit(ctx):
        ctx._store = store = Store(ctx.config.store, ctx.config.database.limits())
        problems = store.check_problems()
        for line in problems:
            click.echo(f"error: {line}", err=True)
        if problems:
            sys.exit(EXIT_ERROR)
        click.echo(f"OK: {store.url} answers, revision {store.head_revision()} (head), intact")
