"""Page and sitemap sources and full-text feeds (issue 9), against a real local HTTP server.

The server below answers from a table of routes, sends ETags when told to,
honours ``If-None-Match``, and records every request (time, path, requests in
flight) so politeness can be checked from the server's side.
"""

from __future__ import annotations

import gzip
import http.server
import json
import logging
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from syndicate import collect
from syndicate.config import Config, load_config
from syndicate.errors import ConfigError
from syndicate.extract import extract_article
from syndicate.sources import page as page_module
from syndicate.sources.retrieve import retrieve
from syndicate.store import Store
from tests.conftest import HttpServe
from tests.extract_truth import PAGES

SEED = (PAGES / "article_inews24_altman.html").read_text("utf-8")


@dataclass
class Route:
    """One answer of the test site."""

    body: bytes
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    etag: str | None = None
    pause: float = 0.0


@dataclass
class Site:
    """A local HTTP site: routes, and what it saw."""

    base: str = ""
    routes: dict[str, Route] = field(default_factory=dict)
    hits: list[tuple[float, str]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, path: str, body: str | bytes, **options: Any) -> str:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.routes[path] = Route(data, **options)
        return self.base + path.lstrip("/")

    def count(self, path: str) -> int:
        return sum(1 for _, p in self.hits if p == path)


def _handler(site: Site) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            with site.lock:
                site.hits.append((time.monotonic(), self.path))
                site.in_flight += 1
                site.max_in_flight = max(site.max_in_flight, site.in_flight)
            try:
                self._answer(site.routes.get(self.path))
            finally:
                with site.lock:
                    site.in_flight -= 1

        def _answer(self, route: Route | None) -> None:
            if route is None:
                route = Route(b"<html><body>not found</body></html>", status=404)
            time.sleep(route.pause)
            if route.etag and self.headers.get("If-None-Match") == route.etag:
                self.send_response(304)
                self.end_headers()
                return
            self.send_response(route.status)
            self.send_header("Content-Type", route.content_type)
            self.send_header("Content-Length", str(len(route.body)))
            if route.etag:
                self.send_header("ETag", route.etag)
            self.end_headers()
            self.wfile.write(route.body)

    return Handler


@pytest.fixture
def site(serve_http: HttpServe) -> Site:
    state = Site()
    state.base = serve_http(_handler(state))
    return state


def article(title: str, body: str = "", *, when: str = "2023-06-09 11:35") -> str:
    """A seed-shaped article page with another title and first paragraph."""
    page = SEED.replace("샘 알트만 방한이 국내 AI 생태계에 던진 화두 세가지", title)
    page = page.replace(">2023.06.09 11:35<", f">{when.replace('-', '.')}<")
    page = page.replace('datetime="2023-06-09T11:35:00+09:00"', f'datetime="{when}"')
    return page.replace("혜성같이 등장한 챗GPT의", (body or title) + " 혜성같이 등장한 챗GPT의")


def listing(*hrefs: str) -> str:
    items = "".join(
        f'<li><a class="title" href="{h}">기사 {i}</a></li>' for i, h in enumerate(hrefs)
    )
    return (
        '<html><head><meta charset="utf-8"><title>IT·과학</title></head><body>'
        '<div id="menu"><a href="/section/1">산업</a><a href="/about">회사소개</a></div>'
        f'<ul class="news-list">{items}</ul><div class="ad"><a href="/ad/9999999">광고</a></div>'
        "</body></html>"
    )


def _config(write_config: Any, source: dict[str, Any]) -> Config:
    source = {"id": "pages", "section": "it", **source}
    source.setdefault("pages", {}).setdefault("delay", 0)
    return load_config(write_config(sources=[source]))


def _collect(config: Config, tmp_path: Path) -> tuple[Store, collect.SourceOutcome]:
    store = Store(f"sqlite:///{tmp_path / 'pages.db'}")
    store.upgrade()
    outcome = collect.collect_source(config, store, config.sources[0])
    return store, outcome


# --- page sources -------------------------------------------------------------------


def test_listing_page_with_css_selector(site: Site, write_config: Any, tmp_path: Path) -> None:
    site.add("/view/1", article("첫째 기사 제목입니다"))
    site.add("/view/2", article("둘째 기사 제목입니다"))
    url = site.add("/section/it", listing("/view/1", "/view/2", "/view/1"))
    config = _config(write_config, {"kind": "page", "location": url,
                                    "pages": {"select": "ul.news-list a.title"}})  # fmt: skip
    store, outcome = _collect(config, tmp_path)
    assert outcome.error is None and outcome.new == 2
    stored = {a.title: a for a in store.latest_articles()}
    assert set(stored) == {"첫째 기사 제목입니다", "둘째 기사 제목입니다"}
    first = stored["첫째 기사 제목입니다"]
    assert first.author == "박진영" and first.categories == ("IT·과학",)
    assert (
        first.published_at is not None
        and first.published_at.isoformat() == "2023-06-09T02:35:00+00:00"
    )
    assert (
        "첫째 기사 제목입니다 혜성같이" in first.content_html
        and "공유하기" not in first.content_html
    )
    assert site.count("/ad/9999999") == 0 and site.count("/section/1") == 0


def test_listing_page_with_url_pattern(site: Site, write_config: Any, tmp_path: Path) -> None:
    site.add("/view/11", article("패턴으로 찾은 기사"))
    url = site.add("/section/it", listing("/view/11", "/photo/12"))
    config = _config(write_config, {"kind": "page", "location": url,
                                    "pages": {"pattern": r"/view/\d+$"}})  # fmt: skip
    store, outcome = _collect(config, tmp_path)
    assert outcome.new == 1 and site.count("/photo/12") == 0
    assert store.latest_articles()[0].title == "패턴으로 찾은 기사"


def test_listed_urls_without_listing(site: Site, write_config: Any, tmp_path: Path) -> None:
    one = site.add("/view/21", article("목록에 적은 기사"))
    config = _config(write_config, {"kind": "page", "pages": {"urls": [one]}})
    _, outcome = _collect(config, tmp_path)
    assert outcome.error is None and outcome.new == 1


def test_bad_pages_are_one_warning_each(
    site: Site, write_config: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = article("제대로 된 기사").replace('<meta charset="utf-8">', '<meta charset="euc-kr">')
    site.add("/view/31", good.replace("&#x27;", "'").encode("euc-kr"), content_type="text/html")
    site.add("/view/32", (PAGES / "section_front.html").read_bytes())
    url = site.add("/section/it", listing("/view/31", "/view/32", "/view/33"))
    config = _config(
        write_config, {"kind": "page", "location": url, "pages": {"pattern": "/view/"}}
    )
    with caplog.at_level(logging.WARNING, logger="syndicate"):
        store, outcome = _collect(config, tmp_path)
    assert outcome.error is None and outcome.new == 1
    assert store.latest_articles()[0].title == "제대로 된 기사"
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 2, warnings
    assert any("/view/33" in w and "404" in w for w in warnings)
    assert any("/view/32" in w and "no article" in w for w in warnings)


def test_listing_that_fails_is_a_source_error(
    site: Site, write_config: Any, tmp_path: Path
) -> None:
    config = _config(write_config, {"kind": "page", "location": site.base + "missing"})
    _, outcome = _collect(config, tmp_path)
    assert outcome.error is not None and "404" in outcome.error and "\n" not in outcome.error


def test_unchanged_page_is_not_extracted_again(
    site: Site, write_config: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = extract_article

    def spy(content: bytes, url: str, *args: Any) -> Any:
        calls.append(url)
        return real(content, url, *args)

    monkeypatch.setattr(page_module, "extract_article", spy)
    tagged = site.add("/view/41", article("이태그 기사"), etag='"v1"')
    plain = site.add("/view/42", article("해시 기사"))
    config = _config(write_config, {"kind": "page", "pages": {"urls": [tagged, plain]}})
    store, first = _collect(config, tmp_path)
    assert first.new == 2 and len(calls) == 2
    second = collect.collect_source(config, store, config.sources[0])
    assert second.error is None and len(calls) == 2  # 304 for one, same hash for the other
    assert site.count("/view/41") == 2 and site.count("/view/42") == 2
    site.add("/view/42", article("해시 기사", "고쳐진 본문이 추가됐다."))
    third = collect.collect_source(config, store, config.sources[0])
    assert third.updated == 1 and calls[-1].endswith("/view/42") and len(calls) == 3
    assert store.count_articles() == 2


def test_per_host_delay(site: Site, write_config: Any, tmp_path: Path) -> None:
    urls = [site.add(f"/view/5{i}", article(f"지연 기사 {i}번")) for i in range(4)]
    config = _config(write_config, {"kind": "page",
                                    "pages": {"urls": urls, "delay": 0.25,
                                              "concurrency": 4}})  # fmt: skip
    began = time.monotonic()
    _collect(config, tmp_path)
    starts = sorted(t for t, _ in site.hits)
    # A busy machine only makes a request arrive later than the gate let it go, never
    # earlier, so lower bounds from the start hold under any load: the i-th request
    # cannot arrive before i delays have passed. Without the delay all four arrive
    # within milliseconds of each other.
    offsets = [round(t - began, 3) for t in starts]
    assert len(starts) == 4 and all(o >= 0.25 * i - 0.01 for i, o in enumerate(offsets)), offsets


def test_per_host_concurrency(site: Site, write_config: Any, tmp_path: Path) -> None:
    urls = [site.add(f"/view/6{i}", article(f"동시 기사 {i}번"), pause=0.2) for i in range(6)]
    config = _config(write_config, {"kind": "page",
                                    "pages": {"urls": urls, "delay": 0,
                                              "concurrency": 2}})  # fmt: skip
    _, outcome = _collect(config, tmp_path)
    assert outcome.new == 6 and site.max_in_flight == 2


# --- sitemaps -------------------------------------------------------------------------

NEWS_SITEMAP = """<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
{items}
</urlset>"""
NEWS_ITEM = """<url><loc>{loc}</loc><news:news><news:publication><news:name>아이뉴스24</news:name>
<news:language>ko</news:language></news:publication>
<news:publication_date>{date}</news:publication_date><news:title>{title}</news:title></news:news></url>"""


def test_news_sitemap_newest_first_within_limit(
    site: Site, write_config: Any, tmp_path: Path
) -> None:
    items = []
    for i, date in enumerate(["2023-06-09T11:35:00+09:00", "2023-06-09T13:00:00+09:00",
                              "2023-06-08T09:00:00+09:00"]):  # fmt: skip
        loc = site.add(f"/view/7{i}", article(f"사이트맵 기사 {i}번"))
        items.append(NEWS_ITEM.format(loc=loc, date=date, title=f"사이트맵 기사 {i}번"))
    url = site.add("/sitemap-news.xml", NEWS_SITEMAP.format(items="".join(items)),
                   content_type="application/xml")  # fmt: skip
    config = _config(write_config, {"kind": "sitemap", "location": url, "pages": {"limit": 2}})
    store, outcome = _collect(config, tmp_path)
    assert outcome.error is None and outcome.new == 2
    assert site.count("/view/72") == 0  # the oldest is beyond the limit
    assert {a.title for a in store.latest_articles()} == {"사이트맵 기사 0번", "사이트맵 기사 1번"}


def test_plain_sitemap_index_and_gzip(site: Site, write_config: Any, tmp_path: Path) -> None:
    loc_a = site.add("/view/81", article("인덱스 기사 가"))
    loc_b = site.add("/view/82", article("인덱스 기사 나"))
    plain = ('<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
             f"<url><loc>{loc_a}</loc><lastmod>2023-06-09</lastmod></url></urlset>")  # fmt: skip
    zipped = ('<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
              f"<url><loc>{loc_b}</loc><lastmod>2023-06-10T08:00:00+09:00</lastmod></url>"
              "</urlset>")  # fmt: skip
    one = site.add("/sitemap-1.xml", plain, content_type="application/xml")
    two = site.add(
        "/sitemap-2.xml.gz", gzip.compress(zipped.encode()), content_type="application/gzip"
    )
    index = ('<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
             f"<sitemap><loc>{one}</loc></sitemap><sitemap><loc>{two}</loc></sitemap>"
             f"<sitemap><loc>{site.base}sitemap-gone.xml</loc></sitemap>"
             "</sitemapindex>")  # fmt: skip
    url = site.add("/sitemap.xml", index, content_type="application/xml")
    config = _config(write_config, {"kind": "sitemap", "location": url})
    store, outcome = _collect(config, tmp_path)
    assert outcome.error is None and outcome.new == 2
    second = collect.collect_source(config, store, config.sources[0])
    assert second.new == 0 and site.count("/view/81") == 1  # same lastmod: not fetched again


def test_sitemap_that_is_not_xml_is_one_line(site: Site, write_config: Any, tmp_path: Path) -> None:
    url = site.add("/sitemap.xml", "<html><body>hello</body></html>")
    _, outcome = _collect(_config(write_config, {"kind": "sitemap", "location": url}), tmp_path)
    assert outcome.error is not None and "not a sitemap" in outcome.error


def test_sitemap_entities_are_not_expanded(site: Site, write_config: Any, tmp_path: Path) -> None:
    bomb = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY a "aaaaaaaaaa">'
            '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]>'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>&c;</loc></url>'
            "</urlset>")  # fmt: skip
    url = site.add("/sitemap.xml", bomb, content_type="application/xml")
    _, outcome = _collect(_config(write_config, {"kind": "sitemap", "location": url}), tmp_path)
    assert outcome.new == 0 and not any("aaaaaaaaaa" in path for _, path in site.hits)


# --- full text for feeds -----------------------------------------------------------------

FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>아이뉴스24 IT</title><link>{base}</link>
<item><title>피드 제목 하나</title><link>{base}view/91</link>
<guid isPermaLink="false">inews-91</guid><description>요약만 있는 피드 항목입니다.</description>
<pubDate>Fri, 09 Jun 2023 11:35:00 +0900</pubDate></item>
<item><title>피드 제목 둘</title><link>{base}view/92</link><guid isPermaLink="false">inews-92</guid>
<description>없는 페이지의 요약.</description></item>
</channel></rss>"""


def test_fulltext_keeps_guid_and_public_id(
    site: Site, write_config: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    site.add("/view/91", article("페이지 제목 하나"))
    url = site.add("/feed.xml", FEED.format(base=site.base), content_type="application/rss+xml")
    plain = load_config(write_config(sources=[{"id": "pages", "kind": "feed", "location": url,
                                               "section": "it"}]))  # fmt: skip
    store, before = _collect(plain, tmp_path)
    assert before.new == 2
    ids = {a.guid: a.public_id for a in store.latest_articles()}
    full = _config(write_config, {"kind": "feed", "location": url, "fulltext": True})
    with caplog.at_level(logging.WARNING, logger="syndicate"):
        after = collect.collect_source(full, store, full.sources[0])
    assert after.error is None and after.updated == 1
    stored = {a.guid: a for a in store.latest_articles()}
    assert {g: a.public_id for g, a in stored.items()} == ids
    one = stored["inews-91"]
    assert one.title == "피드 제목 하나" and "윤석열 대통령과의 접견에서는" in one.content_html
    assert one.author == "박진영" and "IT·과학" in one.categories
    assert "요약만 있는 피드 항목" in one.summary_html
    assert "없는 페이지의 요약" in stored["inews-92"].summary_html  # a 404 keeps the feed item
    assert sum("/view/92" in r.getMessage() for r in caplog.records) == 1


# --- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"kind": "page"}, "location: required key is missing"),
        (
            {"kind": "page", "location": "x.html", "pages": {"select": "a[["}},
            "invalid CSS selector",
        ),
        (
            {"kind": "page", "location": "x.html", "pages": {"pattern": "(("}},
            "invalid regular expression",
        ),
        ({"kind": "folder", "location": "x", "fulltext": True}, "only a feed source"),
        ({"kind": "page", "location": "x.html", "pages": {"concurrency": 0}}, "concurrency"),
    ],
)
def test_page_options_are_validated(
    write_config: Any, source: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(sources=[{"id": "p", "section": "it", **source}]))
    assert any(message in line for line in caught.value.lines()), caught.value.lines()


def test_unchanged_listing_is_not_modified(site: Site, write_config: Any, tmp_path: Path) -> None:
    site.add("/view/101", article("목록이 그대로인 기사"))
    url = site.add("/section/it", listing("/view/101"), etag='"list-1"')
    config = _config(
        write_config, {"kind": "page", "location": url, "pages": {"pattern": "/view/"}}
    )
    store, first = _collect(config, tmp_path)
    assert first.new == 1
    second = collect.collect_source(config, store, config.sources[0])
    assert second.not_modified and site.count("/view/101") == 1


def test_sitemap_max_age_skips_old_entries(site: Site, write_config: Any, tmp_path: Path) -> None:
    fresh = site.add("/view/111", article("새 기사"))
    old = site.add("/view/112", article("옛 기사"))
    items = NEWS_ITEM.format(loc=fresh, date="2099-01-01T09:00:00+09:00", title="새 기사")
    items += NEWS_ITEM.format(loc=old, date="2001-01-01T09:00:00+09:00", title="옛 기사")
    url = site.add("/news.xml", NEWS_SITEMAP.format(items=items), content_type="application/xml")
    config = _config(write_config, {"kind": "sitemap", "location": url, "pages": {"max_age": "2d"}})
    _, outcome = _collect(config, tmp_path)
    assert outcome.new == 1 and site.count("/view/112") == 0


def test_extract_command_reads_dates_in_the_source_timezone(
    write_config: Any, tmp_path: Path
) -> None:
    page = tmp_path / "page.html"
    ld = (
        '<script type="application/ld+json">'
        '{"@type":"NewsArticle","datePublished":"2023-06-09T11:35:00"}</script>'
    )
    page.write_text(re_date(SEED).replace("</head>", ld + "</head>"), encoding="utf-8")
    path = write_config(sources=[{"id": "utc-pages", "kind": "page", "location": str(page),
                                  "section": "it", "timezone": "UTC"}])  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "syndicate", "-c", str(path), "extract", str(page),
         "--source", "utc-pages"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["published"] == "2023-06-09T11:35:00+00:00"
    unknown = subprocess.run(
        [sys.executable, "-m", "syndicate", "-c", str(path), "extract", str(page),
         "--source", "nope"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert unknown.returncode == 2 and "nope" in unknown.stderr


def re_date(page: str) -> str:
    """The seed page without its printed date."""
    return re.sub(r'<div class="view-date">.*?</div>', "", page)


def test_remote_documents_never_make_us_read_local_files(
    site: Site, write_config: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "secret.html"
    secret.write_text(article("로컬 비밀 파일"), encoding="utf-8")
    seen: list[str] = []
    real = retrieve

    def spy(location: str, **options: Any) -> Any:
        seen.append(location)
        return real(location, **options)

    monkeypatch.setattr(page_module, "retrieve", spy)
    listing_url = site.add("/section/it", listing(secret.as_uri(), str(secret)))
    sitemap = (
        '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<url><loc>{secret.as_uri()}</loc></url><url><loc>{secret}</loc></url></urlset>"
    )
    sitemap_url = site.add("/sitemap.xml", sitemap, content_type="application/xml")
    feed = FEED.format(base=site.base).replace(f"{site.base}view/91", secret.as_uri())
    feed_url = site.add("/feed.xml", feed, content_type="application/rss+xml")
    sources: list[dict[str, Any]] = [
        {"id": "listing", "kind": "page", "location": listing_url, "pages": {"select": "a"}},
        {"id": "map", "kind": "sitemap", "location": sitemap_url},
        {"id": "full", "kind": "feed", "location": feed_url, "fulltext": True},
    ]
    config = load_config(write_config(sources=[
        {**s, "section": "it", "pages": {**s.get("pages", {}), "delay": 0}} for s in sources
    ]))  # fmt: skip
    store = Store(f"sqlite:///{tmp_path / 'pages.db'}")
    store.upgrade()
    outcomes = collect.collect_all(config, store)
    assert all(o.error is None for o in outcomes)
    assert seen and all(location.startswith("http://") for location in seen), seen
    assert not any(a.title == "로컬 비밀 파일" for a in store.latest_articles())
