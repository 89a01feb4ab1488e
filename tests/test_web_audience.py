"""Unsubscribe, subscribe with confirmation, and preferences under a real uvicorn server.

Every flow runs on SQLite and on PostgreSQL. Mail goes through the digest's file
delivery: links are read from the .eml files a person would get, and real
editions (the digest stage) show who gets what afterwards.
"""

from __future__ import annotations

import email
import email.policy
import re
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from syndicate import pipeline
from syndicate.model import Article, ConsentMethod, Subscription, SubscriptionState
from tests.conftest import StartWeb, WebServer

THURSDAY_0800 = datetime(2026, 11, 25, 23, 0, tzinfo=UTC)  # Thursday 08:00 in Seoul
FRIDAY_0800 = datetime(2026, 11, 26, 23, 0, tzinfo=UTC)
ACTIVE, GONE, PENDING = (
    SubscriptionState.ACTIVE,
    SubscriptionState.UNSUBSCRIBED,
    SubscriptionState.PENDING,
)
PER_CLIENT = 6
PER_ADDRESS = 2


class Clock:
    """The server's clock, moved by the test."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


@pytest.fixture
def clock() -> Clock:
    return Clock(THURSDAY_0800 + timedelta(hours=1))


@pytest.fixture
def site(
    example_site: Path, migrated_store_url: str, web_server: StartWeb, clock: Clock
) -> WebServer:
    """The example site (plus a digest 'evening') served on SQLite or PostgreSQL."""
    path = example_site / "schedules.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["store"] = migrated_store_url
    evening = dict(data["digests"][0], id="evening", title="예시뉴스 저녁", schedule="0 18 * * *")
    evening["sections"] = ["economy", "society"]
    data["digests"].append(evening)
    data["web"] = {"rate_limits": {"per_client": PER_CLIENT, "per_address": PER_ADDRESS}}
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return web_server(path, now=clock)


# --- helpers: mail, editions, pages ---------------------------------------------------------


def outbox(site: WebServer) -> Path:
    return site.config.digests[0].delivery.folder  # type: ignore[union-attr]


def mails(site: WebServer, pattern: str = "*.eml") -> set[Path]:
    folder = outbox(site)
    return set(folder.glob(pattern)) if folder.exists() else set()


def read_eml(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content()).replace("\r\n", "\n")


def local(site: WebServer, public: str) -> str:
    """The URL on the test server of a public URL (``https://news.example.kr/…``)."""
    assert public.startswith(site.config.public_base_url), public
    return site.at(public.removeprefix(site.config.public_base_url))


def subscribed(
    site: WebServer, address: str, digest_id: str = "morning", **kw: Any
) -> Subscription:
    person = site.store.upsert_subscriber(address)
    return site.store.set_subscription(
        person.id, digest_id, kw.pop("sections", []), consent_at=THURSDAY_0800, **kw
    )


def status_of(site: WebServer, address: str) -> dict[str, SubscriptionState]:
    for person, subs in site.store.list_subscribers():
        if person.email == address:
            return {s.digest_id: s.status for s in subs}
    return {}


def fresh_articles(site: WebServer, now: datetime, *sections: str) -> None:
    """One new article per section, stored as a collection at ``now`` would."""
    articles = [
        Article(
            source_id="test",
            guid=f"{section}-{now.isoformat()}",
            url=f"https://news.example.kr/{section}/{now:%Y%m%d%H}",
            title=f"새 기사 {section}",
            section_id=section,
            summary_html="<p>요약</p>",
            published_at=now,
        )
        for section in sections
    ]
    site.store.upsert_articles(articles, tag_authority=site.config.host, now=now)


def edition(site: WebServer, now: datetime) -> dict[str, set[str]]:
    """Run a real edition of 'morning'; map each recipient to the sections they got."""
    before = mails(site)
    pipeline.run_digest(site.config, site.store, "morning", now=now)
    names = {s.name: s.id for s in site.config.section_list()}
    got: dict[str, set[str]] = {}
    for path in mails(site) - before:
        message = read_eml(path)
        text = text_of(message)
        got[message["To"].addresses[0].addr_spec] = {
            section_id for name, section_id in names.items() if f"\n■ {name}\n" in text
        }
    return got


def first_edition(site: WebServer) -> dict[str, set[str]]:
    """Collect the example sources and run Thursday's edition."""
    pipeline.run_collect(site.config, site.store, now=THURSDAY_0800)
    return edition(site, THURSDAY_0800)


def field_value(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, name
    return found.group(1)


def korean_page(response: httpx.Response) -> str:
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert '<html lang="ko">' in response.text and "Traceback" not in response.text
    return response.text


def wait_for(check: Callable[[], Any], seconds: float = 10) -> Any:
    """Poll ``check`` until it returns something true (the mail goes out after the answer)."""
    deadline = time.monotonic() + seconds
    while not (found := check()):
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)
    return found


# --- unsubscribe -----------------------------------------------------------------------------


def test_one_click_from_a_real_digest_stops_the_next_edition(site: WebServer) -> None:
    subscribed(site, "kim@example.kr")
    subscribed(site, "lee@example.kr")
    assert set(first_edition(site)) == {"kim@example.kr", "lee@example.kr"}
    [kim_mail] = [p for p in mails(site) if "kim@example.kr" in read_eml(p)["To"]]
    message = read_eml(kim_mail)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = local(site, message["List-Unsubscribe"].strip("<>"))
    with httpx.Client(follow_redirects=False) as client:
        for _ in range(2):  # repeating it is harmless
            response = client.post(
                url,
                content=b"List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            assert response.status_code == 200 and not response.is_redirect
            assert "set-cookie" not in response.headers
            assert len(response.content) < 200 and "수신 거부" in response.text
        multipart = client.post(url, files={"List-Unsubscribe": (None, b"One-Click")})
        assert multipart.status_code == 200 and "set-cookie" not in multipart.headers
        assert not client.cookies
    assert status_of(site, "kim@example.kr") == {"morning": GONE}
    fresh_articles(site, FRIDAY_0800 - timedelta(hours=2), "it")
    assert set(edition(site, FRIDAY_0800)) == {"lee@example.kr"}


def test_get_shows_a_page_and_never_unsubscribes(site: WebServer) -> None:
    sub = subscribed(site, "kim@example.kr")
    url = site.at(f"unsubscribe?token={sub.token}")
    for _ in range(3):
        page = korean_page(httpx.get(url))
        assert "k***@example.kr" in page and "kim@example.kr" not in page
        assert "예시뉴스 아침 브리핑" in page and 'method="post"' in page
        assert httpx.head(url).status_code == 200
    assert status_of(site, "kim@example.kr") == {"morning": ACTIVE}
    response = httpx.post(url, data={"scope": "one"})
    assert response.status_code == 200 and "수신 거부가 처리되었습니다" in korean_page(response)
    assert status_of(site, "kim@example.kr") == {"morning": GONE}
    again = korean_page(httpx.get(url))
    assert "받고 있지 않습니다" in again


def test_leaving_every_digest_needs_the_page_token(site: WebServer) -> None:
    sub = subscribed(site, "kim@example.kr")
    subscribed(site, "kim@example.kr", "evening")
    url = site.at(f"unsubscribe?token={sub.token}")
    forged = httpx.post(url, data={"scope": "all", "csrf": "1.abc"})
    assert forged.status_code == 403
    assert status_of(site, "kim@example.kr") == {"evening": ACTIVE, "morning": ACTIVE}
    csrf = field_value(httpx.get(url).text, "csrf")
    done = httpx.post(url, data={"scope": "all", "csrf": csrf})
    assert done.status_code == 200
    assert "예시뉴스 저녁" in done.text and "예시뉴스 아침 브리핑" in done.text
    assert status_of(site, "kim@example.kr") == {"evening": GONE, "morning": GONE}


@pytest.mark.parametrize(
    "query",
    ["", "token=", "token=abc", "token=%00%01", "token=../../etc/passwd", "token=a&token=b"],
)
def test_malformed_tokens_are_400_and_change_nothing(site: WebServer, query: str) -> None:
    sub = subscribed(site, "kim@example.kr")
    for path in ("unsubscribe", "preferences", "confirm"):
        url = site.at(f"{path}?{query}")
        for response in (httpx.get(url), httpx.post(url, data={"List-Unsubscribe": "One-Click"})):
            assert response.status_code == 400, (path, response.status_code)
            page = korean_page(response)
            assert "kim" not in page and sub.token not in page
    assert status_of(site, "kim@example.kr") == {"morning": ACTIVE}


def test_a_forged_token_is_400_with_what_to_do(site: WebServer) -> None:
    sub = subscribed(site, "kim@example.kr")
    forged = sub.token[:-4] + ("AAAA" if not sub.token.endswith("AAAA") else "BBBB")
    for path in ("unsubscribe", "preferences"):
        url = site.at(f"{path}?token={forged}")
        get, post = httpx.get(url), httpx.post(url, data={"List-Unsubscribe": "One-Click"})
        assert get.status_code == post.status_code == 400
        assert get.text == post.text
        assert "구독을 새로 신청" in korean_page(get) and "kim" not in get.text
    assert status_of(site, "kim@example.kr") == {"morning": ACTIVE}


def test_wrong_methods_and_oversized_bodies(site: WebServer) -> None:
    sub = subscribed(site, "kim@example.kr")
    url = site.at(f"unsubscribe?token={sub.token}")
    put = httpx.put(url)
    assert put.status_code == 405
    assert set(put.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "POST"}
    huge = httpx.post(url, content=b"x=" + b"a" * 20_000)
    assert huge.status_code == 413 and "요청이 너무 큽니다" in korean_page(huge)
    assert httpx.get(site.at("subscribe/nope")).status_code == 404
    assert status_of(site, "kim@example.kr") == {"morning": ACTIVE}


# --- subscribe and confirm -------------------------------------------------------------------


def open_form(client: httpx.Client, site: WebServer, digest_id: str = "morning") -> str:
    response = client.get(site.at(f"subscribe/{digest_id}"))
    assert response.status_code == 200
    return korean_page(response)


def post_form(
    client: httpx.Client, site: WebServer, address: str, sections: list[str], **extra: str
) -> httpx.Response:
    csrf = field_value(open_form(client, site), "csrf")
    data: dict[str, Any] = {"email": address, "sections": sections, "consent": "yes"}
    data.update({"csrf": csrf, "name": "", "website": "", **extra})
    return client.post(site.at("subscribe/morning"), data=data)


def confirmation_link(site: WebServer, address: str, before: set[Path]) -> str:
    def arrived() -> list[Path]:
        return [p for p in mails(site, "confirm.*.eml") - before if address in read_eml(p)["To"]]

    [path] = wait_for(arrived)
    [link] = re.findall(r"https://\S+/confirm\?token=\S+", text_of(read_eml(path)))
    return local(site, link)


def test_the_form_is_labelled_ticked_and_names_the_sender(site: WebServer) -> None:
    with httpx.Client() as client:
        page = open_form(client, site)
        cookie = client.cookies.get("syndicate_form")
    assert (
        cookie and "syndicate_form" in httpx.get(site.at("subscribe/morning")).headers["set-cookie"]
    )
    assert '<label for="email">' in page and 'id="email"' in page
    assert "<legend>받을 섹션</legend>" in page
    offered = site.config.digest_sections(site.config.digests[0])
    assert page.count('name="sections"') == len(offered) == page.count(" checked>")
    assert "예시뉴스(newsletter@news.example.kr)" in page
    assert 'class="hp" aria-hidden="true"' in page and 'tabindex="-1"' in page
    assert "style=" not in page and "<script" not in page
    chooser = korean_page(httpx.get(site.at("subscribe")))
    assert 'href="/subscribe/evening"' in chooser and 'href="/subscribe/morning"' in chooser


def test_subscribe_confirm_then_the_next_edition_has_the_chosen_sections(
    site: WebServer, clock: Clock
) -> None:
    first_edition(site)
    before = mails(site)
    with httpx.Client() as client:
        answer = post_form(client, site, "New@Example.kr", ["economy", "society"], name="새 독자")
    assert answer.status_code == 200 and "확인 메일을 보냈습니다" in korean_page(answer)
    link = confirmation_link(site, "new@example.kr", before)
    assert status_of(site, "new@example.kr") == {"morning": PENDING}
    page = korean_page(httpx.get(link))
    assert "n***@example.kr" in page and "경제, 사회" in page
    assert status_of(site, "new@example.kr") == {"morning": PENDING}  # GET confirms nothing
    csrf = field_value(page, "csrf")
    clock.moment += timedelta(hours=1)
    done = httpx.post(link, data={"csrf": csrf}, follow_redirects=False)
    assert done.status_code == 200 and "구독이 확인되었습니다" in korean_page(done)
    [sub] = site.store.subscriptions_of(site.store.upsert_subscriber("new@example.kr").id)
    assert (sub.status, sub.sections, sub.consent_at) == (
        ACTIVE,
        ("economy", "society"),
        clock.moment,
    )
    assert sub.consent_method == ConsentMethod.DOUBLE_OPT_IN and sub.subscriber.name == "새 독자"
    assert httpx.post(link, data={"csrf": csrf}).status_code == 400  # used
    fresh_articles(site, FRIDAY_0800 - timedelta(hours=2), "it", "economy")
    assert edition(site, FRIDAY_0800)["new@example.kr"] == {"economy"}


def test_an_expired_confirmation_is_refused(site: WebServer, clock: Clock) -> None:
    before = mails(site)
    with httpx.Client() as client:
        post_form(client, site, "late@example.kr", ["it"])
    link = confirmation_link(site, "late@example.kr", before)
    clock.moment += timedelta(hours=47)
    csrf = field_value(httpx.get(link).text, "csrf")
    clock.moment += timedelta(hours=2)
    for response in (httpx.get(link), httpx.post(link, data={"csrf": csrf})):
        assert response.status_code == 400
        assert "다시 신청" in korean_page(response)
    assert status_of(site, "late@example.kr") == {"morning": PENDING}


def test_someone_who_left_comes_back_only_by_confirming(site: WebServer) -> None:
    sub = subscribed(site, "back@example.kr", status=GONE)
    before = mails(site)
    with httpx.Client() as client:
        post_form(client, site, "back@example.kr", ["it"])
    link = confirmation_link(site, "back@example.kr", before)
    assert status_of(site, "back@example.kr") == {"morning": GONE}
    httpx.post(link, data={"csrf": field_value(httpx.get(link).text, "csrf")})
    assert status_of(site, "back@example.kr") == {"morning": ACTIVE}
    assert site.store.subscription_by_token(sub.token) is not None  # the same subscription


def test_the_answer_is_the_same_for_new_subscribed_and_unsubscribed(site: WebServer) -> None:
    subscribed(site, "old@example.kr")
    subscribed(site, "gone@example.kr", status=GONE)
    bodies = set()
    for address in ("fresh@example.kr", "old@example.kr", "gone@example.kr"):
        with httpx.Client() as client:
            response = post_form(client, site, address, ["it"])
        assert response.status_code == 200
        bodies.add(response.text)
    assert len(bodies) == 1
    assert status_of(site, "old@example.kr") == {"morning": ACTIVE}
    assert status_of(site, "gone@example.kr") == {"morning": GONE}


def test_honeypot_gets_the_same_answer_and_nothing_happens(site: WebServer) -> None:
    with httpx.Client() as client:
        normal = post_form(client, site, "person@example.kr", ["it"])
        bot = post_form(client, site, "bot@example.kr", ["it"], website="http://spam.example")
    assert bot.status_code == 200 and bot.text == normal.text
    wait_for(lambda: mails(site, "confirm.*.eml"))
    time.sleep(0.3)
    assert all("bot@" not in str(read_eml(p)["To"]) for p in mails(site))
    assert status_of(site, "bot@example.kr") == {}


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"email": "not-an-address"}, 'aria-describedby="email-error"'),
        ({"email": "kim@example.kr\nBcc: x@example.kr"}, "email 값이 올바르지 않습니다"),
        ({"sections": []}, 'aria-describedby="sections-error"'),
        ({"sections": ["it", "weather"]}, 'aria-describedby="sections-error"'),
        ({"consent": ""}, 'aria-describedby="consent-error"'),
        ({"name": "가" * 101}, 'aria-describedby="name-error"'),
    ],
)
def test_invalid_fields_are_400_and_store_nothing(
    site: WebServer, fields: dict[str, Any], problem: str
) -> None:
    with httpx.Client() as client:
        csrf = field_value(open_form(client, site), "csrf")
        data: dict[str, Any] = {"email": "kim@example.kr", "sections": ["it"], "consent": "yes"}
        data.update({"csrf": csrf, **fields})
        response = client.post(site.at("subscribe/morning"), data=data)
    assert response.status_code == 400
    assert problem in korean_page(response)
    assert site.store.list_subscribers() == []


def test_a_post_without_the_form_cookie_or_token_is_403(site: WebServer) -> None:
    with httpx.Client() as client:
        csrf = field_value(open_form(client, site), "csrf")
    data = {"email": "kim@example.kr", "sections": "it", "consent": "yes", "csrf": csrf}
    response = httpx.post(site.at("subscribe/morning"), data=data)  # no cookie
    assert response.status_code == 403 and "새로 고친" in korean_page(response)
    assert site.store.list_subscribers() == []


def test_rate_limits(site: WebServer) -> None:
    before = mails(site)
    with httpx.Client() as client:
        answers = [post_form(client, site, "same@example.kr", ["it"]) for _ in range(3)]
        assert {a.status_code for a in answers} == {200} and len({a.text for a in answers}) == 1
        wait_for(lambda: len(mails(site, "confirm.*.eml") - before) >= PER_ADDRESS)
        for _ in range(PER_CLIENT - 3):
            assert post_form(client, site, "other@example.kr", ["it"]).status_code == 200
        limited = post_form(client, site, "third@example.kr", ["it"])
    assert limited.status_code == 429 and limited.headers["retry-after"] == "3600"
    assert "요청이 너무 많습니다" in korean_page(limited)
    time.sleep(0.3)
    same = [p for p in mails(site, "confirm.*.eml") - before if "same@" in str(read_eml(p)["To"])]
    assert len(same) == PER_ADDRESS
    assert status_of(site, "third@example.kr") == {}


# --- preferences -----------------------------------------------------------------------------


def preferences_page(site: WebServer, token: str) -> str:
    return korean_page(httpx.get(site.at(f"preferences?token={token}")))


def save_preferences(site: WebServer, token: str, **fields: Any) -> httpx.Response:
    csrf = field_value(preferences_page(site, token), "csrf")
    return httpx.post(site.at(f"preferences?token={token}"), data={"csrf": csrf, **fields})


def test_preferences_change_sections_and_join_another_digest(site: WebServer) -> None:
    sub = subscribed(site, "kim@example.kr", sections=["it"])
    first_edition(site)
    page = preferences_page(site, sub.token)
    assert "k***@example.kr" in page and "예시뉴스 저녁" in page
    assert page.count("<legend>") == 2 * len(site.config.digests) + 1
    response = save_preferences(
        site,
        sub.token,
        digest=["morning", "evening"],
        **{"sections-morning": ["economy"], "sections-evening": ["economy", "society"]},
    )
    assert response.status_code == 200 and "저장했습니다" in korean_page(response)
    subs = {s.digest_id: s for s in site.store.subscriptions_of(sub.subscriber.id)}
    assert subs["morning"].sections == ("economy",)
    assert subs["evening"].status is ACTIVE and subs["evening"].sections == ()
    assert subs["evening"].consent_method == ConsentMethod.PREFERENCES
    fresh_articles(site, FRIDAY_0800 - timedelta(hours=2), "it", "economy")
    assert edition(site, FRIDAY_0800)["kim@example.kr"] == {"economy"}


def test_pausing_skips_editions_until_the_date(site: WebServer, clock: Clock) -> None:
    sub = subscribed(site, "kim@example.kr")
    subscribed(site, "lee@example.kr")
    first_edition(site)
    response = save_preferences(
        site,
        sub.token,
        digest=["morning"],
        paused_until="2026-11-30",
        **{"sections-morning": ["it", "economy"]},
    )
    assert response.status_code == 200
    assert 'value="2026-11-30"' in response.text and "다시 받기" in response.text
    fresh_articles(site, FRIDAY_0800 - timedelta(hours=2), "it")
    assert set(edition(site, FRIDAY_0800)) == {"lee@example.kr"}
    resumed = save_preferences(site, sub.token, digest=["morning"], action="resume")
    assert resumed.status_code == 400  # resuming still needs the sections ticked
    resumed = save_preferences(
        site, sub.token, digest=["morning"], action="resume", **{"sections-morning": ["it"]}
    )
    assert resumed.status_code == 200 and 'value=""' in resumed.text
    assert {s.paused_until for s in site.store.subscriptions_of(sub.subscriber.id)} == {None}


@pytest.mark.parametrize(
    "day", ["2026-11-26", "2020-01-01", "2028-01-01", "11/30/2026", "2026-13-01", "2026-1-5"]
)
def test_a_bad_pause_date_is_400_and_changes_nothing(site: WebServer, day: str) -> None:
    sub = subscribed(site, "kim@example.kr", sections=["it"])
    response = save_preferences(
        site, sub.token, digest=["morning"], paused_until=day, **{"sections-morning": ["economy"]}
    )
    assert response.status_code == 400
    assert 'aria-describedby="pause-hint pause-error"' in korean_page(response)
    [after] = site.store.subscriptions_of(sub.subscriber.id)
    assert after == replace(sub, paused_until=None)


def test_preferences_refuse_unknown_digests_and_forged_forms(site: WebServer) -> None:
    sub = subscribed(site, "kim@example.kr", sections=["it"])
    unknown = save_preferences(site, sub.token, digest=["weekly"])
    assert unknown.status_code == 400
    url = site.at(f"preferences?token={sub.token}")
    forged = httpx.post(url, data={"digest": "morning", "sections-morning": "economy"})
    assert forged.status_code == 403
    assert site.store.subscriptions_of(sub.subscriber.id) == [sub]
