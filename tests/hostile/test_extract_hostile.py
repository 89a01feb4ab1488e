"""Hostile pages: whatever the markup, extraction answers an article or one ExtractError.

Also bounds time and memory on a very large page and on pathological markup.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from syndicate.errors import ExtractError
from syndicate.extract import extract_article, extract_html
from tests.conftest import ROOT
from tests.extract_truth import SEOUL

CLASSES = ["article_body", "view-body", "share", "byline", "reporter", "date", "caption", "photo",
           "sub_title", "breadcrumb", "related", "ad", "hidden", "title", "logo", ""]  # fmt: skip
TEXTS = ["[아이뉴스24 박진영 기자]", "(서울=연합뉴스) 김병수 기자 =", "입력 2023.06.09 11:35",
         "오후 3:53", "2018. 05. 16. 16:23", "ⓒ 무단전재 및 재배포 금지", "(끝)", "홈 > 경제",
         "기사입력 2099-13-45 25:61", "박준석 기자 외 1명", "hong@x.co.kr", "<", "&amp;", "\x00",
         "본문 문장입니다. " * 8, "공유하기", "첫 번째 댓글", "로딩중",
         "2023년 2월 30일"]  # fmt: skip
TAGS = ["div", "p", "span", "h1", "h2", "figure", "figcaption", "img", "a", "time", "br", "ul"]
META = ["og:title", "article:published_time", "author", "article:section", "og:image",
        "description", "og:type", "dable:author", "article:modified_time"]  # fmt: skip
JUNK_DATES = ["2023-06-09T11:35:00+09:00", "9999-99-99", "", "0000-00-00T00:00:00", "yesterday",
              "2023-06-09T25:00:00Z", "20230609", "Fri, 09 Jun 2023 11:35:00 +0900",
              "1e309"]  # fmt: skip

element = st.recursive(
    st.sampled_from(TEXTS),
    lambda inner: st.builds(
        lambda tag, cls, kids: f'<{tag} class="{cls}">{"".join(kids)}</{tag}>',
        st.sampled_from(TAGS),
        st.sampled_from(CLASSES),
        st.lists(inner, max_size=4),
    ),
    max_leaves=25,
)
meta = st.builds(
    lambda key, value: f'<meta property="{key}" content="{value}">',
    st.sampled_from(META),
    st.sampled_from(JUNK_DATES + TEXTS),
)
json_ld = st.one_of(
    st.just("{broken"),
    st.builds(
        lambda published, author: json.dumps(
            {"@type": "NewsArticle", "datePublished": published, "author": author}
        ),
        st.sampled_from(JUNK_DATES),
        st.one_of(st.sampled_from(TEXTS), st.just({"name": 5}), st.just([None, {"@type": 1}])),
    ),
)


@given(
    head=st.lists(meta, max_size=6),
    ld=st.lists(json_ld, max_size=2),
    body=st.lists(element, max_size=8),
)
def test_any_markup_gives_an_article_or_one_error(
    head: list[str], ld: list[str], body: list[str]
) -> None:
    scripts = "".join(f'<script type="application/ld+json">{x}</script>' for x in ld)
    page = f"<html><head>{''.join(head)}{scripts}</head><body>{''.join(body)}</body></html>"
    try:
        found = extract_html(page, "https://news.example.kr/view/1", SEOUL)
    except ExtractError as exc:
        assert "\n" not in str(exc)
        return
    assert found.title
    for value in (found.published, found.updated):
        assert value is None or value.utcoffset() == timedelta(hours=9)
    assert "<script" not in found.html


@given(st.binary(max_size=2000))
def test_any_bytes_give_an_article_or_one_error(content: bytes) -> None:
    with contextlib.suppress(ExtractError):
        extract_article(content, "https://news.example.kr/view/1", SEOUL)


def test_huge_page_within_time_and_memory() -> None:
    """A 3.7 MB page (many paragraphs, deep nesting, wide menus) in a 512 MB address space.

    Time and memory grow linearly with the paragraphs (10 MB: ~3x both), so this smaller page
    with a tighter limit than the 20 MB cap would need shows the same behaviour in a third of
    the time.
    """
    script = textwrap.dedent(
        """
        import resource, sys, time
        from zoneinfo import ZoneInfo
        resource.setrlimit(resource.RLIMIT_AS, (512 * 2**20, 512 * 2**20))
        from syndicate.extract import extract_html
        menu = "<ul class='gnb'>" + "<li><a href='/x'>메뉴</a></li>" * 50000 + "</ul>"
        deep = "<div class='wrap'>" * 2000 + "깊은 본문" + "</div>" * 2000
        para = "<p>본문 문장입니다 하나 둘 셋.</p>"
        body = "<div class='article_body'>" + para * 50000 + "</div>"
        page = ("<html><head><title>큰 문서 : 예시뉴스</title></head><body>"
                + menu + deep + body + "</body></html>")
        start = time.perf_counter()
        found = extract_html(page, "https://news.example.kr/view/1", ZoneInfo("Asia/Seoul"))
        seconds = round(time.perf_counter() - start, 1)
        print(len(page.encode()) // 2**10, len(found.text) > 1000, seconds)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    size, has_text, _seconds = done.stdout.split()
    assert (int(size), has_text) == (3806, "True")  # KiB


@given(
    when=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2035, 12, 31)),
    style=st.sampled_from(
        [
            "입력 {:%Y.%m.%d %H:%M}",
            "기사입력 {:%Y-%m-%d %H:%M}",
            "입력 {:%Y. %m. %d. %H:%M}",
            "json-ld",
            "meta-naive",
        ]
    ),
)
def test_wall_time_stays_on_its_day(when: datetime, style: str) -> None:
    """Any KST wall time (00:00-09:00 included) keeps its date, hour and +09:00 offset."""
    when = when.replace(second=0, microsecond=0)
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S")
    head, body = "", ""
    if style == "json-ld":
        data = json.dumps({"@type": "NewsArticle", "datePublished": stamp})
        head = f'<script type="application/ld+json">{data}</script>'
    elif style == "meta-naive":
        head = f'<meta property="article:published_time" content="{stamp.replace("T", " ")}">'
    else:
        body = f'<div class="info">{style.format(when)}</div>'
    paragraph = "<p>" + "기사 본문 문장입니다. " * 20 + "</p>"
    page = (
        f"<html><head><title>제목 기사입니다 : 예시뉴스</title>{head}</head><body>{body}"
        f'<div class="article_body">{paragraph}</div></body></html>'
    )
    found = extract_html(page, "https://news.example.kr/view/1", SEOUL)
    assert found.published is not None
    assert found.published.replace(tzinfo=None) == when
    assert found.published.utcoffset() == timedelta(hours=9)


def test_control_characters_beside_soft_hyphens_give_the_article() -> None:
    sentence = "Der Bericht\x07 nennt die Zah&shy;len des Jahres und ihre Quel\x1fle. "
    page = (
        "<html><head><title>Bericht mit Steuerzeichen</title>"
        '<meta property="og:type" content="article"></head>'
        f'<body><div class="article-body"><p>{sentence * 6}</p></div></body></html>'
    )
    text = extract_html(page, "https://zeitung.example/a/1", SEOUL).text
    assert text.startswith("Der Bericht nennt die Zahlen des Jahres und ihre Quelle.")
