"""``syndicate db check``: the database answers, is intact, is at the head revision."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Callable
from pathlib import Path

from syndicate.model import SourceState
from syndicate.store import Store
from tests.conftest import invoke_syndicate

PAGE_STATES = 400


def filled_sqlite(path: Path) -> None:
    """A database at the head revision with source states spread over many pages."""
    with Store(f"sqlite:///{path}") as store:
        store.upgrade()
        for n in range(PAGE_STATES):
            store.save_source_state(SourceState(f"source-{n:04d}", etag="x" * 200))
    with sqlite3.connect(path) as conn:  # fold the WAL into the file
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def damage_last_pages(path: Path, pages: int) -> None:
    """Overwrite the last ``pages`` pages of the file with garbage (the header stays)."""
    with sqlite3.connect(path) as conn:
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    data = bytearray(path.read_bytes())
    start = len(data) - pages * size
    data[start:] = bytes((n * 37 + 11) % 256 for n in range(len(data) - start))
    path.write_bytes(bytes(data))


def test_db_check_reports_corrupted_sqlite_pages_in_one_line(
    tmp_path: Path, write_config: Callable[..., Path]
) -> None:
    db = tmp_path / "var" / "test.db"
    db.parent.mkdir()
    filled_sqlite(db)
    write_config(store="sqlite:///var/test.db")
    assert invoke_syndicate("db", "check", cwd=tmp_path).returncode == 0
    damage_last_pages(db, 3)
    done = invoke_syndicate("db", "check", cwd=tmp_path)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "quick_check" in lines[0]
    assert "Traceback" not in done.stderr


def test_db_check_says_ok_at_the_head_revision(
    tmp_path: Path, write_config: Callable[..., Path], store_url: str
) -> None:
    write_config(store=store_url)
    assert invoke_syndicate("db", "upgrade", cwd=tmp_path).returncode == 0
    done = invoke_syndicate("db", "check", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("OK: ")
    assert "(head)" in done.stdout


def test_db_check_reports_a_database_behind_the_head(
    tmp_path: Path, write_config: Callable[..., Path], store_url: str
) -> None:
    write_config(store=store_url)
    with Store(store_url) as store:
        store.upgrade()
        head = store.head_revision()
        with store._tx(write=True) as conn:
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0001'")
    done = invoke_syndicate("db", "check", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"error: database {store.url} is at revision 0001, head is {head}"
    ]


def test_db_check_reports_an_unreachable_postgresql_in_one_line(
    tmp_path: Path, write_config: Callable[..., Path]
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql+psycopg://news@127.0.0.1:{port}/news"
    write_config(store=url, database={"connect_timeout": 2, "outage": 1})
    done = invoke_syndicate("db", "check", cwd=tmp_path)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert [line for line in lines if line.startswith("error: ")] == lines[-1:]
    assert f"127.0.0.1:{port}" in lines[-1] or "refused" in lines[-1]
    assert "Traceback" not in done.stderr
