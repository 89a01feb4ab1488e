"""A reader's walk in Chromium: subscribe, confirm, change sections, unsubscribe.

Done as a person would: fields found by their labels, typed into with the keyboard,
buttons clicked; links come from the messages the digest's file delivery writes
(the confirmation mail, then a real edition with its "구독 설정" link). Every page
is checked (axe, screenshot) at 375 and 1280 px, and the same walk is made again with
JavaScript switched off.
"""

from __future__ import annotations

import email
import email.policy
import re
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import lxml.html
import pytest
from playwright.sync_api import Page

from syndicate import pipeline
from syndicate.model import Article, SubscriptionState
from tests.browser.chromium import (
    PHONE,
    Chromium,
    check_both,
    console_errors,
    focus_ring,
    has_visible_focus,
    horizontal_overflow,
    screenshot,
)
from tests.conftest import StartWeb, WebServer

pytestmark = pytest.mark.xdist_group("browser")  # one Chromium, one example site

THURSDAY_0800 = datetime(2026, 11, 25, 23, 0, tzinfo=UTC)  # Thursday 08:00 in Seoul
TITLE = "예시뉴스 아침 브리핑"
CHOSEN = ("IT·과학", "경제")  # the sections the reader keeps when subscribing
# (section id, its name) of the articles in the reader's first edition
NEWS = (("it", "IT·과학"), ("economy", "경제"), ("society", "사회"))


class Clock:
    """The server's clock: an hour after Thursday's edition."""

    moment = THURSDAY_0800 + timedelta(hours=1)

    def __call__(self) -> datetime:
        return self.moment


@pytest.fixture
def site(example_site: Path, web_server: StartWeb) -> WebServer:
    """The bundled example's configuration on a fresh SQLite store, served on 127.0.0.1."""
    return web_server(example_site / "schedules.yaml", now=Clock())


def look(page: Page, name: str) -> None:
    """Without JavaScript (axe needs it): screenshot, and no sideways scroll at 375 px."""
    screenshot(page, name)
    assert horizontal_overflow(page) == 0, name


# --- mail --------------------------------------------------------------------------------


def read_eml(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def part(message: EmailMessage, kind: str) -> str:
    body = message.get_body((kind,))
    assert body is not None, kind
    return str(body.get_content())


def outbox(site: WebServer) -> Path:
    return site.config.digests[0].delivery.folder  # type: ignore[union-attr]


def wait_for_mail(site: WebServer, pattern: str, address: str) -> EmailMessage:
    """The message to ``address`` matching ``pattern`` (it goes out after the answer)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for path in outbox(site).glob(pattern) if outbox(site).exists() else ():
            message = read_eml(path)
            if message["To"].addresses[0].addr_spec == address:
                return message
        time.sleep(0.02)
    raise AssertionError(f"no {pattern} message to {address} in {outbox(site)}")


def local(site: WebServer, public: str) -> str:
    """The test server's URL for a public one (``https://news.example.kr/…``)."""
    assert public.startswith(site.config.public_base_url), public
    return site.at(public.removeprefix(site.config.public_base_url))


def confirmation_link(site: WebServer, address: str) -> str:
    message = wait_for_mail(site, "confirm.*.eml", address)
    [link] = re.findall(r"https://\S+/confirm\?token=\S+", part(message, "plain"))
    return local(site, link)


def send_an_edition(site: WebServer) -> None:
    """Fresh articles in three sections, then Thursday's real edition of the digest."""
    articles = [
        Article(
            source_id="desk",
            guid=f"{section}-1",
            url=f"https://news.example.kr/{section}/1",
            title=f"오늘의 {name} 소식",
            section_id=section,
            summary_html="<p>요약</p>",
            published_at=THURSDAY_0800 - timedelta(hours=2),
        )
        for section, name in NEWS
    ]
    site.store.upsert_articles(articles, tag_authority=site.config.host, now=THURSDAY_0800)
    run = pipeline.run_digest(site.config, site.store, "morning", now=THURSDAY_0800)
    assert run.sent == 1, run


def digest_link(site: WebServer, address: str, text: str) -> str:
    """The href of the link reading ``text`` in the digest mailed to ``address``."""
    html = part(wait_for_mail(site, "morning.*.eml", address), "html")
    [href] = [a.get("href") for a in lxml.html.fromstring(html).iter("a") if a.text == text]
    return local(site, str(href))


def status_of(site: WebServer, address: str) -> tuple[SubscriptionState, tuple[str, ...]]:
    for person, subs in site.store.list_subscribers():
        if person.email == address:
            [sub] = subs
            return sub.status, tuple(sub.sections)
    raise AssertionError(f"{address} is not stored")


# --- the walk ----------------------------------------------------------------------------


def subscribe(page: Page, site: WebServer, address: str, name: str, check: bool) -> None:
    """Fill the form by its labels with the keyboard, first with the address mistyped;
    untick all sections but CHOSEN; send it, read the error, correct it, send again."""
    page.goto(site.at("subscribe/morning"))
    if check:
        check_both(page, "audience/subscribe")
    page.get_by_label("메일 주소").click()
    page.keyboard.type(address.split("@", maxsplit=1)[0] + "@")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "name"
    assert has_visible_focus(focus_ring(page)), "the name field shows no focus"
    page.keyboard.type(name)
    offered = page.get_by_role("group", name="받을 섹션").get_by_role("checkbox")
    assert offered.count() == 10 and all(box.is_checked() for box in offered.all())
    for box in offered.all():
        label = box.evaluate("box => box.labels[0].textContent.trim()")
        if label not in CHOSEN:
            box.uncheck()
    page.get_by_label("위 내용에 동의하고", exact=False).check()
    page.get_by_role("button", name="구독 신청").click()

    field = page.get_by_label("메일 주소")
    assert field.get_attribute("aria-invalid") == "true"
    assert page.get_by_role("alert").is_visible()
    assert page.get_by_label(CHOSEN[1], exact=True).is_checked()  # the choices are kept
    assert not page.get_by_label("산업", exact=True).is_checked()
    if check:
        check_both(page, "audience/subscribe-errors")
    assert not outbox(site).exists() or not list(outbox(site).glob("confirm.*.eml"))
    field.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(address)
    page.get_by_role("button", name="구독 신청").click()
    assert page.get_by_role("heading", level=1).inner_text() == "확인 메일을 보냈습니다"


def confirm(page: Page, site: WebServer, address: str, check: bool) -> None:
    """Open the mailed link, read what is asked, press the button."""
    page.goto(confirmation_link(site, address))
    assert page.get_by_role("heading", level=1).inner_text() == f"{TITLE} 구독 확인"
    assert f"받을 섹션: {', '.join(CHOSEN)}" in page.inner_text("main")
    if check:
        check_both(page, "audience/confirm")
    page.get_by_role("button", name="구독 확인").click()
    assert page.get_by_role("heading", level=1).inner_text() == "구독이 확인되었습니다"


def change_sections(page: Page, check: bool) -> None:
    """On the preferences page: add 사회, drop IT·과학, save."""
    assert page.get_by_role("heading", level=1).inner_text() == "구독 설정"
    if check:
        check_both(page, "audience/preferences")
    page.get_by_label("사회", exact=True).check()
    page.get_by_label("IT·과학", exact=True).uncheck()
    page.get_by_role("button", name="설정 저장").click()
    assert page.get_by_role("status").is_visible()


def unsubscribe(page: Page, check: bool) -> None:
    """From the preferences page's link: the confirmation page, then its button."""
    page.get_by_role("main").get_by_role("link", name="수신 거부", exact=True).click()
    assert page.get_by_role("heading", level=1).inner_text() == f"{TITLE} 수신 거부"
    if check:
        check_both(page, "audience/unsubscribe")
    page.get_by_role("button", name=f"{TITLE} 수신 거부", exact=True).click()
    assert page.get_by_role("heading", level=1).inner_text() == "수신 거부가 처리되었습니다"


def test_subscribe_confirm_change_sections_unsubscribe(chromium: Chromium, site: WebServer) -> None:
    address = "reader@example.kr"
    page = chromium.page(PHONE)
    errors = console_errors(page)

    subscribe(page, site, address, "한독자", check=True)
    check_both(page, "audience/subscribe-sent")
    assert status_of(site, address)[0] == SubscriptionState.PENDING

    confirm(page, site, address, check=True)
    check_both(page, "audience/confirmed")
    assert status_of(site, address) == (SubscriptionState.ACTIVE, ("it", "economy"))

    send_an_edition(site)
    page.goto(digest_link(site, address, "구독 설정"))
    change_sections(page, check=True)
    check_both(page, "audience/preferences-saved")
    assert status_of(site, address) == (SubscriptionState.ACTIVE, ("economy", "society"))

    unsubscribe(page, check=True)
    check_both(page, "audience/unsubscribed")
    assert status_of(site, address)[0] == SubscriptionState.UNSUBSCRIBED
    assert errors == [], "console errors (a refused stylesheet or script?)"


def test_the_walk_works_without_javascript(chromium: Chromium, site: WebServer) -> None:
    address = "nojs@example.kr"
    page = chromium.page(PHONE, javascript=False)
    page.set_content("<title>꺼짐</title><script>document.title = '켜짐'</script>")
    assert page.title() == "꺼짐"  # scripts really do not run in this context
    subscribe(page, site, address, "", check=False)
    look(page, "audience-nojs/subscribe-sent")
    confirm(page, site, address, check=False)
    look(page, "audience-nojs/confirmed")
    page.get_by_role("link", name="구독 설정").click()
    change_sections(page, check=False)
    look(page, "audience-nojs/preferences-saved")
    assert status_of(site, address) == (SubscriptionState.ACTIVE, ("economy", "society"))
    unsubscribe(page, check=False)
    look(page, "audience-nojs/unsubscribed")
    assert status_of(site, address)[0] == SubscriptionState.UNSUBSCRIBED
