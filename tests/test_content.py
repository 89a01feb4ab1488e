"""The message a newsroom is proud of: images, logo, brand colour, greeting, the legal
footer, (광고), weekly ranges, the size budget, quiet hours and grace."""

from __future__ import annotations

import email
import email.policy
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from lxml import html as lxml_html  # type: ignore[import-untyped, unused-ignore]

from syndicate import jobs
from syndicate.config import Config, load_config
from syndicate.config_digest import contrast_with_white
from syndicate.digest import awake_time, build_edition, check_due, digests_for
from syndicate.errors import ConfigError, EditionNotDue
from syndicate.mail import compose
from syndicate.model import (
    Article,
    Digest,
    Edition,
    Subscriber,
    Subscription,
    SubscriptionState,
)
from syndicate.pipeline import open_store, run_digest
from syndicate.render import Renderer
from syndicate.render_views import lead_image
from tests.conftest import BASE_CONFIG, invoke_syndicate

SEOUL_0700 = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)  # Saturday 28 Nov, 07:00 in Seoul
SUNDAY_0700 = datetime(2026, 11, 28, 22, 0, tzinfo=UTC)  # Sunday 29 Nov, 07:00 in Seoul
SEOUL_2200 = datetime(2026, 11, 28, 13, 0, tzinfo=UTC)  # Saturday 28 Nov, 22:00 in Seoul


def _digest_config(**overrides: Any) -> dict[str, Any]:
    digest = dict(BASE_CONFIG["digests"][0])
    digest.update(overrides)
    return digest


def _config(write_config: Callable[..., Path], top: Any = None, **digest: Any) -> Config:
    return load_config(write_config(digests=[_digest_config(**digest)], **(top or {})))


def _article(seq: int, section: str = "it", **fields: Any) -> Article:
    values: dict[str, Any] = {
        "source_id": "src",
        "guid": f"g{seq}",
        "url": f"https://news.example.kr/article/{seq}",
        "title": f"기사 제목 {seq}",
        "section_id": section,
        "published_at": datetime(2026, 11, 27, 20, seq % 60, tzinfo=UTC),
        "seq": seq,
    }
    values.update(fields)
    return Article(**values)


def _digest(
    config: Config,
    articles: tuple[Article, ...],
    *,
    name: str = "김독자",
    slot: datetime = SEOUL_0700,
) -> Digest:
    subscriber = Subscriber(7, "reader@example.kr", name)
    subscription = Subscription(subscriber, "morning", (), SubscriptionState.ACTIVE, "tok")
    edition = Edition(1, "morning", slot, 3, slot, articles)
    (digest,) = digests_for(config, edition, [subscription])
    return digest


# ---------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("digest", "problem"),
    [
        ({"brand_color": "#ffcc00"}, "digests[0].brand_color: '#ffcc00' has a contrast of 1.5:1"),
        ({"brand_color": "blue"}, "digests[0].brand_color: 'blue' is not a hex colour"),
        (
            {"logo": {"url": "http://news.example.kr/l.png", "width": 10, "height": 5}},
            "digests[0].logo.url: 'http://news.example.kr/l.png' is not an absolute https:// URL",
        ),
        ({"logo": {"url": "https://x.kr/l.png"}}, "digests[0].logo.width: required"),
        ({"quiet_hours": {"start": "25:00"}}, "digests[0].quiet_hours.start: '25:00' is not a"),
        ({"grace": "10s"}, "digests[0].grace: invalid duration '10s': between 1m and 7d"),
        ({"size_budget": 100}, "digests[0].size_budget"),
        ({"advertising": "yes"}, "digests[0].advertising"),
        ({"publisher": {"name": "뉴스"}}, "digests[0].publisher.address: required"),
    ],
)
def test_bad_keys_are_named_by_their_path(
    write_config: Callable[..., Path], digest: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ConfigError) as info:
        _config(write_config, **digest)
    assert problem in str(info.value)


def test_quiet_hours_true_means_nine_to_eight(write_config: Callable[..., Path]) -> None:
    digest = _config(write_config, quiet_hours=True).digests[0]
    assert digest.quiet_hours is not None
    assert (str(digest.quiet_hours.start), str(digest.quiet_hours.end)) == ("21:00:00", "08:00:00")
    assert _config(write_config).digests[0].quiet_hours is None


def test_contrast_ratio_matches_wcag() -> None:
    assert round(contrast_with_white("#000000"), 1) == 21.0
    assert round(contrast_with_white("#fff"), 1) == 1.0
    assert round(contrast_with_white("#1a4fa0"), 1) == 7.9


def test_check_validates_the_new_keys(write_config: Callable[..., Path]) -> None:
    path = write_config(brand_color="#eeeeee")
    result = invoke_syndicate("check", cwd=path.parent)
    assert result.returncode != 0
    assert "brand_color: '#eeeeee' has a contrast of" in result.stdout + result.stderr


# ---------------------------------------------------------------- images, logo, colour


@pytest.mark.parametrize(
    ("image", "article_url", "expected"),
    [
        ("https://img.example.kr/a.jpg", "", "https://img.example.kr/a.jpg"),
        ("/img/a.jpg", "https://news.example.kr/article/1", "https://news.example.kr/img/a.jpg"),
        ("/img/a.jpg", "http://news.example.kr/article/1", ""),
        ("http://img.example.kr/a.jpg", "https://news.example.kr/1", ""),
        ("data:image/png;base64,AAAA", "https://news.example.kr/1", ""),
        ("javascript:alert(1)", "https://news.example.kr/1", ""),
        ("", "https://news.example.kr/1", ""),
    ],
)
def test_lead_image_is_absolute_https_only(image: str, article_url: str, expected: str) -> None:
    assert lead_image(_article(1, url=article_url, image_url=image)) == expected


def test_lead_image_logo_and_brand_colour(write_config: Callable[..., Path]) -> None:
    config = _config(
        write_config,
        logo={"url": "https://news.example.kr/logo.png", "width": 150, "height": 30},
        brand_color="#0b5c3b",
        images={"width": 480, "height": 270},
    )
    title = '반도체 <수출> "급증"'
    articles = (
        _article(1, title=title, image_url="https://img.example.kr/a.jpg"),
        _article(2, image_url="http://img.example.kr/b.jpg"),
    )
    doc = lxml_html.document_fromstring(Renderer().render(_digest(config, articles)).html)
    (image,) = doc.cssselect("img.lead-image")
    assert (image.get("src"), image.get("width"), image.get("height")) == (
        "https://img.example.kr/a.jpg",
        "480",
        "270",
    )
    assert image.get("alt") == title
    style = image.get("style").replace(" ", "")
    assert "max-width:100%" in style and "height:auto" in style
    (logo,) = doc.cssselect("img.logo")
    assert (logo.get("width"), logo.get("height"), logo.get("alt")) == ("150", "30", "아침 브리핑")
    assert "color:#0b5c3b" in doc.cssselect("h2.section-title")[0].get("style")
    assert "#0b5c3b" in doc.cssselect("td.header")[0].get("style")


def test_images_can_be_turned_off(write_config: Callable[..., Path]) -> None:
    config = _config(write_config, images={"show": False})
    html = Renderer().render(_digest(config, (_article(1, image_url="https://i.kr/a.jpg"),))).html
    assert "<img" not in html


# ---------------------------------------------------------------- greeting and footer


def test_greeting_uses_the_escaped_name_never_the_address(
    write_config: Callable[..., Path],
) -> None:
    config = _config(write_config)
    rendered = Renderer().render(_digest(config, (_article(1),), name="<b>김&이</b>"))
    doc = lxml_html.document_fromstring(rendered.html)
    assert doc.cssselect("td.greeting")[0].text_content().strip() == "<b>김&이</b> 님, 안녕하세요."
    assert "&lt;b&gt;김&amp;이&lt;/b&gt; 님" in rendered.html
    assert "<b>김&이</b> 님, 안녕하세요." in rendered.text
    anonymous = Renderer().render(_digest(config, (_article(1),), name=""))
    greeting = lxml_html.document_fromstring(anonymous.html).cssselect("td.greeting")[0]
    assert greeting.text_content().strip() == "구독자님, 안녕하세요."
    assert "reader@example.kr" not in greeting.text_content()


def test_footer_names_sender_address_contact_and_how_to_leave(
    write_config: Callable[..., Path],
) -> None:
    publisher = {"name": "예시뉴스(주)", "address": "서울특별시 중구 세종대로 1", "contact": "02-1"}
    config = _config(write_config, publisher=publisher)
    rendered = Renderer().render(_digest(config, (_article(1),)))
    footer = lxml_html.document_fromstring(rendered.html).cssselect("td.footer")[0]
    text = " ".join(footer.text_content().split())
    assert "발신: 예시뉴스(주) · 서울특별시 중구 세종대로 1 · 연락처: 02-1" in text
    assert "더 이상 받지 않으시려면 아래 '수신 거부'를 누르세요." in text
    assert "02-1(으)로 알려 주셔도 됩니다." in text
    assert "발신: 예시뉴스(주)\n서울특별시 중구 세종대로 1\n연락처: 02-1" in rendered.text
    top = _config(write_config, top={"publisher": {**publisher, "name": "상위"}})
    assert "발신: 상위\n" in Renderer().render(_digest(top, (_article(1),))).text
    without = Renderer().render(_digest(_config(write_config), (_article(1),)))
    assert "발신: 테스트뉴스" in without.text  # From's name when no publisher is configured


def test_advertising_digest_subject_starts_with_the_label(
    write_config: Callable[..., Path],
) -> None:
    config = _config(write_config, advertising=True)
    rendered = Renderer().render(_digest(config, (_article(1),)))
    assert rendered.subject == "(광고) 아침 브리핑 · 11월 28일(토)"
    message = email.message_from_bytes(
        compose(rendered, now=SEOUL_0700).as_bytes(), policy=email.policy.default
    )
    assert str(message["Subject"]) == "(광고) 아침 브리핑 · 11월 28일(토)"
    plain = Renderer().render(_digest(_config(write_config), (_article(1),)))
    assert not plain.subject.startswith("(광고)")


def test_weekly_digest_shows_its_date_range(write_config: Callable[..., Path]) -> None:
    config = _config(write_config, schedule="0 7 * * 0")
    rendered = Renderer().render(_digest(config, (_article(1),), slot=SUNDAY_0700))
    assert rendered.subject == "아침 브리핑 · 11월 23일 – 11월 29일"
    assert "2026년 11월 23일 – 11월 29일" in rendered.html
    daily = Renderer().render(_digest(_config(write_config), (_article(1),), slot=SUNDAY_0700))
    assert daily.subject == "아침 브리핑 · 11월 29일(일)"


# ---------------------------------------------------------------- size budget


def _html_part(message: EmailMessage) -> EmailMessage:
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    for part in parsed.walk():
        if part.get_content_type() == "text/html":
            assert isinstance(part, EmailMessage)
            return part
    raise AssertionError("no HTML part")


def _big_edition() -> tuple[Article, ...]:
    summary = "<p>" + "반도체 수출이 석 달 연속 크게 늘었다고 정부가 밝혔다. " * 6 + "</p>"
    sections = ["it"] * 30 + ["economy"] * 12 + ["society"] * 4
    return tuple(
        _article(n, section, summary_html=summary, title=f"{section} 기사 {n} 한국어 제목입니다")
        for n, section in enumerate(sections, start=1)
    )


@pytest.mark.parametrize("archive", [True, False])
def test_a_digest_over_its_budget_is_trimmed_below_it(
    write_config: Callable[..., Path], caplog: pytest.LogCaptureFixture, archive: bool
) -> None:
    budget = 30_000
    config = _config(write_config, size_budget=budget, max_per_section=50, archive=archive)
    digest = _digest(config, _big_edition())
    untrimmed = _config(write_config, max_per_section=50, archive=archive)
    full = compose(Renderer().render(_digest(untrimmed, _big_edition())), now=SEOUL_0700)
    assert len(_html_part(full).as_bytes()) > budget  # the content would not fit
    with caplog.at_level(logging.INFO, logger="syndicate.render"):
        rendered = Renderer().render(digest)
    part = _html_part(compose(rendered, now=SEOUL_0700))
    assert part["Content-Transfer-Encoding"] in ("quoted-printable", "base64")
    assert len(part.as_bytes()) <= budget
    doc = lxml_html.document_fromstring(part.get_content())
    titles = [h.text_content() for h in doc.cssselect("h3.article-title")]
    kept = {s: sum(t.startswith(f"{s} ") for t in titles) for s in ("it", "economy", "society")}
    assert kept["it"] < 30 and kept["society"] == 4  # the longest section gave way first
    assert kept["it"] >= kept["economy"] - 1
    more = {a.text_content(): a.get("href") for a in doc.cssselect("td.more a")}
    it_more = more[f"IT·과학 기사 {30 - kept['it']}건 더 보기"]
    if archive:
        assert it_more == "https://news.example.kr/archive/morning/2026-11-28-0700#section-it"
    else:
        assert it_more == "https://news.example.kr/feeds/it.rss.xml"
    assert f"IT·과학 기사 {30 - kept['it']}건 더 보기: {it_more}" in rendered.text
    (line,) = [r.getMessage() for r in caplog.records if "trimmed" in r.getMessage()]
    assert line.startswith("digest morning edition 2026-11-27T22:00+00:00: HTML part trimmed")
    assert f"budget {budget}" in line and f"it -{30 - kept['it']}" in line


def test_a_digest_within_its_budget_is_whole(
    write_config: Callable[..., Path], caplog: pytest.LogCaptureFixture
) -> None:
    config = _config(write_config, max_per_section=50)
    with caplog.at_level(logging.INFO, logger="syndicate.render"):
        html = Renderer().render(_digest(config, _big_edition())).html
    assert "더 보기" not in html and html.count('class="article-title"') == 46
    assert not [r for r in caplog.records if "trimmed" in r.getMessage()]


# ---------------------------------------------------------------- quiet hours and grace


def test_awake_time_leaves_out_the_quiet_hours(write_config: Callable[..., Path]) -> None:
    config = _config(write_config, quiet_hours=True)
    quiet, zone = config.digests[0].quiet_hours, config.timezone
    nine_pm = SEOUL_2200 - timedelta(hours=1)
    assert awake_time(quiet, nine_pm - timedelta(minutes=30), SEOUL_2200, zone) == timedelta(
        minutes=30
    )
    eight_am = SEOUL_2200 + timedelta(hours=10)
    assert awake_time(quiet, SEOUL_2200, eight_am + timedelta(minutes=5), zone) == timedelta(
        minutes=5
    )
    assert awake_time(None, SEOUL_2200, eight_am, zone) == timedelta(hours=10)


def test_an_edition_due_in_quiet_hours_waits_until_they_end(
    write_config: Callable[..., Path],
) -> None:
    config = _config(write_config, schedule="0 22 * * *", quiet_hours=True, grace="1h")
    digest = config.digests[0]
    with pytest.raises(EditionNotDue) as info:
        check_due(config, digest, SEOUL_2200, SEOUL_2200)
    eight_am = SEOUL_2200 + timedelta(hours=10)
    assert info.value.until == eight_am
    assert "waits for the end of quiet hours (2026-11-29T08:00+09:00)" in str(info.value)
    check_due(config, digest, SEOUL_2200, eight_am + timedelta(minutes=30))  # no raise
    store = open_store(config)
    try:
        with pytest.raises(EditionNotDue):
            build_edition(config, store, "morning", now=SEOUL_2200 + timedelta(minutes=5))
        assert store.last_edition("morning") is None  # nothing built inside quiet hours
        edition, created = build_edition(config, store, "morning", now=eight_am)
        assert created and edition.slot == SEOUL_2200  # dated by its slot
    finally:
        store.close()


def test_a_slot_past_its_grace_is_skipped_with_a_log_line(
    write_config: Callable[..., Path], caplog: pytest.LogCaptureFixture
) -> None:
    config = _config(write_config, grace="1h")
    store = open_store(config)
    try:
        late = SEOUL_0700 + timedelta(hours=1, minutes=1)
        with (
            caplog.at_level(logging.WARNING, logger="syndicate.digest"),
            pytest.raises(EditionNotDue) as info,
        ):
            run_digest(config, store, "morning", now=late)
        assert info.value.until is None
        assert [r.getMessage() for r in caplog.records] == [
            "digest morning: edition for 2026-11-28T07:00+09:00 skipped: built 1h01m after its "
            "slot, past the grace of 1h00m"
        ]
        assert store.last_edition("morning") is None
        run = run_digest(config, store, "morning", now=SEOUL_0700 + timedelta(minutes=59))
        assert run.created
    finally:
        store.close()


def test_a_digest_slot_in_quiet_hours_waits_for_their_end(
    write_config: Callable[..., Path],
) -> None:
    config = _config(write_config, schedule="0 22 * * *", quiet_hours=True)
    store = open_store(config)
    try:
        waiting = jobs.plan(config, store, SEOUL_2200, {})
        assert [d.job.id for d in waiting.due] == ["collect", "prune"] and waiting.skipped == []
        morning = jobs.plan(config, store, SEOUL_2200 + timedelta(hours=10), {})
        assert [(d.job.id, d.slot) for d in morning.due if d.job.kind == jobs.DIGEST] == [
            ("digest:morning", SEOUL_2200)
        ]
        assert store.last_edition("morning") is None
    finally:
        store.close()


def test_the_cli_says_why_no_edition_was_built(write_config: Callable[..., Path]) -> None:
    path = write_config(digests=[_digest_config(grace="1m", schedule="0 0 1 1 *")])
    invoke_syndicate("db", "upgrade", cwd=path.parent)
    result = invoke_syndicate("digest", "morning", cwd=path.parent)
    assert result.returncode == 0, result.stderr
    assert "skipped: built" in result.stdout and "past the grace of 0h01m" in result.stdout
