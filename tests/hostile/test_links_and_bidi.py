"""Links that could break out of an attribute, and text that reorders itself.

A link is published as it came only when every character may stand raw in a
URL; quotes and angle brackets are percent-encoded, so pasting the link into an
``href`` anywhere can never close the attribute. Bidirectional overrides and
isolates (U+202A-202E, U+2066-2069) are dropped from plain-text fields, since
they make a title show a spoofed file name or address.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syndicate.collect import ArticleOrigin, normalize_article
from syndicate.htmltokens import TAG_RE
from syndicate.links import ACCEPTABLE_SCHEMES, absolute_links, safe_absolute
from syndicate.model import Article
from syndicate.sanitize import plain_title, safe_link

SOURCE = ArticleOrigin("h", "it", location="https://news.example.kr/rss")


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ('https://a.kr/x?a="><script>', "https://a.kr/x?a=%22%3E%3Cscript%3E"),
        ("https://a.kr/x y`{|}^\\", "https://a.kr/x%20y%60%7B%7C%7D%5E%5C"),
        ("https://a.kr/뉴스/기사?id=1&b=2#top", "https://a.kr/뉴스/기사?id=1&b=2#top"),
        ("https://a.kr/x%20y", "https://a.kr/x%20y"),
    ],
)
def test_links_never_carry_characters_that_end_an_attribute(link: str, expected: str) -> None:
    assert safe_link(link) == expected


@pytest.mark.parametrize(
    "control",
    ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"],
)
def test_bidi_controls_are_dropped_from_titles(control: str) -> None:
    assert plain_title(f"invoice{control}fdp.exe 뉴스") == "invoicefdp.exe 뉴스"


def test_an_article_is_stored_without_overrides_and_with_a_safe_link() -> None:
    raw = Article(
        source_id="h",
        guid="g1",
        url='https://a.kr/x?a="><img src=x onerror=alert(1)>',
        title="속보\u202e gpj.exe",
        section_id="it",
        summary_html="<p>본문</p>",
        author="김기자\u2066",
        categories=("경제\u202d",),
    )
    article = normalize_article(raw, SOURCE)
    assert article is not None
    assert article.title == "속보 gpj.exe"
    assert article.author == "김기자"
    assert '"' not in article.url and "<" not in article.url and ">" not in article.url
    assert not any("\u202a" <= c <= "\u202e" for c in "".join(article.categories))


# --- the fast feed path's link resolver ---------------------------------------------------

MARKUP = st.text(alphabet="<>/=\"' abhrefsrcimgA:j.#?&;x1가\t\n", max_size=200)


@given(MARKUP)
def test_the_link_resolver_never_fails_and_text_outside_tags_is_kept(html: str) -> None:
    resolved = absolute_links(html, "https://news.example.kr/rss/it.xml")
    names = [match.group(2) for match in TAG_RE.finditer(html)]
    assert [match.group(2) for match in TAG_RE.finditer(resolved)] == names
    if not names:
        assert resolved == html


@pytest.mark.parametrize(
    "link",
    ["http://[::1", "https://a.kr:99999/x", "\x00javascript:x", "//[bad]/x", "\ud800", "a" * 5000],
)
def test_odd_links_resolve_or_stay_as_they_were(link: str) -> None:
    html = f'<a href="{link}">x</a>'
    out = absolute_links(html, "https://news.example.kr/rss/it.xml")
    assert out.startswith("<a href=") and out.endswith(">x</a>")


def test_a_page_of_tags_is_resolved_in_one_pass() -> None:
    """Thousands of tags with many attributes: linear work, no exception."""
    html = '<img src="/a.jpg" alt="a" title="t" width="1" height="2">' * 20_000
    out = absolute_links(html, "https://news.example.kr/rss/it.xml")
    assert out.count('src="https://news.example.kr/a.jpg"') == 20_000


def _reference(base: str, link: str) -> str:
    """What safe_absolute must give: urljoin's answer, or the link when its scheme is refused."""
    link = link.strip()
    try:
        resolved = urljoin(base, link) if base else link
        scheme = urlsplit(resolved).scheme.lower()
    except ValueError:
        return link
    return link if scheme and scheme not in ACCEPTABLE_SCHEMES else resolved


@given(
    st.sampled_from(["https://news.example.kr/rss/it.xml", "HTTP://News.Example.kr:8080/a/?q#x",
                     "http://h.kr", "ftp://x/y", ""]),
    st.text(alphabet="/a.?#%&=b2 \\;:@가\t\nj", max_size=16).map(lambda t: "/" + t)
    | st.text(alphabet="/a.?#%&=b2 \\;:@가\t\nj", max_size=16),
)  # fmt: skip
def test_resolving_is_what_urljoin_gives(base: str, link: str) -> None:
    """The shortcut for links from the host's root answers as urljoin does."""
    assert safe_absolute(base, link) == _reference(base, link)
