"""``/archive`` and ``/`` on a real edition: the example site run through the pipeline.

The pipeline runs in-process at a pinned moment (a Monday, 07:30 in Seoul) with the
file delivery, so each test has a real edition and real ``.eml`` files to follow.
"""

from __future__ import annotations

import email
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path

import httpx
import pytest

from syndicate import pipeline
from syndicate.config import load_config
from syndicate.subscribers import import_subscribers
from tests.conftest import SchemaPool, StartWeb, WebServer, copy_example, serving_web

NOW = datetime(2026, 11, 29, 22, 30, tzinfo=UTC)  # Monday 2026-11-30 07:30 in Seoul
EDITION = "archive/morning/2026-11-30-0700"
ADDRESSES = ("kim.minji", "lee.jiwoo", "park.seojun", "choi.yuna", "jung.haneul", "kang.doyoon")


def _site(example_site: Path, store_url: str, *, archive: bool = True) -> Path:
    """The example site on ``store_url``, run once at :data:`NOW`; its config path."""
    path = example_site / "schedules.yaml"
    text = path.read_text(encoding="utf-8").replace(
        "store: sqlite:///var/syndicate.db", f"store: {store_url}"
    )
    if not archive:
        text = text.replace(
            "    delivery:\n      kind: file", "    archive: false\n    delivery:\n      kind: file"
        )
    path.write_text(text, encoding="utf-8")
    config = load_config(path)
    assert config.digests[0].archive is archive
    store = pipeline.open_store(config)
    try:
        import_subscribers(config, store, example_site / "examples" / "subscribers.csv")
        report = pipeline.run_once(config, store, now=NOW)
        assert not report.has_failures, report
    finally:
        store.close()
    return path


def _messages(example_site: Path) -> list[Message]:
    return [
        email.message_from_bytes(path.read_bytes())
        for path in sorted((example_site / "outbox").glob("*.eml"))
    ]


def _text_part(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode("utf-8")
    raise AssertionError("no text part")


@pytest.fixture
def archive_site(example_site: Path, migrated_store_url: str, web_server: StartWeb) -> WebServer:
    """The example site after one run, served; on SQLite and on PostgreSQL."""
    return web_server(_site(example_site, migrated_store_url))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served_site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebServer]:
    """The example site after one run, served on SQLite and on PostgreSQL; built once
    per module for the tests that only read it."""
    site = copy_example(tmp_path_factory.mktemp("archive"))
    if request.param == "sqlite":
        with serving_web() as start:
            yield start(_site(site, f"sqlite:///{site / 'store.db'}"))
        return
    pool: SchemaPool = request.getfixturevalue("schema_pool")
    schema = pool.take()
    try:
        with serving_web() as start:
            yield start(_site(site, pool.url(schema)))
    finally:
        pool.give_back(schema)


@pytest.fixture(scope="module")
def sqlite_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    """The example site after one run, served; SQLite only, built once for the tests
    that only read (input validation)."""
    site = copy_example(tmp_path_factory.mktemp("site"))
    with serving_web() as start:
        yield start(_site(site, f"sqlite:///{site / 'store.db'}"))


def test_archive_lists_the_edition_and_its_page_shows_every_section(
    served_site: WebServer,
) -> None:
    listing = httpx.get(served_site.at("archive"))
    assert listing.status_code == 200
    assert listing.headers["x-frame-options"] == "DENY"
    assert f'href="/{EDITION}"' in listing.text
    assert "2026년 11월 30일(월) 07:00" in listing.text
    page = httpx.get(served_site.at(EDITION))
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "content-security-policy" in page.headers
    edition = served_site.store.last_edition("morning")
    assert edition is not None and edition.articles
    for section in {a.section_id for a in edition.articles}:
        assert served_site.config.section(section).name in page.text
    shown = [a for a in edition.articles if a.title in page.text]
    assert len(shown) >= min(len(edition.articles), 10)


def test_the_web_version_holds_no_personal_data_nor_inline_style(
    served_site: WebServer,
) -> None:
    html = httpx.get(served_site.at(EDITION)).text.lower()
    for name in ADDRESSES:
        assert name not in html
    assert "@" not in re.sub(r"@media", "", html)
    assert "unsubscribe" not in html and "token" not in html and "preferences" not in html
    assert "<style" not in re.sub(r"<!--.*?-->", "", html, flags=re.S)
    assert " style=" not in html and "<script" not in html
    css = re.search(r'<link rel="stylesheet" href="([^"]+)"', html)
    assert css is not None and css.group(1).startswith("/static/digest.css?v=")
    served = httpx.get(served_site.url.rstrip("/") + css.group(1))
    assert served.status_code == 200
    assert ".article-title" in served.text


def test_every_mail_links_its_web_version_and_preferences(served_site: WebServer) -> None:
    messages = _messages(served_site.config.path.parent)
    assert len(messages) == 6
    for message in messages:
        text = _text_part(message)
        web = re.search(r"웹에서 보기: (\S+)", text)
        assert web is not None
        assert web.group(1) == "https://news.example.kr/" + EDITION
        prefs = re.search(r"구독 설정: https://news\.example\.kr/preferences\?token=(\S+)", text)
        unsub = re.search(r"수신 거부: https://news\.example\.kr/unsubscribe\?token=(\S+)", text)
        assert prefs is not None and unsub is not None
        assert prefs.group(1) == unsub.group(1)
        html = next(p for p in message.walk() if p.get_content_type() == "text/html")
        body = html.get_payload(decode=True)
        assert isinstance(body, bytes)
        assert f'href="https://news.example.kr/{EDITION}"'.encode() in body
        assert "웹에서 보기".encode() in body and "구독 설정".encode() in body
    response = httpx.get(served_site.at(EDITION))
    assert response.status_code == 200


def test_archive_pages_newest_first(archive_site: WebServer) -> None:
    store = archive_site.store
    edition = store.last_edition("morning")
    assert edition is not None
    ids = [a.seq for a in edition.articles if a.seq is not None]
    for day in range(1, 25):
        slot = edition.slot - timedelta(days=day)
        store.create_edition("morning", slot, edition.cutoff_seq, ids[: 1 + day % 3], now=NOW)
    store.create_edition("morning", edition.slot - timedelta(days=30), 0, [], now=NOW)  # empty
    first = httpx.get(archive_site.at("archive"))
    links = re.findall(r'href="/archive/morning/([0-9-]+)"', first.text)
    assert len(links) == 20
    assert links == sorted(links, reverse=True)
    assert links[0] == "2026-11-30-0700"
    assert 'rel="next" href="?page=2"' in first.text
    second = httpx.get(archive_site.at("archive?page=2"))
    rest = re.findall(r'href="/archive/morning/([0-9-]+)"', second.text)
    assert len(rest) == 5 and rest[-1] == "2026-11-06-0700"
    assert 'rel="prev" href="?page=1"' in second.text
    assert httpx.get(archive_site.at("archive?page=3")).status_code == 404
    one = httpx.get(archive_site.at("archive/morning?page=2"))
    assert re.findall(r'href="/archive/morning/([0-9-]+)"', one.text) == rest
    assert httpx.get(archive_site.at("archive/morning/2026-10-31-0700")).status_code == 404


@pytest.mark.parametrize(
    "query", ["page=abc", "page=0", "page=-1", "page=1.5", "page=", "page=1&page=2"]
)
def test_junk_page_numbers_are_400(sqlite_site: WebServer, query: str) -> None:
    response = httpx.get(sqlite_site.at(f"archive?{query}"))
    assert response.status_code == 400
    assert "page 값" in response.text


@pytest.mark.parametrize(
    "path",
    [
        "archive/evening",
        "archive/evening/2026-11-30-0700",
        "archive/morning/2026-11-30",
        "archive/morning/2026-13-30-0700",
        "archive/morning/2026-11-30-0800",
        "archive/morning/..%2f..%2fetc",
    ],
)
def test_unknown_digests_and_editions_are_404(sqlite_site: WebServer, path: str) -> None:
    response = httpx.get(sqlite_site.at(path))
    assert response.status_code == 404
    assert '<html lang="ko">' in response.text


def test_a_digest_with_archive_false_is_not_shown(
    example_site: Path, sqlite_url: str, web_server: StartWeb
) -> None:
    site = web_server(_site(example_site, sqlite_url, archive=False))
    assert httpx.get(site.at(EDITION)).status_code == 404
    assert httpx.get(site.at("archive/morning")).status_code == 404
    listing = httpx.get(site.at("archive"))
    assert listing.status_code == 200
    assert "/archive/morning/" not in listing.text
    messages = _messages(example_site)
    assert messages
    for message in messages:
        text = _text_part(message)
        assert "웹에서 보기" not in text
        assert "구독 설정: https://news.example.kr/preferences?token=" in text


def test_index_lists_digests_and_feeds_with_autodiscovery(served_site: WebServer) -> None:
    page = httpx.get(served_site.url)
    assert page.status_code == 200
    alternates = re.findall(
        r'<link rel="alternate" type="([^"]+)" title="[^"]+" href="([^"]+)">', page.text
    )
    kinds = {kind for kind, _href in alternates}
    assert kinds == {"application/rss+xml", "application/atom+xml", "application/feed+json"}
    hrefs = {href for _kind, href in alternates}
    assert {"/feeds/all.rss.xml", "/feeds/all.atom.xml", "/feeds/it.rss.xml"} <= hrefs
    assert {"/feeds/all.feed.json", "/feeds/it.feed.json"} <= hrefs
    for kind, href in alternates:
        feed = httpx.get(served_site.url.rstrip("/") + href)
        assert feed.status_code == 200
        assert feed.headers["content-type"] == f"{kind}; charset=utf-8"
    assert 'href="/subscribe/morning"' in page.text
    assert 'href="/feeds/feeds.opml"' in page.text
    assert 'href="/archive"' in page.text


def test_a_takedown_leaves_a_page_already_rendered_at_once(archive_site: WebServer) -> None:
    """The page is kept after its first request; hiding one of its articles (as
    ``syndicate articles hide`` does, from another process) shows at the next one."""
    edition = archive_site.store.last_edition("morning")
    assert edition is not None and edition.articles
    target = edition.articles[0]
    assert target.title in httpx.get(archive_site.at(EDITION)).text
    assert target.title in httpx.get(archive_site.at(EDITION)).text  # from the kept page
    assert target.seq is not None
    archive_site.store.set_hidden(target.seq, True, reason="정정 보도 요청", actor="ops")
    page = httpx.get(archive_site.at(EDITION))
    assert page.status_code == 200 and target.title not in page.text
    archive_site.store.set_hidden(target.seq, False, reason="정정 완료", actor="ops")
    assert target.title in httpx.get(archive_site.at(EDITION)).text
