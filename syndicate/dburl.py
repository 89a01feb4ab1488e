"""Database URLs in the config: relative SQLite paths resolved, and checked before any run.

The store itself (:mod:`syndicate.store`) opens the URL; these checks find at
config-loading time what it would refuse: an unparsable URL, a database other
than SQLite or PostgreSQL, a bad port, a driver that is not installed.

Reading a config must stay fast (``syndicate check``), so the URL is parsed
here with SQLAlchemy's own URL grammar instead of importing SQLAlchemy; only a
driver this module does not know is looked up through SQLAlchemy's dialects.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

STORE_BACKENDS = ("sqlite", "postgresql")
POSTGRES_EXTRA = "pip install 'syndicate[postgres]'"

# sqlalchemy.engine.url._parse_url's pattern: the same URLs parse the same way.
_URL_RE = re.compile(
    r"""
        (?P<name>[\w\+]+)://
        (?:
            (?P<username>[^:/]*)
            (?::(?P<password>[^@]*))?
        @)?
        (?:
            (?:
                \[(?P<ipv6host>[^/\?]+)\] |
                (?P<ipv4host>[^/:\?]+)
            )?
            (?::(?P<port>[^/\?]*))?
        )?
        (?:/(?P<database>[^\?]*))?
        (?:\?(?P<query>.*))?
    """,
    re.X,
)
# (backend, driver) -> the DBAPI module that driver imports; None is the backend's default.
# Importing it is what SQLAlchemy's import_dbapi() does, without loading SQLAlchemy.
_DBAPI_MODULES = {
    ("sqlite", None): "sqlite3",
    ("sqlite", "pysqlite"): "sqlite3",
    ("postgresql", "psycopg"): "psycopg",
}


@dataclass(frozen=True)
class StoreUrl:
    """The parts of a database URL the checks look at; ``shown`` has the password hidden."""

    backend: str
    driver: str | None
    port: int | None
    database: str | None
    shown: str


def parse_store_url(url: str) -> StoreUrl:
    """Parse ``url`` as SQLAlchemy would; an unparsable one raises ValueError."""
    match = _URL_RE.match(url)
    if match is None:
        raise ValueError("not a SQLAlchemy URL")
    backend, _, driver = match["name"].partition("+")
    port = None if match["port"] is None else int(match["port"])  # "h:/db" is refused too
    shown = url
    if match["password"] is not None:
        start, end = match.span("password")
        shown = url[:start] + "***" + url[end:]
    database = unquote(match["database"]) if match["database"] is not None else None
    return StoreUrl(backend, driver or None, port, database, shown)


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
        parsed = parse_store_url(url)
    except ValueError:
        raise ValueError(
            "not a database URL (e.g. sqlite:///var/syndicate.db or "
            "postgresql+psycopg://user@host/db)"
        ) from None
    shown = parsed.shown
    if parsed.backend not in STORE_BACKENDS:
        raise ValueError(f"{shown}: unsupported database (use {' or '.join(STORE_BACKENDS)})")
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        raise ValueError(f"{shown}: port {parsed.port} is outside 1-65535")
    problem = _driver_problem(parsed, url)
    if problem is not None:
        raise ValueError(f"{shown}: {problem}")
    return url


def _driver_problem(parsed: StoreUrl, url: str) -> str | None:
    """Why the URL's database driver cannot be loaded, or None when it can."""
    module = _DBAPI_MODULES.get((parsed.backend, parsed.driver))
    if module is None:
        return _sqlalchemy_driver_problem(url, parsed.backend)
    try:
        importlib.import_module(module)
    except (ImportError, OSError) as exc:
        return _not_installed(parsed.backend, str(exc))
    return None


def _not_installed(backend: str, error: str) -> str:
    error = " ".join(error.split())  # psycopg explains a missing libpq over several lines
    if backend == "postgresql":
        return (
            f"PostgreSQL driver not available ({error}): {POSTGRES_EXTRA} installs "
            "psycopg, for postgresql+psycopg:// URLs"
        )
    return f"database driver not available ({error})"


def _sqlalchemy_driver_problem(url: str, backend: str) -> str | None:
    """Load a driver this module does not know through SQLAlchemy's dialects."""
    import sqlalchemy as sa

    try:
        sa.make_url(url).get_dialect().import_dbapi()
    except ImportError as exc:
        return _not_installed(backend, str(exc))
    except (sa.exc.ArgumentError, ValueError) as exc:
        return f"database driver not available ({' '.join(str(exc).split())})"
    return None


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL; None for other databases and in-memory ones."""
    parsed = parse_store_url(url)
    database = parsed.database or ""
    if parsed.backend != "sqlite" or database in ("", ":memory:"):
        return None
    return None if database.startswith("file:") else Path(database)
