"""Database URLs in the config: relative SQLite paths resolved, and checked before any run.

The store itself (:mod:`syndicate.store`) opens the URL; these checks find at
config-loading time what it would refuse: an unparsable URL, a database other
than SQLite or PostgreSQL, a bad port, a driver that is not installed.

Reading a config must stay fast (``syndicate check``), so the URL is parsed
here (a grammar that accepts only what SQLAlchemy reads the same way) instead of
importing SQLAlchemy; only a driver this module does not know is looked up
through SQLAlchemy's dialects.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from syndicate.errors import one_line

STORE_BACKENDS = ("sqlite", "postgresql")
POSTGRES_EXTRA = "pip install 'syndicate[postgres]'"

_NAME_RE = re.compile(r"^[A-Za-z0-9_]+(?:\+[A-Za-z0-9_]+)?$")
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
    """Parse ``backend[+driver]://[user[:password]@]host[:port][/database][?query]``.

    Whatever this accepts, SQLAlchemy's ``make_url`` reads with the same parts
    (tested); an unparsable URL raises ValueError.
    """
    name, sep, rest = url.partition("://")
    if not sep or not _NAME_RE.match(name) or any(c.isspace() for c in url):
        raise ValueError("not a database URL")
    backend, _, driver = name.partition("+")
    userinfo_end, password_start = _userinfo(rest)
    location = rest[userinfo_end + 1 :] if userinfo_end >= 0 else rest
    shown = url
    if password_start is not None:
        offset = len(name) + len(sep)
        shown = url[: offset + password_start] + "***" + url[offset + userinfo_end :]
    port, database = _port_and_database(location)
    return StoreUrl(backend, driver or None, port, database, shown)


def _userinfo(rest: str) -> tuple[int, int | None]:
    """Where ``user[:password]@`` ends (its ``@``, or -1) and where the password starts.

    The user name holds no ``:`` or ``/`` and runs to the last ``@`` before them;
    a password runs from the first ``:`` to the next ``@``.
    """
    stop = min((i for i in (rest.find(":"), rest.find("/")) if i >= 0), default=len(rest))
    if stop < len(rest) and rest[stop] == ":" and "@" in rest[stop + 1 :]:
        return rest.index("@", stop + 1), stop + 1
    return rest.rfind("@", 0, stop), None


def _port_and_database(location: str) -> tuple[int | None, str | None]:
    """Split ``host[:port][/database][?query]``; a port must be digits."""
    location = location.partition("?")[0]
    hostport, slash, database = location.partition("/")
    if hostport.startswith("["):  # an IPv6 address: [::1]:5432
        _, bracket, hostport = hostport.partition("]")
        if not bracket or (hostport and not hostport.startswith(":")):
            raise ValueError("not a database URL")
    if "@" in hostport or "[" in hostport or "]" in hostport:
        raise ValueError("not a database URL")
    _, colon, port_text = hostport.partition(":")
    if colon and not (port_text.isascii() and port_text.isdigit()):
        raise ValueError("not a database URL")
    port = int(port_text) if colon else None
    return port, (unquote(database) if slash else None)


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
    error = one_line(error)  # psycopg explains a missing libpq over several lines
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
