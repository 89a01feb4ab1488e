"""Rendering digests: subject, inlined HTML, plain text, escaping, template overrides."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import html as lxml_html  # type: ignore[import-untyped, unused-ignore]

from syndicate import render
from syndicate.config import Config, load_config
from syndicate.digest import digests_for
from syndicate.errors import RenderError
from syndicate.model import Article, Digest, Edition, Subscriber, Subscription, SubscriptionState
from syndicate.render import Renderer, inline_css
from syndicate.render_views import korean_date, text_width, wrap_text

GOLDEN = Path(__file__).resolve().parent / "data" / "digest"
UPDATE_ENV = "SYNDICATE_UPDATE_GOLDEN"
HOSTILE = "<script>alert('x')</script><img src=x onerror=alert(1)> 해킹 & \"제목\""
# 07:00 in Seoul on Saturday 28 November 2026 is still the 27th in UTC.
SLOT = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)


def _article(
    seq: int,
    section: str,
    title: str,
    minute: int,
    *,
    summary: str = "",
    author: str = "",
    url: str | None = None,
) -> Article:
    return Article(
        source_id="src",
        guid=f"g{seq}",
        url=url if url is not None else f"https://news.example.kr/article/{seq}",
        title=title,
        section_id=section,
        summary_html=summary,
        author=author,
        published_at=datetime(2026, 11, 28, 0, minute, tzinfo=UTC),
        seq=seq,
    )


ARTICLES = (
    _article(
        1,
        "economy",
        "원·달러 환율 1,400원 돌파",
        10,
        summary="<p>외환시장에서 <b>원·달러 환율</b>이 장중 1,400원을 넘어섰다.</p>",
        author="이경제 기자",
    ),
    _article(
        2,
        "it",
        "삼성전자, 차세대 HBM 양산 시작",
        30,
        summary="<p>삼성전자가 차세대 고대역폭메모리(HBM) 양산에 들어갔다고 28일 밝혔다.</p>"
        "<ul><li>12단 적층</li><li>하반기 공급</li></ul>",
        author="홍길동 기자",
    ),
    _article(3, "it", "네이버, 한국어 초거대 AI 공개", 20, summary="", author=""),
)


@pytest.fixture
def config(write_config: Callable[..., Path]) -> Config:
    return load_config(write_config())


def _subscription(sections: tuple[str, ...] = (), token: str = "tok/en+1") -> Subscription:
    subscriber = Subscriber(7, "reader@example.kr", "김독자")
    return Subscription(subscriber, "morning", sections, SubscriptionState.ACTIVE, token)


def _digest(config: Config, articles: tuple[Article, ...] = ARTICLES) -> Digest:
    edition = Edition(1, "morning", SLOT, 3, SLOT, articles)
    (digest,) = digests_for(config, edition, [_subscription()])
    return digest


def _style_text(html: str) -> str:
    """The <style> blocks outside comments (Outlook's conditional comment has its own)."""
    visible = re.sub(r"<!--.*?-->", "", html, flags=re.S)
    return "\n".join(re.findall(r"<style[^>]*>(.*?)</style>", visible, flags=re.S))


def _check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get(UPDATE_ENV) == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{name} differs; rerun with {UPDATE_ENV}=1 if intended"


def test_subject_uses_korean_local_date(config: Config) -> None:
    rendered = Renderer.for_config(config).render(_digest(config))
    assert rendered.subject == "아침 브리핑 · 11월 28일(토)"


def test_korean_date_formats() -> None:
    assert korean_date(datetime(2026, 3, 1)) == "3월 1일(일)"
    assert korean_date(datetime(2026, 3, 2), year=True) == "2026년 3월 2일(월)"


def test_html_document_head_and_inlined_css(config: Config) -> None:
    html = Renderer.for_config(config).render(_digest(config)).html
    assert html.startswith("<!DOCTYPE html>")
    assert '<html lang="ko">' in html
    assert '<meta charset="utf-8">' in html
    assert 'name="viewport"' in html
    assert '<meta name="color-scheme" content="light dark">' in html
    assert "Apple SD Gothic Neo" in html and "Malgun Gothic" in html
    doc = lxml_html.document_fromstring(html)
    container = doc.cssselect("table.container")[0]
    assert container.get("width") == "600"
    assert "width:600px" in container.get("style")
    title = doc.cssselect("h3.article-title")[0]
    assert "font-size:17px" in title.get("style")


def test_style_block_keeps_only_what_cannot_be_inlined(config: Config) -> None:
    style = _style_text(Renderer.for_config(config).render(_digest(config)).html)
    assert "@media screen and (max-width: 600px)" in style
    assert "prefers-color-scheme: dark" in style
    assert "a:hover" in style
    outside_media = re.sub(r"@media[^{]*\{(?:[^{}]*\{[^{}]*\})*\s*\}", "", style)
    assert re.findall(r"([^{}]+)\{", outside_media) == ["a:hover "]
    assert "!important" in style  # so media rules beat the inline styles


def test_sections_in_configured_order_with_articles_linked(config: Config) -> None:
    rendered = Renderer.for_config(config).render(_digest(config))
    doc = lxml_html.document_fromstring(rendered.html)
    assert [h.text_content() for h in doc.cssselect("h2")] == ["IT·과학", "경제"]
    links = [a.get("href") for a in doc.cssselect("h3 a")]
    assert links == [
        "https://news.example.kr/article/2",
        "https://news.example.kr/article/3",
        "https://news.example.kr/article/1",
    ]
    assert "홍길동 기자 · 2026-11-28 09:30" in rendered.html
    assert rendered.text.index("■ IT·과학") < rendered.text.index("■ 경제")


def test_preheader_is_hidden_and_starts_with_headlines(config: Config) -> None:
    doc = lxml_html.document_fromstring(Renderer.for_config(config).render(_digest(config)).html)
    preheader = doc.cssselect("div.preheader")[0]
    assert "display:none" in preheader.get("style").replace(" ", "")
    assert preheader.text_content().startswith("삼성전자, 차세대 HBM 양산 시작 · 네이버")


def test_footer_names_sections_and_unsubscribe_link(config: Config) -> None:
    rendered = Renderer.for_config(config).render(_digest(config))
    url = "https://news.example.kr/unsubscribe?token=tok%2Fen%2B1"
    doc = lxml_html.document_fromstring(rendered.html)
    assert url in [a.get("href") for a in doc.cssselect("td.footer a")]
    assert "구독 섹션: IT·과학, 경제, 사회" in rendered.html
    assert "reader@example.kr" in rendered.html
    assert f"수신 거부: {url}" in rendered.text


def test_hostile_title_and_url_are_neutralised(config: Config) -> None:
    hostile = _article(9, "it", HOSTILE, 5, summary="<script>steal()</script><p>본문 요약</p>")
    bad_link = _article(10, "it", "링크가 이상한 기사", 6, url="javascript:alert(1)")
    rendered = Renderer.for_config(config).render(_digest(config, (hostile, bad_link)))
    lowered = rendered.html.lower()
    assert "<script" not in lowered
    assert "<img" not in lowered
    assert "javascript:" not in lowered
    assert "steal()" not in rendered.html
    assert "&lt;script&gt;alert('x')&lt;/script&gt;" in rendered.html.replace("&#39;", "'")
    doc = lxml_html.document_fromstring(rendered.html)
    titles = [h.text_content() for h in doc.cssselect("h3.article-title")]
    assert titles == ["링크가 이상한 기사", HOSTILE]
    assert doc.cssselect("h3.article-title")[0].cssselect("a") == []


def test_summary_is_plain_text_and_shortened(config: Config) -> None:
    long_summary = "<p>" + "반도체 <b>수출</b>이 크게 늘었다. " * 40 + "</p>"
    article = _article(4, "it", "수출 호조", 1, summary=long_summary)
    rendered = Renderer.for_config(config).render(_digest(config, (article,)))
    doc = lxml_html.document_fromstring(rendered.html)
    summary = doc.cssselect("p.summary")[0].text_content()
    assert summary.endswith("…") and len(summary) <= 200
    assert "<b>" not in summary and "수출이" in summary


def test_summary_repeating_the_title_is_dropped(config: Config) -> None:
    article = _article(5, "it", "제목과 같은 요약", 1, summary="<p>제목과 같은  요약</p>")
    rendered = Renderer.for_config(config).render(_digest(config, (article,)))
    assert lxml_html.document_fromstring(rendered.html).cssselect("p.summary") == []


BRAND = {
    "publisher": {
        "name": "테스트뉴스(주)",
        "address": "서울특별시 중구 세종대로 1",
        "contact": "02-123-4567",
    },
    "logo": {"url": "https://news.example.kr/logo.png", "width": 160, "height": 40},
    "brand_color": "#0B5C3B",
}


def _golden_digest(write_config: Callable[..., Path]) -> Digest:
    """The golden message: publisher footer, logo, brand colour, one lead image."""
    config = load_config(write_config(**BRAND))
    with_image = replace(ARTICLES[1], image_url="/images/hbm.jpg")
    return _digest(config, (ARTICLES[0], with_image, ARTICLES[2]))


def test_text_part_matches_golden(write_config: Callable[..., Path]) -> None:
    digest = _golden_digest(write_config)
    _check_golden("digest.txt", Renderer().render(digest).text)


def test_html_part_matches_golden(write_config: Callable[..., Path]) -> None:
    html = Renderer().render(_golden_digest(write_config)).html
    normalised = "\n".join(line.rstrip() for line in html.splitlines()) + "\n"
    _check_golden("digest.html", normalised)


def test_wrap_text_counts_korean_as_double_width_and_never_splits_words() -> None:
    text = "가나다라마바사 " * 20 + "https://news.example.kr/" + "a" * 90
    wrapped = wrap_text(text, 40)
    lines = wrapped.splitlines()
    assert all(text_width(line) <= 40 for line in lines[:-1])
    assert lines[-1] == "https://news.example.kr/" + "a" * 90
    assert wrapped.split() == text.split()


def test_templates_folder_overrides_bundled_templates(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    folder = tmp_path / "mytemplates"
    folder.mkdir()
    (folder / "digest.txt.j2").write_text(
        "맞춤 {{ title }} {{ article_count }}\n", encoding="utf-8"
    )
    config = load_config(write_config(templates="mytemplates"))
    rendered = Renderer.for_config(config).render(_digest(config))
    assert rendered.text == "맞춤 아침 브리핑 3\n"
    assert rendered.html.startswith("<!DOCTYPE html>")


def test_template_syntax_error_is_one_line_render_error(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "digest.txt.j2").write_text("첫 줄\n{% for x in %}\n", encoding="utf-8")
    config = load_config(write_config(templates="broken"))
    with pytest.raises(RenderError, match=r"digest\.txt\.j2.*line 2") as info:
        Renderer.for_config(config).render(_digest(config))
    assert "\n" not in str(info.value)


def test_undefined_variable_is_render_error(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    folder = tmp_path / "strict"
    folder.mkdir()
    (folder / "digest.txt.j2").write_text("{{ no_such_thing }}\n", encoding="utf-8")
    config = load_config(write_config(templates="strict"))
    with pytest.raises(RenderError, match="no_such_thing"):
        Renderer.for_config(config).render(_digest(config))


def test_stylesheet_closing_tag_is_rejected(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    folder = tmp_path / "css"
    folder.mkdir()
    (folder / "digest.css").write_text("p { color: red }</style><script>x()</script>")
    config = load_config(write_config(templates="css"))
    with pytest.raises(RenderError, match=r"digest\.css"):
        Renderer.for_config(config).render(_digest(config))


def test_missing_templates_folder_is_render_error(write_config: Callable[..., Path]) -> None:
    config = load_config(write_config(templates="nowhere"))
    with pytest.raises(RenderError, match=r"nowhere.*does not exist"):
        Renderer.for_config(config)


def _for(config: Config, subscriber: Subscriber, token: str) -> Digest:
    edition = Edition(1, "morning", SLOT, 3, SLOT, ARTICLES)
    subscription = Subscription(subscriber, "morning", (), SubscriptionState.ACTIVE, token)
    (digest,) = digests_for(config, edition, [subscription])
    return digest


def test_inlining_runs_once_per_distinct_document(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def counted(html: str, base_url: str) -> str:
        calls.append(html)
        return inline_css(html, base_url)

    monkeypatch.setattr(render, "inline_css", counted)
    size = render.INLINE_CACHE_SIZE
    cached = Renderer.for_config(config)
    fresh = Renderer.for_config(config)
    people = [
        Subscriber(1, "a@example.kr", "김하나"),
        Subscriber(2, "b@example.kr", ""),
        Subscriber(3, "c@example.kr", "박셋"),
    ]
    for index, person in enumerate(people):
        digest = _for(config, person, f"token-{index}")
        calls.clear()
        first = cached.render(digest).html
        cached_calls = len(calls)
        monkeypatch.setattr(render, "INLINE_CACHE_SIZE", 0)
        assert fresh.render(digest).html == first
        monkeypatch.setattr(render, "INLINE_CACHE_SIZE", size)
        # the greeting differs with and without a name: one document for each
        assert cached_calls == (0 if index == 2 else 1)
        # without a cache: premailer every time (and once more to fit the first message)
        assert len(calls) == cached_calls + (2 if index == 0 else 1)


def test_personalised_values_are_escaped(config: Config) -> None:
    renderer = Renderer.for_config(config)
    hostile = Subscriber(9, "x@example.kr", '<b>"이름"</b> & co')
    renderer.render(_for(config, Subscriber(8, "y@example.kr", "보통"), "t1"))
    html = renderer.render(_for(config, hostile, "a/b+c")).html
    assert "<b>" not in html and "syndplh" not in html.lower()
    assert "token=a%2Fb%2Bc" in html
    page = lxml_html.fromstring(html.encode())
    assert "x@example.kr" in page.text_content()


def test_template_mangling_placeholders_falls_back(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    folder = tmp_path / "mytemplates"
    folder.mkdir()
    (folder / "digest.html.j2").write_text(
        "<!DOCTYPE html><html><body><p>{{ email | upper }}</p></body></html>", encoding="utf-8"
    )
    config = load_config(write_config(templates=str(folder)))
    html = Renderer.for_config(config).render(_digest(config)).html
    assert "READER@EXAMPLE.KR" in html
