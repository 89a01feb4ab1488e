"""What the pool's ping costs: store reads per second on PostgreSQL, through a 1 ms link.

Run: SYNDICATE_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
     .venv/bin/python benchmarks/bench_store_ping.py [READS]

Each read is one ``Store.get_source_state`` (one transaction, one query). The
store is reached through a small TCP proxy that delays every chunk by 1 ms each
way, as a database on another host would. Baseline in the same run: the same
store with a ping on every checkout (SQLAlchemy's ``pool_pre_ping``, what the
store did before); then the store as it is (a ping only after 30 s idle, and the
statement watchdog armed and disarmed around every statement).
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import sys
import threading
import time
from collections.abc import Iterator

import sqlalchemy as sa

from syndicate.model import SourceState
from syndicate.outage import StoreLimits
from syndicate.store import Store

DELAY = 0.001


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while select.select([source], [], [])[0]:
            data = source.recv(65536)
            if not data:
                break
            time.sleep(DELAY)
            sink.sendall(data)
    for sock in (source, sink):
        with contextlib.suppress(OSError):
            sock.close()


@contextlib.contextmanager
def slow_link(target: tuple[str, int]) -> Iterator[int]:
    """A proxy on 127.0.0.1 adding DELAY each way; yields its port."""
    listener = socket.create_server(("127.0.0.1", 0))

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = listener.accept()
                server = socket.create_connection(target)
                for a, b in ((client, server), (server, client)):
                    threading.Thread(target=_pump, args=(a, b), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def rate(store: Store, reads: int) -> float:
    """Reads per second of one source state."""
    store.get_source_state("bench")
    started = time.perf_counter()
    for _ in range(reads):
        store.get_source_state("bench")
    return reads / (time.perf_counter() - started)


def pre_ping_store(url: str) -> Store:
    """The store with a ping on every checkout (the former engine)."""
    store = Store(url, StoreLimits())
    store._engine.dispose()
    store._engine = sa.create_engine(sa.make_url(url), pool_pre_ping=True)
    return store


def main() -> None:
    """Print reads/s with a ping on every checkout and with the idle-only ping."""
    base = os.environ.get("SYNDICATE_TEST_DATABASE_URL")
    if not base:
        sys.exit("set SYNDICATE_TEST_DATABASE_URL to a PostgreSQL URL")
    reads = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    with own_schema(base) as schema_url:
        measure(schema_url, reads)


@contextlib.contextmanager
def own_schema(base: str) -> Iterator[str]:
    """A URL of a fresh schema in ``base``'s database, dropped afterwards."""
    schema = f"bench_ping_{os.getpid()}"
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        url = sa.make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def measure(base: str, reads: int) -> None:
    """Print both rates through the slow link."""
    url = sa.make_url(base)
    with Store(base) as store:
        store.upgrade()
        store.save_source_state(SourceState("bench", etag="x"))
    with slow_link((url.host or "127.0.0.1", url.port or 5432)) as port:
        linked = url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
        for label, store in (
            ("ping on every checkout (baseline)", pre_ping_store(linked)),
            ("ping only after 30 s idle + watchdog", Store(linked)),
        ):
            print(f"{label:<40} {rate(store, reads):8.0f} reads/s")
            store.close()


if __name__ == "__main__":
    main()
