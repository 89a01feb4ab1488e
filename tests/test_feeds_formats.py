"""JSON Feed output, self links where the feeds are served, WebSub hubs, per-source feeds,
and feed writes that skip rendering when nothing moved."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import feedparser
import jsonschema
import pytest
from lxml import etree

from syndicate import feeds
from syndicate.config import Config, load_config
from syndicate.feeds import FeedSpec, feed_specs, render_feed, write_feeds
from syndicate.model import Article
from syndicate.store import Store
from tests.conftest import HttpServe

SCHEMA = json.loads(
    (Path(__file__).parent / "data" / "jsonfeed" / "jsonfeed-1.1.schema.json").read_text("utf-8")
)
BASE = datetime(2024, 5, 1, 0, 0, tzinfo=UTC)
SEEN = BASE + timedelta(days=1)  # collected after publication: no date is clamped
ATOM = "{http://www.w3.org/2005/Atom}"
AUTHORITY = "news.example.kr"


def collected(n: int, section: str = "it", **fields: Any) -> Article:
    """An article as a collector hands it to the store."""
    values: dict[str, Any] = {
        "source_id": "wire" if n % 2 else "desk",
        "guid": f"g{n}",
        "url": f"https://news.example.kr/article/{n}",
        "title": f"{n}번째 기사: 반도체 수출 회복",
        "section_id": section,
        "summary_html": f"<p>요약 <b>{n}</b></p>",
        "content_html": f"<p>본문 {n}</p>",
        "author": "김기자",
        "categories": ("산업",),
        "image_url": f"https://news.example.kr/img/{n}.png",
        "published_at": BASE + timedelta(hours=n),
    }
    values.update(fields)
    return Article(**values)


def make_config(write_config: Callable[..., Path], **feeds_overrides: Any) -> Config:
    """The test config with every format and the given ``feeds`` keys."""
    formats = ["rss", "atom", "json"]
    feeds_config = {"output": "public/feeds", "title": "테스트뉴스", "formats": formats}
    return load_config(write_config(feeds=feeds_config | feeds_overrides))


@pytest.fixture
def store(migrated_sqlite_url: str) -> Iterator[Store]:
    """A fresh SQLite store."""
    with Store(migrated_sqlite_url) as opened:
        opened.upgrade()
        yield opened


def json_feed(config: Config, name: str) -> dict[str, Any]:
    """A written JSON Feed file, checked against the JSON Feed 1.1 schema."""
    document: dict[str, Any] = json.loads((config.resolve(config.feeds.output) / name).read_bytes())
    jsonschema.validate(document, SCHEMA)
    return document


# --- JSON Feed ---------------------------------------------------------------------


def test_json_feeds_per_section_and_combined_follow_the_schema(
    write_config: Callable[..., Path], store: Store
) -> None:
    config = make_config(write_config)
    store.upsert_articles(
        [collected(1), collected(2, "economy"), collected(3)], tag_authority=AUTHORITY, now=SEEN
    )
    report = write_feeds(config, store)
    assert report.failed == {}
    names = sorted(p.name for p in report.written if p.name.endswith(".json"))
    assert names == ["all.feed.json", "economy.feed.json", "it.feed.json", "society.feed.json"]
    combined = json_feed(config, "all.feed.json")
    assert combined["version"] == "https://jsonfeed.org/version/1.1"
    assert combined["feed_url"] == "https://news.example.kr/feeds/all.feed.json"
    assert combined["home_page_url"] == "https://news.example.kr/"
    assert [item["title"] for item in combined["items"]] == [
        "3번째 기사: 반도체 수출 회복",
        "2번째 기사: 반도체 수출 회복",
        "1번째 기사: 반도체 수출 회복",
    ]
    first = combined["items"][0]
    assert first["id"].startswith("tag:news.example.kr,")
    assert first["date_published"] == "2024-05-01T12:00:00+09:00"
    assert first["summary"] == "요약 3"
    assert first["content_html"] == "<p>본문 3</p>"
    assert first["authors"] == [{"name": "김기자"}]
    assert first["tags"] == ["IT·과학", "산업"]
    assert first["attachments"] == [
        {"url": "https://news.example.kr/img/3.png", "mime_type": "image/png"}
    ]
    assert [i["url"] for i in json_feed(config, "economy.feed.json")["items"]] == [
        "https://news.example.kr/article/2"
    ]
    assert json_feed(config, "society.feed.json")["items"] == []
    assert "hubs" not in combined


def test_json_feed_ids_match_the_xml_feeds(write_config: Callable[..., Path], store: Store) -> None:
    config = make_config(write_config)
    store.upsert_articles([collected(1), collected(3)], tag_authority=AUTHORITY, now=SEEN)
    write_feeds(config, store)
    folder = config.resolve(config.feeds.output)
    atom_ids = [e.id for e in feedparser.parse((folder / "it.atom.xml").read_bytes()).entries]
    rss_ids = [e.id for e in feedparser.parse((folder / "it.rss.xml").read_bytes()).entries]
    json_ids = [item["id"] for item in json_feed(config, "it.feed.json")["items"]]
    assert json_ids == atom_ids == rss_ids
    assert len(json_ids) == 2


def test_item_without_link_or_content_still_has_content(write_config: Callable[..., Path]) -> None:
    config = make_config(write_config)
    bare: dict[str, Any] = {"url": "", "content_html": "", "image_url": "", "seq": 1}
    bare["public_id"] = "tag:x,2024:1"
    article = collected(1, summary_html="", title="반도체 <수출> & 회복", **bare)
    spec = next(s for s in feed_specs(config) if s.file_name == "it.feed.json")
    document = json.loads(render_feed(config, spec, [article], "json"))
    jsonschema.validate(document, SCHEMA)
    assert document["items"][0]["content_html"] == "<p>반도체 &lt;수출&gt; &amp; 회복</p>"
    assert document["items"][0]["title"] == "반도체 <수출> & 회복"
    assert "url" not in document["items"][0]
    summarized = collected(2, summary_html="<p>요약만 <b>있음</b></p>", **bare)
    (item,) = json.loads(render_feed(config, spec, [summarized], "json"))["items"]
    assert item["content_html"] == "<p>요약만 <b>있음</b></p>" and item["summary"] == "요약만 있음"


def test_schema_refuses_what_json_feed_forbids() -> None:
    """The fixture schema is strict enough to fail: an item needs an id and some content."""
    bad = {"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": [{"id": "1"}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad | {"items": [], "extra": 1}, SCHEMA)


# --- self links and hubs -----------------------------------------------------------


def self_links(config: Config, spec: FeedSpec, data: bytes) -> tuple[list[str], list[str]]:
    """(self links, hub links) a written feed declares."""
    if spec.fmt == "json":
        document = json.loads(data)
        return [document["feed_url"]], [hub["url"] for hub in document.get("hubs", [])]
    root = etree.fromstring(data)
    links = list(root.iter(f"{ATOM}link"))
    if spec.fmt == "atom":
        links = root.findall(f"{ATOM}link")
    rels: dict[str, list[str]] = {"self": [], "hub": []}
    for link in links:
        rels.setdefault(link.get("rel"), []).append(link.get("href"))
    return rels["self"], rels["hub"]


def test_every_feed_names_the_url_it_is_served_at_and_its_hubs(
    write_config: Callable[..., Path], store: Store
) -> None:
    hubs = ["https://hub.example.net/", "https://pubsubhubbub.appspot.com/"]
    config = make_config(write_config, url_path="/syndication/news/", hubs=hubs)
    store.upsert_articles([collected(1)], tag_authority=AUTHORITY, now=SEEN)
    write_feeds(config, store)
    folder = config.resolve(config.feeds.output)
    specs = feed_specs(config)
    assert len(specs) == 12
    for spec in specs:
        data = (folder / spec.file_name).read_bytes()
        expected = f"https://news.example.kr/syndication/news/{spec.file_name}"
        assert self_links(config, spec, data) == ([expected], hubs), spec.file_name
    rss = feedparser.parse((folder / "it.rss.xml").read_bytes())
    assert rss.bozo == 0 and rss.feed.link == "https://news.example.kr/"
    opml = (folder / "feeds.opml").read_text("utf-8")
    assert 'xmlUrl="https://news.example.kr/syndication/news/all.feed.json"' in opml


def test_url_path_must_stay_below_the_base_url(write_config: Callable[..., Path]) -> None:
    from syndicate.errors import ConfigError

    with pytest.raises(ConfigError, match=r"feeds\.url_path: .*'\.\.' are not allowed"):
        load_config(write_config(feeds={"url_path": "a/../../b"}))
    with pytest.raises(ConfigError, match=r"feeds\.url_path: 'https://x\.kr/f/': give a path"):
        load_config(write_config(feeds={"url_path": "https://x.kr/f/"}))


def test_per_source_feeds_hold_only_that_source(
    write_config: Callable[..., Path], store: Store
) -> None:
    sources = [
        {"id": "wire", "kind": "feed", "location": "https://wire.example.kr/rss", "section": "it"},
        {"id": "desk", "kind": "feed", "location": "https://desk.example.kr/rss", "section": "it"},
    ]
    config = load_config(
        write_config(
            sources=sources,
            feeds={"output": "public/feeds", "per_source": True, "formats": ["json", "rss"]},
        )
    )
    store.upsert_articles([collected(n) for n in range(1, 6)], tag_authority=AUTHORITY, now=SEEN)
    report = write_feeds(config, store)
    assert report.failed == {}
    wire = json_feed(config, "source.wire.feed.json")
    assert [item["url"][-1] for item in wire["items"]] == ["5", "3", "1"]
    assert wire["feed_url"] == "https://news.example.kr/feeds/source.wire.feed.json"
    folder = config.resolve(config.feeds.output)
    desk = feedparser.parse((folder / "source.desk.rss.xml").read_bytes())
    assert [e.link[-1] for e in desk.entries] == ["4", "2"]


# --- rendering only what moved -------------------------------------------------------


def count_renders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the file name of every feed rendered from now on."""
    rendered: list[str] = []
    real = feeds.render_feed

    def counting(config: Config, spec: FeedSpec, articles: Any, fmt: str) -> bytes:
        rendered.append(spec.file_name)
        return real(config, spec, articles, fmt)

    monkeypatch.setattr(feeds, "render_feed", counting)
    return rendered


def test_nothing_moved_nothing_rendered_and_an_update_rewrites_its_feeds(
    write_config: Callable[..., Path], store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config(write_config)
    with Store(store_url) as store:
        store.upgrade()
        batch = [collected(1), collected(2, "economy"), collected(3)]
        store.upsert_articles(batch, tag_authority=AUTHORITY, now=SEEN)
        rendered = count_renders(monkeypatch)
        first = write_feeds(config, store)
        assert len(rendered) == 12 and first.skipped == 0
        rendered.clear()
        warm = write_feeds(config, store)
        assert rendered == [] and warm.skipped == 12 and warm.written == []
        assert len(warm.unchanged) == 13  # 12 feeds and the OPML list

        batch[2] = collected(3, title="3번째 기사: 정정된 제목")
        later = BASE + timedelta(hours=1)
        result = store.upsert_articles(batch, tag_authority=AUTHORITY, now=later)
        assert result.updated == 1
        changed = write_feeds(config, store)
        expected = ["all.atom.xml", "all.feed.json", "all.rss.xml"]
        expected += ["it.atom.xml", "it.feed.json", "it.rss.xml"]
        assert sorted(rendered) == expected
        assert sorted(p.name for p in changed.written) == expected
        assert "정정된 제목" in json_feed(config, "it.feed.json")["items"][0]["title"]


def test_a_changed_setting_or_a_deleted_file_renders_again(
    write_config: Callable[..., Path], store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.upsert_articles([collected(1)], tag_authority=AUTHORITY, now=SEEN)
    write_feeds(make_config(write_config), store)
    rendered = count_renders(monkeypatch)
    config = make_config(write_config, title="새 이름")
    assert len(write_feeds(config, store).written) == 13
    assert len(rendered) == 12
    rendered.clear()
    (config.resolve(config.feeds.output) / "economy.rss.xml").unlink()
    report = write_feeds(config, store)
    assert rendered == ["economy.rss.xml"] and [p.name for p in report.written] == rendered


# --- WebSub ---------------------------------------------------------------------------


class HubHandler(http.server.BaseHTTPRequestHandler):
    """A WebSub hub: records publish pings; answers ``status`` (set per test)."""

    pings: ClassVar[list[dict[str, list[str]]]] = []
    status: ClassVar[int] = 204
    lock = threading.Lock()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        from urllib.parse import parse_qs

        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode("ascii"))
        with self.lock:
            self.pings.append(form)
        self.send_response(self.status)
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_hub_is_pinged_for_changed_feeds_and_a_failed_ping_is_retried(
    write_config: Callable[..., Path], store: Store, serve_http: HttpServe
) -> None:
    HubHandler.pings, HubHandler.status = [], 503
    hub = serve_http(HubHandler) + "hub"
    config = make_config(write_config, formats=["atom", "json"], per_section=False, hubs=[hub])
    store.upsert_articles([collected(1)], tag_authority=AUTHORITY, now=SEEN)
    topics = [f"https://news.example.kr/feeds/all.{s}" for s in ("atom.xml", "feed.json")]

    failing = write_feeds(config, store)
    assert [p.name for p in failing.written] == ["all.atom.xml", "all.feed.json", "feeds.opml"]
    assert len(failing.pings_failed) == 2 and "HTTP 503" in failing.pings_failed[0]
    assert sorted(p["hub.url"][0] for p in HubHandler.pings) == topics

    HubHandler.pings, HubHandler.status = [], 204
    retried = write_feeds(config, store)
    assert retried.written == [] and retried.pings_failed == []
    assert sorted(p["hub.url"][0] for p in HubHandler.pings) == topics
    assert {p["hub.mode"][0] for p in HubHandler.pings} == {"publish"}

    HubHandler.pings = []
    write_feeds(config, store)
    assert HubHandler.pings == []  # nothing changed, nothing pending


def test_unreachable_hub_never_blocks_writing(
    write_config: Callable[..., Path], store: Store
) -> None:
    from tests.conftest import free_port

    hub = f"http://127.0.0.1:{free_port()}/"
    config = make_config(write_config, hubs=[hub])
    store.upsert_articles([collected(1)], tag_authority=AUTHORITY, now=SEEN)
    report = write_feeds(config, store)
    assert len(report.written) == 13 and report.failed == {}
    assert len(report.pings_failed) == 12
    pending = json.loads((config.resolve(config.feeds.output) / ".websub-pending.json").read_text())
    assert len(pending) == 12 and {h for h, _ in pending} == {hub}
