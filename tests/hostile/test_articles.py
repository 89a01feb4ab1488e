"""Class 4 and 8 (sanitizing): one bad article never breaks the feeds.

Each hostile item is served in a real RSS feed over HTTP next to a normal item,
collected into a real SQLite store and published with ``write_feeds``; every
feed file of every section and both formats must then be written and
well-formed (parsed back with lxml's default, size-limited parser).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from syndicate.collect import (
    MAX_CATEGORIES,
    MAX_CATEGORY_CHARS,
    MAX_TITLE_CHARS,
    ArticleOrigin,
    collect_source,
    normalize_article,
)
from syndicate.config import Config, load_config
from syndicate.feeds import feed_specs, render_feed, write_feeds
from syndicate.model import Article
from syndicate.store import Store
from tests.conftest import CliOutcome, invoke_syndicate

NOW = datetime(2024, 5, 3, 0, 0, tzinfo=UTC)
ATOM = "{http://www.w3.org/2005/Atom}"
NORMAL_ITEM = (
    "<item><title>정상 기사</title><link>https://news.example.kr/ok</link>"
    "<guid>ok-1</guid><description>&lt;p&gt;본문&lt;/p&gt;</description></item>"
)
BAD_SCHEMES = ("javascript", "vbscript", "data")


def rss(*items: str) -> str:
    """An RSS 2.0 document around ``items``."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        "<title>t</title><link>https://site.example.kr/</link><description>d</description>"
        + "".join(items)
        + "</channel></rss>"
    )


def item(
    title: str, guid: str, *, link: str | None = None, extra: str = "", guid_attrs: str = ""
) -> str:
    """One RSS item; text is escaped here."""
    parts = [f"<title>{escape(title)}</title>", f"<guid{guid_attrs}>{escape(guid)}</guid>"]
    if link is not None:
        parts.append(f"<link>{link}</link>")
    return "<item>" + "".join(parts) + extra + "</item>"


@pytest.fixture
def store(migrated_store_url: str) -> Iterator[Store]:
    """A fresh store, once on SQLite and once on PostgreSQL."""
    with Store(migrated_store_url) as opened:
        opened.upgrade()
        yield opened


def serve(http_root: tuple[Path, str], write_config: Callable[..., Path], document: str) -> Config:
    root, base = http_root
    (root / "feed.xml").write_text(document, encoding="utf-8")
    source = {"id": "hostile", "kind": "feed", "location": f"{base}feed.xml", "section": "it"}
    return load_config(write_config(sources=[source]))


def publish(config: Config, store: Store) -> dict[str, Any]:
    """Collect the one source, write the feeds and parse every file back with lxml."""
    outcome = collect_source(config, store, config.source("hostile"), now=NOW)
    assert outcome.error is None, outcome.error
    report = write_feeds(config, store)
    output = config.resolve(config.feeds.output)
    trees = {}
    for spec in feed_specs(config):
        path = output / spec.file_name
        assert path in report.written, f"{spec.file_name} not written"
        trees[spec.file_name] = etree.fromstring(path.read_bytes())  # default limits
    assert len(trees) == 8  # 3 sections + combined, RSS and Atom
    return trees


def entries(trees: dict[str, Any], name: str) -> list[Any]:
    tree = trees[name]
    if name.endswith(".atom.xml"):
        return list(tree.iter(f"{ATOM}entry"))
    return list(tree.iter("item"))


def titles(trees: dict[str, Any], name: str) -> list[str]:
    tag = f"{ATOM}title" if name.endswith(".atom.xml") else "title"
    return [e.findtext(tag) or "" for e in entries(trees, name)]


def links(trees: dict[str, Any]) -> list[str]:
    """Every link of every entry and every href/src in every file."""
    found = []
    for tree in trees.values():
        found += [e.text or "" for e in tree.iter("link")]
        found += [e.get("href", "") for e in tree.iter(f"{ATOM}link")]
        found += [e.get("url", "") for e in tree.iter("enclosure")]
    return found


# --- one bad item among good ones ------------------------------------------------------


@pytest.mark.parametrize("guid_attrs", ["", ' isPermaLink="false"'])
def test_title_and_guid_only_item_gets_a_link_and_renders_everywhere(
    http_root: tuple[Path, str], write_config: Callable[..., Path], store: Store, guid_attrs: str
) -> None:
    item_xml = item("제목만 있는 기사", "urn:hostile:1", guid_attrs=guid_attrs)
    document = rss(NORMAL_ITEM, item_xml)
    trees = publish(serve(http_root, write_config, document), store)
    for name in ("it.atom.xml", "it.rss.xml", "all.atom.xml", "all.rss.xml"):
        assert sorted(titles(trees, name)) == ["정상 기사", "제목만 있는 기사"], name
    atom = {e.findtext(f"{ATOM}title"): e for e in entries(trees, "it.atom.xml")}
    link = atom["제목만 있는 기사"].find(f"{ATOM}link")
    assert link is not None and link.get("href") == http_root[1]  # the source's site
    assert (store.latest_articles(limit=10)[0].url or "").startswith("http")


def test_title_and_http_guid_item_links_to_its_guid(
    http_root: tuple[Path, str], write_config: Callable[..., Path], store: Store
) -> None:
    document = rss(item("GUID가 주소인 기사", "https://news.example.kr/g/7"))
    trees = publish(serve(http_root, write_config, document), store)
    atom = entries(trees, "it.atom.xml")[0]
    assert atom.find(f"{ATOM}link").get("href") == "https://news.example.kr/g/7"


def test_five_megabyte_title_is_capped_and_every_feed_is_written(
    http_root: tuple[Path, str],
    write_config: Callable[..., Path],
    store: Store,
    caplog: pytest.LogCaptureFixture,
) -> None:
    huge = "가" * 5_000_000
    document = rss(NORMAL_ITEM, item(huge, "urn:hostile:huge", link="https://x.kr/1"))
    with caplog.at_level(logging.INFO):
        trees = publish(serve(http_root, write_config, document), store)
    got = titles(trees, "all.atom.xml")
    assert "정상 기사" in got and len(got) == 2
    (capped,) = [t for t in got if t != "정상 기사"]
    assert capped == "가" * (MAX_TITLE_CHARS - 1) + "…"
    assert any("hostile" in r.message and "urn:hostile:huge" in r.message for r in caplog.records)


def test_ten_thousand_categories_and_a_megabyte_category_are_capped(
    http_root: tuple[Path, str],
    write_config: Callable[..., Path],
    store: Store,
    caplog: pytest.LogCaptureFixture,
) -> None:
    many = "".join(f"<category>분류{n}</category>" for n in range(10_000))
    big = "<category>" + "x" * 1_000_000 + "</category>"
    document = rss(
        NORMAL_ITEM,
        item("분류가 많은 기사", "urn:hostile:many", link="https://x.kr/m", extra=many),
        item("분류가 큰 기사", "urn:hostile:big", link="https://x.kr/b", extra=big),
    )
    with caplog.at_level(logging.INFO):
        trees = publish(serve(http_root, write_config, document), store)
    assert len(entries(trees, "it.rss.xml")) == 3
    stored = {a.title: a.categories for a in store.latest_articles(limit=10)}
    assert stored["분류가 많은 기사"] == tuple(f"분류{n}" for n in range(MAX_CATEGORIES))
    assert stored["분류가 큰 기사"] == ("x" * (MAX_CATEGORY_CHARS - 1) + "…",)
    for tree in trees.values():
        for element in tree.iter("category", f"{ATOM}category"):
            assert len(element.text or element.get("term") or "") <= MAX_CATEGORY_CHARS
    logged = " ".join(r.message for r in caplog.records)
    assert "urn:hostile:many" in logged and "urn:hostile:big" in logged


@pytest.mark.parametrize(
    "link",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "java&#9;script:alert(1)",
        "java&#10;script:alert(1)",
        "&#x01;javascript:alert(1)",
        "vbscript:msgbox(1)",
        "VBScript:msgbox(1)",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        " DATA:text/html,x",
    ],
)
def test_non_http_item_link_never_reaches_a_feed(
    http_root: tuple[Path, str], write_config: Callable[..., Path], store: Store, link: str
) -> None:
    enclosure = f'<enclosure url="{link}" type="image/png" length="1"/>'
    document = rss(NORMAL_ITEM, item("나쁜 링크", "urn:hostile:js", link=link, extra=enclosure))
    trees = publish(serve(http_root, write_config, document), store)
    assert sorted(titles(trees, "it.atom.xml")) == ["나쁜 링크", "정상 기사"]
    for found in links(trees):
        squeezed = "".join(found.split()).lower()
        assert not squeezed.startswith(BAD_SCHEMES), found
        assert squeezed.startswith(("http://", "https://")), found
    for stored in store.latest_articles(limit=10):
        assert stored.url.startswith(("http://", "https://")), stored.url


# --- normalisation of single fields ------------------------------------------------------


SOURCE = ArticleOrigin("s", "it", location="https://site.example.kr/rss")
BAD_CHARS = "\udfff\ud800\x00\x01\x08\x0b\x0c\x1f\ufffe\uffff"


def test_lone_surrogates_and_control_characters_leave_every_text_field() -> None:
    raw = Article(
        source_id="s",
        guid=f"g{BAD_CHARS}1",
        url=f"https://x.kr/{BAD_CHARS}a",
        title=f"제{BAD_CHARS}목",
        section_id="it",
        summary_html=f"<p>요{BAD_CHARS}약</p>",
        content_html=f"<p>본{BAD_CHARS}문</p>",
        author=f"기{BAD_CHARS}자",
        categories=(f"분{BAD_CHARS}류",),
        image_url=f"https://x.kr/{BAD_CHARS}i.png",
    )
    got = normalize_article(raw, SOURCE)
    assert got is not None
    texts = [got.guid, got.url, got.title, got.summary_html, got.content_html, got.author]
    texts += [*got.categories, got.image_url]
    for text in texts:
        assert not any(c in BAD_CHARS for c in text), repr(text)
        text.encode("utf-8")  # nothing left that UTF-8 (store, lxml, SMTP) refuses
    assert (got.title, got.author, got.categories) == ("제목", "기자", ("분류",))
    assert got.guid == "g1"


def test_a_surrogate_pair_is_joined_not_dropped() -> None:
    raw = Article("s", "g", "https://x.kr/", "웃음 \ud83d\ude00", "it")
    got = normalize_article(raw, SOURCE)
    assert got is not None and got.title == "웃음 \U0001f600"


def test_lone_surrogate_article_is_stored_and_published(
    write_config: Callable[..., Path], store: Store
) -> None:
    from syndicate.collect import normalize_batch

    config = load_config(write_config())
    raw = Article("s", "g\ud800", "https://x.kr/\udc00", "제\ud800목", "it", "<p>\ud800</p>")
    kept, _ = normalize_batch([raw], SOURCE)
    store.upsert_articles(kept, tag_authority=config.host, now=NOW)
    report = write_feeds(config, store)
    for path in report.written:
        etree.parse(str(path))
    assert store.latest_articles(limit=1)[0].title == "제목"


def test_cuts_never_split_a_character() -> None:
    title = "가\u0301" * 600 + "👩\u200d👩\u200d👧" * 400
    author = "나" * 150 + "\u0301" * 300
    raw = Article("s", "g", "https://x.kr/", title, "it", author=author)
    got = normalize_article(raw, SOURCE)
    assert got is not None
    for original, text in ((title, got.title), (author, got.author)):
        body = text.removesuffix("…")
        assert len(text) < len(original) and original.startswith(body)
        following = original[len(body)]
        assert following not in ("\u0301", "\u200d") and not body.endswith("\u200d"), repr(text)


# --- deep nesting -------------------------------------------------------------------------

DEEP_SCRIPT = textwrap.dedent(
    """
    import resource, sys
    from datetime import UTC, datetime
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
    from lxml import etree
    from syndicate.collect import collect_source
    from syndicate.config import load_config
    from syndicate.feeds import write_feeds
    from syndicate.store import Store

    config = load_config(sys.argv[1])
    with Store(config.store) as store:
        store.upgrade()
        outcome = collect_source(config, store, config.source("hostile"))
        assert outcome.error is None, outcome.error
        stored = store.latest_articles(limit=1)[0]
        assert "깊은 곳의 글" in stored.content_html, stored.content_html[-300:]
        assert "<script" not in stored.content_html
        assert stored.content_html.count("<div>") <= 128
        report = write_feeds(config, store)
    for path in report.written:
        tree = etree.parse(str(path))
    print("ok", len(report.written))
    """
)


def test_hundred_thousand_nested_divs_are_flattened_quickly(
    http_root: tuple[Path, str], write_config: Callable[..., Path], tmp_path: Path
) -> None:
    deep = "<div>" * 100_000 + "깊은 곳의 글<script>alert(1)</script>" + "</div>" * 100_000
    extra = f"<content:encoded>{escape(deep)}</content:encoded>"
    document = rss(item("깊은 기사", "urn:hostile:deep", link="https://x.kr/d", extra=extra))
    root, base = http_root
    (root / "feed.xml").write_text(document, encoding="utf-8")
    source = {"id": "hostile", "kind": "feed", "location": f"{base}feed.xml", "section": "it"}
    config_path = write_config(store=f"sqlite:///{tmp_path / 'deep.db'}", sources=[source])
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run(
        [sys.executable, "-c", DEEP_SCRIPT, str(config_path)],
        capture_output=True,
        check=False,
        text=True,
        timeout=120,  # seconds here on a quiet machine; quadratic work would take hours
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["ok", "9"]  # 8 feeds and the OPML list


# --- sanitizing: bounded depth, linear time, one definition of a publishable link ----------

BOUNDED_SCRIPT = textwrap.dedent(
    """
    import re, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
    from syndicate.sanitize import clean_html, html_to_text, plain_title

    html = sys.stdin.read()
    cleaned = clean_html(html, "https://x.kr/")
    depth = deepest = 0
    for match in re.finditer(r"<(/?)(\\w+)", cleaned):
        if match.group(2) in ("br", "img", "hr"):
            continue
        depth += -1 if match.group(1) else 1
        deepest = max(deepest, depth)
    assert deepest <= 128, deepest
    assert "끝" in html_to_text(html) + cleaned or "끝" not in html
    plain_title(html)
    print("ok")
    """
)
HOSTILE_HTML = {
    "nested divs": "<div>" * 100_000 + "끝" + "</div>" * 100_000,
    "unclosed bold": "<b>" * 100_000 + "끝",
    "nested tables": "<table><tr><td>" * 30_000 + "끝",
    "nested lists": "<ul><li>" * 50_000 + "끝",
    "open attribute lists": "<a " * 40_000,
    "unclosed comments": "<!--" * 40_000,
    "processing instructions": "<?" * 200_000,
    "mixed blocks and inline": "<span><div><em><p>" * 30_000 + "끝",
    "formatting reopened": "<p><b title=1>x</p>" * 50_000 + "끝",
}


@pytest.mark.parametrize("name", list(HOSTILE_HTML))
def test_sanitizing_and_text_extraction_are_bounded(name: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run(
        [sys.executable, "-c", BOUNDED_SCRIPT],
        input=HOSTILE_HTML[name],
        capture_output=True,
        check=False,
        text=True,
        timeout=20,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " \t javascript:alert(1)",
        "java\tscript:alert(1)",
        "java\nscript:alert(1)",
        "java\rscript:alert(1)",
        "\x01javascript:alert(1)",
        "\u3000javascript:alert(1)",
        "vbscript:msgbox(1)",
        "data:text/html,<script>alert(1)</script>",
        "DaTa:image/svg+xml;base64,PHN2Zz4=",
        "file:///etc/passwd",
        "//evil.example/x",
        "http:evil",
        "https://",
        "",
    ],
)
def test_only_absolute_http_links_are_publishable(url: str) -> None:
    from syndicate.sanitize import safe_link

    assert safe_link(url) == ""
    resolved = safe_link(url, "https://news.example.kr/")  # the digest's links (render)
    assert resolved == "" or resolved.startswith(("https://news.example.kr/", "https://evil."))
    assert "script" not in resolved.lower() or resolved.startswith("https://news.example.kr/")


def test_publishable_links_are_kept_and_resolved() -> None:
    from syndicate.sanitize import safe_link

    assert safe_link(" HTTPS://x.kr/a b ") == "HTTPS://x.kr/a%20b"
    assert safe_link("/news/1", "https://x.kr/a/") == "https://x.kr/news/1"
    assert safe_link("&#106;avascript:x", "https://x.kr/a/").startswith("https://x.kr/a/")


# --- the feed stage: each file on its own ---------------------------------------------------


def cli(*args: str, cwd: Path) -> CliOutcome:
    """Run the command line in this process (an unexpected exception is raised)."""
    return invoke_syndicate(*args, cwd=cwd)


def test_an_unwritable_feed_file_is_reported_and_the_others_are_written(
    http_root: tuple[Path, str], write_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = serve(http_root, write_config, rss(NORMAL_ITEM))
    blocked = config.resolve(config.feeds.output) / "economy.atom.xml"
    blocked.mkdir(parents=True)  # a folder where the file should go
    assert cli("db", "upgrade", cwd=tmp_path).returncode == 0
    assert cli("collect", cwd=tmp_path).returncode == 0
    result = cli("feeds", cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and "economy.atom.xml: cannot write" in errors[0], result.stderr
    assert "8 written, 0 unchanged, 1 failed" in result.stdout
    assert "Traceback" not in result.stderr
    output = config.resolve(config.feeds.output)
    for spec in feed_specs(config):
        if spec.file_name != "economy.atom.xml":
            etree.parse(str(output / spec.file_name))
    assert (output / "feeds.opml").is_file()


# --- any article: stored bounded and XML-safe, rendered in both formats ----------------------

_NASTY = st.sampled_from(
    ["\ud800", "\udfff", "\x00", "\x0b", "\x1f", "\x7f", "\x85", "\ufffe", "\uffff", "\u0301",
     "\u200d", "<", ">", "&", "&#0;", "&#xD800;", "]]>", "<![CDATA[", "<div>", "</p>", "<script>",
     "javascript:", "\t", "\n", " ", "가", "👩"]
)  # fmt: skip
_TEXT = st.lists(st.one_of(_NASTY, st.text(max_size=8)), max_size=12).map("".join)
_URL = st.one_of(
    _TEXT,
    st.sampled_from(["https://x.kr/a", " JAVASCRIPT:x", "data:,x", "//x.kr/p", "/rel", ""]),
)


_ARTICLES = st.builds(
    Article,
    source_id=st.just("s"),
    guid=_TEXT,
    url=_URL,
    title=_TEXT,
    section_id=st.just("it"),
    summary_html=_TEXT,
    content_html=_TEXT,
    author=_TEXT,
    categories=st.lists(_TEXT, max_size=8).map(tuple),
    image_url=_URL,
)


@given(raw=_ARTICLES)
def test_any_article_is_stored_xml_safe_and_renders_in_both_formats(
    write_config: Callable[..., Path], raw: Article
) -> None:
    got = normalize_article(raw, SOURCE)
    if got is None:
        return
    fields = [got.guid, got.url, got.title, got.summary_html, got.content_html, got.author]
    for text in [*fields, *got.categories, got.image_url]:
        text.encode("utf-8")
        assert not any(c in BAD_CHARS for c in text), repr(text)
    for link in (got.url, got.image_url):
        assert link == "" or link.lower().startswith(("http://", "https://")), link
    stored = dataclasses.replace(got, seq=1, public_id="tag:news.example.kr,2024:article/1")
    config = load_config(write_config())
    for spec in feed_specs(config):
        if spec.key == "all":
            root = etree.fromstring(render_feed(config, spec, [stored], spec.fmt))
            assert len(list(root.iter("item", f"{ATOM}entry"))) == 1


# --- a feed with more entries than anyone publishes ----------------------------------


def test_an_enormous_feed_stores_only_the_newest_entries(
    http_root: tuple[Path, str], write_config: Callable[..., Path], tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """200,000 tiny items used to be stored whole (37 s, 670 MB, a 200,000-article edition)."""
    root, base = http_root
    items = "".join(
        f"<item><title>t{i}</title><link>https://a.kr/{i}</link>"
        f"<pubDate>{_rfc822(i)}</pubDate></item>"
        for i in range(5000)
    )
    (root / "many.xml").write_text(
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        f"<link>https://a.kr/</link>{items}</channel></rss>",
        encoding="utf-8",
    )
    path = write_config(
        store=f"sqlite:///{tmp_path / 'store.db'}",
        sources=[{"id": "many", "kind": "feed", "location": f"{base}many.xml", "section": "it"}],
        collect={"max_entries": 300},
    )
    config = load_config(path)
    with Store(config.store) as store, caplog.at_level(logging.WARNING):
        store.upgrade()
        outcome = collect_source(config, store, config.sources[0])
        titles = {a.title for a in store.latest_articles(limit=1000)}
    assert outcome.error is None and outcome.new == 300
    assert titles == {f"t{i}" for i in range(4700, 5000)}  # the newest 300 by date
    assert any("only the newest 300" in r.getMessage() for r in caplog.records)


def _rfc822(index: int) -> str:
    """Item ``index`` is ``index`` minutes after 2026-01-01 00:00 UTC."""
    from email.utils import format_datetime

    return format_datetime(datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=index))
