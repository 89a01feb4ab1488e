"""``/feeds/...`` under a real uvicorn: types, validators, 304, gzip, HEAD, 404, traversal."""

from __future__ import annotations

import gzip
import os
import socket
from collections.abc import Callable
from email.utils import formatdate
from pathlib import Path

import httpx
import pytest

from syndicate.config import load_config
from syndicate.feeds import feed_specs
from tests.conftest import StartWeb, WebServer, invoke_syndicate

RSS = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel><title>테스트</title>'
    + "<item><title>기사 제목</title></item>" * 40
    + "</channel></rss>\n"
).encode()


@pytest.fixture
def feeds_site(
    write_config: Callable[..., Path], sqlite_url: str, web_server: StartWeb, tmp_path: Path
) -> tuple[WebServer, Path]:
    """A site whose feeds folder holds an RSS, an Atom, an OPML file and a few others."""
    folder = tmp_path / "public" / "feeds"
    folder.mkdir(parents=True)
    (folder / "all.rss.xml").write_bytes(RSS)
    (folder / "it.atom.xml").write_bytes(b'<feed xmlns="http://www.w3.org/2005/Atom"/>\n')
    (folder / "feeds.opml").write_bytes(b'<opml version="2.0"/>\n')
    (folder / ".all.rss.xml.x1y2.tmp").write_bytes(b"half written")
    (folder / "notes.txt").write_bytes(b"not a feed")
    (folder / "sub.rss.xml").mkdir()
    (tmp_path / "secret.rss.xml").write_bytes(b"outside the folder")
    os.symlink(tmp_path / "secret.rss.xml", folder / "link.rss.xml")
    return web_server(write_config(store=sqlite_url)), folder


def test_content_types_per_format(feeds_site: tuple[WebServer, Path]) -> None:
    site, _folder = feeds_site
    expected = {
        "all.rss.xml": "application/rss+xml; charset=utf-8",
        "it.atom.xml": "application/atom+xml; charset=utf-8",
        "feeds.opml": "text/x-opml; charset=utf-8",
    }
    for name, kind in expected.items():
        response = httpx.get(site.at(f"feeds/{name}"))
        assert response.status_code == 200, name
        assert response.headers["content-type"] == kind
        assert response.headers["cache-control"] == "public, max-age=300"
        assert response.headers["x-content-type-options"] == "nosniff"
    assert httpx.get(site.at("feeds/all.rss.xml")).content == RSS


def test_etag_then_304_and_a_changed_file_is_200(feeds_site: tuple[WebServer, Path]) -> None:
    site, folder = feeds_site
    url = site.at("feeds/all.rss.xml")
    first = httpx.get(url, headers={"Accept-Encoding": "identity"})
    etag = first.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    again = httpx.get(url, headers={"If-None-Match": etag, "Accept-Encoding": "identity"})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    listed = httpx.get(
        url, headers={"If-None-Match": f'"other", W/{etag}', "Accept-Encoding": "identity"}
    )
    assert listed.status_code == 304
    assert httpx.get(url, headers={"If-None-Match": "*"}).status_code == 304
    new = RSS.replace(b"\xed\x85\x8c\xec\x8a\xa4\xed\x8a\xb8", b"changed")
    (folder / "all.rss.xml.new").write_bytes(new)
    os.replace(folder / "all.rss.xml.new", folder / "all.rss.xml")
    changed = httpx.get(url, headers={"If-None-Match": etag, "Accept-Encoding": "identity"})
    assert changed.status_code == 200
    assert changed.content == new
    assert changed.headers["etag"] != etag


def test_last_modified_then_304_by_date(feeds_site: tuple[WebServer, Path]) -> None:
    site, folder = feeds_site
    os.utime(folder / "all.rss.xml", (1_700_000_000, 1_700_000_000))
    url = site.at("feeds/all.rss.xml")
    first = httpx.get(url)
    assert first.headers["last-modified"] == formatdate(1_700_000_000, usegmt=True)
    same = httpx.get(url, headers={"If-Modified-Since": first.headers["last-modified"]})
    assert same.status_code == 304
    later = httpx.get(url, headers={"If-Modified-Since": formatdate(1_800_000_000, usegmt=True)})
    assert later.status_code == 304
    earlier = httpx.get(url, headers={"If-Modified-Since": formatdate(1_600_000_000, usegmt=True)})
    assert earlier.status_code == 200
    junk = httpx.get(url, headers={"If-Modified-Since": "yesterday"})
    assert junk.status_code == 200


def test_if_none_match_wins_over_if_modified_since(feeds_site: tuple[WebServer, Path]) -> None:
    site, _folder = feeds_site
    url = site.at("feeds/all.rss.xml")
    first = httpx.get(url)
    response = httpx.get(
        url,
        headers={"If-None-Match": '"stale"', "If-Modified-Since": first.headers["last-modified"]},
    )
    assert response.status_code == 200


def test_gzip_when_asked_with_its_own_etag(feeds_site: tuple[WebServer, Path]) -> None:
    site, _folder = feeds_site
    url = site.at("feeds/all.rss.xml")
    with httpx.Client() as client:
        packed = client.get(url, headers={"Accept-Encoding": "gzip"})
        plain = client.get(url, headers={"Accept-Encoding": "identity"})
        refused = client.get(url, headers={"Accept-Encoding": "gzip;q=0, identity"})
        star = client.get(url, headers={"Accept-Encoding": "*"})
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.content == RSS  # httpx decodes it
    assert int(packed.headers["content-length"]) < len(RSS)
    assert packed.headers["vary"] == "Accept-Encoding"
    assert "content-encoding" not in plain.headers and plain.headers["vary"] == "Accept-Encoding"
    assert "content-encoding" not in refused.headers
    assert star.headers["content-encoding"] == "gzip"
    assert packed.headers["etag"] != plain.headers["etag"]
    again = httpx.get(
        url, headers={"Accept-Encoding": "gzip", "If-None-Match": packed.headers["etag"]}
    )
    assert again.status_code == 304
    assert again.headers["etag"] == packed.headers["etag"]
    crossed = httpx.get(
        url, headers={"Accept-Encoding": "gzip", "If-None-Match": plain.headers["etag"]}
    )
    assert crossed.status_code == 200


def test_gzip_bytes_are_real_gzip(feeds_site: tuple[WebServer, Path]) -> None:
    site, _folder = feeds_site
    with httpx.stream(
        "GET", site.at("feeds/all.rss.xml"), headers={"Accept-Encoding": "gzip"}
    ) as r:
        raw = b"".join(r.iter_raw())
    assert gzip.decompress(raw) == RSS


def test_head_has_headers_and_no_body(feeds_site: tuple[WebServer, Path]) -> None:
    site, _folder = feeds_site
    response = httpx.head(site.at("feeds/all.rss.xml"), headers={"Accept-Encoding": "identity"})
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == str(len(RSS))
    assert response.headers["content-type"] == "application/rss+xml; charset=utf-8"


def test_other_methods_are_405(feeds_site: tuple[WebServer, Path]) -> None:
    site, _folder = feeds_site
    response = httpx.post(site.at("feeds/all.rss.xml"))
    assert response.status_code == 405
    assert "GET" in response.headers["allow"]


@pytest.mark.parametrize(
    "name",
    ["missing.rss.xml", "notes.txt", ".all.rss.xml.x1y2.tmp", "sub.rss.xml", "link.rss.xml", ""],
)
def test_what_is_not_a_served_feed_file_is_404(
    feeds_site: tuple[WebServer, Path], name: str
) -> None:
    site, _folder = feeds_site
    response = httpx.get(site.at(f"feeds/{name}"))
    assert response.status_code == 404
    assert "페이지를 찾을 수 없습니다" in response.text


def _raw_get(site: WebServer, target: str) -> bytes:
    """Send a request line exactly as written (no client-side path normalisation)."""
    host, port = site.url.split("//")[1].split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


@pytest.mark.parametrize(
    "target",
    [
        "/feeds/../secret.rss.xml",
        "/feeds/..%2fsecret.rss.xml",
        "/feeds/%2e%2e/secret.rss.xml",
        "/feeds/%2e%2e%2fsecret.rss.xml",
        "/feeds//etc/passwd",
        "/feeds/%2fetc%2fpasswd",
        "/feeds/..%5csecret.rss.xml",
        "/feeds/sub.rss.xml/../../secret.rss.xml",
    ],
)
def test_traversal_never_leaves_the_folder(feeds_site: tuple[WebServer, Path], target: str) -> None:
    site, _folder = feeds_site
    answer = _raw_get(site, target)
    status = answer.split(b"\r\n", 1)[0]
    assert status.split(b" ")[1] in (b"404", b"400"), answer[:200]
    assert b"outside the folder" not in answer
    assert b"root:" not in answer


def test_self_links_are_the_served_urls_whatever_the_output_folder(
    example_site: Path, web_server: StartWeb
) -> None:
    config_path = example_site / "schedules.yaml"
    text = config_path.read_text(encoding="utf-8").replace(
        "output: public/feeds", "output: out/xml"
    )
    config_path.write_text(text, encoding="utf-8")
    assert invoke_syndicate("collect", cwd=example_site).returncode == 0
    assert invoke_syndicate("feeds", cwd=example_site).returncode == 0
    site = web_server(config_path)
    config = load_config(config_path)
    for spec in feed_specs(config)[:4]:
        self_url = spec.self_url(config)
        relative = self_url.removeprefix(config.public_base_url)
        response = httpx.get(site.at(relative))
        assert response.status_code == 200, relative
        if relative.endswith(".json"):
            assert response.json()["feed_url"] == self_url
        else:
            assert f'href="{self_url}"'.encode() in response.content


def test_feeds_are_served_at_the_configured_path_with_json_feed_listed(
    write_config: Callable[..., Path], sqlite_url: str, web_server: StartWeb
) -> None:
    from datetime import UTC, datetime

    from syndicate.feeds import write_feeds
    from syndicate.model import Article
    from syndicate.store import Store

    feeds = {"output": "out/x", "url_path": "syndication/", "formats": ["rss", "atom", "json"]}
    config_path = write_config(store=sqlite_url, feeds=feeds)
    config = load_config(config_path)
    with Store(sqlite_url) as store:
        store.upgrade()
        article = Article("src", "g1", "https://news.example.kr/1", "속보: 한글 제목", "it")
        store.upsert_articles([article], tag_authority="news.example.kr", now=datetime.now(UTC))
        assert write_feeds(config, store).failed == {}
    site = web_server(config_path)
    answer = httpx.get(site.at("syndication/all.feed.json"))
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/feed+json; charset=utf-8"
    assert answer.json()["feed_url"] == "https://news.example.kr/syndication/all.feed.json"
    assert answer.json()["items"][0]["title"] == "속보: 한글 제목"
    assert httpx.get(site.at("feeds/all.feed.json")).status_code == 404
    home = httpx.get(site.at("")).text
    alternate = '<link rel="alternate" type="application/feed+json"'
    assert home.count(alternate) == 4  # 3 sections and the combined feed
    assert 'href="/syndication/it.feed.json"' in home
    assert 'href="/syndication/feeds.opml"' in home
