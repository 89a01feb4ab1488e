"""Migration 0009: the feed order coalesce(published, updated, first seen), seq is indexed,
and the feed queries read it instead of sorting the articles table."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from syndicate.model import Article
from syndicate.store import Store
from syndicate.store.articles import feed_query
from syndicate.store.tables import articles

INDEXES = {"ix_articles_newest", "ix_articles_section_newest", "ix_articles_source_newest"}
BASE = datetime(2024, 5, 1, tzinfo=UTC)


def test_upgrade_creates_the_feed_order_indexes(store_url: str) -> None:
    with Store(store_url) as store:
        store.upgrade()
    engine = sa.create_engine(store_url)
    listing = (
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'articles'"
        if engine.dialect.name == "sqlite"
        else "SELECT indexname FROM pg_indexes"
        " WHERE tablename = 'articles' AND schemaname = current_schema()"
    )  # the inspector skips expression indexes on SQLite
    try:
        with engine.connect() as conn:
            names = {row[0] for row in conn.execute(sa.text(listing))}
    finally:
        engine.dispose()
    assert names >= INDEXES


def plan(path: str, query: sa.Select[tuple[int]]) -> str:
    """SQLite's query plan of ``query`` (parameters inlined), one step per line."""
    from sqlalchemy.dialects import sqlite

    sql = str(query.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
    with sqlite3.connect(path) as conn:
        rows = conn.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
    return "\n".join(str(row[-1]) for row in rows)


def test_feed_queries_read_the_index_in_order(sqlite_url: str) -> None:
    path = sqlite_url.removeprefix("sqlite:///")
    with Store(sqlite_url) as store:
        store.upgrade()
        batch = [
            Article("s", f"g{n}", f"https://x.kr/{n}", f"기사 {n}", ("it", "economy")[n % 2],
                    published_at=BASE + timedelta(hours=n) if n % 3 else None)
            for n in range(30)
        ]  # fmt: skip
        store.upsert_articles(batch, tag_authority="x.kr", now=BASE + timedelta(days=1))
        section = plan(path, feed_query([articles.c.id], "it", None, 5))
        combined = plan(path, feed_query([articles.c.id], None, None, 5))
        source = plan(path, feed_query([articles.c.id], None, "s", 5))
        newest = store.latest_articles(section_id="it", limit=8)
    assert "ix_articles_section_newest" in section and "TEMP B-TREE" not in section
    assert "ix_articles_newest" in combined and "TEMP B-TREE" not in combined
    assert "ix_articles_source_newest" in source and "TEMP B-TREE" not in source
    # published n hours after BASE (n % 3 != 0), else first seen a day after it; ties by seq
    expected = ["g28", "g26", "g24", "g18", "g12", "g6", "g0", "g22"]
    assert [a.guid for a in newest] == expected
