"""JSON Feed 1.0 and 1.1 sources, served over real HTTP and collected into a real store."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from syndicate.collect import collect_all
from syndicate.config import Config, load_config
from syndicate.errors import SourceError
from syndicate.model import Article
from syndicate.sources.feed import parse_feed
from syndicate.sources.jsonfeed import is_json_feed
from syndicate.store import Store

NOW = datetime(2024, 5, 3, 0, 0, tzinfo=UTC)
SEOUL = ZoneInfo("Asia/Seoul")

FEED_11: dict[str, Any] = {
    "version": "https://jsonfeed.org/version/1.1",
    "title": "연합 테크",
    "home_page_url": "https://tech.example.kr/",
    "authors": [{"name": "편집국"}],
    "items": [
        {
            "id": "https://tech.example.kr/a/1",
            "url": "/a/1",
            "title": "반도체 <b>수출</b> 회복",
            "content_html": "<p>본문</p><script>alert(1)</script><img src=x onerror=alert(2)>",
            "summary": "수출이 석 달 만에 늘었다.",
            "date_published": "2024-05-01T09:00:00+09:00",
            "date_modified": "2024-05-01T10:30:00",
            "authors": [{"name": "김기자"}, {"name": "이기자"}],
            "tags": ["산업", "", 3],
            "image": "/img/1.jpg",
        },
        {
            "id": 2,
            "content_text": "단신입니다.\n\n두 번째 문단 <tag>",
            "date_published": "2024-05-02T00:00:00Z",
        },
        "not an item",
    ],
}

FEED_10: dict[str, Any] = {
    "version": "https://jsonfeed.org/version/1",
    "title": "옛 피드",
    "author": {"name": "박기자"},
    "items": [
        {
            "id": "old-1",
            "url": "https://old.example.kr/1",
            "title": "예전 형식",
            "content_html": "<p>내용</p>",
            "attachments": [{"url": "https://old.example.kr/1.png", "mime_type": "image/png"}],
        }
    ],
}


def parse(data: bytes, content_type: str | None = "application/feed+json") -> list[Article]:
    """Parse bytes as the collector does (JSON detected by type or leading brace)."""
    return parse_feed(
        data, source_id="tech", section="it", zone=SEOUL, content_type=content_type,
        base_url="https://tech.example.kr/feed.json",
    )  # fmt: skip


def test_json_feed_11_items_become_articles() -> None:
    articles = parse(json.dumps(FEED_11, ensure_ascii=False).encode("utf-8"))
    assert len(articles) == 2
    first, second = articles
    assert first.guid == "https://tech.example.kr/a/1"
    assert first.url == "https://tech.example.kr/a/1"
    assert first.title == "반도체 수출 회복"
    assert first.author == "김기자, 이기자"
    assert first.categories == ("산업",)
    assert first.image_url == "https://tech.example.kr/img/1.jpg"
    assert first.summary_html == "<p>수출이 석 달 만에 늘었다.</p>"
    assert first.published_at == datetime(2024, 5, 1, 0, 0, tzinfo=UTC)
    assert first.updated_at == datetime(2024, 5, 1, 1, 30, tzinfo=UTC)  # no offset: Seoul time
    assert second.guid == "2"
    assert second.author == "편집국"  # the feed's authors
    assert second.content_html == "<p>단신입니다.</p><p>두 번째 문단 &lt;tag&gt;</p>"
    assert second.published_at == datetime(2024, 5, 2, tzinfo=UTC)


def test_json_feed_10_author_and_image_attachment() -> None:
    (article,) = parse(json.dumps(FEED_10).encode(), content_type=None)
    assert article.author == "박기자"
    assert article.image_url == "https://old.example.kr/1.png"
    assert article.content_html == "<p>내용</p>"


def test_detection_by_type_or_leading_brace() -> None:
    assert is_json_feed(b"\xef\xbb\xbf  {", None)
    assert is_json_feed(b"", "application/json; charset=utf-8")
    assert not is_json_feed(b'<?xml version="1.0"?><rss/>', "application/rss+xml")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": [}', "malformed JSON Feed: "),
        (b"[" * 100_000 + b"]" * 100_000, "malformed JSON Feed: "),
        (b'{"version": "https://example.org/v2", "items": []}', "not a JSON Feed (version "),
        (b'{"version": "https://jsonfeed.org/version/1", "items": {}}', "'items' is missing"),
        (b'["https://jsonfeed.org/version/1"]', "the document is not a JSON object"),
    ],
)
def test_bad_json_is_one_line_naming_the_source(data: bytes, message: str) -> None:
    with pytest.raises(SourceError) as caught:
        parse(data)
    text = str(caught.value)
    assert text.startswith("source 'tech': ") and message in text and "\n" not in text
    assert len(text) < 300


def test_bad_json_line_and_column_are_named() -> None:
    with pytest.raises(SourceError, match=r"Expecting value at line 2 column 12$"):
        parse(b'{"version": "https://jsonfeed.org/version/1.1",\n "items": [}')


# --- collected over HTTP ------------------------------------------------------------


@pytest.fixture
def store(migrated_sqlite_url: str) -> Iterator[Store]:
    with Store(migrated_sqlite_url) as opened:
        opened.upgrade()
        yield opened


def test_json_feed_source_is_collected_sanitized_next_to_a_broken_one(
    http_root: tuple[Path, str], write_config: Callable[..., Path], store: Store
) -> None:
    root, base = http_root
    (root / "feed.json").write_bytes(json.dumps(FEED_11, ensure_ascii=False).encode("utf-8"))
    (root / "broken.json").write_bytes(b'{"version": "https://jsonfeed.org/version/1.1", "items"')
    sources = [
        {"id": "tech", "kind": "feed", "location": base + "feed.json", "section": "it"},
        {"id": "bad", "kind": "feed", "location": base + "broken.json", "section": "it"},
    ]
    config: Config = load_config(write_config(sources=sources))
    outcomes = {o.source_id: o for o in collect_all(config, store, now=NOW)}
    assert outcomes["tech"].new == 2 and outcomes["tech"].error is None
    assert outcomes["bad"].new == 0
    assert outcomes["bad"].error is not None
    assert "malformed JSON Feed: " in outcomes["bad"].error
    stored = {a.guid: a for a in store.latest_articles(limit=10)}
    first = stored["https://tech.example.kr/a/1"]
    assert "script" not in first.content_html and "onerror" not in first.content_html
    assert "본문" in first.content_html
    assert first.url == base + "a/1"  # relative to where the feed was fetched
    again = {o.source_id: o for o in collect_all(config, store, now=NOW)}
    assert again["tech"].new == 0 and store.count_articles() == 2
