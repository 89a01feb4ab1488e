"""Tests for syndicate.sources: retrieval (file, HTTP), feed parsing, folder sources."""

from __future__ import annotations

import http.server
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from syndicate.config import Config, load_config
from syndicate.config_sources import FeedSource, FolderSource, SourceConfig
from syndicate.errors import SourceError
from syndicate.model import SourceState
from syndicate.sources import SOURCE_KINDS, SourceContext, read_source
from syndicate.sources.feed import decode_feed, parse_feed
from syndicate.sources.folder import read_folder
from syndicate.sources.retrieve import retrieve
from syndicate.sources.xmlguard import check_xml_safety
from tests.conftest import HttpServe

DATA = Path(__file__).resolve().parent / "data"
FEEDS = DATA / "feeds"
FOLDER = DATA / "folder"
SEOUL = ZoneInfo("Asia/Seoul")


# --- helpers -----------------------------------------------------------------------


def feed_source(location: str, **extra: Any) -> SourceConfig:
    return FeedSource.from_mapping(
        {"id": "src", "kind": "feed", "location": location, "section": "it", **extra}
    )


def parse(name: str, **kwargs: Any) -> list[Any]:
    return parse_feed(
        (FEEDS / name).read_bytes(), source_id="src", section="it", zone=SEOUL, **kwargs
    )


def make_config(write_config: Callable[..., Path], sources: list[dict[str, Any]]) -> Config:
    return load_config(write_config(sources=sources))


def get(location: str, state: SourceState | None = None, max_bytes: int = 1_000_000) -> Any:
    return retrieve(
        location,
        state=state or SourceState("src"),
        timeout=5,
        user_agent="syndicate-test/1.0",
        max_bytes=max_bytes,
    )


@dataclass
class Route:
    body: bytes
    content_type: str = "application/rss+xml"
    etag: str | None = None
    status: int = 200
    location: str | None = None


@dataclass
class FakeSite:
    """A tiny HTTP server with ETag support that records request headers."""

    base: str = ""
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[dict[str, str]] = field(default_factory=list)


def _handler(site: FakeSite) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            site.requests.append(
                {k.lower(): v for k, v in self.headers.items()} | {"path": self.path}
            )
            route = site.routes.get(self.path)
            if route is None:
                self.send_error(404)
                return
            if route.etag and self.headers.get("If-None-Match") == route.etag:
                self.send_response(304)
                self.send_header("ETag", route.etag)
                self.end_headers()
                return
            self.send_response(route.status)
            if route.location:
                self.send_header("Location", route.location)
            if route.etag:
                self.send_header("ETag", route.etag)
            self.send_header("Content-Type", route.content_type)
            self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            self.wfile.write(route.body)

    return Handler


@pytest.fixture
def site(serve_http: HttpServe) -> FakeSite:
    fake = FakeSite()
    fake.base = serve_http(_handler(fake)).rstrip("/")
    return fake


# --- RSS / Atom parsing ----------------------------------------------------------------


def test_rss2_fields_over_http(http_root: tuple[Path, str]) -> None:
    root, base = http_root
    (root / "feeds").mkdir()
    shutil.copy(FEEDS / "it-science.rss.xml", root / "feeds" / "it.xml")
    got = get(f"{base}feeds/it.xml")
    articles = parse_feed(
        got.content, source_id="src", section="it", zone=SEOUL, content_type=got.content_type,
        base_url=got.final_url,
    )  # fmt: skip
    assert len(articles) == 3
    first, second, third = articles
    assert first.guid == "example-1001"
    assert first.url == f"{base}news/articleView.html?idxno=1001"  # relative link made absolute
    assert first.title == "삼성전자, 차세대 <HBM> 반도체 & 양산 발표"
    assert first.author == "김기자"
    assert first.categories == ("반도체", "기업")
    assert first.published_at == datetime(2024, 5, 1, 0, 30, tzinfo=UTC)
    assert first.image_url == "https://img.example.kr/hbm-large.jpg"
    assert "content:encoded" not in first.content_html and "하반기" in first.content_html
    assert first.section_id == "it" and first.source_id == "src"
    assert second.author == "박기자"  # "email (Name)" form
    assert second.image_url == "https://img.example.kr/ai.png"  # image enclosure
    assert second.published_at == datetime(2024, 5, 1, 1, 0, tzinfo=UTC)  # naive: Seoul time
    assert third.title == ""
    assert third.published_at == datetime(2024, 5, 1, 2, 0, tzinfo=UTC)  # "KST" = +09:00


def test_atom_fields() -> None:
    eco, battery = parse("economy.atom.xml")
    assert eco.guid == "tag:www.example.kr,2024:eco-1"
    assert eco.url == "https://www.example.kr/economy/2024/rate"
    assert eco.title == "금리 동결 결정"
    assert eco.author == "이기자"
    assert eco.categories == ("금융",)
    assert eco.published_at == datetime(2024, 5, 1, 22, 0, tzinfo=UTC)
    assert eco.updated_at == datetime(2024, 5, 2, 7, 30, tzinfo=UTC)
    assert "<strong>3.5%</strong>" in eco.content_html
    assert "기준금리를 동결했다" in eco.summary_html
    assert battery.published_at == datetime(2024, 5, 1, 21, 0, tzinfo=UTC)
    assert "<em>증설</em>" in battery.content_html


def test_naive_dates_use_source_timezone_over_config() -> None:
    source = feed_source("x", timezone="UTC")
    assert source.timezone is not None
    articles = parse_feed(
        (FEEDS / "national-euckr.rss.xml").read_bytes(),
        source_id=source.id,
        section=source.section,
        zone=source.timezone,
    )
    assert articles[0].published_at == datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


def test_euc_kr_feed_with_cp949_only_characters() -> None:
    first, second = parse("national-euckr.rss.xml")
    assert first.title == "똠방각하, 햏 정책 발표"
    assert "똠방각하가 햏 정책" in first.summary_html
    assert first.categories == ("사회",)
    assert first.published_at == datetime(2024, 5, 1, 0, 0, tzinfo=UTC)
    assert second.published_at == datetime(2024, 5, 2, 9, 30, tzinfo=UTC)


def test_http_charset_wins_over_xml_declaration() -> None:
    body = '<?xml version="1.0" encoding="utf-8"?><rss><title>햏</title></rss>'.encode("cp949")
    assert "햏" in decode_feed(body, "text/xml; charset=ks_c_5601-1987")
    assert "햏" in decode_feed(body, "text/xml; charset=x-windows-949")
    assert "햏" in decode_feed(body, None)  # declared utf-8 fails, cp949 fallback


def test_bom_wins() -> None:
    body = '<?xml version="1.0" encoding="euc-kr"?><rss><title>한글</title></rss>'
    assert "한글" in decode_feed(b"\xef\xbb\xbf" + body.encode("utf-8"), "text/xml; charset=euc-kr")
    assert "한글" in decode_feed(body.encode("utf-16"), None)


def test_rss091_with_netscape_doctype_and_latin1() -> None:
    (article,) = parse("rss091.xml")
    assert article.title == "Café opens"
    assert article.url == "https://old.example.com/cafe"


def test_rss10_rdf() -> None:
    (article,) = parse("rdf.xml")
    assert article.title == "RSS 1.0 기사"
    assert article.author == "최기자"
    assert article.categories == ("과학",)
    assert article.updated_at == datetime(2024, 5, 3, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize("name", ["entity-bomb.xml", "xxe.xml"])
def test_entity_declarations_refused(name: str) -> None:
    with pytest.raises(SourceError, match="feed declares XML entities; refused") as info:
        parse(name)
    assert "root:" not in str(info.value)


def test_xxe_never_reaches_the_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    import feedparser

    def boom(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("feedparser must not see the document")

    monkeypatch.setattr(feedparser, "parse", boom)
    with pytest.raises(SourceError, match="entities"):
        parse("xxe.xml")


def test_external_dtd_refused() -> None:
    with pytest.raises(SourceError, match="external DTD"):
        parse("external-dtd.xml")


def test_doctype_hidden_after_comment_and_pi_is_found() -> None:
    text = '<?xml version="1.0"?><!-- <rss> --><?pi x?>\n<!DOCTYPE rss [<!ENTITY a "b">]><rss/>'
    with pytest.raises(SourceError, match="entities"):
        check_xml_safety(text, "src")
    check_xml_safety("<rss><![CDATA[<!ENTITY is fine in content>]]></rss>", "src")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   \n",
        b"\x00\x01garbage\xff\xfe\x00",
        b"just some text",
        (FEEDS / "not-a-feed.html").read_bytes(),
    ],
)
def test_not_a_feed(body: bytes) -> None:
    with pytest.raises(SourceError, match="not an RSS or Atom feed"):
        parse_feed(body, source_id="src", section="it", zone=SEOUL)


def test_bozo_feed_with_entries_is_accepted_with_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="syndicate.sources.feed"):
        articles = parse("broken.rss.xml")
    assert [a.url for a in articles] == ["https://b.example.kr/1", "https://b.example.kr/2"]
    assert any(
        "src" in r.getMessage() and "not well-formed" in r.getMessage() for r in caplog.records
    )


def test_entry_without_id_or_link_gets_a_stable_hash_guid() -> None:
    body = (
        b'<rss version="2.0"><channel><title>t</title><link>https://h.example/</link>'
        b"<item><title>A</title><pubDate>Wed, 01 May 2024 09:00:00 +0900</pubDate></item>"
        b"</channel></rss>"
    )
    first = parse_feed(body, source_id="src", section="it", zone=SEOUL)[0].guid
    again = parse_feed(body, source_id="src", section="it", zone=SEOUL)[0].guid
    assert first == again and first.startswith("sha256:")


# --- retrieval ---------------------------------------------------------------------------


def test_retrieve_local_path_and_file_url() -> None:
    path = FEEDS / "rdf.xml"
    assert get(str(path)).content == path.read_bytes()
    assert get(path.as_uri()).content == path.read_bytes()


def test_retrieve_missing_file_and_folder() -> None:
    with pytest.raises(SourceError, match=r"source 'src': file not found: .*nope\.xml"):
        get(str(FEEDS / "nope.xml"))
    with pytest.raises(SourceError, match=r"not a regular file \(a folder\)"):
        get(str(FEEDS))


def test_retrieve_http_404(http_root: tuple[Path, str]) -> None:
    _, base = http_root
    with pytest.raises(SourceError) as info:
        get(f"{base}missing.xml")
    assert str(info.value) == f"source 'src': HTTP 404 Not Found from {base}missing.xml"


def test_retrieve_connection_refused() -> None:
    with pytest.raises(SourceError, match=r"cannot connect to http://127\.0\.0\.1:1/feed\.xml"):
        get("http://127.0.0.1:1/feed.xml")


def test_retrieve_unsupported_scheme() -> None:
    with pytest.raises(SourceError, match="unsupported URL scheme 'ftp'"):
        get("ftp://example.kr/feed.xml")


def test_retrieve_refuses_large_bodies(site: FakeSite) -> None:
    site.routes["/big.xml"] = Route(b"x" * 5000)
    with pytest.raises(SourceError, match="larger than 2048 bytes"):
        get(f"{site.base}/big.xml", max_bytes=2048)


def test_retrieve_etag_round_trip(site: FakeSite) -> None:
    body = (FEEDS / "rdf.xml").read_bytes()
    site.routes["/feed.xml"] = Route(body, etag='"v1"')
    first = get(f"{site.base}/feed.xml")
    assert first.content == body and first.etag == '"v1"' and not first.not_modified
    assert site.requests[0]["user-agent"] == "syndicate-test/1.0"
    second = get(f"{site.base}/feed.xml", SourceState("src", etag=first.etag))
    assert site.requests[1]["if-none-match"] == '"v1"'
    assert second.not_modified and second.content is None and second.etag == '"v1"'


def test_retrieve_last_modified_round_trip(http_root: tuple[Path, str]) -> None:
    root, base = http_root
    shutil.copy(FEEDS / "rdf.xml", root / "rdf.xml")
    first = get(f"{base}rdf.xml")
    assert first.last_modified
    second = get(f"{base}rdf.xml", SourceState("src", last_modified=first.last_modified))
    assert second.not_modified and second.last_modified == first.last_modified


def test_retrieve_follows_redirects(site: FakeSite) -> None:
    site.routes["/old"] = Route(b"", status=301, location="/new.xml")
    site.routes["/new.xml"] = Route(b"<rss/>", content_type="text/xml; charset=euc-kr")
    got = get(f"{site.base}/old")
    assert got.final_url == f"{site.base}/new.xml"
    assert got.content == b"<rss/>" and got.content_type == "text/xml; charset=euc-kr"


# --- read_source ---------------------------------------------------------------------------


def test_registry_has_every_kind() -> None:
    assert set(SOURCE_KINDS) == {"feed", "folder", "page", "sitemap"}


def test_read_source_feed_with_http_charset_and_not_modified(
    site: FakeSite, write_config: Callable[..., Path]
) -> None:
    body = (FEEDS / "national-euckr.rss.xml").read_bytes().replace(b'"euc-kr"', b'"utf-8"')
    site.routes["/n.xml"] = Route(
        body, content_type="application/rss+xml; charset=EUC-KR", etag='"a"'
    )
    config = make_config(
        write_config,
        [{"id": "n", "kind": "feed", "location": f"{site.base}/n.xml", "section": "society"}],
    )
    source = config.source("n")
    result = read_source(source, SourceContext(config, SourceState("n")))
    assert result.articles[0].title == "똠방각하, 햏 정책 발표"
    assert all(a.section_id == "society" for a in result.articles)
    assert result.state.etag == '"a"' and not result.not_modified
    again = read_source(source, SourceContext(config, result.state))
    assert again.not_modified and again.articles == [] and again.state.etag == '"a"'


# --- folder sources -------------------------------------------------------------------------


def folder_source(location: Path) -> FolderSource:
    return FolderSource(id="opinion", kind="folder", location=str(location), section="it")


def read_test_folder(location: Path = FOLDER) -> list[Any]:
    return read_folder(
        folder_source(location), zone=SEOUL, public_base_url="https://news.example.kr/",
        sections={"it", "society"}, max_bytes=100_000,
    )  # fmt: skip


def test_folder_reads_markdown_and_html_and_skips_bad_files(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="syndicate.sources.folder"):
        articles = read_test_folder()
    assert [a.guid for a in articles] == ["2024/column-ai.md", "editorial-2024-05-02"]
    column, editorial = articles
    assert column.title == "AI 시대의 저널리즘"
    assert column.url == "https://news.example.kr/articles/opinion/2024/column-ai"
    assert column.published_at == datetime(2024, 4, 30, 22, 0, tzinfo=UTC)
    assert column.author == "정논설위원"
    assert column.categories == ("칼럼", "AI")
    assert column.summary_html == "<p>AI가 뉴스룸을 바꾸고 있다.</p>"
    assert "<strong>뉴스룸</strong>" in column.content_html
    assert "<li>첫째, 속도</li>" in column.content_html and "<table>" in column.content_html
    assert column.section_id == "it"
    assert editorial.section_id == "society"
    assert editorial.url == "https://news.example.kr/opinion/editorial-0502"
    assert editorial.image_url == "https://news.example.kr/images/editorial.jpg"
    assert editorial.categories == ("사설",)
    assert editorial.published_at == datetime(2024, 5, 1, 21, 0, tzinfo=UTC)
    assert editorial.updated_at == datetime(2024, 5, 1, 15, 0, tzinfo=UTC)
    messages = "\n".join(r.getMessage() for r in caplog.records)
    assert "no-title.md: front matter has no 'title'" in messages
    assert "bad-date.md: bad date" in messages
    assert "no-front-matter.md: no front matter" in messages
    assert "bad-yaml.markdown: bad YAML front matter" in messages
    assert ".draft.md" not in messages and "notes.txt" not in messages


def test_folder_unknown_section_and_cp949_fallback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "wrong.md").write_text("---\ntitle: t\nsection: sports\n---\nx\n", encoding="utf-8")
    (tmp_path / "legacy.md").write_bytes("---\ntitle: 햏 칼럼\n---\n본문\n".encode("cp949"))
    (tmp_path / "bom.md").write_bytes("\ufeff---\ntitle: BOM 글\n---\n본문\n".encode())
    with caplog.at_level(logging.WARNING, logger="syndicate.sources.folder"):
        articles = read_test_folder(tmp_path)
    assert [a.title for a in articles] == ["BOM 글", "햏 칼럼"]
    messages = "\n".join(r.getMessage() for r in caplog.records)
    assert "wrong.md: unknown section 'sports'" in messages
    assert "legacy.md: not UTF-8; read as cp949" in messages


def test_folder_missing_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="folder not found"):
        read_test_folder(tmp_path / "absent")


def test_read_source_folder_uses_config(write_config: Callable[..., Path]) -> None:
    config = make_config(
        write_config,
        [{"id": "op", "kind": "folder", "location": str(FOLDER), "section": "economy"}],
    )
    result = read_source(config.source("op"), SourceContext(config, SourceState("op")))
    assert [a.section_id for a in result.articles] == ["economy", "society"]
    assert result.articles[0].url == "https://news.example.kr/articles/op/2024/column-ai"
    assert not result.not_modified
