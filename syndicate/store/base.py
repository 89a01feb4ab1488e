"""Plumbing of the store: the engine, transactions, error mapping, SQLite pragmas, URL masking.

:class:`StoreBase` owns one SQLAlchemy engine; the aggregate parts of
:class:`syndicate.store.Store` build on it. SQLAlchemy errors leave as
:class:`~syndicate.errors.StoreError`.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa

from syndicate.errors import StoreError, one_line
from syndicate.model import as_utc, utcnow

logger = logging.getLogger(__name__)

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 15000
IDLE_PING_SECONDS = 30.0  # a pooled connection idle this long is pinged before use
WRITE_OPTION = "syndicate_write"  # execution option: SQLite opens the transaction IMMEDIATE


class Conflict(StoreError):
    """A unique or foreign-key constraint refused a write (caught to resolve races)."""


def now_or(now: datetime | None) -> datetime:
    """``now`` in UTC, or the current time when None."""
    return utcnow() if now is None else as_utc(now)


def opt_utc(value: datetime | None) -> datetime | None:
    """``value`` in UTC, None kept."""
    return None if value is None else as_utc(value)


def mask_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)


def driver_reason(text: str, secret: str | None = None) -> str:
    """A (driver) error message as one line of at most 400 characters, hiding ``secret``."""
    line = one_line(text)
    if secret:
        line = line.replace(secret, "***")
    return line[:400]


def sqlite_file(url: sa.URL) -> Path | None:
    """The database file of a SQLite URL; None for other databases and in-memory ones."""
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    if database.startswith("file:"):
        return None
    return Path(database)


def install_sqlite_hooks(engine: sa.Engine) -> None:
    """WAL, foreign keys, busy timeout, and SQLAlchemy-controlled BEGIN on SQLite."""

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    def on_begin(connection: sa.Connection) -> None:
        write = connection.get_execution_options().get(WRITE_OPTION)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    sa.event.listen(engine, "connect", on_connect)
    sa.event.listen(engine, "begin", on_begin)


def ping_when_idle(engine: sa.Engine) -> None:
    """Test a pooled connection at checkout only when it sat idle IDLE_PING_SECONDS or more.

    A busy run reuses its connections without a round trip each; one left over
    from a while ago (the server may have restarted) is pinged, and replaced if dead.
    """

    def on_checkin(_dbapi: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    def on_checkout(dbapi: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since < IDLE_PING_SECONDS:
            return
        try:
            cursor = dbapi.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
        except Exception as exc:  # any driver error: the pool opens a fresh connection
            raise sa.exc.DisconnectionError(str(exc)) from exc

    sa.event.listen(engine, "checkin", on_checkin)
    sa.event.listen(engine, "checkout", on_checkout)


class StoreBase:
    """One engine, its transactions and error mapping; the base of every store part.

    ``url`` is the SQLAlchemy URL with its password hidden (safe to print).
    """

    def __init__(self, url: str) -> None:
        """Create the engine for ``url``; an unusable URL raises :class:`StoreError`."""
        self.url = mask_url(url)
        try:
            parsed = sa.make_url(url)
            self._engine = sa.create_engine(parsed)
        except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
            raise StoreError(f"database {self.url}: {driver_reason(str(exc))}") from exc
        self._password = parsed.password if isinstance(parsed.password, str) else None
        self._sqlite_path = sqlite_file(parsed)
        if self._engine.dialect.name == "sqlite":
            install_sqlite_hooks(self._engine)
        else:
            ping_when_idle(self._engine)

    def __repr__(self) -> str:
        """``Store('<url with password hidden>')``."""
        return f"Store({self.url!r})"

    __str__ = __repr__

    def close(self) -> None:
        """Release every pooled connection."""
        self._engine.dispose()

    def ping(self) -> None:
        """Ask the database a trivial question (``SELECT 1``); StoreError says why it cannot."""
        if self._sqlite_path is not None and not self._sqlite_path.is_file():
            raise StoreError(f"database {self.url}: no database file at {self._sqlite_path}")
        with self._tx() as conn:
            conn.execute(sa.text("SELECT 1"))

    def _error(self, exc: Exception) -> str:
        detail = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
        return f"database {self.url}: {driver_reason(str(detail), self._password)}"

    @contextmanager
    def _tx(self, *, write: bool = False) -> Iterator[sa.Connection]:
        """One transaction; SQLAlchemy errors become :class:`StoreError`."""
        try:
            with self._engine.connect() as conn:
                if write:
                    conn.execution_options(**{WRITE_OPTION: True})
                with conn.begin():
                    yield conn
        except sa.exc.IntegrityError as exc:
            raise Conflict(self._error(exc)) from exc
        except sa.exc.DBAPIError as exc:
            raise StoreError(self._error(exc)) from exc
        except sa.exc.StatementError as exc:
            if isinstance(exc.orig, ValueError):
                raise ValueError(str(exc.orig)) from exc
            raise StoreError(self._error(exc)) from exc
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(self._error(exc)) from exc

    @staticmethod
    def _retry_on_conflict(action: Callable[[], T]) -> T:
        """Run ``action``; once more if a concurrent writer won a unique constraint."""
        try:
            return action()
        except Conflict as exc:
            logger.info("retrying after a concurrent write: %s", exc)
            return action()
