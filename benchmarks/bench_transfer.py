"""Speed and memory of ``syndicate export`` / ``import`` on a SQLite store of Korean articles.

Run: .venv/bin/python benchmarks/bench_transfer.py [N_ARTICLES]   (default 20,000)

The store holds N articles over 10 sections and N/10 subscribers. Export and
import each run in a child process, so the peak memory printed is theirs alone
(set beside the size of the file: streaming keeps it flat). Baseline in the same
run: the standard library's own way to move a SQLite database as text,
``sqlite3.Connection.iterdump()`` into a file and ``executescript`` of it into an
empty database (no checks, no line numbers, SQLite only).
"""

from __future__ import annotations

import multiprocessing
import resource
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from syndicate.model import Article, ConsentMethod, SubscriptionState
from syndicate.store import Store, SubscriptionEntry

SECTIONS = ["it", "industry", "economy", "politics", "society", "culture", "national",
            "global", "sports", "opinion"]  # fmt: skip
NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)


def make_store(url: str, count: int) -> None:
    """Fill a fresh store with ``count`` articles and ``count // 10`` subscribers."""
    with Store(url) as store:
        store.upgrade()
        for start in range(0, count, 1000):
            batch = [
                Article(
                    source_id=f"src{i % 20}", guid=f"g{i}", url=f"https://news.example.kr/a/{i}",
                    title=f"{i}번째 기사: 반도체 수출 {i % 30}% 증가, 업계 기대감",
                    section_id=SECTIONS[i % len(SECTIONS)],
                    summary_html=f"<p>{'산업통상자원부는 27일 발표에서 ' * 6}</p>",
                    categories=("산업", "수출"), published_at=NOW - timedelta(minutes=i),
                )
                for i in range(start, min(start + 1000, count))
            ]  # fmt: skip
            store.upsert_articles(batch, tag_authority="news.example.kr", now=NOW)
        people = [
            SubscriptionEntry(f"reader{n}@example.kr", f"독자 {n}", "morning", ["it"],
                              SubscriptionState.ACTIVE, NOW, ConsentMethod.IMPORT)
            for n in range(count // 10)
        ]  # fmt: skip
        store.save_subscriptions(people)


def export_child(url: str, path: str) -> None:
    """Child process: export the store at ``url`` into ``path``."""
    from syndicate.transfer import export_store

    with Store(url) as store, Path(path).open("w", encoding="utf-8") as out:
        export_store(store, out, now=NOW)


def import_child(url: str, path: str) -> None:
    """Child process: import ``path`` into a fresh store at ``url``."""
    from syndicate.transfer import import_store

    with Store(url) as store, Path(path).open("rb") as lines:
        store.upgrade()
        import_store(store, lines)


def dump_child(db: str, path: str) -> None:
    """Child process (baseline): ``iterdump`` the SQLite file ``db`` into ``path``."""
    with sqlite3.connect(db) as conn, Path(path).open("w", encoding="utf-8") as out:
        for line in conn.iterdump():
            out.write(line + "\n")


def restore_child(db: str, path: str) -> None:
    """Child process (baseline): ``executescript`` the dump ``path`` into a new ``db``."""
    with sqlite3.connect(db) as conn:
        conn.executescript(Path(path).read_text(encoding="utf-8"))


def in_child(target: Callable[..., None], *args: str) -> tuple[float, float]:
    """Run ``target(*args)`` in a child process; (wall seconds, child peak RSS in MiB)."""
    process = multiprocessing.get_context("spawn").Process(target=target, args=args)
    start = time.perf_counter()
    process.start()
    process.join()
    elapsed = time.perf_counter() - start
    if process.exitcode != 0:
        raise SystemExit(f"{getattr(target, '__name__', target)} failed")
    return elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    """Build the store, time both ways and the baseline, print the numbers."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = folder / "source.db"
        start = time.perf_counter()
        make_store(f"sqlite:///{source}", count)
        print(f"store of {count:,} articles, {count // 10:,} subscribers built in "
              f"{time.perf_counter() - start:.1f} s")  # fmt: skip
        rows = count + count // 10 * 2 + 20  # articles, subscribers, subscriptions, states
        export, export_rss = in_child(export_child, f"sqlite:///{source}", str(folder / "x.jsonl"))
        size = (folder / "x.jsonl").stat().st_size / 2**20
        imported, import_rss = in_child(import_child, f"sqlite:///{folder / 'new.db'}",
                                        str(folder / "x.jsonl"))  # fmt: skip
        dump, _ = in_child(dump_child, str(source), str(folder / "dump.sql"))
        restore, _ = in_child(restore_child, str(folder / "restored.db"), str(folder / "dump.sql"))
    print(f"  export  {export:6.2f} s  {rows / export:9,.0f} rows/s  file {size:.1f} MiB, "
          f"peak RSS so far {export_rss:.0f} MiB")  # fmt: skip
    print(f"  import  {imported:6.2f} s  {rows / imported:9,.0f} rows/s  "
          f"peak RSS so far {import_rss:.0f} MiB")  # fmt: skip
    print(f"  baseline iterdump {dump:6.2f} s, executescript {restore:6.2f} s")
    print(f"  ratio: export / iterdump {export / dump:.2f}x, "
          f"import / executescript {imported / restore:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
