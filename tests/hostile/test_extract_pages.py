"""Article extraction (issue 9): the seed page, its one-source variants, other outlets' structures.

Every field is checked against values the team read off the page by hand
(``tests/data/pages/expected.json``), and, field by field, syndicate must never
be worse than trafilatura alone on the same pages.
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path

import pytest

from syndicate.errors import ExtractError
from syndicate.extract import _trafilatura_body, extract_article, extract_html
from tests.conftest import ROOT, CliOutcome, invoke_syndicate
from tests.extract_truth import FIELDS, PAGES, SEOUL, ours, score, theirs, truths

SEED = PAGES / "article_inews24_altman.html"
SEED_URL = "https://www.inews24.com/view/1601234"
SEED_HTML = SEED.read_text("utf-8")
TRUTHS = truths()


def _cli(*args: str) -> CliOutcome:
    """The command line, in this process, from the repository's folder."""
    return invoke_syndicate(*args, cwd=ROOT)


# --- the seed page through the CLI ---------------------------------------------------


def test_extract_command_on_the_seed_page() -> None:
    done = _cli("-c", "/nonexistent/schedules.yaml", "extract", str(SEED))
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    keys = {"title", "author", "authors", "published", "updated", "section", "summary", "text",
            "html", "image", "captions", "url"}  # fmt: skip
    assert keys <= set(found)
    assert found["title"] == "샘 알트만 방한이 국내 AI 생태계에 던진 화두 세가지"
    assert found["author"] == "박진영" and found["authors"] == ["박진영"]
    assert found["published"] == "2023-06-09T11:35:00+09:00"
    assert found["section"] == "IT·과학"
    text = found["text"]
    assert text.split("\n\n")[1].startswith(
        "챗GPT 아버지 샘 알트만 오픈AI 최고경영자(CEO)이 방한해"
    )
    assert text.endswith("한국이 주도적인 역할을 해야 한다는 메시지를 던진 것이다.")
    for junk in (
        "IT·과학",
        "글자크기",
        "공유하기",
        "첫 번째 댓글",
        "로딩중",
        "[아이뉴스24",
        "sunlight@",
    ):
        assert junk not in text and junk not in found["html"]
    assert len(found["captions"]) == 2
    for caption in found["captions"]:
        assert text.count(caption) == 1
    assert found["summary"].startswith("AI반도체 기술 협력")


def test_extract_command_fails_in_one_line_on_a_page_without_article() -> None:
    done = _cli("-c", "/nonexistent/schedules.yaml", "extract", str(PAGES / "section_front.html"))
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "no article" in lines[0] and "section_front.html" in lines[0]


def test_extract_command_help_has_an_example() -> None:
    done = _cli("extract", "--help")
    assert done.returncode == 0 and "syndicate extract" in done.stdout


# --- pages in other outlets' structures ------------------------------------------------


@pytest.mark.parametrize("name", sorted(TRUTHS))
def test_every_field_on_team_pages(name: str) -> None:
    truth = TRUTHS[name]
    content = (PAGES / name).read_bytes()
    wrong = [
        field for field, ok in score(ours(content, truth["url"]), truth, content).items() if not ok
    ]
    assert wrong == []


def test_never_worse_than_trafilatura_field_by_field() -> None:
    mine = dict.fromkeys(FIELDS, 0)
    baseline = dict.fromkeys(FIELDS, 0)
    for name, truth in TRUTHS.items():
        content = (PAGES / name).read_bytes()
        for field, ok in score(ours(content, truth["url"]), truth, content).items():
            mine[field] += ok
        for field, ok in score(theirs(content, truth["url"]), truth, content).items():
            baseline[field] += ok
    assert all(mine[f] >= baseline[f] for f in FIELDS), (mine, baseline)
    assert sum(mine.values()) > sum(baseline.values())


def test_euc_kr_page_is_decoded() -> None:
    page = SEED_HTML.replace('<meta charset="utf-8">', '<meta charset="euc-kr">')
    page = page.replace("&#x27;", "'")
    found = extract_article(page.encode("euc-kr"), SEED_URL, SEOUL)
    assert found.title == "샘 알트만 방한이 국내 AI 생태계에 던진 화두 세가지"
    assert found.authors == ["박진영"]
    assert "윤석열 대통령과의 접견에서는" in found.text


def test_euc_kr_from_http_header_without_meta() -> None:
    page = SEED_HTML.replace('<meta charset="utf-8">', "").replace("&#x27;", "'")
    found = extract_article(page.encode("cp949"), SEED_URL, SEOUL, "text/html; charset=EUC-KR")
    assert found.section == "IT·과학"


def test_a_listing_page_is_not_an_article() -> None:
    with pytest.raises(ExtractError, match="no article"):
        extract_article((PAGES / "section_front.html").read_bytes(), SEED_URL, SEOUL)


@pytest.mark.parametrize("content", [b"", b"   ", b"\x00\x01\x02", b"<html></html>", b"{}"])
def test_empty_or_junk_bytes_are_one_error(content: bytes) -> None:
    with pytest.raises(ExtractError):
        extract_article(content, SEED_URL, SEOUL)


# --- seed variants: each field from exactly one place ---------------------------------

NO_DATE = re.sub(r'<div class="view-date">.*?</div>', "", SEED_HTML)
NO_AUTHOR = SEED_HTML.replace("[아이뉴스24 박진영 기자] ", "").replace(
    "<p>/박진영 기자(sunlight@inews24.com)</p>", ""
)
NO_SECTION = re.sub(r'<div class="breadcrumb">.*?</div>', "", SEED_HTML)


def _head(page: str, extra: str) -> str:
    return page.replace("</head>", extra + "\n</head>")


def _before_body(page: str, html: str) -> str:
    return page.replace('<div class="view-body">', html + '<div class="view-body">')


def _ld(data: dict[str, object]) -> str:
    body = {"@context": "https://schema.org", "@type": "NewsArticle", **data}
    return f'<script type="application/ld+json">{json.dumps(body, ensure_ascii=False)}</script>'


def _extract(page: str) -> dict[str, object]:
    return extract_html(page, SEED_URL, SEOUL).as_json()


def test_variants_really_lack_the_field() -> None:
    assert _extract(NO_DATE)["published"] is None
    assert _extract(NO_AUTHOR)["authors"] == []
    assert _extract(NO_SECTION)["section"] == ""


PUB = '<meta property="article:published_time" content="{}">'
TIME_VARIANTS = {
    "meta": _head(NO_DATE, PUB.format("2023-06-09T11:35:00+09:00")),
    "meta-utc": _head(NO_DATE, PUB.format("2023-06-09T02:35:00Z")),
    "meta-naive": _head(NO_DATE, PUB.format("2023-06-09 11:35:00")),
    "json-ld": _head(NO_DATE, _ld({"datePublished": "2023-06-09T11:35:00"})),
    "json-ld-offset": _head(NO_DATE, _ld({"datePublished": "2023-06-09T11:35:00+09:00"})),
    "time": _before_body(NO_DATE, '<time datetime="2023-06-09T11:35:00+09:00">6월 9일</time>'),
    "korean-text": _before_body(NO_DATE, '<div class="info">입력 2023.06.09 11:35</div>'),
    "korean-spaced": _before_body(
        NO_DATE, '<span class="date">기사입력 2023. 06. 09. 11:35</span>'
    ),
    "korean-ampm": _before_body(NO_DATE, '<span class="t">입력 2023.06.09. 오전 11:35</span>'),
    "korean-words": _before_body(NO_DATE, '<p class="d">등록 2023년 6월 9일 11시 35분</p>'),
}


@pytest.mark.parametrize("variant", sorted(TIME_VARIANTS))
def test_published_from_one_place(variant: str) -> None:
    assert _extract(TIME_VARIANTS[variant])["published"] == "2023-06-09T11:35:00+09:00"


@pytest.mark.parametrize(
    ("place", "expected"),
    [
        ('<div class="date">입력 2023.06.09 02:10</div>', "2023-06-09T02:10:00+09:00"),
        ('<div class="date">입력 2023.06.09 오전 12:05</div>', "2023-06-09T00:05:00+09:00"),
        ('<span class="date">2023.06.09 오후 3:53</span>', "2023-06-09T15:53:00+09:00"),
    ],
)
def test_early_morning_and_afternoon_kst_stay_on_their_day(place: str, expected: str) -> None:
    page = NO_DATE.replace('<div class="view-body">', place + '<div class="view-body">')
    assert _extract(page)["published"] == expected


def test_mislabelled_utc_meta_is_read_as_the_printed_local_time() -> None:
    page = _head(
        SEED_HTML, '<meta property="article:published_time" content="2023-06-09T11:35:00Z">'
    )
    assert _extract(page)["published"] == "2023-06-09T11:35:00+09:00"


def test_updated_from_meta_and_from_text() -> None:
    meta = _head(
        SEED_HTML, '<meta property="article:modified_time" content="2023-06-09T13:01:00+09:00">'
    )
    assert _extract(meta)["updated"] == "2023-06-09T13:01:00+09:00"
    text = SEED_HTML.replace("</time></div>", "</time> 수정 2023.06.09 13:01</div>")
    assert _extract(text)["updated"] == "2023-06-09T13:01:00+09:00"


TAIL = "<p>/박진영 기자(sunlight@inews24.com)</p>"
AUTHOR_VARIANTS = {
    "meta": _head(NO_AUTHOR, '<meta name="author" content="박진영 기자">'),
    "meta-with-email": _head(NO_AUTHOR, '<meta name="author" content="박진영 기자 x@inews24.com">'),
    "json-ld": _head(NO_AUTHOR, _ld({"author": {"@type": "Person", "name": "박진영"}})),
    "byline-element": _before_body(NO_AUTHOR, '<div class="byline">박진영 기자</div>'),
    "head-bracket": NO_AUTHOR.replace("<p>챗GPT", "<p>[아이뉴스24 박진영 기자] 챗GPT"),
    "tail-slash": NO_AUTHOR.replace("던진 것이다.</p>", "던진 것이다.</p>" + TAIL),
    "dateline": NO_AUTHOR.replace("<p>챗GPT", "<p>(서울=아이뉴스24) 박진영 기자 = 챗GPT"),
    "wire-bracket": NO_AUTHOR.replace("<p>챗GPT", "<p>【서울=뉴시스】박진영 기자 = 챗GPT"),
    "entertainment": NO_AUTHOR.replace("<p>챗GPT", "<p>[OSEN=박진영 기자] 챗GPT"),
    "tail-photo-credit": NO_AUTHOR.replace(
        "던진 것이다.</p>", "던진 것이다.</p><p>글·사진=박진영 기자 sunlight@inews24.com</p>"
    ),
    "outlet-meta-then-byline": _head(
        SEED_HTML.replace("<p>/박진영 기자(sunlight@inews24.com)</p>", ""),
        '<meta name="author" content="아이뉴스24">',
    ),
}  # fmt: skip


@pytest.mark.parametrize("variant", sorted(AUTHOR_VARIANTS))
def test_author_from_one_place(variant: str) -> None:
    found = _extract(AUTHOR_VARIANTS[variant])
    assert found["authors"] == ["박진영"] and found["author"] == "박진영"
    assert "박진영 기자" not in str(found["text"])


def test_two_reporters_and_wire_outlet_never_an_author() -> None:
    page = NO_AUTHOR.replace(
        "<p>챗GPT 아버지", "<p>(서울=연합뉴스) 박진영·김철수 기자 = 챗GPT 아버지"
    )
    page = _head(page, '<meta name="author" content="연합뉴스">')
    found = _extract(page)
    assert found["authors"] == ["박진영", "김철수"]
    assert found["author"] == "박진영, 김철수"


def test_reporter_and_one_more() -> None:
    page = _before_body(NO_AUTHOR, '<div class="byline">박준석 기자 외 1명</div>')
    assert _extract(page)["authors"] == ["박준석"]


SECTION_VARIANTS = {
    "meta": _head(NO_SECTION, '<meta property="article:section" content="IT·과학">'),
    "json-ld": _head(NO_SECTION, _ld({"articleSection": "IT·과학"})),
    "breadcrumbs": SEED_HTML,
    "json-ld-breadcrumbs": _head(
        NO_SECTION,
        '<script type="application/ld+json">{"@context":"https://schema.org","@type":'
        '"BreadcrumbList","itemListElement":[{"@type":"ListItem","position":1,"name":"홈"},'
        '{"@type":"ListItem","position":2,"name":"IT·과학"}]}</script>',
    ),
    "nav-breadcrumb": NO_SECTION.replace(
        '<div class="view-head">',
        '<nav aria-label="breadcrumb"><ol><li><a href="/">Home</a></li><li><a href="/it">IT·과학'
        '</a></li></ol></nav><div class="view-head">',
    ),
}


@pytest.mark.parametrize("variant", sorted(SECTION_VARIANTS))
def test_section_from_one_place(variant: str) -> None:
    assert _extract(SECTION_VARIANTS[variant])["section"] == "IT·과학"


@pytest.mark.parametrize(
    ("title", "site"),
    [
        ("샘 알트만 방한 : 아이뉴스24", ""),
        ("샘 알트만 방한 | 한국일보", "한국일보"),
        ("샘 알트만 방한 - 매일경제", "매일경제"),
        ("샘 알트만 방한-IT·과학ㅣ한국일보", "한국일보"),
        ("샘 알트만 방한-정치ㅣ한국일보", "한국일보"),
        ("[연합뉴스] 샘 알트만 방한", ""),
        ("샘 알트만 방한 [연합뉴스]", ""),
        ("연합뉴스 | 샘 알트만 방한", "연합뉴스"),
        ("샘 알트만 방한 : 네이버 뉴스", "네이버 뉴스"),
        ("샘 알트만 방한｜동아일보", "동아일보"),
        ("샘 알트만 방한 < 경제 < 기사본문 - 시사저널", "시사저널"),
        ("샘 알트만 방한 : 환경 : 사회 : 뉴스 : 한겨레", ""),
        ("샘 알트만 방한 - 머니투데이", ""),
    ],
)
def test_title_loses_the_site_affix(title: str, site: str) -> None:
    page = re.sub(r'<div class="view-title">.*?</div>', "", SEED_HTML)
    page = re.sub(r"<title>.*?</title>", f"<title>{title}</title>", page)
    if site:
        page = _head(page, f'<meta property="og:site_name" content="{site}">')
    url = "https://www.inews24.com/view/1" if "아이뉴스24" in title else "https://news.example/1"
    assert extract_html(page, url, SEOUL).title == "샘 알트만 방한"


def test_title_from_h1_when_title_is_only_the_site_name() -> None:
    page = re.sub(r"<title>.*?</title>", "<title>아이뉴스24</title>", SEED_HTML)
    page = page.replace('<div class="view-title">', '<h1 class="view-title">').replace(
        "세가지</div>", "세가지</h1>", 1
    )
    page = page.replace(
        '<div id="top-menu">', '<h1 class="logo"><a href="/">아이뉴스24</a></h1><div id="top-menu">'
    )
    assert _extract(page)["title"] == "샘 알트만 방한이 국내 AI 생태계에 던진 화두 세가지"


def test_hidden_auto_summary_and_end_marker_are_not_text() -> None:
    page = SEED_HTML.replace(
        '<div class="view-body">',
        '<div class="view-body"><div class="summary_bot" style="display:none">AI 요약: 방한</div>',
    ).replace(
        "<p>/박진영 기자(sunlight@inews24.com)</p>",
        "<p>(끝)</p><p>ⓒ 아이뉴스24 무단전재 및 재배포 금지</p>",
    )
    text = str(_extract(page)["text"])
    assert "AI 요약" not in text and "(끝)" not in text and "무단전재" not in text
    assert text.endswith("메시지를 던진 것이다.")


def test_deeply_nested_page_finishes(tmp_path: Path) -> None:
    deep = "<div>" * 5000 + "<p>" + "본문 문장입니다. " * 40 + "</p>" + "</div>" * 5000
    page = f"<html><head><title>깊은 문서</title></head><body>{deep}</body></html>"
    with contextlib.suppress(ExtractError):
        extract_html(page, SEED_URL, SEOUL)


def test_container_wrapping_header_and_comments_still_gives_the_body_only() -> None:
    page = SEED_HTML.replace('<div id="content">', '<div id="content" class="article_body">')
    found = _extract(page)
    text = str(found["text"])
    assert text.split("\n\n")[1].startswith("챗GPT 아버지 샘 알트만")
    assert text.endswith("메시지를 던진 것이다.")
    for junk in ("샘 알트만 방한이 국내 AI 생태계에 던진 화두 세가지", "입력", "글자크기", "홈",
                 "AI반도체 기술 협력, AI스타트업", "공유하기", "댓글", "로딩중"):  # fmt: skip
        assert junk not in text


@pytest.mark.parametrize(
    "tail",
    [
        "<p>MBC뉴스 이정훈입니다.</p><p>영상취재: 김철호 / 영상편집: 박은주</p>",
        "<p>YTN 이정훈입니다.</p><p>※ '당신의 제보가 뉴스가 됩니다' [카카오톡] YTN 검색해 채널 추가"
        " [전화] 02-398-8585 [메일] social@ytn.co.kr</p>",
        "<p>이정훈 기자 <a href='mailto:lee@x.kr'>lee@x.kr</a></p>",
        "<p>(영상취재 : 김철호, 영상편집 : 박은주)</p>"
        "<p>&lt;저작권자 ⓒ 무단전재 및 재배포 금지&gt;</p>",
    ],
)
def test_broadcast_and_wire_tails_are_not_text(tail: str) -> None:
    page = NO_AUTHOR.replace("던진 것이다.</p>", "던진 것이다.</p>" + tail)
    text = str(_extract(page)["text"])
    assert text.endswith("메시지를 던진 것이다."), text[-200:]


def test_byline_after_an_unmarked_photo_caption_is_removed() -> None:
    page = SEED_HTML.replace('class="photo-desc"', 'class="x"').replace(
        'class="photo-caption"', 'class="y"'
    )
    found = _extract(page)
    assert "[아이뉴스24 박진영 기자]" not in str(found["text"])
    assert found["authors"] == ["박진영"]
    captions = found["captions"]
    assert isinstance(captions, list) and len(captions) == 2
    for caption in captions:
        assert str(found["text"]).count(caption) == 1


def test_caption_inside_a_wrapper_is_kept_once() -> None:
    page = SEED_HTML.replace(
        '<span class="photo-desc">', '<div class="w"><span class="photo-desc">'
    )
    page = page.replace("[사진=정소희 기자]</span>", "[사진=정소희 기자]</span></div>")
    text = str(_extract(page)["text"])
    assert text.count("K-Startups meet OpenAI") == 1


def test_korean_section_wins_over_an_ascii_slug() -> None:
    page = _head(SEED_HTML, '<meta property="article:section" content="it-science">')
    assert _extract(page)["section"] == "IT·과학"
    slug_only = _head(NO_SECTION, '<meta property="article:section" content="national">')
    assert _extract(slug_only)["section"] == "national"


def test_json_ld_related_articles_and_videos_do_not_stand_for_the_article() -> None:
    other = {
        "@type": "NewsArticle",
        "headline": "다른 기사",
        "datePublished": "2020-01-01T09:00:00+09:00",
        "author": {"@type": "Person", "name": "김철수"},
    }
    related = {"@context": "https://schema.org", "@type": "ItemList", "itemListElement": [other]}
    video = {"@type": "VideoObject", "name": "영상", "uploadDate": "2021-01-01T09:00:00+09:00"}
    own = {
        "@type": "NewsArticle",
        "headline": "샘 알트만 방한이 국내 AI 생태계에 던진 화두 세가지",
        "datePublished": "2023-06-09T11:35:00+09:00",
        "author": {"@type": "Person", "name": "박진영"},
    }
    blocks = "".join(
        f'<script type="application/ld+json">{json.dumps(b, ensure_ascii=False)}</script>'
        for b in (related, video, own)
    )
    found = _extract(_head(NO_DATE, blocks))
    assert found["published"] == "2023-06-09T11:35:00+09:00"
    assert found["authors"] == ["박진영"]


def test_trafilatura_default_mode_when_its_precise_mode_keeps_no_body(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import trafilatura

    modes: list[bool] = []
    paragraph = "<p>" + "The council met on Thursday and voted on the new budget. " * 5 + "</p>"

    def extract(source: str, **options: object) -> str:
        modes.append(bool(options["favor_precision"]))
        return "" if options["favor_precision"] else f"<html><body>{paragraph}</body></html>"

    monkeypatch.setattr(trafilatura, "extract", extract)
    body = _trafilatura_body("<html><body></body></html>", "https://news.example/a", wider=True)
    assert modes == [True, False]
    assert body is not None and body.text_size > 200


def test_section_headings_between_paragraphs_stay_in_the_body() -> None:
    truth = TRUTHS["section_headings_en.html"]
    content = (PAGES / "section_headings_en.html").read_bytes()
    text = str(ours(content, truth["url"])["text"])
    assert "\n\nWho can apply\n\n" in text and "\n\nHow much it pays\n\n" in text


def test_section_headings_inside_the_body_are_not_the_summary() -> None:
    """The subtitle opening the body is the summary; a subhead-classed heading after body
    text heads a section: it stays in the body and out of the summary."""
    name = "section_headings_en.html"
    found = extract_article((PAGES / name).read_bytes(), TRUTHS[name]["url"], SEOUL)
    assert found.summary == "Grants of up to half the cost, paid after installation"
    assert "Who can apply" in found.text and "How much it pays" in found.text
