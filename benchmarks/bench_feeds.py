"""Feed writes at 100,000 stored Korean articles: every feed in every format, cold and warm.

Run: .venv/bin/python benchmarks/bench_feeds.py [N_ARTICLES] [--store URL]

A store of N (default 100,000) Korean articles over 10 sections is built once
(outside the timed part). Then ``write_feeds`` writes 11 feeds (10 sections and
the combined one) × RSS, Atom and JSON Feed = 33 files and the OPML list:

* cold: empty output folder;
* warm, nothing changed (target: under 50 ms at 100,000 articles);
* warm after one new article (its section's feeds and the combined ones move);
* warm after one article is updated (same).

Baselines in the same run: every feed rendered each time (the state file
removed before each write, as before feed heads were compared), and that again
with the feed-order indexes dropped (how feed writes ran before migration
0009). Peak memory: Python allocations (tracemalloc) of one cold and one warm
write, and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from syndicate import feeds
from syndicate.config import Config, load_config
from syndicate.feeds_state import STATE_FILE
from syndicate.model import Article
from syndicate.store import Store

SECTIONS = [
    ("it", "IT·과학"), ("economy", "경제"), ("politics", "정치"), ("society", "사회"),
    ("culture", "문화·생활"), ("national", "전국"), ("global", "글로벌"), ("sports", "스포츠"),
    ("opinion", "오피니언"), ("industry", "산업"),
]  # fmt: skip
START = datetime(2025, 11, 1, tzinfo=UTC)
BATCH = 10_000


def timed(label: str, func: Callable[[], Any], repeat: int = 5) -> float:
    """Run ``func`` ``repeat`` times; print and return the best wall time in ms."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    print(f"  {label:<58} {best * 1000:9.1f} ms")
    return best * 1000


def article(n: int) -> Article:
    """The n-th synthetic article: Korean title and body, one of 10 sections, 20 sources."""
    section = SECTIONS[n % len(SECTIONS)][0]
    published = START + timedelta(minutes=5 * n) if n % 10 else None
    body = "산업통상자원부는 발표에서 반도체 수출이 석 달 연속 늘었다고 밝혔다. " * 6
    return Article(
        source_id=f"src{n % 20}",
        guid=f"https://news.example.kr/{section}/{n}",
        url=f"https://news.example.kr/{section}/{n}",
        title=f"{n}번째 기사: 반도체 수출 {n % 30}% 증가, 업계 기대감",
        section_id=section,
        summary_html=f"<p>{body[:120]}</p>",
        content_html=f"<p>{body}</p><p>관련 기사 {n}</p>",
        author="김기자",
        categories=("산업", "수출"),
        published_at=published,
        image_url=f"https://news.example.kr/img/{n}.jpg" if n % 3 == 0 else "",
    )


def build_store(url: str, count: int) -> Store:
    """A store holding ``count`` articles (first seen over the same year)."""
    store = Store(url)
    store.upgrade()
    start = time.perf_counter()
    for first in range(0, count, BATCH):
        batch = [article(n) for n in range(first, min(count, first + BATCH))]
        seen = START + timedelta(minutes=5 * first)
        store.upsert_articles(batch, tag_authority="news.example.kr", now=seen)
    took = time.perf_counter() - start
    print(f"  store of {store.count_articles():,} articles built in {took:.1f} s")
    return store


def make_config(folder: Path, url: str) -> Config:
    """10 sections; per-section and combined feeds in RSS, Atom and JSON Feed."""
    data = {
        "timezone": "Asia/Seoul",
        "public_base_url": "https://news.example.kr/",
        "store": url,
        "sections": [{"id": s, "name": n} for s, n in SECTIONS],
        "feeds": {
            "output": "public/feeds",
            "title": "벤치뉴스",
            "formats": ["rss", "atom", "json"],
        },
    }
    path = folder / "schedules.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return load_config(path)


def clear(folder: Path) -> None:
    """Remove every file the feed writer left (a cold start)."""
    for path in folder.glob("*"):
        path.unlink()
    for path in folder.glob(".*"):
        path.unlink()


def peak_kib(func: Callable[[], Any]) -> int:
    """Peak Python allocations of one call, in KiB."""
    tracemalloc.start()
    func()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak // 1024


NEWEST = "coalesce(published_at, updated_at, first_seen_at)"
INDEXES = {"": "", "section_": "section_id, ", "source_": "source_id, "}


def feed_order_indexes(url: str, *, present: bool) -> None:
    """Drop (the baseline without them) or re-create the feed-order indexes of 0009."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for kind, lead in INDEXES.items():
            name = f"ix_articles_{kind}newest"
            sql = f"CREATE INDEX {name} ON articles ({lead}{NEWEST}, id)"
            conn.execute(sa.text(sql if present else f"DROP INDEX {name}"))
    engine.dispose()


class Writes:
    """The timed feed writes over one store and config."""

    def __init__(self, config: Config, store: Store, count: int) -> None:
        self.config, self.store, self.count = config, store, count
        self.output = config.resolve(config.feeds.output)
        self.n = count

    def write(self) -> feeds.FeedsReport:
        """One ``write_feeds``."""
        return feeds.write_feeds(self.config, self.store)

    def cold(self) -> None:
        """A write into an empty folder."""
        clear(self.output)
        self.write()

    def new_article(self) -> None:
        """Store one new article, then write (its section's and the combined feeds move)."""
        self.n += 1
        when = START + timedelta(days=400, minutes=self.n)
        self.store.upsert_articles([article(self.n)], tag_authority="news.example.kr", now=when)
        assert len(self.write().written) == 6

    def updated_article(self) -> None:
        """Update one recent article, then write."""
        self.n += 1
        changed = article(self.count - 7)
        changed.title += f" (수정 {self.n})"
        when = START + timedelta(days=400, minutes=self.n)
        result = self.store.upsert_articles([changed], tag_authority="news.example.kr", now=when)
        assert result.updated == 1 and len(self.write().written) == 6

    def rerender(self) -> None:
        """A write that renders every feed (the remembered heads forgotten first)."""
        (self.output / STATE_FILE).unlink(missing_ok=True)
        self.write()


def measure(writes: Writes, url: str) -> dict[str, float]:
    """Time every case; the numbers the summary line needs."""
    got = {"cold": timed("cold: empty folder, 33 feeds + OPML", writes.cold, 3)}
    writes.write()
    report = writes.write()
    assert report.skipped == 33 and not report.written, report
    got["warm"] = timed("warm, nothing changed", writes.write, 20)
    timed("warm after one new article (6 feeds rewritten)", writes.new_article)
    timed("warm after one updated article (6 feeds rewritten)", writes.updated_article)
    print("baselines")
    got["render"] = timed(
        "every feed rendered, nothing changed (no head check)", writes.rerender, 3
    )
    got["cold_kib"], got["warm_kib"] = peak_kib(writes.cold), peak_kib(writes.write)
    feed_order_indexes(url, present=False)
    try:
        got["old"] = timed(
            "every feed rendered, no feed-order index (before 0009)", writes.rerender, 3
        )
    finally:
        feed_order_indexes(url, present=True)  # a --store given is left as it was
    return got


def main() -> int:
    """Build the store, time the feed writes, print the numbers and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", nargs="?", type=int, default=100_000)
    parser.add_argument("--store", help="a store URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url = args.store or f"sqlite:///{folder / 'bench.db'}"
        print(f"feeds at {args.count:,} articles, 10 sections, 33 feed files ({url.split(':')[0]})")
        store = build_store(url, args.count)
        try:
            got = measure(Writes(make_config(folder, url), store, args.count), url)
        finally:
            store.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"peak Python allocations: cold write {got['cold_kib']:,.0f} KiB, "
          f"warm write {got['warm_kib']:,.0f} KiB")  # fmt: skip
    print(f"peak RSS of the process (store build included): {rss:,} MiB")
    warm = got["warm"]
    print(f"warm nothing changed: {warm:.1f} ms (target < 50 ms) -> "
          f"{got['render'] / warm:.0f}x faster than rendering every feed, "
          f"{got['old'] / warm:.0f}x faster than before (no index, no head check); "
          f"cold {got['cold']:.0f} ms")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
