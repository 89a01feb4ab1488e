"""Database URLs in the config: relative SQLite paths resolved, and checked before any run.

The store itself (:mod:`syndicate.store`) opens the URL; these checks find at
config-loading time what it would refuse: an unparsable URL, a database other
than SQLite or PostgreSQL, a bad port, a driver that is not installed.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

STORE_BACKENDS = ("sqlite", "postgresql")


def resolve_store_url(url: str, base: Path) -> str:
    """Make a relative SQLite path absolute; other URLs are returned unchanged."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith("sqlite:////"):
        rest = url[len(prefix) :]
        if rest and not rest.startswith(":memory:") and not Path(rest).is_absolute():
            try:
                return prefix + str((base / rest).resolve())
            except (OSError, ValueError, RuntimeError):
                return url
    return url


def check_store_url(url: str) -> str:
    """Check that ``url`` is a SQLAlchemy URL syndicate can open (parsed, known, installed)."""
    try:
        parsed = sa.make_url(url)
    except (sa.exc.ArgumentError, ValueError):
        raise ValueError(
            "not a database URL (e.g. sqlite:///var/syndicate.db or "
            "postgresql+psycopg://user@host/db)"
        ) from None
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() not in STORE_BACKENDS:
        raise ValueError(f"{shown}: unsupported database (use {' or '.join(STORE_BACKENDS)})")
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        raise ValueError(f"{shown}: port {parsed.port} is outside 1-65535")
    try:
        parsed.get_dialect().import_dbapi()
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise ValueError(f"{shown}: database driver not available ({exc})") from None
    return url


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL; None for other databases and in-memory ones."""
    parsed = sa.make_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    return None if database.startswith("file:") else Path(database)
