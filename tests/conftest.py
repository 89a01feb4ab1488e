"""Shared fixtures: config files, real SQLite/PostgreSQL stores, HTTP and SMTP servers."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import socket
import socketserver
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

if TYPE_CHECKING:
    from syndicate.config import Config
    from syndicate.store import Store
    from syndicate.web.app import Feature
    from tests.delivery_world import World

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
PG_ENV = "SYNDICATE_TEST_DATABASE_URL"

BASE_CONFIG: dict[str, Any] = {
    "timezone": "Asia/Seoul",
    "public_base_url": "https://news.example.kr/",
    "store": "sqlite:///var/test.db",
    "sections": [
        {"id": "it", "name": "IT·과학"},
        {"id": "economy", "name": "경제"},
        {"id": "society", "name": "사회"},
    ],
    "sources": [],
    "feeds": {"output": "public/feeds", "title": "테스트뉴스"},
    "digests": [
        {
            "id": "morning",
            "title": "아침 브리핑",
            "schedule": "0 7 * * *",
            "sender": "테스트뉴스 <news@news.example.kr>",
            "delivery": {"kind": "file", "folder": "outbox"},
            # tests run at any hour: the latest slot is built however long ago it was
            "grace": "7d",
        }
    ],
}


def run_syndicate(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a subprocess in ``cwd``.

    ``SYNDICATE_*`` variables of the test process are dropped, then ``env`` is added.
    """
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "syndicate", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=preexec_fn,
        check=False,
    )


@dataclass
class CliOutcome:
    """Exit code and output of one in-process command (like ``CompletedProcess``)."""

    returncode: int
    stdout: str
    stderr: str


def invoke_syndicate(*args: str, cwd: Path, env: dict[str, str] | None = None) -> CliOutcome:
    """Run the command line in this process with click's runner, as :func:`run_syndicate` would.

    The working folder is ``cwd`` during the call, ``SYNDICATE_*`` variables of the test
    process are hidden and ``env`` is added; an unexpected exception is raised, not returned.
    """
    from click.testing import CliRunner

    from syndicate.cli import cli

    hidden: dict[str, str | None] = {k: None for k in os.environ if k.startswith("SYNDICATE_")}
    with contextlib.chdir(cwd):
        result = CliRunner().invoke(cli, list(args), env={**hidden, **(env or {})})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return CliOutcome(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Write a schedules.yaml into tmp_path from BASE_CONFIG updated with overrides."""

    def write(data: dict[str, Any] | None = None, **overrides: Any) -> Path:
        content = dict(BASE_CONFIG if data is None else data)
        content.update(overrides)
        path = tmp_path / "schedules.yaml"
        path.write_text(yaml.safe_dump(content, allow_unicode=True), encoding="utf-8")
        return path

    return write


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of a fresh SQLite file."""
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """URL of a fresh PostgreSQL schema (dropped afterwards); skips without the env var."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set; PostgreSQL tests need a server")
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest) -> str:
    """A fresh database URL, once on SQLite and once on PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(name))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to the head revision once per test process (copied, never used)."""
    import sqlite3

    from syndicate.store import Store

    path = tmp_path_factory.mktemp("template") / "store.db"
    with Store(f"sqlite:///{path}") as store:
        store.upgrade()
    with contextlib.closing(sqlite3.connect(path)) as conn:  # everything into the one file
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture
def migrated_sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """URL of a fresh SQLite file at the head revision: a copy of :func:`sqlite_template`."""
    target = tmp_path / "store.db"
    shutil.copyfile(sqlite_template, target)
    return f"sqlite:///{target}"


class SchemaPool:
    """PostgreSQL schemas at the head revision that tests handed back empty, to reuse.

    Migrating a schema costs far more than emptying one, so a test's schema is
    emptied (``TRUNCATE … RESTART IDENTITY``) and kept when its catalog still reads
    as it did right after the migration and no sequence keeps a value; else it is
    dropped. A schema given out is always empty and at the head revision.
    """

    def __init__(self, base: str) -> None:
        import sqlalchemy as sa

        self.base = base
        self.admin = sa.create_engine(base)
        self.free: list[str] = []
        self.made: set[str] = set()
        self.fingerprint: str | None = None

    def url(self, schema: str) -> str:
        """The URL of ``schema`` (its tables first on the search path)."""
        separator = "&" if "?" in self.base else "?"
        return f"{self.base}{separator}options=-csearch_path%3D{schema}"

    def take(self) -> str:
        """A schema at the head revision with every table empty."""
        if self.free:
            return self.free.pop()
        from syndicate.store import Store

        schema = f"t_{uuid.uuid4().hex[:12]}"
        self._run(f'CREATE SCHEMA "{schema}"')
        self.made.add(schema)
        with Store(self.url(schema)) as store:
            store.upgrade()
        if self.fingerprint is None:
            self.fingerprint = self._fingerprint(schema)
        return schema

    def give_back(self, schema: str) -> None:
        """Empty ``schema`` for the next test, or drop it when the test changed its shape."""
        import sqlalchemy as sa

        try:
            if self._fingerprint(schema) != self.fingerprint:
                raise LookupError("the catalog changed")
            self._empty(schema)
        except (LookupError, sa.exc.DBAPIError):
            self._run(f'DROP SCHEMA "{schema}" CASCADE')
            self.made.discard(schema)
            return
        self.free.append(schema)

    def close(self) -> None:
        """Drop every schema made."""
        for schema in self.made:
            self._run(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        self.admin.dispose()

    def _run(self, sql: str) -> None:
        with self.admin.begin() as conn:
            conn.exec_driver_sql(sql)

    def _empty(self, schema: str) -> None:
        import sqlalchemy as sa

        with self.admin.begin() as conn:
            conn.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
            tables = conn.execute(
                sa.text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = :s"
                    " AND tablename <> 'alembic_version'"
                ),
                {"s": schema},
            ).scalars()
            names = ", ".join(f'"{schema}"."{name}"' for name in tables)
            conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
            used = conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_sequences WHERE schemaname = :s"
                    " AND last_value IS NOT NULL"
                ),
                {"s": schema},
            ).scalar_one()
            if used:
                raise LookupError("a sequence not owned by a table kept its value")

    def _fingerprint(self, schema: str) -> str:
        """Tables, columns, indexes, constraints, defaults, triggers, functions and the
        revision of ``schema``, with the schema's own name left out."""
        import sqlalchemy as sa

        query = sa.text(
            """
            SELECT concat_ws(' | ',
              (SELECT string_agg(c.relname::text || ':' || c.relkind::text, ','
                                 ORDER BY c.relname)
                 FROM pg_class c WHERE c.relnamespace = n.oid),
              (SELECT string_agg(c.relname::text || '.' || a.attname::text || ':'
                                 || format_type(a.atttypid, a.atttypmod)
                                 || ':' || a.attnotnull::text, ','
                                 ORDER BY c.relname, a.attnum)
                 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                WHERE c.relnamespace = n.oid AND a.attnum > 0 AND NOT a.attisdropped),
              (SELECT string_agg(pg_get_indexdef(i.indexrelid), ','
                                 ORDER BY pg_get_indexdef(i.indexrelid))
                 FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
                WHERE c.relnamespace = n.oid),
              (SELECT string_agg(con.conname::text || ':' || pg_get_constraintdef(con.oid), ','
                                 ORDER BY con.conname)
                 FROM pg_constraint con WHERE con.connamespace = n.oid),
              (SELECT string_agg(c.relname::text || '.' || d.adnum::text || '='
                                 || pg_get_expr(d.adbin, d.adrelid), ','
                                 ORDER BY c.relname, d.adnum)
                 FROM pg_attrdef d JOIN pg_class c ON c.oid = d.adrelid
                WHERE c.relnamespace = n.oid),
              (SELECT count(*)::text FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                WHERE c.relnamespace = n.oid AND NOT t.tgisinternal),
              (SELECT count(*)::text FROM pg_proc p WHERE p.pronamespace = n.oid))
            FROM pg_namespace n WHERE n.nspname = :s
            """
        )
        with self.admin.begin() as conn:
            shape = conn.execute(query, {"s": schema}).scalar_one()
            revision = conn.exec_driver_sql(
                f"SELECT string_agg(version_num, ',') FROM \"{schema}\".alembic_version"
            ).scalar_one()
        return f"{shape} | {revision}".replace(f'"{schema}".', "").replace(f"{schema}.", "")


@pytest.fixture(scope="session")
def schema_pool() -> Iterator[SchemaPool]:
    """This test process's :class:`SchemaPool`; skips without the env var."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set; PostgreSQL tests need a server")
    pool = SchemaPool(base)
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def migrated_pg_url(schema_pool: SchemaPool) -> Iterator[str]:
    """URL of an empty PostgreSQL schema at the head revision (see :class:`SchemaPool`)."""
    schema = schema_pool.take()
    try:
        yield schema_pool.url(schema)
    finally:
        schema_pool.give_back(schema)


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated_store_url(request: pytest.FixtureRequest) -> str:
    """A fresh database at the head revision, once on SQLite and once on PostgreSQL.

    On SQLite the migrations run once per test process and each test gets a copy;
    PostgreSQL schemas are emptied and reused (tests of the migrations themselves
    use :func:`store_url`, an empty database).
    """
    name = "migrated_sqlite_url" if request.param == "sqlite" else "migrated_pg_url"
    return str(request.getfixturevalue(name))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


HttpServe = Callable[..., str]


@pytest.fixture
def serve_http() -> Iterator[HttpServe]:
    """Start real servers on 127.0.0.1 for the test; ``serve_http(handler)`` gives the base URL.

    ``server_class`` may be any :class:`socketserver.TCPServer` subclass (default
    ``ThreadingHTTPServer``); every server started is shut down after the test.
    """
    with serving_http() as serve:
        yield serve


@contextlib.contextmanager
def serving_http() -> Iterator[HttpServe]:
    """What :func:`serve_http` gives, for any scope: servers stop when the block ends."""
    servers: list[socketserver.TCPServer] = []

    def serve(
        handler: Callable[..., socketserver.BaseRequestHandler],
        server_class: type[socketserver.TCPServer] = http.server.ThreadingHTTPServer,
    ) -> str:
        server = server_class(("127.0.0.1", 0), handler)
        servers.append(server)
        # shutdown() waits until the loop next polls: 0.5 s per server by default
        threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
        return f"http://127.0.0.1:{server.server_address[1]}/"

    try:
        yield serve
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def folder_handler(root: Path) -> Callable[..., socketserver.BaseRequestHandler]:
    """A quiet request handler serving the files of ``root``."""
    return functools.partial(_QuietHandler, directory=str(root))


@pytest.fixture
def http_root(tmp_path: Path, serve_http: HttpServe) -> tuple[Path, str]:
    """Serve a fresh folder over real HTTP on 127.0.0.1; gives (folder, base URL)."""
    root = tmp_path / "www"
    root.mkdir()
    return root, serve_http(folder_handler(root))


@pytest.fixture
def example_site(tmp_path: Path) -> Path:
    """A copy of the bundled example (schedules.yaml and examples/) in tmp_path."""
    return copy_example(tmp_path)


def copy_example(folder: Path) -> Path:
    """Copy the bundled example (schedules.yaml and examples/) into ``folder``; return it."""
    shutil.copy(ROOT / "schedules.yaml", folder / "schedules.yaml")
    shutil.copytree(ROOT / "examples", folder / "examples")
    return folder


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SmtpSink:
    """Messages the test SMTP server got, and how it answers.

    ``reject`` refuses a recipient every time with the given reply; ``answers`` gives a
    recipient's next RCPT replies in order (then it is accepted: e.g. greylisting);
    ``lose_reply`` holds recipients whose next message is stored and then the
    connection is dropped before the reply to DATA; ``reject_sender`` refuses MAIL FROM.
    """

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.reject: dict[str, str] = {}
        self.answers: dict[str, list[str]] = {}
        self.lose_reply: set[str] = set()
        self.reject_sender: str | None = None
        self.peers: list[tuple[str, int]] = []  # the client's address of each message received
        self.rcpts: list[str] = []  # every RCPT TO address, in order

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.reject_sender is not None:
            return self.reject_sender
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        self.rcpts.append(address)
        if address in self.reject:
            return self.reject[address]
        if queued := self.answers.get(address):
            return queued.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        self.peers.append(tuple(session.peer[:2]))
        if lost := self.lose_reply.intersection(envelope.rcpt_tos):
            self.lose_reply -= lost
            server.transport.close()  # the message arrived; its reply never does
        return "250 Message accepted for delivery"

    def received(self, address: str) -> list[bytes]:
        """Every message received for ``address``, in order."""
        return [content for _, rcpts, content in self.messages if address in rcpts]


@contextlib.contextmanager
def serving_smtp(handler: Any) -> Iterator[int]:
    """Run a real aiosmtpd server with ``handler`` on 127.0.0.1; yields its port."""
    from aiosmtpd.controller import Controller

    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[tuple[SmtpSink, int]]:
    """A real aiosmtpd server on 127.0.0.1; yields (sink, port)."""
    sink = SmtpSink()
    with serving_smtp(sink) as port:
        yield sink, port


@dataclass
class WebServer:
    """A running web application: ``url`` is its site root (with the path of
    ``public_base_url``, ending in ``/``), ``config`` and ``store`` what it serves."""

    url: str
    config: Config
    store: Store

    def at(self, relative: str) -> str:
        """The URL of ``relative`` (no leading slash) under the site root."""
        return self.url + relative


StartWeb = Callable[..., WebServer]


@pytest.fixture
def web_server() -> Iterator[StartWeb]:
    """Start the real app under uvicorn on 127.0.0.1 (any free port) in a thread.

    ``web_server(config_path, now=None, upgrade=True, features=None)`` loads the
    config, opens its store (``upgrade``: create or migrate it first), serves and
    gives a :class:`WebServer`; every server is stopped after the test. The
    config's ``store`` decides the database (``write_config(store=store_url)``).
    """
    with serving_web() as start:
        yield start


@contextlib.contextmanager
def serving_web() -> Iterator[StartWeb]:
    """What :func:`web_server` gives, for any scope: servers stop when the block ends."""
    from syndicate.config import load_config
    from syndicate.model import utcnow
    from syndicate.store import Store
    from syndicate.web.app import FEATURES, create_app
    from syndicate.web.server import bind_socket, uvicorn_server

    running: list[tuple[Any, threading.Thread, Store]] = []

    def start(
        config_path: Path,
        *,
        now: Callable[[], datetime] | None = None,
        upgrade: bool = True,
        features: tuple[Feature, ...] | None = None,
    ) -> WebServer:
        config = load_config(config_path)
        store = Store(config.store)
        if upgrade:
            store.ensure_current()
        app = create_app(config, store, now=now or utcnow, features=features or FEATURES)
        sock = bind_socket("127.0.0.1", 0)
        server = uvicorn_server(app, config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        running.append((server, thread, store))
        _wait_started(server, thread)
        port = sock.getsockname()[1]
        prefix = "/" + "/".join(p for p in config.public_base_url.split("/")[3:] if p)
        return WebServer(f"http://127.0.0.1:{port}{prefix.rstrip('/')}/", config, store)

    try:
        yield start
    finally:
        for server, thread, store in running:
            server.should_exit = True
            thread.join(timeout=15)
            store.close()


def _wait_started(server: Any, thread: threading.Thread) -> None:
    """Wait until uvicorn accepts connections (at most 20 s)."""
    import time

    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the web server did not start")
        time.sleep(0.01)


@pytest.fixture
def worlds(write_config: Callable[..., Path]) -> Iterator[Callable[[str, dict[str, Any]], World]]:
    """Factory of delivery Worlds ``(store url, delivery mapping)``; closes their stores."""
    from tests.delivery_world import make_world

    made: list[World] = []

    def make(url: str, delivery: dict[str, Any]) -> World:
        made.append(make_world(write_config, url, delivery))
        return made[-1]

    yield make
    for world in made:
        world.store.close()


@pytest.fixture(autouse=True)
def _fresh_host_gates() -> Iterator[None]:
    """Forget every per-host gate after a test: a later server on a reused port starts fresh."""
    yield
    from syndicate.sources import polite

    with polite._GATES_LOCK:
        polite._GATES.clear()
