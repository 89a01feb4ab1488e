"""Alembic environment for syndicate.

Run programmatically by :class:`syndicate.store.Store` (which passes an open
connection in ``config.attributes["connection"]``), or by hand with the
``alembic.ini`` at the repository root, reading the URL from ``SYNDICATE_STORE_URL``.
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import context

from syndicate import STORE_ENV
from syndicate.store.tables import metadata


def _configure_and_run(connection: sa.Connection) -> None:
    """Run the migrations on ``connection`` inside one transaction."""
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    """The database URL for a by-hand run: the environment, else alembic.ini."""
    url = os.environ.get(STORE_ENV) or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit(f"set {STORE_ENV} to the database URL")
    return url


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it (``alembic upgrade --sql``)."""
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run on the shared connection, or on a new engine for a by-hand run."""
    shared = context.config.attributes.get("connection")
    if shared is not None:
        _configure_and_run(shared)
        return
    engine = sa.create_engine(_url())
    try:
        with engine.begin() as connection:
            _configure_and_run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
