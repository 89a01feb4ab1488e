"""Tests for syndicate.collect: normalisation, section rules, storing, failures, 304s."""

from __future__ import annotations

import http.server
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest

from syndicate import sources
from syndicate.collect import (
    ArticleOrigin,
    SourceOutcome,
    collect_all,
    collect_source,
    match_rules,
    normalize_article,
    normalize_batch,
)
from syndicate.config import Config, load_config
from syndicate.config_sources import RuleConfig, SourceConfig
from syndicate.errors import SchemaOutOfDate, StoreError
from syndicate.model import Article
from syndicate.store import Store
from tests.conftest import HttpServe

DATA = Path(__file__).resolve().parent / "data"
FEEDS = DATA / "feeds"
FOLDER = DATA / "folder"
NOW = datetime(2024, 5, 3, 0, 0, tzinfo=UTC)


def make_config(write_config: Callable[..., Path], sources: list[dict[str, Any]]) -> Config:
    return load_config(write_config(sources=sources))


@pytest.fixture
def store(migrated_sqlite_url: str) -> Iterator[Store]:
    with Store(migrated_sqlite_url) as opened:
        opened.upgrade()
        yield opened


def by_title(store: Store) -> dict[str, Article]:
    return {a.title: a for a in store.latest_articles(limit=100)}


# --- normalisation (no store) ----------------------------------------------------------


def article(**fields: Any) -> Article:
    values: dict[str, Any] = {
        "source_id": "s", "guid": "g1", "url": "https://www.example.kr/news/1",
        "title": "제목", "section_id": "it",
    }  # fmt: skip
    values.update(fields)
    return Article(**values)


def source_with_rules(*rules: RuleConfig) -> ArticleOrigin:
    return ArticleOrigin("s", "it", rules, location="/x")


def test_rules_first_match_wins_category_case_insensitive_then_path() -> None:
    rules = (
        RuleConfig(category="  Economy ", section="economy"),
        RuleConfig(path="/society/", section="society"),
        RuleConfig(category="economy", section="it"),
    )
    assert match_rules(rules, article(categories=("ECONOMY",))) == "economy"
    assert match_rules(rules, article(url="https://x.kr/society/1")) == "society"
    assert match_rules(rules, article(url="https://x.kr/politics/society/1")) is None
    assert match_rules(rules, article(categories=("경제",))) is None


def test_path_rule_matches_percent_encoded_korean_paths() -> None:
    rules = (RuleConfig(path="/사회/", section="society"),)
    assert match_rules(rules, article(url="https://x.kr/%EC%82%AC%ED%9A%8C/1")) == "society"


def test_normalize_sanitizes_and_fills_title_and_summary() -> None:
    raw = article(
        title="",
        summary_html="",
        content_html='<p onclick="x()">본문 <a href="/rel">링크</a></p><script>bad()</script>'
        + "<p>" + "긴 문장입니다 " * 60 + "</p>",
    )  # fmt: skip
    result = normalize_article(raw, source_with_rules())
    assert result is not None
    assert "bad()" not in result.content_html and "onclick" not in result.content_html
    assert 'href="https://www.example.kr/rel"' in result.content_html
    assert result.summary_html.startswith("<p>본문 링크") and result.summary_html.endswith("…</p>")
    assert len(result.summary_html) <= 300 + len("<p></p>")
    assert result.title.startswith("본문 링크 긴 문장입니다") and len(result.title) <= 80


def test_normalize_drops_articles_without_guid_url_or_any_text() -> None:
    assert normalize_article(article(guid="", url=""), source_with_rules()) is None
    assert (
        normalize_article(article(guid="", url="", title=" <b></b> "), source_with_rules()) is None
    )
    untitled = normalize_article(article(title=" <b></b> "), source_with_rules())
    assert untitled is not None and untitled.title == "https://www.example.kr/news/1"
    keyed = normalize_article(
        article(guid="", url="", content_html="<p>본문</p>"), source_with_rules()
    )
    assert keyed is not None and keyed.guid.startswith("sha256:") and keyed.title == "제목"
    kept = normalize_article(article(guid="", url="https://x.kr/1"), source_with_rules())
    assert kept is not None and kept.guid == "https://x.kr/1"


def test_normalize_batch_dedupes_by_guid() -> None:
    batch = [
        article(title="첫째"),
        article(title="둘째"),
        article(guid="g2"),
        article(guid="", url=""),
    ]
    kept, skipped = normalize_batch(batch, source_with_rules())
    assert [(a.guid, a.title) for a in kept] == [("g1", "첫째"), ("g2", "제목")]
    assert skipped == 2


# --- collecting into a real store ----------------------------------------------------------


def test_collect_feed_over_http_sanitizes_and_assigns_sections(
    http_root: tuple[Path, str], write_config: Callable[..., Path], store: Store
) -> None:
    root, base = http_root
    shutil.copy(FEEDS / "it-science.rss.xml", root / "it.xml")
    config = make_config(write_config, [{
        "id": "it-rss", "kind": "feed", "location": f"{base}it.xml", "section": "it",
        "rules": [{"category": "반도체", "section": "economy"}],
    }])  # fmt: skip
    outcome = collect_source(config, store, config.source("it-rss"), now=NOW)
    assert outcome == SourceOutcome("it-rss", new=3)
    stored = by_title(store)
    hbm = stored["삼성전자, 차세대 <HBM> 반도체 & 양산 발표"]
    assert hbm.section_id == "economy"  # category rule
    for bad in ("<script", "alert", "onerror", "onclick", "javascript:", "style=", "<iframe"):
        assert bad not in hbm.content_html, bad
    assert f'href="{base}news/related/77"' in hbm.content_html
    assert f'src="{base}photos/hbm.jpg"' in hbm.content_html
    assert hbm.url == f"{base}news/articleView.html?idxno=1001"
    assert stored["AI 스타트업 투자 늘어"].section_id == "it"
    untitled = next(t for t in stored if t.startswith("제목이 없는 기사의"))
    assert len(untitled) <= 80
    state = store.get_source_state("it-rss")
    assert state.last_success_at == NOW and state.error_count == 0 and state.last_error is None
    assert state.last_modified  # SimpleHTTPRequestHandler sends Last-Modified


def test_collect_twice_stores_nothing_new(
    write_config: Callable[..., Path], store_url: str
) -> None:
    config = make_config(write_config, [
        {"id": "eco", "kind": "feed", "location": str(FEEDS / "economy.atom.xml"),
         "section": "economy", "rules": [{"path": "/industry/", "section": "society"}]},
        {"id": "euckr", "kind": "feed", "location": str(FEEDS / "national-euckr.rss.xml"),
         "section": "society"},
        {"id": "op", "kind": "folder", "location": str(FOLDER), "section": "it"},
    ])  # fmt: skip
    with Store(store_url) as store:
        store.upgrade()
        first = collect_all(config, store, now=NOW)
        assert [(o.source_id, o.new, o.error) for o in first] == [
            ("eco", 2, None), ("euckr", 2, None), ("op", 2, None),
        ]  # fmt: skip
        second = collect_all(config, store, now=NOW)
        assert [(o.new, o.updated, o.unchanged) for o in second] == [(0, 0, 2)] * 3
        assert store.count_articles() == 6
        stored = by_title(store)
    assert stored["배터리 업계, 증설 경쟁"].section_id == "society"  # path rule
    assert stored["배터리 업계, 증설 경쟁"].summary_html.startswith("<p>배터리 업계의 증설")
    assert stored["금리 동결 결정"].section_id == "economy"
    assert stored["똠방각하, 햏 정책 발표"].published_at == datetime(2024, 5, 1, 0, 0, tzinfo=UTC)
    assert stored["사설 — 지역 균형 발전"].section_id == "society"  # front matter override
    assert "alert" not in stored["사설 — 지역 균형 발전"].content_html


class _ETagHandler(http.server.BaseHTTPRequestHandler):
    body = (FEEDS / "rdf.xml").read_bytes()
    seen: ClassVar[list[str | None]] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.seen.append(self.headers.get("If-None-Match"))
        if self.headers.get("If-None-Match") == '"rdf-1"':
            self.send_response(304)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("ETag", '"rdf-1"')
        self.send_header("Content-Type", "application/rdf+xml")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)


@pytest.fixture
def etag_url(serve_http: HttpServe) -> str:
    _ETagHandler.seen = []
    return serve_http(_ETagHandler) + "rdf.xml"


def test_second_collect_sends_if_none_match_and_gets_304(
    etag_url: str, write_config: Callable[..., Path], store: Store
) -> None:
    config = make_config(
        write_config, [{"id": "rdf", "kind": "feed", "location": etag_url, "section": "it"}]
    )
    first = collect_all(config, store, now=NOW)[0]
    assert first.new == 1 and not first.not_modified
    assert store.get_source_state("rdf").etag == '"rdf-1"'
    second = collect_all(config, store, now=NOW)[0]
    assert _ETagHandler.seen == [None, '"rdf-1"']
    assert second == SourceOutcome("rdf", not_modified=True)
    state = store.get_source_state("rdf")
    assert state.etag == '"rdf-1"' and state.last_success_at == NOW
    assert store.count_articles() == 1


def test_one_bad_source_does_not_stop_the_others(
    http_root: tuple[Path, str], write_config: Callable[..., Path], store: Store
) -> None:
    root, base = http_root
    shutil.copy(FEEDS / "not-a-feed.html", root / "index.html")
    shutil.copy(FEEDS / "xxe.xml", root / "xxe.xml")
    config = make_config(write_config, [
        {"id": "missing", "kind": "feed", "location": f"{base}missing.xml", "section": "it"},
        {"id": "refused", "kind": "feed", "location": "http://127.0.0.1:1/feed.xml",
         "section": "it"},
        {"id": "html", "kind": "feed", "location": f"{base}index.html", "section": "it"},
        {"id": "xxe", "kind": "feed", "location": f"{base}xxe.xml", "section": "it"},
        {"id": "good", "kind": "feed", "location": str(FEEDS / "economy.atom.xml"),
         "section": "economy"},
        {"id": "off", "kind": "feed", "location": str(FEEDS / "rdf.xml"), "section": "it",
         "enabled": False},
    ])  # fmt: skip
    seen: list[str] = []
    outcomes = {
        o.source_id: o
        for o in collect_all(config, store, progress=lambda o: seen.append(o.source_id), now=NOW)
    }
    assert sorted(seen) == sorted(outcomes) == ["good", "html", "missing", "refused", "xxe"]
    assert outcomes["good"].new == 2 and outcomes["good"].error is None
    assert (
        outcomes["missing"].error == f"source 'missing': HTTP 404 Not Found from {base}missing.xml"
    )
    assert "cannot connect to http://127.0.0.1:1/feed.xml" in (outcomes["refused"].error or "")
    assert "not an RSS or Atom feed" in (outcomes["html"].error or "")
    assert "feed declares XML entities; refused" in (outcomes["xxe"].error or "")
    assert all("\n" not in (o.error or "") for o in outcomes.values())
    assert store.count_articles() == 2
    state = store.get_source_state("missing")
    assert (
        state.error_count == 1
        and state.last_checked_at == NOW
        and "HTTP 404" in (state.last_error or "")
    )
    assert state.last_success_at is None
    collect_all(config, store, source_ids=["missing"], now=NOW)
    assert store.get_source_state("missing").error_count == 2


def test_failure_keeps_stored_articles_and_success_resets_errors(
    tmp_path: Path, write_config: Callable[..., Path], store: Store
) -> None:
    feed = tmp_path / "feed.xml"
    shutil.copy(FEEDS / "economy.atom.xml", feed)
    config = make_config(
        write_config, [{"id": "eco", "kind": "feed", "location": str(feed), "section": "economy"}]
    )
    assert collect_source(config, store, config.source("eco"), now=NOW).new == 2
    feed.write_text("<html><body>maintenance</body></html>", encoding="utf-8")
    failed = collect_source(config, store, config.source("eco"), now=NOW)
    assert failed.error is not None and "not an RSS or Atom feed" in failed.error
    assert store.count_articles() == 2
    assert store.get_source_state("eco").error_count == 1
    shutil.copy(FEEDS / "economy.atom.xml", feed)
    ok = collect_source(config, store, config.source("eco"), now=NOW)
    assert ok.error is None and ok.unchanged == 2
    state = store.get_source_state("eco")
    assert state.error_count == 0 and state.last_error is None


def test_unexpected_exception_is_reported_as_that_sources_error(
    monkeypatch: pytest.MonkeyPatch, write_config: Callable[..., Path], store: Store
) -> None:
    def explode(source: SourceConfig, ctx: sources.SourceContext) -> sources.SourceResult:
        raise RuntimeError("kaboom")

    monkeypatch.setitem(sources.SOURCE_KINDS, "feed", sources.SourceKind(explode))
    config = make_config(write_config, [
        {"id": "boom", "kind": "feed", "location": str(FEEDS / "rdf.xml"), "section": "it"},
        {"id": "op", "kind": "folder", "location": str(FOLDER), "section": "it"},
    ])  # fmt: skip
    boom, folder = collect_all(config, store, now=NOW)
    assert boom.error == "source 'boom': unexpected RuntimeError: kaboom"
    assert folder.error is None and folder.new == 2
    assert store.get_source_state("boom").last_error == boom.error


def test_collect_all_selected_ids_and_unknown_id(
    write_config: Callable[..., Path], store: Store
) -> None:
    config = make_config(write_config, [
        {"id": "rdf", "kind": "feed", "location": str(FEEDS / "rdf.xml"), "section": "it",
         "enabled": False},
        {"id": "op", "kind": "folder", "location": str(FOLDER), "section": "it"},
    ])  # fmt: skip
    assert [o.source_id for o in collect_all(config, store, source_ids=["rdf"])] == ["rdf"]
    assert store.count_articles() == 1
    with pytest.raises(KeyError):
        collect_all(config, store, source_ids=["nope"])


def test_a_store_failure_fails_that_source_only(
    write_config: Callable[..., Path], store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config(write_config, [
        {"id": "economy", "kind": "feed", "location": str(FEEDS / "economy.atom.xml"),
         "section": "economy"},
        {"id": "rdf", "kind": "feed", "location": str(FEEDS / "rdf.xml"), "section": "it"},
    ])  # fmt: skip
    real = store._upsert_in

    def full_disk(conn: Any, articles: list[Article], *args: Any) -> Any:
        if any(article.source_id == "economy" for article in articles):
            raise StoreError("database or disk is full")
        return real(conn, articles, *args)

    monkeypatch.setattr(store, "_upsert_in", full_disk)
    outcomes = {o.source_id: o for o in collect_all(config, store, now=NOW)}
    assert outcomes["economy"].error == (
        "source 'economy': cannot store articles: database or disk is full"
    )
    assert outcomes["rdf"] == SourceOutcome("rdf", new=1)
    assert {a.source_id for a in store.latest_articles(limit=100)} == {"rdf"}
    failed = store.get_source_state("economy")
    assert failed.error_count == 1 and failed.last_error == outcomes["economy"].error


def test_an_out_of_date_schema_stops_the_collect(
    write_config: Callable[..., Path], store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config(write_config, [
        {"id": "rdf", "kind": "feed", "location": str(FEEDS / "rdf.xml"), "section": "it"},
    ])  # fmt: skip

    def old_schema(*args: Any, **options: Any) -> Any:
        raise SchemaOutOfDate("the store's schema is older than this version: run db upgrade")

    monkeypatch.setattr(store, "store_collected", old_schema)
    with pytest.raises(SchemaOutOfDate):
        collect_all(config, store, now=NOW)
