"""Speed and memory of each stage on synthetic Korean data, with a baseline in the same run.

Run: .venv/bin/python benchmarks/bench_pipeline.py [N_ARTICLES]

Baselines: feedparser alone (for our feed parser), a bare executemany insert
(for the store's upsert), Jinja2 alone (for the full render with premailer).
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import sqlalchemy as sa
import yaml

from syndicate import digest as digest_stage
from syndicate import feeds, render
from syndicate.config import load_config
from syndicate.model import Article
from syndicate.sources.feed import parse_feed
from syndicate.store import Store

SECTIONS = ["it", "industry", "economy", "politics", "society", "culture", "national", "global"]
NAMES = ["IT·과학", "산업", "경제", "정치", "사회", "문화·생활", "전국", "글로벌"]


def timed(label: str, func: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    """Run ``func`` ``repeat`` times; print and return the best wall time."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    print(f"  {label:<52} {best * 1000:9.1f} ms")
    return best, result


def make_rss(count: int) -> bytes:
    """An RSS 2.0 document with ``count`` Korean items."""
    base = datetime(2026, 11, 27, 9, 0)
    items = []
    for i in range(count):
        when = (base - timedelta(minutes=7 * i)).strftime("%a, %d %b %Y %H:%M:%S +0900")
        items.append(
            f"<item><title>{i}번째 기사: 반도체 수출 {i % 30}% 증가, 업계 기대감</title>"
            f"<link>https://news.example.kr/it/{i}</link><guid>https://news.example.kr/it/{i}</guid>"
            f"<category>{NAMES[i % len(NAMES)]}</category><pubDate>{when}</pubDate>"
            f'<description>&lt;p&gt;{"산업통상자원부는 27일 발표에서 " * 8}&lt;a href="/x/{i}"&gt;'
            f"관련&lt;/a&gt;&lt;script&gt;x()&lt;/script&gt;&lt;/p&gt;</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        "<title>벤치</title><link>https://news.example.kr/</link><description>d</description>"
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def make_config(folder: Path) -> Path:
    """A config with eight sections and one file-delivered digest."""
    data = {
        "timezone": "Asia/Seoul",
        "public_base_url": "https://news.example.kr/",
        "store": "sqlite:///bench.db",
        "sections": [{"id": s, "name": n} for s, n in zip(SECTIONS, NAMES, strict=True)],
        "sources": [{"id": "bench", "kind": "feed", "location": "x.xml", "section": "it"}],
        "feeds": {"output": "public", "title": "벤치뉴스"},
        "digests": [
            {
                "id": "morning",
                "title": "벤치 브리핑",
                "schedule": "0 7 * * *",
                "max_per_section": 5,
                "sender": "벤치 <n@news.example.kr>",
                "delivery": {"kind": "file", "folder": "outbox"},
            }
        ],
    }
    path = folder / "schedules.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def bench_parse(config: Any, document: bytes) -> list[Article]:
    """Feed parsing: feedparser alone vs our decode + safety check + parse."""
    print(f"parse ({len(document) // 1024} KB RSS)")
    base, _ = timed("baseline: feedparser.parse", lambda: feedparser.parse(document))
    ours, articles = timed(
        "syndicate parse_feed",
        lambda: parse_feed(
            document,
            source_id=config.sources[0].id,
            section=config.sources[0].section,
            zone=config.timezone,
        ),
    )
    print(f"  ratio to baseline: {ours / base:.2f}x, {len(articles) / ours:,.0f} articles/s")
    return list(articles)


def bench_store(url: str, articles: list[Article]) -> Store:
    """Upsert of new and unchanged articles vs a bare executemany insert."""
    print(f"store ({len(articles)} articles, SQLite)")
    engine = sa.create_engine(url.replace("bench.db", "baseline.db"))
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (k TEXT PRIMARY KEY, title TEXT, body TEXT)"))
    rows = [{"k": a.guid, "title": a.title, "body": a.summary_html} for a in articles]

    def baseline() -> None:
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM t"))
            conn.execute(sa.text("INSERT INTO t VALUES (:k, :title, :body)"), rows)

    base, _ = timed("baseline: executemany insert", baseline)
    store = Store(url)
    store.upgrade()
    for i, article in enumerate(articles):
        article.section_id = SECTIONS[i % len(SECTIONS)]
    new, _ = timed("upsert, all new", lambda: store.upsert_articles(articles, tag_authority="x"), 1)
    same, _ = timed(
        "upsert, all unchanged", lambda: store.upsert_articles(articles, tag_authority="x")
    )
    print(f"  ratio to baseline: new {new / base:.2f}x, unchanged {same / base:.2f}x")
    return store


def bench_outputs(config: Any, store: Store) -> None:
    """Feed files and digest rendering (Jinja2 alone vs Jinja2 + premailer)."""
    print("feeds")
    timed("write_feeds (first run)", lambda: feeds.write_feeds(config, store), 1)
    timed("write_feeds (nothing changed)", lambda: feeds.write_feeds(config, store))
    print("digests")
    sub = store.set_subscription(store.upsert_subscriber("a@example.kr", "가").id, "morning", [])
    now = datetime(2026, 11, 28, tzinfo=UTC)
    edition, _ = digest_stage.build_edition(config, store, "morning", now=now)
    (item,) = digest_stage.digests_for(config, edition, [sub])
    renderer = render.Renderer.for_config(config)
    template = renderer.env.get_template("digest.html.j2")
    context = {**renderer.context(item), "css": renderer.css()}
    base, _ = timed("baseline: Jinja2 HTML only", lambda: template.render(context), 5)
    uncached = render.Renderer.for_config(config)
    cache_size, render.INLINE_CACHE_SIZE = render.INLINE_CACHE_SIZE, 0  # premailer every time
    full, rendered = timed(
        "render, premailer every time (no cache)", lambda: uncached.render(item), 5
    )
    render.INLINE_CACHE_SIZE = cache_size
    hit, _ = timed(
        "render, same articles as a previous subscriber", lambda: renderer.render(item), 5
    )
    size = len(rendered.html.encode())
    print(
        f"  ratio to baseline: {full / base:.1f}x uncached, {hit / base:.1f}x cached; "
        f"{item.article_count} articles, {size // 1000} KB HTML"
    )
    print(f"  => {1 / full:,.1f} messages/s uncached, {1 / hit:,.0f} messages/s cached, per core")


def main() -> None:
    """Run every stage and print times, ratios and peak memory."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    start_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(make_config(Path(tmp)))
        articles = bench_parse(config, make_rss(count))
        store = bench_store(config.store, articles)
        bench_outputs(config, store)
        store.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak RSS: {peak / 1024:.0f} MB ({(peak - start_rss) / 1024:.0f} MB above start)")


if __name__ == "__main__":
    main()
