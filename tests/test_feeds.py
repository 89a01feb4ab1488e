"""Feeds: RSS 2.0 and Atom rendering and atomic, change-only writing."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import feedparser
import pytest
from lxml import etree

from syndicate import feeds
from syndicate.collect import ArticleOrigin, normalize_article
from syndicate.config import Config, load_config
from syndicate.errors import FeedWriteError
from syndicate.feeds import FeedSpec, feed_specs, render_feed, render_opml, write_feeds
from syndicate.model import Article
from syndicate.sanitize import xml_text

BASE = datetime(2024, 5, 1, 0, 0, tzinfo=UTC)  # 09:00 in Seoul
ATOM = "{http://www.w3.org/2005/Atom}"


def make_article(n: int, section: str = "it", **fields: Any) -> Article:
    """An article as the store returns it: sequence, public id and first-seen time set."""
    values: dict[str, Any] = {
        "source_id": "src",
        "guid": f"g{n}",
        "url": f"https://news.example.kr/article/{n}",
        "title": f"{n}번째 기사: 한국어 제목",
        "section_id": section,
        "summary_html": f"<p>요약 {n}</p>",
        "published_at": BASE + timedelta(hours=n),
        "seq": n,
        "public_id": f"tag:news.example.kr,2024:article/{n}",
        "first_seen_at": BASE + timedelta(hours=n, minutes=5),
    }
    values.update(fields)
    return Article(**values)


def sanitized(article: Article) -> Article:
    """``article`` as collect stores it (sanitized once, there)."""
    normalized = normalize_article(article, ArticleOrigin("src", article.section_id))
    assert normalized is not None
    return normalized


class MemoryStore:
    """Stands in for the store: newest articles first, optionally of one section."""

    def __init__(self, articles: list[Article]) -> None:
        self.articles = articles

    def latest_articles(
        self, *, section_id: str | None = None, source_id: str | None = None, limit: int = 50
    ) -> list[Article]:
        """Return the newest articles (by sort time), as Store.latest_articles does."""
        chosen = [
            a
            for a in self.articles
            if section_id in (None, a.section_id) and source_id in (None, a.source_id)
        ]
        return sorted(chosen, key=lambda a: a.sort_time, reverse=True)[:limit]

    def feed_heads(
        self, selections: Sequence[tuple[str | None, str | None]], *, limit: int = 50
    ) -> list[list[tuple[int, str]]]:
        """(seq, change time) of the newest articles; an update here is a new updated_at."""
        heads = []
        for section_id, source_id in selections:
            chosen = self.latest_articles(section_id=section_id, source_id=source_id, limit=limit)
            heads.append([(a.seq or 0, str(a.updated_at or a.first_seen_at)) for a in chosen])
        return heads


@pytest.fixture
def config(write_config: Callable[..., Path]) -> Config:
    """The test config (sections it, economy, society; output public/feeds)."""
    return load_config(write_config())


def spec_for(config: Config, key: str, fmt: str) -> FeedSpec:
    """The spec of one feed file."""
    return next(s for s in feed_specs(config) if s.key == key and s.fmt == fmt)


def parse(data: bytes) -> Any:
    """Parse feed bytes with feedparser and insist the document is well-formed."""
    parsed = feedparser.parse(data)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


# --- specs -------------------------------------------------------------------------


def test_feed_specs_lists_sections_and_combined_in_every_format(config: Config) -> None:
    names = [spec.file_name for spec in feed_specs(config)]
    assert names == [
        "it.rss.xml",
        "it.atom.xml",
        "economy.rss.xml",
        "economy.atom.xml",
        "society.rss.xml",
        "society.atom.xml",
        "all.rss.xml",
        "all.atom.xml",
    ]
    it_spec = spec_for(config, "it", "rss")
    assert it_spec.title == "테스트뉴스 - IT·과학"
    assert spec_for(config, "all", "atom").title == "테스트뉴스"


def test_feed_specs_follow_feeds_options(write_config: Callable[..., Path]) -> None:
    feeds = {"output": "out", "title": "뉴스", "formats": ["atom"], "per_section": False}
    config = load_config(write_config(feeds=feeds))
    assert [spec.file_name for spec in feed_specs(config)] == ["all.atom.xml"]


def test_section_named_all_collides_with_combined_feed(
    write_config: Callable[..., Path],
) -> None:
    # The config refuses the id (tests/hostile); feed_specs still guards a config built in code.
    config = load_config(write_config())
    reserved = replace(config.sections[0], id="all")
    config = replace(config, sections=(reserved, *config.sections[1:]))
    with pytest.raises(FeedWriteError, match="'all' collides with the combined feed"):
        feed_specs(config)


# --- rendering ---------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_feed_has_korean_titles_public_ids_and_seoul_times(config: Config, fmt: str) -> None:
    articles = [make_article(1), make_article(2)]
    parsed = parse(render_feed(config, spec_for(config, "it", fmt), articles, fmt))

    assert parsed.feed.title == "테스트뉴스 - IT·과학"
    assert parsed.feed.language == "ko"
    assert [e.title for e in parsed.entries] == [
        "2번째 기사: 한국어 제목",
        "1번째 기사: 한국어 제목",
    ]
    assert [e.id for e in parsed.entries] == [
        "tag:news.example.kr,2024:article/2",
        "tag:news.example.kr,2024:article/1",
    ]
    assert parsed.entries[0].link == "https://news.example.kr/article/2"
    offset = "+0900" if fmt == "rss" else "+09:00"
    assert parsed.entries[0].published.endswith(offset)
    assert "11:00:00" in parsed.entries[0].published  # 02:00 UTC is 11:00 in Seoul
    assert parsed.entries[0].published_parsed[:5] == (2024, 5, 1, 2, 0)
    assert "syndicate" in parsed.feed.generator
    assert "IT·과학" in [t.term for t in parsed.entries[0].tags]


def test_rss_guid_is_not_a_permalink_and_author_is_dc_creator(config: Config) -> None:
    article = make_article(1, author="홍길동 기자", content_html="<p>본문 전체</p>")
    data = render_feed(config, spec_for(config, "it", "rss"), [article], "rss")
    root = etree.fromstring(data)
    guid = root.find("channel/item/guid")
    assert guid is not None
    assert guid.get("isPermaLink") == "false"
    assert root.find("channel/item/author") is None  # RSS <author> must be an e-mail
    entry = parse(data).entries[0]
    assert entry.author == "홍길동 기자"
    assert entry.content[0].value == "<p>본문 전체</p>"
    assert entry.summary == "<p>요약 1</p>"


def test_atom_has_author_content_summary_and_enclosure(config: Config) -> None:
    article = make_article(
        1,
        author="김기자",
        content_html="<p>본문</p>",
        image_url="https://img.example.kr/photo.png",
        categories=("반도체", "IT·과학"),
    )
    data = render_feed(config, spec_for(config, "it", "atom"), [article], "atom")
    entry = parse(data).entries[0]
    assert entry.author == "김기자"
    assert entry.content[0].type == "text/html"
    assert entry.content[0].value == "<p>본문</p>"
    assert entry.summary == "<p>요약 1</p>"
    assert [t.term for t in entry.tags] == ["IT·과학", "반도체"]
    links = {(link.rel, link.href) for link in entry.links}
    assert links == {
        ("alternate", "https://news.example.kr/article/1"),
        ("enclosure", "https://img.example.kr/photo.png"),
    }
    assert next(link for link in entry.links if link.rel == "enclosure").type == "image/png"


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_self_link_alternate_link_and_feed_id(config: Config, fmt: str) -> None:
    data = render_feed(config, spec_for(config, "economy", fmt), [], fmt)
    parsed = parse(data)
    self_links = [link for link in parsed.feed.links if link.rel == "self"]
    assert [link.href for link in self_links] == [
        f"https://news.example.kr/feeds/economy.{fmt}.xml"
    ]
    assert self_links[0].type == f"application/{fmt}+xml"
    assert parsed.feed.link == "https://news.example.kr/"
    if fmt == "atom":
        assert parsed.feed.id == "https://news.example.kr/feeds/economy.atom.xml"


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_entries_are_newest_first_and_limited(write_config: Callable[..., Path], fmt: str) -> None:
    config = load_config(write_config(feeds={"title": "테스트뉴스", "limit": 3}))
    articles = [make_article(n) for n in (4, 1, 6, 3, 5, 2)]
    parsed = parse(render_feed(config, spec_for(config, "it", fmt), articles, fmt))
    assert [e.link.rsplit("/", 1)[1] for e in parsed.entries] == ["6", "5", "4"]


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_section_feed_holds_only_its_section_and_combined_holds_all(
    config: Config, fmt: str
) -> None:
    articles = [make_article(1, "it"), make_article(2, "economy"), make_article(3, "society")]
    section = parse(render_feed(config, spec_for(config, "economy", fmt), articles, fmt))
    combined = parse(render_feed(config, spec_for(config, "all", fmt), articles, fmt))
    assert [e.link for e in section.entries] == ["https://news.example.kr/article/2"]
    assert [e.link[-1] for e in combined.entries] == ["3", "2", "1"]
    assert [e.tags[0].term for e in combined.entries] == ["사회", "경제", "IT·과학"]


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_build_time_is_newest_article_not_now(config: Config, fmt: str) -> None:
    articles = [make_article(1), make_article(2, updated_at=BASE + timedelta(days=1))]
    spec = spec_for(config, "it", fmt)
    first = render_feed(config, spec, articles, fmt)
    assert first == render_feed(config, spec, list(reversed(articles)), fmt)
    parsed = parse(first)
    assert parsed.feed.updated_parsed[:4] == (2024, 5, 2, 0)
    expected = "2024-05-02T09:00:00+09:00" if fmt == "atom" else "Thu, 02 May 2024 09:00:00 +0900"
    assert parsed.feed.updated == expected


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_empty_feed_is_valid_and_deterministic(config: Config, fmt: str) -> None:
    spec = spec_for(config, "society", fmt)
    data = render_feed(config, spec, [], fmt)
    assert data == render_feed(config, spec, [], fmt)
    parsed = parse(data)
    assert parsed.entries == []
    assert parsed.feed.updated_parsed[:3] == (2000, 1, 1)


def test_article_without_published_time_uses_first_seen(config: Config) -> None:
    article = make_article(1, published_at=None, first_seen_at=BASE)
    data = render_feed(config, spec_for(config, "it", "atom"), [article], "atom")
    assert parse(data).entries[0].published == "2024-05-01T09:00:00+09:00"


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_control_characters_do_not_break_the_xml(config: Config, fmt: str) -> None:
    article = make_article(
        1,
        title="속보\x00: 제목\x0b에\x1f 제어\ud800문자",
        summary_html="<p>요약\x08 본문\x0c</p>",
        author="기자\x07",
        categories=("분류\x1b",),
    )
    data = render_feed(config, spec_for(config, "it", fmt), [article], fmt)
    entry = parse(data).entries[0]
    assert entry.title == "속보: 제목에 제어문자"
    assert entry.summary == "<p>요약 본문</p>"
    assert "분류" in [t.term for t in entry.tags]
    etree.fromstring(data)  # strict XML parser agrees


def test_xml_safe_keeps_korean_tabs_and_newlines() -> None:
    assert xml_text("한글\t탭\n줄\r\x00\x1f\x7f\ufffe끝") == "한글\t탭\n줄\r끝"


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_hostile_html_never_reaches_the_file(config: Config, fmt: str) -> None:
    hostile = (
        '<p onclick="steal()">안녕<script>alert("x")</script>'
        '<a href="javascript:alert(1)">링크</a><img src="x.png" onerror="boom()">'
        "<iframe src='https://evil.example/'></iframe></p>"
    )
    article = sanitized(make_article(1, summary_html=hostile, content_html=hostile))
    data = render_feed(config, spec_for(config, "it", fmt), [article], fmt)
    text = data.decode("utf-8").lower()
    for needle in (
        "<script",
        "&lt;script",
        "alert",
        "javascript:",
        "onerror",
        "onclick",
        "iframe",
        "evil",
    ):
        assert needle not in text
    assert "안녕" in parse(data).entries[0].summary


def test_unknown_format_is_a_feed_write_error(config: Config) -> None:
    with pytest.raises(FeedWriteError, match=r"it\.rss\.xml: unknown format 'rdf'"):
        render_feed(config, spec_for(config, "it", "rss"), [], "rdf")


def test_render_failure_names_the_feed_file(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> bytes:
        raise ValueError("boom")

    monkeypatch.setattr(feeds, "_serialize", broken)
    with pytest.raises(FeedWriteError, match=r"feed it\.atom\.xml: cannot render: boom"):
        render_feed(config, spec_for(config, "it", "atom"), [make_article(1)], "atom")


def test_an_article_that_cannot_be_rendered_is_skipped_by_name(
    config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    bad = make_article(2, url="", public_id="", guid="")  # no id at all: Atom needs one
    data = render_feed(config, spec_for(config, "it", "atom"), [make_article(1), bad], "atom")
    assert [e.title for e in parse(data).entries] == ["1번째 기사: 한국어 제목"]
    assert any("it.atom.xml: skipping article" in r.message for r in caplog.records)


def test_one_failing_feed_file_does_not_stop_the_others(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = feeds.render_feed

    def flaky(config: Config, spec: FeedSpec, articles: Any, fmt: str) -> bytes:
        if spec.file_name == "economy.atom.xml":
            raise FeedWriteError("feed economy.atom.xml: cannot render: boom")
        return real(config, spec, articles, fmt)

    monkeypatch.setattr(feeds, "render_feed", flaky)
    report = write_feeds(config, MemoryStore([make_article(1, "it"), make_article(2, "economy")]))
    assert report.failed == {"economy.atom.xml": "feed economy.atom.xml: cannot render: boom"}
    assert len(report.written) == 8  # 7 feeds and the OPML list


# --- writing -----------------------------------------------------------------------


def feed_files(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every served file in ``folder`` with its bytes and modification time (ns)."""
    return {
        p.name: (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.iterdir())
        if not p.name.startswith(".")
    }


def test_write_feeds_creates_every_file(config: Config, tmp_path: Path) -> None:
    store = MemoryStore([make_article(1, "it"), make_article(2, "economy")])
    report = write_feeds(config, store)
    folder = tmp_path / "public" / "feeds"
    expected = [s.file_name for s in feed_specs(config)] + ["feeds.opml"]
    assert sorted(p.name for p in report.written) == sorted(expected)
    assert report.unchanged == []
    assert sorted(feed_files(folder)) == sorted(p.name for p in report.written)
    combined = parse((folder / "all.rss.xml").read_bytes())
    assert len(combined.entries) == 2
    assert parse((folder / "society.atom.xml").read_bytes()).entries == []
    assert oct((folder / "all.rss.xml").stat().st_mode & 0o777) == oct(0o644)


def test_second_write_without_new_articles_leaves_files_untouched(
    config: Config, tmp_path: Path
) -> None:
    store = MemoryStore([make_article(1, "it"), make_article(2, "economy")])
    write_feeds(config, store)
    folder = tmp_path / "public" / "feeds"
    before = feed_files(folder)
    old = 1_000_000_000_000_000_000
    for path in folder.iterdir():
        os.utime(path, ns=(old, old))
    report = write_feeds(config, store)
    assert report.written == []
    assert len(report.unchanged) == len(before)
    after = feed_files(folder)
    assert {name: data for name, (data, _) in after.items()} == {
        name: data for name, (data, _) in before.items()
    }
    assert {mtime for _, mtime in after.values()} == {old}


def test_new_article_rewrites_only_affected_feeds(config: Config, tmp_path: Path) -> None:
    store = MemoryStore([make_article(1, "it"), make_article(2, "economy")])
    write_feeds(config, store)
    store.articles.append(make_article(3, "it"))
    report = write_feeds(config, store)
    assert sorted(p.name for p in report.written) == [
        "all.atom.xml",
        "all.rss.xml",
        "it.atom.xml",
        "it.rss.xml",
    ]
    folder = tmp_path / "public" / "feeds"
    assert [e.link[-1] for e in parse((folder / "it.atom.xml").read_bytes()).entries] == ["3", "1"]
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_unwritable_output_is_a_feed_write_error_naming_the_path(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    blocker = tmp_path / "blocked"
    blocker.write_text("not a folder", encoding="utf-8")
    config = load_config(write_config(feeds={"output": "blocked/feeds", "title": "뉴스"}))
    report = write_feeds(config, MemoryStore([make_article(1)]))
    assert (
        not report.written and not report.unchanged and len(report.failed) == 9
    )  # 8 feeds and the OPML list
    assert re.match(r"feed .*blocked/feeds/it\.rss\.xml: cannot write", report.failed["it.rss.xml"])


def test_atom_entries_link_rel_is_set(config: Config) -> None:
    data = render_feed(config, spec_for(config, "it", "atom"), [make_article(1)], "atom")
    root = etree.fromstring(data)
    rels = [link.get("rel") for link in root.iter(f"{ATOM}link")]
    assert rels == ["self", "alternate", "alternate"]


def test_relative_links_in_summaries_become_absolute(config: Config) -> None:
    article = sanitized(make_article(1, summary_html='<p><a href="/article/9">관련 기사</a></p>'))
    data = render_feed(config, spec_for(config, "it", "rss"), [article], "rss")
    assert 'href="https://news.example.kr/article/9"' in parse(data).entries[0].summary


# --- with a real store -------------------------------------------------------------


def collected(n: int, section: str, **fields: Any) -> Article:
    """An article as a collector hands it to the store (no id, public id or first-seen)."""
    return make_article(n, section, seq=None, public_id=None, first_seen_at=None, **fields)


def test_write_feeds_from_a_real_store(config: Config, tmp_path: Path, store_url: str) -> None:
    from syndicate.store import Store

    with Store(store_url) as store:
        store.upgrade()
        batch = [collected(1, "it"), collected(2, "economy"), collected(3, "it")]
        batch.append(collected(4, "it", published_at=None))
        store.upsert_articles(batch, tag_authority="news.example.kr", now=BASE + timedelta(days=2))
        stored = {a.url: a for a in store.latest_articles(limit=10)}
        report = write_feeds(config, store)
        assert len(report.written) == 9  # 8 feeds and the OPML list
        folder = tmp_path / "public" / "feeds"
        it_feed = parse((folder / "it.atom.xml").read_bytes())
        assert [e.link[-1] for e in it_feed.entries] == ["4", "3", "1"]
        assert [e.id for e in it_feed.entries] == [
            stored[e.link].public_id for e in it_feed.entries
        ]
        assert all(e.id.startswith("tag:news.example.kr,") for e in it_feed.entries)
        assert it_feed.entries[0].published == "2024-05-03T09:00:00+09:00"  # first seen
        assert it_feed.entries[1].published == "2024-05-01T12:00:00+09:00"
        combined = parse((folder / "all.rss.xml").read_bytes())
        assert len(combined.entries) == 4
        economy = parse((folder / "economy.rss.xml").read_bytes())
        assert [e.title for e in economy.entries] == ["2번째 기사: 한국어 제목"]

        before = feed_files(folder)
        store.upsert_articles(batch, tag_authority="news.example.kr", now=BASE + timedelta(days=3))
        again = write_feeds(config, store)
        assert again.written == []
        assert feed_files(folder) == before


def test_opml_lists_every_feed(write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = load_config(write_config())
    specs = feed_specs(config)
    data = render_opml(config, specs)
    root = ElementTree.fromstring(data)
    outlines = root.findall("./body/outline")
    assert [o.get("xmlUrl") for o in outlines] == [s.self_url(config) for s in specs]
    assert all(o.get("type") == "rss" for o in outlines)
    assert root.findtext("./head/title") == config.feeds.title
    assert any("IT·과학" in (o.get("title") or "") for o in outlines)
