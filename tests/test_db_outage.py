"""A database that misbehaves: timeouts, a short outage, a silent partition, dropped connections.

PostgreSQL is reached through a real TCP proxy on 127.0.0.1 (tests/tcp_proxy.py)
that the test cuts (a restart: connections dropped, new ones refused) or pauses
(a partition: nothing forwarded, nothing refused).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from syndicate.errors import StoreError, StoreUnavailable
from syndicate.model import SourceState
from syndicate.outage import StoreLimits, retrying
from syndicate.store import Store
from tests.tcp_proxy import TcpProxy, proxying

SOURCES = [f"source-{n:02d}" for n in range(40)]


@pytest.fixture
def proxy(pg_url: str) -> Iterator[TcpProxy]:
    """A proxy in front of the test PostgreSQL server."""
    url = sa.make_url(pg_url)
    with proxying((url.host or "127.0.0.1", url.port or 5432)) as running:
        yield running


def through(pg_url: str, proxy: TcpProxy) -> str:
    """``pg_url`` with the proxy as its host and port."""
    url = sa.make_url(pg_url).set(host="127.0.0.1", port=proxy.port)
    return url.render_as_string(hide_password=False)


def save_states(store: Store, marker: str) -> None:
    """One job's unit of work: a state per source (idempotent), a little apart in time."""
    for source_id in SOURCES:
        store.save_source_state(SourceState(source_id, etag=marker))
        time.sleep(0.05)


def test_a_short_outage_is_retried_inside_the_job(pg_url: str, proxy: TcpProxy) -> None:
    store = Store(through(pg_url, proxy), StoreLimits(connect=2, outage=10, patient=True))
    store.upgrade()
    blip = threading.Timer(0.5, proxy.cut)
    back = threading.Timer(2.0, proxy.restore)
    blip.start()
    back.start()
    try:
        retrying(lambda: save_states(store, "after-blip"), store.limits, "collect job")
    finally:
        blip.join()
        back.join()
    assert proxy.refused >= 1  # the outage happened while the job ran
    assert {store.get_source_state(s).etag for s in SOURCES} == {"after-blip"}
    store.close()


def test_a_partition_ends_the_job_with_one_line_and_the_next_run_resumes(
    pg_url: str, proxy: TcpProxy
) -> None:
    limits = StoreLimits(connect=2, statement=1, silence=1, outage=3, patient=True)
    store = Store(through(pg_url, proxy), limits)
    store.upgrade()
    save_states(store, "before")
    threading.Timer(0.3, proxy.pause).start()
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as caught:
        retrying(lambda: save_states(store, "during"), limits, "collect job")
    took = time.monotonic() - started
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("database unavailable for ")
    assert "giving up until the next run" in message
    assert took < 30  # bounded: statement + silence, then the outage with connect attempts
    proxy.restore()
    save_states(store, "next run")
    assert {store.get_source_state(s).etag for s in SOURCES} == {"next run"}
    store.close()


def test_connections_dropped_while_idle_are_replaced(pg_url: str, proxy: TcpProxy) -> None:
    store = Store(through(pg_url, proxy), StoreLimits(connect=2, outage=0.1, idle_ping=0.2))
    store.upgrade()
    store.save_source_state(SourceState("feed", etag="one"))
    proxy.cut()
    proxy.restore()
    time.sleep(0.5)  # idle longer than idle_ping: checked before use, found dead, replaced
    store.save_source_state(SourceState("feed", etag="two"))
    assert store.get_source_state("feed").etag == "two"
    store.close()


def traffic(store: Store, proxy: TcpProxy, reads: int) -> int:
    """Bytes the store sends for ``reads`` reads of one source state."""
    store.get_source_state("warm-up")
    before = proxy.sent
    for _ in range(reads):
        store.get_source_state("feed")
    return proxy.sent - before


def test_the_pool_does_not_ping_a_connection_in_use(pg_url: str, proxy: TcpProxy) -> None:
    url = through(pg_url, proxy)
    with Store(url) as store:
        store.upgrade()
    busy = Store(url, StoreLimits(idle_ping=3600))
    pinging = Store(url, StoreLimits(idle_ping=0))
    quiet, noisy = traffic(busy, proxy, 20), traffic(pinging, proxy, 20)
    # each ping is one more query on the wire: "SELECT 1" and its message framing
    assert noisy - quiet >= 20 * len("SELECT 1")
    busy.close()
    pinging.close()


def test_postgresql_statements_stop_at_the_statement_timeout(pg_url: str) -> None:
    store = Store(pg_url, StoreLimits(statement=0.5, silence=5))
    with pytest.raises(StoreError, match="statement timeout") as caught, store._tx() as conn:
        conn.exec_driver_sql("SELECT pg_sleep(3)")
    assert type(caught.value) is StoreError  # not an outage: retrying would time out again
    store.close()


def test_sqlite_waits_for_another_writer_only_its_busy_timeout(sqlite_url: str) -> None:
    with Store(sqlite_url) as fresh:
        fresh.upgrade()
    store = Store(sqlite_url, StoreLimits(busy=0.3))
    holder = sa.create_engine(sqlite_url)
    with holder.connect() as conn:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        started = time.monotonic()
        with pytest.raises(StoreError, match="locked"):
            store.save_source_state(SourceState("feed"))
        took = time.monotonic() - started
        conn.exec_driver_sql("ROLLBACK")
    assert took < 10  # the default is 15 s
    holder.dispose()
    store.close()


def test_retrying_backs_off_then_gives_up_in_one_line() -> None:
    clock = [0.0]
    waits: list[float] = []
    calls = [0]

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock[0] += seconds

    def never_answers() -> None:
        calls[0] += 1
        raise StoreUnavailable("database postgresql://db/news: connection refused")

    with pytest.raises(StoreUnavailable) as caught:
        retrying(never_answers, StoreLimits(outage=10), "job", sleep=sleep, clock=lambda: clock[0])
    assert waits == [0.25, 0.5, 1.0, 2.0, 4.0]
    assert calls[0] == 6
    assert str(caught.value) == (
        "database unavailable for 8 s, giving up until the next run: "
        "database postgresql://db/news: connection refused"
    )


def test_retrying_returns_once_the_database_answers() -> None:
    answers: list[str | None] = ["refused", "refused", None]

    def flaky() -> str:
        if answers.pop(0):
            raise StoreUnavailable("refused")
        return "done"

    assert retrying(flaky, StoreLimits(outage=5), "job", sleep=lambda _s: None) == "done"
    assert answers == []


def test_the_database_section_names_its_key_on_a_bad_value(
    write_config: Callable[..., Path],
) -> None:
    from syndicate.config import load_config
    from syndicate.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        load_config(write_config(database={"connect_timeout": -1, "outage": 5}))
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith("database.connect_timeout: ")
    limits = load_config(write_config(database={"statement_timeout": 2.5})).database.limits()
    assert (limits.statement, limits.connect, limits.outage, limits.patient) == (2.5, 10, 30, True)


def test_a_collect_job_waits_through_a_one_and_a_half_second_blip(
    pg_url: str, proxy: TcpProxy, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    import shutil

    from syndicate import scheduler
    from syndicate.config import load_config
    from tests.conftest import ROOT

    shutil.copytree(ROOT / "examples" / "opinion", tmp_path / "opinion")
    source = {"id": "opinion", "kind": "folder", "location": "opinion", "section": "society"}
    config = load_config(write_config(store=through(pg_url, proxy), sources=[source], digests=[]))
    with Store(config.store, config.database.limits()) as store:
        store.ensure_current()
        proxy.cut()
        back = threading.Timer(1.5, proxy.restore)
        back.start()
        scheduler.collect_job(config, store)
        back.join()
        state = store.get_source_state("opinion")
        stored = store.articles_by_source()
    assert proxy.refused >= 1
    assert (state.error_count, state.last_error) == (0, None)
    assert stored == {"opinion": 3}  # the fourth file names a section the config lacks
