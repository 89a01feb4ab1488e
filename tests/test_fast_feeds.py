"""The fast feed reader (feedparser-rs) in front of feedparser gives the same articles.

Every fixture feed and a set of made-up Korean feeds are parsed twice, once as
collect does (fast reader first) and once by feedparser alone; after
normalisation (what is stored) the articles must be equal. The RSS 2.0 and
Atom fixtures must really take the fast path, or the comparison proves nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from syndicate.collect import ArticleOrigin, normalize_batch
from syndicate.errors import SourceError
from syndicate.model import Article
from syndicate.sources import feed
from tests.conftest import ROOT

FIXTURES = sorted((ROOT / "tests" / "data" / "feeds").glob("*.xml"))
SEOUL = ZoneInfo("Asia/Seoul")
BASE = "https://news.example.kr/rss/it.xml"


def rss(items: str, extra_ns: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0" {extra_ns}><channel>'
        "<title>테스트 뉴스</title><link>https://news.example.kr/</link><description>d</description>"
        f"{items}</channel></rss>"
    ).encode()


MADE_UP = {
    "naive-dates-relative-links": rss(
        "<item><title>반도체 수출 증가</title><link>https://news.example.kr/a/1</link>"
        "<guid isPermaLink='false'>a-1</guid><pubDate>Fri, 27 Nov 2026 08:57:00</pubDate>"
        '<description>&lt;p&gt;본문 &lt;a href="/more/1"&gt;더보기&lt;/a&gt;'
        '&lt;img src="img/1.jpg"&gt;&lt;/p&gt;</description></item>'
        "<item><title>금리 동결</title><link>https://news.example.kr/a/2</link><pubDate>2026-11-27T09:00:00</pubDate>"
        "<description><![CDATA[<p>한국은행은 <b>동결</b>했다</p>]]></description></item>"
    ),
    "content-encoded-creator-media": rss(
        "<item><title>AI 규제 법안</title><link>https://news.example.kr/a/3</link>"
        "<guid isPermaLink='false'>a-3</guid><dc:creator>김기자</dc:creator>"
        "<category>IT</category><category> 정책 </category><category>IT</category>"
        "<pubDate>Fri, 27 Nov 2026 08:57:00 +0900</pubDate>"
        "<description>요약입니다</description>"
        "<content:encoded><![CDATA[<p>전문 <script>x()</script>입니다</p>]]></content:encoded>"
        '<media:content url="https://img.example.kr/3.jpg" medium="image"/>'
        '<enclosure url="https://img.example.kr/3b.png" type="image/png" length="1"/></item>'
        "<item><title></title><link>https://news.example.kr/a/4</link>"
        "<description>제목 없는 기사의 본문</description></item>",
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:media="http://search.yahoo.com/mrss/"',
    ),
    "every-allowed-tag": rss(
        "<item><title>표와 그림</title><link>https://news.example.kr/a/9</link>"
        "<guid isPermaLink='false'>a-9</guid><description><![CDATA["
        '<h2>제목</h2><h3>소제목</h3><h4>a</h4><h5>b</h5><h6>c</h6><div><span class="x">'
        "<b>굵게</b> <strong>강조</strong> <i>기울임</i> <em>em</em> <u>밑줄</u> <s>취소</s> "
        "H<sub>2</sub>O x<sup>2</sup> <code>code()</code></span></div><hr>"
        '<figure><img src="https://img.example.kr/1.jpg" alt="사진" width="640" height="480" '
        'srcset="https://img.example.kr/2.jpg 2x" loading="lazy"><figcaption>캡션</figcaption>'
        "</figure><blockquote>인용 a &lt; b &amp; c</blockquote><pre>  미리\n 서식</pre>"
        "<ul><li>하나</li><li>둘</li></ul><ol><li>셋</li></ol><table><caption>표</caption>"
        '<thead><tr><th colspan="2">머리</th></tr></thead><tbody><tr><td rowspan="1">1</td>'
        "<td>2</td></tr></tbody><tfoot><tr><td>발</td><td>끝</td></tr></tfoot></table>"
        '<iframe src="https://www.youtube.com/embed/x"></iframe><video src="https://v.kr/v.mp4">'
        '</video><form><input value="x"></form><style>p{color:red}</style>'
        '<p>줄<br>바꿈 <a href="https://news.example.kr/b" title="링크" target="_blank">링크</a>'
        "</p>]]></description></item>"
    ),
    "deeply-nested": rss(
        "<item><title>깊은 기사</title><link>https://news.example.kr/d</link>"
        "<guid isPermaLink='false'>d</guid><description>"
        + "&lt;div&gt;" * 300
        + "깊은 글&lt;script&gt;x()&lt;/script&gt;"
        + "&lt;/div&gt;" * 300
        + "</description></item>"
    ),
    "atom-authors-updated": (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>아톰</title><id>urn:x</id><updated>2026-11-27T09:00:00+09:00</updated>"
        '<link href="https://news.example.kr/"/>'
        "<entry><title>환율 급등</title><id>urn:1</id>"
        '<link rel="alternate" href="https://news.example.kr/e/1"/>'
        "<author><name>박기자</name></author><author><name>이기자</name></author>"
        "<updated>2026-11-27T10:00:00+09:00</updated><published>2026-11-27T09:00:00Z</published>"
        '<summary type="text">달러 강세 &amp; 원화 약세</summary>'
        '<content type="html">&lt;p&gt;원·달러 환율이 &lt;em&gt;급등&lt;/em&gt;&lt;/p&gt;</content>'
        '<category term="경제"/></entry></feed>'
    ).encode(),
    "atom-feed-author": (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>칼럼</title><id>urn:c</id><updated>2026-11-27T09:00:00+09:00</updated>"
        '<link href="https://news.example.kr/"/><author><name>논설위원실</name></author>'
        "<entry><title>사설 하나</title><id>urn:c1</id>"
        '<link rel="alternate" href="https://news.example.kr/c/1"/>'
        '<updated>2026-11-27T09:00:00+09:00</updated><summary type="html">본문 하나</summary>'
        "</entry>"
        "<entry><title>칼럼 둘</title><id>urn:c2</id>"
        '<link rel="alternate" href="https://news.example.kr/c/2"/><author><name>최기자</name>'
        "</author><updated>2026-11-27T08:00:00+09:00</updated>"
        '<summary type="text">본문 둘</summary></entry>'
        "</feed>"
    ).encode(),
}


def _articles(content: bytes) -> list[Article] | str:
    try:
        parsed = feed.parse_feed(content, source_id="s", section="it", zone=SEOUL, base_url=BASE)
    except SourceError as exc:
        return str(exc)
    return normalize_batch(parsed, ArticleOrigin("s", "it", location=BASE))[0]


def both(content: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any, bool]:
    """(collect's reading, feedparser's reading, whether the fast path was taken)."""
    taken: list[bool] = []
    real = feed._parse_fast

    def spy(document: bytes) -> Any:
        result = real(document)
        taken.append(result is not None)
        return result

    with monkeypatch.context() as patch:
        patch.setattr(feed, "_parse_fast", spy)
        fast = _articles(content)
    with monkeypatch.context() as patch:
        patch.setattr(feed, "_parse_fast", lambda document: None)
        slow = _articles(content)
    return fast, slow, any(taken)


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_fixture_feeds_read_the_same(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each fixture holds something feedparser reads its own way, so none takes the fast path."""
    fast, slow, taken = both(path.read_bytes(), monkeypatch)
    assert fast == slow
    assert not taken


# The fixtures without what sends them to feedparser (markup in titles, addresses
# in authors, relative links and permalink GUIDs, an entry without <updated>):
# the rest of each must read the same.
TAMED = {
    "economy.atom.xml": [
        (
            '<title type="html">금리 동결 &lt;em&gt;결정&lt;/em&gt;</title>',
            "<title>금리 동결 결정</title>",
        ),
        ("<email>lee@example.kr</email>", ""),
        (
            "<published>2024-05-02T06:00:00</published>",
            "<published>2024-05-02T06:00:00</published><updated>2024-05-02T07:00:00</updated>",
        ),
    ],
    "it-science.rss.xml": [
        ("&lt;HBM&gt;", "HBM"),
        ("<link>/news/", "<link>https://www.example.kr/news/"),
        ("<author>reporter@example.kr (박기자)</author>", "<author>박기자</author>"),
    ],
    "national-euckr.rss.xml": [
        ("<guid>local-", '<guid isPermaLink="false">local-'),
    ],
}


@pytest.mark.parametrize("name", sorted(TAMED))
def test_tamed_fixtures_take_the_fast_path_and_read_the_same(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = (ROOT / "tests" / "data" / "feeds" / name).read_bytes()
    encoding = "cp949" if "euckr" in name else "utf-8"
    for old, new in TAMED[name]:
        assert old.encode(encoding) in raw
        raw = raw.replace(old.encode(encoding), new.encode(encoding))
    fast, slow, taken = both(raw, monkeypatch)
    assert taken and isinstance(fast, list) and len(fast) >= 2
    assert fast == slow


@pytest.mark.parametrize("name", sorted(MADE_UP))
def test_made_up_feeds_read_the_same_on_the_fast_path(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, slow, taken = both(MADE_UP[name], monkeypatch)
    assert taken
    assert isinstance(fast, list) and len(fast) >= 1
    assert fast == slow


def test_the_benchmark_feed_reads_the_same_on_the_fast_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_collect import make_feed  # type: ignore[import-not-found]

    fast, slow, taken = both(make_feed(7, 20), monkeypatch)
    assert taken and isinstance(fast, list) and len(fast) == 20
    assert fast == slow


def test_what_the_fast_reader_reads_differently_goes_to_feedparser(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Unquoted relative links, xml:base, links to private addresses (which
    feedparser-rs blanks)."""
    unquoted = rss("<item><title>t</title><description>&lt;a href=/x&gt;y&lt;/a&gt;"
                   "</description></item>")  # fmt: skip
    based = MADE_UP["atom-authors-updated"].replace(b"<entry>", b'<entry xml:base="/b/">')
    private = rss("<item><title>t</title><link>http://127.0.0.1:8080/a</link>"
                  "<guid isPermaLink='false'>p</guid></item>")  # fmt: skip
    for content in (unquoted, based, private):
        fast, slow, taken = both(content, monkeypatch)
        assert not taken and fast == slow


@pytest.mark.parametrize(
    "text",
    [
        "한국은행은 기준금리를 동결했다.",
        "줄\n바꿈\r\n과 \"따옴표\" 그리고 '작은따옴표' > 부등호 = 같음 /more/1 &amp; &nbsp;",
        " \t앞뒤 공백 ",
    ],
)
def test_text_without_markup_is_left_alone_by_the_link_resolver(text: str) -> None:
    for kind in ("text/html", "application/xhtml+xml"):
        assert feed._html_value({"type": kind, "value": text}, BASE)["value"] == text


RESOLVED = [
    '<p>본문 <a href="/more/1">더보기</a><img src="img/1.jpg" alt="사진"></p>',
    "<A HREF=/x TITLE='제목'>y</A><br/><img SRC=//cdn.example.kr/a.png width=10>",
    '<a href="javascript:alert(1)">x</a><img src="data:image/png;base64,AAA" alt="d">',
    '<a href="?page=2&amp;q=%ED%95%9C">다음</a><a href="#top">위로</a><a href="">빈</a>',
    '<blockquote cite="../src">인용</blockquote><q cite="/q">짧은</q><a>없음</a>',
    '<img alt="a" src="/a.jpg"><a href=" /spaced " rel="nofollow">공백</a>',
    "<p>&lt;a href=/not-a-tag&gt; 부등호 < 3 그리고 a>b</p><!-- <a href=/c> -->",
    '<a href="mailto:desk@news.example.kr">제보</a><a href="https://other.example.kr/">밖</a>',
]


@pytest.mark.parametrize("html", RESOLVED)
def test_links_resolve_as_feedparser_resolves_them_once_sanitized(html: str) -> None:
    """The fast path's resolver and feedparser's give the same sanitized HTML."""
    from feedparser.urls import resolve_relative_uris

    from syndicate.links import absolute_links
    from syndicate.sanitize import clean_html

    article = "https://news.example.kr/article/1"
    ours = clean_html(absolute_links(html, BASE), article)
    theirs = clean_html(resolve_relative_uris(html, BASE, "utf-8", "text/html"), article)
    assert ours == theirs


def test_the_resolver_resolves_url_attributes_only_and_orders_attributes() -> None:
    from syndicate.links import absolute_links

    html = '<IMG title="/t" SRC="p.jpg" alt=x><a href="javascript:go()">j</a></IMG>'
    assert absolute_links(html, BASE) == (
        '<IMG alt="x" src="https://news.example.kr/rss/p.jpg" title="/t">'
        '<a href="javascript:go()">j</a></IMG>'
    )
    # a repeated attribute: the first one counts, as in browsers (feedparser keeps the last)
    assert absolute_links('<img alt="a" alt="b">', BASE) == '<img alt="a" alt="b">'


@pytest.mark.parametrize(
    ("fragment", "declined"),
    [
        (b"<link>/a/1</link>", True),
        (b"<LINK> a/1</LINK>", True),
        (b"<link>https://news.example.kr/a/1</link>", False),
        (b'<atom:link rel="x" href="/rss"/>', False),
        (b'<link rel="alternate" HREF="a/1"/>', True),
        (b"<description>&lt;a HREF=/x&gt;</description>", True),
        (b"<description>&lt;img src = x.png&gt;</description>", True),
        (b"<description>xhref=/x dsrc=y</description>", False),
        (b'<description>&lt;a href="/x"&gt;</description>', False),
        (b"<description>&lt;a href=&quot;/x&quot;&gt;</description>", False),
        (b"<title>a &lt;b&gt; c</title>", True),
        (b"<Title><![CDATA[a <b> c]]></Title>", True),
        (b"<title>a &amp; c</title>", False),
        (b"<guid>/a/1</guid>", True),
        (b'<guid isPermaLink="false">/a/1</guid>', False),
        (b"<GUID IsPermaLink='FALSE'>a-1</GUID>", False),
        (b"<guid>https://news.example.kr/a/1</guid>", False),
        (b"<summary>a &lt;b&gt; c</summary>", True),
        (b'<summary xml:lang="ko">a</summary>', True),
        (b'<summary type="html">a</summary>', False),
        (b"<content>a</content>", True),
        (b'<content TYPE="text">a</content>', False),
        (b"<content:encoded>a</content:encoded>", False),
        (b'<media:content url="https://img.example.kr/1.jpg"/>', False),
        (b"<itunes:summary>a</itunes:summary>", False),
    ],
)
def test_what_the_fast_reader_declines(fragment: bytes, declined: bool) -> None:
    """Relative item links and permalinks, unquoted attributes, markup in titles, Atom
    text constructs without a type (text by RFC 4287, HTML to feedparser-rs)."""
    assert feed._declined(rss(fragment.decode()).lower()) is declined


def test_an_atom_entry_without_authors_has_its_feeds(monkeypatch: pytest.MonkeyPatch) -> None:
    """RFC 4287: the feed's authors apply to an entry that names none, on either reader."""
    fast, slow, _ = both(MADE_UP["atom-feed-author"], monkeypatch)
    assert isinstance(slow, list)
    assert [a.author for a in slow] == ["논설위원실", "최기자"]
    assert fast == slow


def test_untyped_atom_text_is_text_whatever_the_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    """``<summary>`` without ``type`` is text: a '<b>' in it is shown, not made bold."""
    document = MADE_UP["atom-feed-author"].replace(b' type="html"', b"", 1)
    document = document.replace("본문 하나".encode(), "Vec&lt;b&gt; 본문".encode())
    fast, slow, taken = both(document, monkeypatch)
    assert not taken and fast == slow and isinstance(fast, list)
    assert "&lt;b&gt;" in fast[0].summary_html and "<b>" not in fast[0].summary_html
