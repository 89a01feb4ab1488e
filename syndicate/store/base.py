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
from typing import TypeVar

import sqlalchemy as sa

from syndicate.errors import StoreError, StoreUnavailable, one_line
from syndicate.model import as_utc, utcnow
from syndicate.outage import StoreLimits, backoff
from syndicate.store.engine import WRITE_OPTION, create_engine

logger = logging.getLogger(__name__)

T = TypeVar("T")


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


class StoreBase:
    """One engine, its transactions and error mapping; the base of every store part.

    ``url`` is the SQLAlchemy URL with its password hidden (safe to print).
    """

    def __init__(self, url: str, limits: StoreLimits | None = None) -> None:
        """Create the engine for ``url``; an unusable URL raises :class:`StoreError`.

        ``limits`` (default: :class:`~syndicate.outage.StoreLimits`) are its timeouts.
        """
        self.url = mask_url(url)
        self.limits = limits or StoreLimits()
        try:
            parsed = sa.make_url(url)
            self._engine = create_engine(parsed, self.limits)
        except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
            raise StoreError(f"database {self.url}: {driver_reason(str(exc))}") from exc
        self._password = parsed.password if isinstance(parsed.password, str) else None
        self._sqlite_path = sqlite_file(parsed)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return str(self._engine.dialect.name)

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

    def _connect(self) -> sa.Connection:
        """A pooled connection; a database that does not answer is retried for ``outage`` s.

        Nothing ran yet, so retrying is always safe; only a ``patient`` store waits,
        and SQLite (a local file) is not retried.
        """
        started = time.monotonic()
        for delay in backoff():
            try:
                return self._engine.connect()
            except sa.exc.DBAPIError as exc:
                waited = time.monotonic() - started
                if self.dialect == "sqlite":
                    raise
                if not self.limits.patient or waited + delay > self.limits.outage:
                    raise StoreUnavailable(self._error(exc)) from exc
                logger.warning("%s, retrying in %.2f s", self._error(exc), delay)
                time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    @contextmanager
    def _tx(self, *, write: bool = False) -> Iterator[sa.Connection]:
        """One transaction; SQLAlchemy errors become :class:`StoreError`.

        A lost connection raises :class:`StoreUnavailable`: the transaction did not
        commit (or, lost during the commit, may have), and the caller may run its
        idempotent unit of work again.
        """
        try:
            with self._connect() as conn:
                if write:
                    conn.execution_options(**{WRITE_OPTION: True})
                with conn.begin():
                    yield conn
        except sa.exc.IntegrityError as exc:
            raise Conflict(self._error(exc)) from exc
        except sa.exc.DBAPIError as exc:
            if exc.connection_invalidated:
                raise StoreUnavailable(self._error(exc)) from exc
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
