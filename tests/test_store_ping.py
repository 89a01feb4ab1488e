"""PostgreSQL connections are pinged only after sitting idle, and a dead one is replaced."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from syndicate.store import Store, base


def _backend_pid(store: Store) -> int:
    with store._tx() as conn:
        return int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def _pings(store: Store) -> list[str]:
    seen: list[str] = []
    sa.event.listen(store._engine, "before_cursor_execute", lambda *args: seen.append(str(args[2])))
    return seen


def test_a_busy_store_does_not_ping_each_checkout(pg_url: str) -> None:
    with Store(pg_url) as store:
        store.upgrade()
        seen = _pings(store)
        for _ in range(5):
            store.count_articles()
        assert len(seen) == 5 and not any("SELECT 1" in s for s in seen)


def test_an_idle_connection_killed_by_the_server_is_replaced(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store(pg_url) as store, Store(pg_url) as other:
        store.upgrade()
        first = _backend_pid(store)
        monkeypatch.setattr(base, "IDLE_PING_SECONDS", 0.0)
        with other._tx() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        assert store.count_articles() == 0
        assert _backend_pid(store) != first
