"""The engine under the store: timeouts, a pool that pings only idle connections, a watchdog.

* PostgreSQL gets ``connect_timeout`` and a ``statement_timeout`` (through the
  connection's ``options``); SQLite gets WAL, foreign keys and a busy timeout.
* The pool does not ping on every checkout (a round trip each time): only a
  connection idle for longer than ``idle_ping`` is checked, and one that fails is
  replaced. A connection that drops while in use fails its transaction, after
  which SQLAlchemy invalidates every older pooled connection.
* :class:`Watchdog` cuts the socket of a statement that gets no answer at all for
  ``statement + silence`` seconds (the server would have cancelled it by then), so
  a silent network partition ends the statement with an error instead of hanging.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import threading
import time
from typing import Any

import sqlalchemy as sa

from syndicate.outage import StoreLimits

WRITE_OPTION = "syndicate_write"  # execution option: SQLite opens the transaction IMMEDIATE
LONG_OPTION = "syndicate_long"  # execution option: no statement timeout, no watchdog (migrations)
IDLE_SINCE = "syndicate_idle_since"
WATCH_INTERVAL = 0.2


def postgres_args(url: sa.URL, limits: StoreLimits) -> dict[str, Any]:
    """libpq parameters: connect timeout and statement timeout, after the URL's own options."""
    statement_ms = math.ceil(limits.statement * 1000)
    options = url.query.get("options", "")
    if isinstance(options, tuple):
        options = " ".join(options)
    return {
        "connect_timeout": max(2, math.ceil(limits.connect)),
        "options": f"{options} -c statement_timeout={statement_ms}".strip(),
    }


def create_engine(url: sa.URL, limits: StoreLimits) -> sa.Engine:
    """The engine for ``url`` with the limits applied (see the module docstring)."""
    if url.get_backend_name() == "postgresql":
        engine = sa.create_engine(url, connect_args=postgres_args(url, limits))
        install_idle_ping(engine, limits.idle_ping)
        Watchdog(limits.unanswered).install(engine)
        return engine
    engine = sa.create_engine(url)
    if engine.dialect.name == "sqlite":
        install_sqlite_hooks(engine, math.ceil(limits.busy * 1000))
    return engine


def install_sqlite_hooks(engine: sa.Engine, busy_ms: int) -> None:
    """WAL, foreign keys, busy timeout, and SQLAlchemy-controlled BEGIN on SQLite."""

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        finally:
            cursor.close()

    def on_begin(connection: sa.Connection) -> None:
        write = connection.get_execution_options().get(WRITE_OPTION)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    sa.event.listen(engine, "connect", on_connect)
    sa.event.listen(engine, "begin", on_begin)


def needs_ping(record: Any, idle_ping: float, now: float) -> bool:
    """True when the pooled connection of ``record`` sat idle for longer than ``idle_ping``."""
    since = record.info.get(IDLE_SINCE)
    return since is not None and now - since > idle_ping


def install_idle_ping(engine: sa.Engine, idle_ping: float) -> None:
    """Check a connection with ``SELECT 1`` at checkout only when it sat idle too long."""

    def on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[IDLE_SINCE] = time.monotonic()

    def on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if not needs_ping(record, idle_ping, time.monotonic()):
            return
        try:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            dbapi_connection.rollback()
        except Exception as exc:  # any failure: the pool opens a fresh connection
            raise sa.exc.DisconnectionError(str(exc)) from exc

    sa.event.listen(engine, "checkin", on_checkin)
    sa.event.listen(engine, "checkout", on_checkout)


def cut_socket(fd: int) -> None:
    """Shut a connection's socket down so the thread blocked on it gets an error at once."""
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return
    with sock, contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class Watchdog:
    """Cut the socket of any statement left without an answer for ``after`` seconds."""

    def __init__(self, after: float) -> None:
        self.after = after
        self._due: dict[int, tuple[float, int]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def install(self, engine: sa.Engine) -> None:
        """Watch every statement run on ``engine``."""
        sa.event.listen(engine, "before_cursor_execute", self._before)
        sa.event.listen(engine, "after_cursor_execute", self._after)
        sa.event.listen(engine, "handle_error", self._error)
        sa.event.listen(engine, "commit", self._before_commit)
        for event in ("checkin", "invalidate", "close"):  # the commit ended; the socket closes
            sa.event.listen(engine, event, self._forget)

    def arm(self, dbapi_connection: Any) -> None:
        """Start the clock for the call about to run on ``dbapi_connection``."""
        fd = socket_of(dbapi_connection)
        if fd is None:
            return
        with self._lock:
            self._due[id(dbapi_connection)] = (time.monotonic() + self.after, fd)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="store-watchdog")
                self._thread.daemon = True
                self._thread.start()

    def disarm(self, dbapi_connection: Any) -> None:
        """The call on ``dbapi_connection`` answered."""
        with self._lock:
            self._due.pop(id(dbapi_connection), None)

    def overdue(self, now: float) -> list[int]:
        """Sockets past their deadline, forgotten as they are returned."""
        with self._lock:
            late = [key for key, (due, _fd) in self._due.items() if due <= now]
            return [self._due.pop(key)[1] for key in late]

    def _run(self) -> None:
        while True:
            time.sleep(WATCH_INTERVAL)
            for fd in self.overdue(time.monotonic()):
                cut_socket(fd)

    def _before(self, conn: sa.Connection, *_args: Any) -> None:
        if not conn.get_execution_options().get(LONG_OPTION):
            self.arm(conn.connection.dbapi_connection)

    def _after(self, conn: sa.Connection, *_args: Any) -> None:
        self.disarm(conn.connection.dbapi_connection)

    def _before_commit(self, conn: sa.Connection) -> None:
        self.arm(conn.connection.dbapi_connection)

    def _forget(self, dbapi_connection: Any, *_args: Any) -> None:
        if dbapi_connection is not None:
            self.disarm(dbapi_connection)

    def _error(self, context: sa.engine.ExceptionContext) -> None:
        if context.connection is not None and not context.connection.closed:
            self.disarm(context.connection.connection.dbapi_connection)


def socket_of(dbapi_connection: Any) -> int | None:
    """The socket descriptor of a psycopg connection; None for other drivers."""
    pgconn = getattr(dbapi_connection, "pgconn", None)
    try:
        return int(pgconn.socket) if pgconn is not None else None
    except Exception:
        return None
