"""newsboat (a real feed reader, the Debian package) reads the feeds we write.

The feeds are written from a real store and served by ``syndicate serve``'s app
over HTTP; newsboat reloads them (``-x reload``) into its own SQLite cache,
which is read back: Korean titles intact, one item per article, ids equal to
the public ids, and an updated article stays one item (with its new title).
newsboat 2.21 reads RSS and Atom only (JSON Feed is its open issue #426), so
the JSON Feed is checked against its schema in ``test_feeds_formats.py``.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from syndicate.feeds import write_feeds
from syndicate.model import Article
from syndicate.store import Store
from tests.conftest import StartWeb, WebServer

NEWSBOAT = shutil.which("newsboat")
pytestmark = pytest.mark.skipif(
    NEWSBOAT is None, reason="newsboat is not installed (.ci/run installs the Debian package)"
)
BASE = datetime(2024, 5, 1, tzinfo=UTC)
AUTHORITY = "news.example.kr"


def article(n: int, title: str | None = None) -> Article:
    """A collected article of section ``it`` with a Korean title."""
    return Article(
        "wire", f"g{n}", f"https://news.example.kr/article/{n}",
        title or f"{n}번째 기사: 반도체 수출 회복세", "it",
        summary_html=f"<p>요약 {n}: 한국어 본문</p>", published_at=BASE + timedelta(hours=n),
    )  # fmt: skip


class Reader:
    """newsboat with its own url list, config and cache in a folder."""

    def __init__(self, folder: Path, urls: list[str]) -> None:
        self.folder = folder
        (folder / "urls").write_text("\n".join(urls) + "\n", encoding="utf-8")
        (folder / "config").write_text("", encoding="utf-8")
        self.cache = folder / "cache.db"

    def reload(self) -> str:
        """``newsboat -x reload print-unread``; its output (fails the test on an error)."""
        command = [str(NEWSBOAT), "-u", "urls", "-c", "cache.db", "-C", "config"]
        env = {**os.environ, "LANG": "C.UTF-8", "HOME": str(self.folder)}
        done = subprocess.run(
            [*command, "-x", "reload", "print-unread"], cwd=self.folder, env=env,
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    def items(self, feed_url: str) -> list[tuple[str, str]]:
        """(guid, title) of the cached items of one feed, by guid."""
        with sqlite3.connect(self.cache) as conn:
            query = "SELECT guid, title FROM rss_item WHERE feedurl = ? AND deleted = 0"
            return sorted(conn.execute(query, (feed_url,)).fetchall())


def publish(site: WebServer, store: Store, batch: list[Article], now: datetime) -> None:
    """Store ``batch`` and write the feeds the site serves."""
    store.upsert_articles(batch, tag_authority=AUTHORITY, now=now)
    assert write_feeds(site.config, store).failed == {}


@pytest.mark.parametrize("name", ["all.rss.xml", "all.atom.xml", "it.rss.xml", "it.atom.xml"])
def test_newsboat_reads_our_feed_with_korean_titles_and_no_duplicates(
    name: str,
    write_config: Callable[..., Path],
    sqlite_url: str,
    web_server: StartWeb,
    tmp_path: Path,
) -> None:
    feeds = {"output": "public/feeds", "formats": ["rss", "atom", "json"]}
    site = web_server(write_config(store=sqlite_url, feeds=feeds))
    url = site.at(f"feeds/{name}")
    reader = Reader(tmp_path, [url])  # newsboat keeps one item per guid: one feed per cache
    with Store(sqlite_url) as store:
        batch = [article(1), article(2), article(3)]
        publish(site, store, batch, BASE)
        ids = {a.title: a.public_id for a in store.latest_articles(limit=10)}
        assert reader.reload().strip() == "3 unread articles"
        assert reader.items(url) == sorted((ids[title], title) for title in ids)

        batch[1] = article(2, "2번째 기사: 정정 — 수출 회복세 확인")
        batch.append(article(4))
        publish(site, store, batch, BASE + timedelta(days=1))
        assert reader.reload().strip() == "4 unread articles"
        ids = {a.title: a.public_id for a in store.latest_articles(limit=10)}
        assert len(ids) == 4
        assert reader.items(url) == sorted((ids[title], title) for title in ids)
        with sqlite3.connect(reader.cache) as conn:
            rows = conn.execute("SELECT count(*), count(DISTINCT guid) FROM rss_item").fetchone()
        assert rows == (4, 4)


# Public ids come from stable facts (the configured id_date, source, GUID), never
# the day an article was first stored: a database rebuilt days later keeps them.
REBUILT_AFTER = timedelta(days=2)


def test_newsboat_shows_no_duplicate_after_the_database_is_rebuilt(
    write_config: Callable[..., Path], sqlite_url: str, web_server: StartWeb, tmp_path: Path
) -> None:
    feeds = {"output": "public/feeds", "formats": ["atom"], "per_section": False}
    site = web_server(write_config(store=sqlite_url, feeds=feeds))
    url = site.at("feeds/all.atom.xml")
    reader = Reader(tmp_path, [url])
    batch = [article(1), article(2), article(3)]
    with Store(sqlite_url) as store:
        publish(site, store, batch, BASE)
    assert reader.reload().strip() == "3 unread articles"
    before = reader.items(url)
    with Store(f"sqlite:///{tmp_path / 'rebuilt.db'}") as rebuilt:
        rebuilt.upgrade()
        publish(site, rebuilt, [article(3), article(1), article(2)], BASE + REBUILT_AFTER)
    assert reader.reload().strip() == "3 unread articles"
    assert reader.items(url) == before
