"""Tests for syndicate.sanitize: HTML cleaning, HTML to text, truncation, titles."""

from __future__ import annotations

import unicodedata

import pytest

from syndicate.sanitize import clean_html, html_to_text, plain_title, truncate

BASE = "https://news.example.kr/section/article.html"


def test_clean_html_removes_scripts_styles_and_their_content() -> None:
    html = "<p>본문<script>alert('x')</script></p><style>p { color: red }</style><p>끝</p>"
    cleaned = clean_html(html, BASE)
    assert "alert" not in cleaned
    assert "color" not in cleaned
    assert "<script" not in cleaned and "<style" not in cleaned
    assert "본문" in cleaned and "끝" in cleaned


def test_clean_html_removes_event_handlers_styles_and_bad_urls() -> None:
    html = (
        '<p style="position:fixed" onclick="steal()">텍스트</p>'
        '<img src="x.png" onerror="alert(1)">'
        '<a href="javascript:alert(2)">js</a>'
        '<a href="JaVaScRiPt:alert(3)">js2</a>'
        '<img src="data:image/png;base64,AAAA">'
        '<a href="vbscript:msgbox(1)">vb</a>'
    )
    cleaned = clean_html(html, BASE)
    for bad in ("onclick", "onerror", "style=", "javascript", "JaVaScRiPt", "data:", "vbscript"):
        assert bad not in cleaned, bad
    assert '<img src="https://news.example.kr/section/x.png">' in cleaned


def test_clean_html_drops_iframes_forms_and_unknown_tags_keeps_allowed() -> None:
    html = (
        '<iframe src="https://evil.example/">fallback</iframe>'
        "<form action='/x'><input name=q><button>go</button></form>"
        "<h1>제목</h1><h2>소제목</h2><blockquote>인용</blockquote>"
        "<table><tr><td colspan='2' class='x'>셀</td></tr></table>"
        "<figure><img src='/a.jpg' alt='사진' width='10' height='20'>"
        "<figcaption>캡션</figcaption></figure>"
    )
    cleaned = clean_html(html, BASE)
    assert "<iframe" not in cleaned and "evil.example" not in cleaned
    assert "<form" not in cleaned and "<input" not in cleaned and "<button" not in cleaned
    assert "<h1>" not in cleaned and "제목" in cleaned
    assert "<h2>소제목</h2>" in cleaned
    assert "<blockquote>인용</blockquote>" in cleaned
    assert '<td colspan="2">셀</td>' in cleaned
    assert 'alt="사진"' in cleaned and 'width="10"' in cleaned
    assert "<figcaption>캡션</figcaption>" in cleaned


def test_clean_html_absolutises_relative_links_and_adds_rel() -> None:
    html = '<a href="/news/1">절대</a> <a href="2">상대</a> <a href="//cdn.example.kr/x">p</a>'
    cleaned = clean_html(html, BASE)
    assert 'href="https://news.example.kr/news/1"' in cleaned
    assert 'href="https://news.example.kr/section/2"' in cleaned
    assert 'href="https://cdn.example.kr/x"' in cleaned
    assert cleaned.count('rel="noopener noreferrer"') == 3


def test_clean_html_keeps_mailto_and_drops_relative_links_without_base() -> None:
    cleaned = clean_html('<a href="mailto:desk@example.kr">제보</a><a href="/x">x</a>')
    assert 'href="mailto:desk@example.kr"' in cleaned
    assert 'href="/x"' not in cleaned


@pytest.mark.parametrize("html", ["", "   ", "\n"])
def test_clean_html_empty(html: str) -> None:
    assert clean_html(html, BASE) == ""


def test_html_to_text_paragraphs_lists_and_entities() -> None:
    html = (
        "<p>첫&nbsp;문단 &amp; <b>굵게</b>\n   이어짐</p><ul><li>하나</li>\n<li>둘</li></ul>"
        "<ol><li>가</li><li>나</li></ol>줄<br>바꿈<script>var x = 1;</script>"
    )
    assert html_to_text(html) == "첫 문단 & 굵게 이어짐\n\n- 하나\n- 둘\n\n1. 가\n2. 나\n\n줄\n바꿈"


def test_html_to_text_handles_broken_markup_and_plain_text() -> None:
    assert html_to_text("<p>닫히지 않은 <b>태그") == "닫히지 않은 태그"
    assert html_to_text("그냥 글 &lt;속보&gt;") == "그냥 글 <속보>"
    assert html_to_text("") == ""


def test_plain_title_strips_tags_and_collapses_whitespace() -> None:
    assert plain_title("  금리 <em>동결</em>\n\t결정 &amp; 전망 ") == "금리 동결 결정 & 전망"
    assert plain_title("A < B") == "A < B"
    assert plain_title("<HBM> 양산") == "<HBM> 양산"


def test_truncate_short_text_unchanged() -> None:
    assert truncate("짧은 글", 10) == "짧은 글"


def test_truncate_at_word_boundary() -> None:
    text = "한국은행이 기준금리를 동결했다 시장은 예상했다"
    result = truncate(text, 20)
    assert len(result) <= 20
    assert result == "한국은행이 기준금리를 동결했다…"


def test_truncate_never_splits_combining_marks() -> None:
    decomposed = unicodedata.normalize("NFD", "한글한글한글")  # conjoining jamo
    for limit in range(2, len(decomposed)):
        result = truncate(decomposed, limit)
        assert len(result) <= limit
        body = result.removesuffix("…")
        assert unicodedata.normalize("NFC", body) in "한글한글한글"
        assert len(body) % 3 == 0 or body == ""  # whole syllables only (each is 3 jamo)


def test_truncate_keeps_accents_and_zwj_sequences_together() -> None:
    accented = "e\u0301" * 10
    assert truncate(accented, 6) == "e\u0301e\u0301…"
    family = "👨\u200d👩\u200d👧" * 3
    result = truncate(family, 7)
    assert not result.removesuffix("…").endswith("\u200d")
    assert result.removesuffix("…") in ("👨\u200d👩\u200d👧", "👨\u200d👩\u200d👧" * 2)


def test_truncate_tiny_limits() -> None:
    assert truncate("abcdef", 0) == ""
    assert truncate("abcdef", 1) == "a"
    assert truncate("abcdef", 4) == "abc…"
