"""Subscription rules, consent records in the store, and the double opt-in stage.

Store tests run on a real SQLite file and a real PostgreSQL schema; the stage
writes real .eml files through the digest's file delivery and a real edition
proves who gets mail.
"""

from __future__ import annotations

import email
import email.policy
import itertools
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import yaml

from syndicate import confirm, pipeline
from syndicate.config import Config, load_config
from syndicate.digest import stored_sections
from syndicate.model import (
    Confirmation,
    ConsentMethod,
    Subscriber,
    Subscription,
    SubscriptionChange,
    SubscriptionState,
    subscription_after,
)
from syndicate.store import Store, SubscriptionEntry
from syndicate.tokens import form_token, form_token_valid, mint_token, token_hash, well_formed

T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
FRIDAY_0800 = datetime(2026, 11, 26, 23, 0, tzinfo=UTC)  # Friday 08:00 in Seoul
NEXT_MONDAY_0800 = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)
PENDING, ACTIVE, GONE, BOUNCED = (
    SubscriptionState.PENDING,
    SubscriptionState.ACTIVE,
    SubscriptionState.UNSUBSCRIBED,
    SubscriptionState.BOUNCED,
)
STATES: list[SubscriptionState | None] = [None, *SubscriptionState]


# --- the rules, without a database -------------------------------------------------------


@pytest.mark.parametrize(("current", "change"), list(itertools.product(STATES, SubscriptionChange)))
def test_every_subscription_change_is_decided_by_one_table(
    current: SubscriptionState | None, change: SubscriptionChange
) -> None:
    after = subscription_after(current, change)
    expected = {
        SubscriptionChange.IMPORT: current if current in (GONE, BOUNCED) else ACTIVE,
        SubscriptionChange.REQUEST: PENDING if current is None else current,
        SubscriptionChange.CONFIRM: ACTIVE,
        SubscriptionChange.UNSUBSCRIBE: GONE,
        SubscriptionChange.BOUNCE: BOUNCED if current in (None, ACTIVE) else current,
    }[change]
    assert after is expected


@pytest.mark.parametrize("gone", [GONE, BOUNCED])
def test_only_the_address_owner_brings_back_someone_who_left(gone: SubscriptionState) -> None:
    ways_back = {
        change
        for change in SubscriptionChange
        if subscription_after(gone, change, ACTIVE) is ACTIVE
    }
    assert ways_back == {SubscriptionChange.CONFIRM}
    assert (
        subscription_after(ACTIVE, SubscriptionChange.REQUEST) is ACTIVE
    )  # the form proves nothing


def test_a_paused_subscription_receives_from_its_date_on() -> None:
    person = Subscriber(1, "kim@example.kr")
    until = T0 + timedelta(days=3)
    paused = Subscription(person, "morning", (), ACTIVE, "t", paused_until=until)
    assert not paused.receives_at(until - timedelta(seconds=1))
    assert paused.paused_at(T0)
    assert paused.receives_at(until) and not paused.paused_at(until)
    pending = Subscription(person, "morning", (), PENDING, "t")
    assert not pending.receives_at(T0) and not pending.paused_at(T0)


def test_tokens_are_hashed_and_form_tokens_bound_and_timed() -> None:
    token = mint_token()
    assert well_formed(token) and len(token_hash(token)) == 64 and token not in token_hash(token)
    assert not well_formed("short") and not well_formed("a" * 20 + "<")
    signed = form_token("secret", "prefs", "tok", T0)
    assert form_token_valid("secret", "prefs", "tok", signed, now=T0 + timedelta(hours=1))
    assert not form_token_valid("secret", "prefs", "other", signed, now=T0)
    assert not form_token_valid("secret", "leave", "tok", signed, now=T0)
    assert not form_token_valid("other", "prefs", "tok", signed, now=T0)
    assert not form_token_valid("secret", "prefs", "tok", signed, now=T0 + timedelta(days=2))
    assert not form_token_valid("secret", "prefs", "tok", "1.abc", now=T0)
    assert not form_token_valid("secret", "prefs", "", signed, now=T0)


# --- the store -----------------------------------------------------------------------------


@pytest.fixture
def store(migrated_store_url: str) -> Iterator[Store]:
    """A migrated store on SQLite and on PostgreSQL."""
    db = Store(migrated_store_url)
    db.upgrade()
    try:
        yield db
    finally:
        db.close()


def request(email_address: str = "kim@example.kr", **changes: Any) -> Confirmation:
    values: dict[str, Any] = {
        "digest_id": "morning",
        "email": email_address,
        "name": "김민지",
        "sections": ("it",),
        "created_at": T0,
        "expires_at": T0 + timedelta(hours=48),
    }
    values.update(changes)
    return Confirmation(**values)


def only(store: Store, address: str) -> list[Subscription]:
    return next(subs for person, subs in store.list_subscribers() if person.email == address)


def test_a_request_makes_a_pending_subscription_that_receives_nothing(store: Store) -> None:
    assert store.request_confirmation("h" * 64, request(), per_day=3)
    [sub] = only(store, "kim@example.kr")
    assert (sub.status, sub.sections, sub.consent_at) == (PENDING, ("it",), None)
    assert store.subscriptions("morning") == []
    found = store.confirmation("h" * 64)
    assert found is not None and found.sections == ("it",) and found.used_at is None
    assert store.confirmation("x" * 64) is None


def test_confirming_activates_once_and_records_consent(store: Store) -> None:
    store.request_confirmation("h" * 64, request(sections=("it", "economy")), per_day=3)
    later = T0 + timedelta(hours=1)
    sub = store.confirm("h" * 64, now=later)
    assert sub is not None and sub.status is ACTIVE and sub.sections == ("it", "economy")
    assert (sub.consent_at, sub.consent_method) == (later, ConsentMethod.DOUBLE_OPT_IN)
    assert sub.subscriber.name == "김민지"
    assert store.confirm("h" * 64, now=later) is None  # used
    used = store.confirmation("h" * 64)
    assert used is not None and used.used_at == later


def test_the_consent_method_stays_until_a_new_consent_is_recorded(store: Store) -> None:
    store.request_confirmation("h" * 64, request(), per_day=3)
    sub = store.confirm("h" * 64, now=T0)
    assert sub is not None
    gone = store.set_subscription(
        sub.subscriber.id, "morning", ["it"], status=GONE, consent_at=sub.consent_at
    )
    assert (gone.consent_at, gone.consent_method) == (T0, ConsentMethod.DOUBLE_OPT_IN)
    entry = SubscriptionEntry("lee@example.kr", "", "morning", (), ACTIVE, T0, ConsentMethod.IMPORT)
    store.save_subscriptions([entry])
    assert only(store, "lee@example.kr")[0].consent_method == ConsentMethod.IMPORT


def test_an_expired_confirmation_activates_nothing(store: Store) -> None:
    store.request_confirmation("h" * 64, request(), per_day=3)
    assert store.confirm("h" * 64, now=T0 + timedelta(hours=48)) is None
    assert only(store, "kim@example.kr")[0].status is PENDING
    assert store.confirm("u" * 64, now=T0) is None


def test_a_request_leaves_an_existing_subscription_alone(store: Store) -> None:
    kim = store.upsert_subscriber("kim@example.kr", "김 기존")
    store.set_subscription(kim.id, "morning", ["society"], consent_at=T0)
    lee = store.upsert_subscriber("lee@example.kr")
    store.set_subscription(lee.id, "morning", [], status=GONE)
    store.request_confirmation("a" * 64, request(), per_day=3)
    store.request_confirmation("b" * 64, request("lee@example.kr"), per_day=3)
    [kim_sub] = only(store, "kim@example.kr")
    assert (kim_sub.status, kim_sub.sections, kim_sub.subscriber.name) == (
        ACTIVE,
        ("society",),
        "김 기존",
    )
    assert only(store, "lee@example.kr")[0].status is GONE
    back = store.confirm("b" * 64, now=T0)  # only the address owner brings them back
    assert back is not None and back.status is ACTIVE and back.sections == ("it",)


def test_at_most_per_day_requests_per_address(store: Store) -> None:
    for i in range(2):
        assert store.request_confirmation(f"{i}" * 64, request(created_at=T0), per_day=2)
    assert not store.request_confirmation("2" * 64, request(created_at=T0), per_day=2)
    assert store.confirmation("2" * 64) is None
    assert store.request_confirmation("3" * 64, request("lee@example.kr"), per_day=2)
    next_day = T0 + timedelta(days=1, seconds=1)
    assert store.request_confirmation("4" * 64, request(created_at=next_day), per_day=2)


def test_old_confirmations_are_pruned(store: Store) -> None:
    store.request_confirmation("o" * 64, request(), per_day=3)
    much_later = T0 + timedelta(days=40)
    new = request(created_at=much_later, expires_at=much_later + timedelta(hours=48))
    store.request_confirmation("n" * 64, new, per_day=3)
    assert store.confirmation("o" * 64) is None and store.confirmation("n" * 64) is not None


def test_requests_nobody_confirmed_are_forgotten_once_every_link_expired(store: Store) -> None:
    store.request_confirmation("k" * 64, request(), per_day=3)  # kim: never confirms
    renewed = request("lee@example.kr", created_at=T0 + timedelta(hours=40),
                      expires_at=T0 + timedelta(hours=88))  # fmt: skip
    store.request_confirmation("l" * 64, request("lee@example.kr"), per_day=3)
    store.request_confirmation("m" * 64, renewed, per_day=3)  # lee asked again later
    store.request_confirmation("p" * 64, request("park@example.kr"), per_day=3)
    assert store.confirm("p" * 64, now=T0 + timedelta(hours=1)) is not None  # park confirms
    assert store.prune_pending(now=T0 + timedelta(hours=47)) == 0  # every link still valid
    assert store.prune_pending(now=T0 + timedelta(hours=49)) == 1  # kim's expired
    people = {person.email: [s.status for s in subs] for person, subs in store.list_subscribers()}
    assert people == {"lee@example.kr": [PENDING], "park@example.kr": [ACTIVE]}
    assert store.prune_pending(now=T0 + timedelta(hours=89)) == 1  # lee's second one too
    assert [p.email for p, _ in store.list_subscribers()] == ["park@example.kr"]
    assert store.prune_pending(now=T0 + timedelta(days=400)) == 0  # active stays


def test_unsubscribing_by_token_is_idempotent(store: Store) -> None:
    kim = store.upsert_subscriber("kim@example.kr")
    sub = store.set_subscription(kim.id, "morning", ["it"], consent_at=T0)
    first = store.unsubscribe_token(sub.token, now=T0)
    again = store.unsubscribe_token(sub.token, now=T0 + timedelta(hours=1))
    assert first is not None and again is not None
    assert first.status is GONE and again == first
    assert first.consent_at == T0 and first.sections == ("it",)
    assert store.unsubscribe_token("no-such-token") is None


def test_unsubscribing_a_subscriber_leaves_every_digest(store: Store) -> None:
    kim = store.upsert_subscriber("kim@example.kr")
    store.set_subscription(kim.id, "morning", [], consent_at=T0)
    store.set_subscription(kim.id, "evening", [], consent_at=T0)
    lee = store.upsert_subscriber("lee@example.kr")
    store.set_subscription(lee.id, "morning", [], consent_at=T0)
    left = store.unsubscribe_subscriber(kim.id, now=T0)
    assert [(s.digest_id, s.status) for s in left] == [("evening", GONE), ("morning", GONE)]
    assert [s.subscriber.email for s in store.subscriptions("morning")] == ["lee@example.kr"]


def test_preferences_change_join_leave_and_pause(store: Store) -> None:
    kim = store.upsert_subscriber("kim@example.kr")
    store.set_subscription(kim.id, "morning", ["it"], consent_at=T0)
    store.set_subscription(kim.id, "weekly", [], status=GONE)
    until = T0 + timedelta(days=7)
    later = T0 + timedelta(hours=2)
    subs = store.set_preferences(
        kim.id,
        {"morning": ["economy"], "evening": [], "weekly": None},
        paused_until=until,
        now=later,
    )
    by_digest = {s.digest_id: s for s in subs}
    assert by_digest["morning"].sections == ("economy",)
    assert by_digest["morning"].consent_at == T0  # unchanged: still the first consent
    assert by_digest["evening"].status is ACTIVE
    assert (by_digest["evening"].consent_at, by_digest["evening"].consent_method) == (
        later,
        ConsentMethod.PREFERENCES,
    )
    assert by_digest["weekly"].status is GONE
    assert {s.paused_until for s in subs} == {until}
    resumed = store.set_preferences(kim.id, {"evening": None}, paused_until=None, now=later)
    assert {s.paused_until for s in resumed} == {None}
    assert {s.digest_id: s.status for s in resumed}["evening"] is GONE


def test_counters_count_per_key_and_window_and_forget_old_windows(store: Store) -> None:
    hour = T0.replace(minute=0)
    assert [store.count_hit("post:a", hour, now=T0) for _ in range(3)] == [1, 2, 3]
    assert store.count_hit("post:b", hour, now=T0) == 1
    assert store.count_hit("post:a", hour + timedelta(hours=1), now=T0) == 1
    three_days = T0 + timedelta(days=3)
    assert store.count_hit("post:c", three_days, now=three_days) == 1
    assert store.count_hit("post:a", hour, now=three_days) == 1  # the old window was deleted


def test_a_generated_secret_is_made_once_and_kept(store: Store, migrated_store_url: str) -> None:
    first = store.secret("web")
    assert len(first) >= 40 and store.secret("web") == first
    with Store(migrated_store_url) as other:
        assert other.secret("web") == first and other.secret("other") != first


# --- the stage: mail a link, confirm it, a real edition --------------------------------------


@pytest.fixture
def site(example_site: Path, store_url: str) -> Iterator[tuple[Config, Store]]:
    """The example site on SQLite or PostgreSQL, with a second digest 'evening'."""
    path = example_site / "schedules.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["store"] = store_url
    evening = dict(data["digests"][0], id="evening", title="예시뉴스 저녁", schedule="0 18 * * *")
    evening["sections"] = ["economy", "society"]
    data["digests"].append(evening)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    config = load_config(path)
    store = pipeline.open_store(config)
    try:
        yield config, store
    finally:
        store.close()


def outbox(config: Config) -> Path:
    return config.digests[0].delivery.folder  # type: ignore[union-attr]


def read_eml(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def confirm_link(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    [link] = re.findall(r"https://\S+/confirm\?token=\S+", body.get_content())
    return str(link)


def subscribe(config: Config, store: Store, address: str, sections: list[str]) -> str:
    """Ask for ``address`` on the form's behalf, send the mail; return the link from the .eml."""
    chosen = stored_sections(config, "morning", sections)
    req = confirm.SubscribeRequest("morning", address, "", chosen)
    before = set(outbox(config).glob("*.eml")) if outbox(config).exists() else set()
    notice = confirm.request_confirmation(config, store, req, now=FRIDAY_0800 - timedelta(hours=1))
    assert notice is not None and confirm.send_notice(config, notice)
    [new] = set(outbox(config).glob("*.eml")) - before
    return confirm_link(read_eml(new))


def edition_recipients(config: Config, store: Store, now: datetime) -> dict[str, set[str]]:
    """Run a real edition; map each recipient to the section names in the message."""
    before = set(outbox(config).glob("*.eml"))
    pipeline.run_digest(config, store, "morning", now=now)
    names = {s.name: s.id for s in config.section_list()}
    got: dict[str, set[str]] = {}
    for path in set(outbox(config).glob("*.eml")) - before:
        message = read_eml(path)
        body = message.get_body(("plain",))
        assert body is not None
        text = body.get_content().replace("\r\n", "\n")
        got[str(message["To"].addresses[0].addr_spec)] = {
            section_id for name, section_id in names.items() if f"\n■ {name}\n" in text
        }
    return got


def test_the_confirmation_mail_is_a_safe_korean_message(site: tuple[Config, Store]) -> None:
    config, store = site
    link = subscribe(config, store, "new@example.kr", ["it"])
    [path] = outbox(config).glob("confirm.*.eml")
    message = read_eml(path)
    assert message["Subject"] == "[예시뉴스 아침 브리핑] 구독 신청을 확인해 주세요"
    assert "=?utf-8?b?" in path.read_text(encoding="ascii")  # RFC 2047 words on the wire
    assert message["From"].addresses[0].addr_spec == "newsletter@news.example.kr"
    assert "List-Unsubscribe" not in message
    html = message.get_body(("html",))
    assert html is not None and link.replace("&", "&amp;") in html.get_content()
    token = link.split("token=")[1]
    assert token not in path.name and token_hash(token) not in path.read_text(encoding="ascii")
    assert link.startswith("https://news.example.kr/confirm?token=")


def test_subscribe_confirm_then_the_next_edition_has_the_chosen_sections(
    site: tuple[Config, Store],
) -> None:
    config, store = site
    pipeline.run_collect(config, store, now=FRIDAY_0800)
    stay = store.upsert_subscriber("stay@example.kr")
    store.set_subscription(stay.id, "morning", [], consent_at=T0)
    link = subscribe(config, store, "new@example.kr", ["it", "economy"])
    pending = {s.subscriber.email: s for s in store.subscriptions("morning", status=None)}
    assert pending["new@example.kr"].status is PENDING
    first = edition_recipients(config, store, FRIDAY_0800)
    assert set(first) == {"stay@example.kr"}
    token = link.split("token=")[1]
    shown = confirm.open_confirmation(store, token)
    assert shown is not None and shown.email == "new@example.kr"
    assert confirm.confirm(store, token, now=FRIDAY_0800 - timedelta(minutes=30)) is not None
    got = edition_recipients(config, store, FRIDAY_0800)  # the same edition, sent to who is owed
    assert set(got) == {"new@example.kr"}
    assert got["new@example.kr"] <= {"it", "economy"} and got["new@example.kr"]


def test_paused_and_unsubscribed_get_nothing_from_a_real_edition(
    site: tuple[Config, Store],
) -> None:
    config, store = site
    pipeline.run_collect(config, store, now=FRIDAY_0800)
    people = {}
    for address in ("stay@example.kr", "pause@example.kr", "back@example.kr", "gone@example.kr"):
        person = store.upsert_subscriber(address)
        people[address] = store.set_subscription(person.id, "morning", [], consent_at=T0)
    for address, until in (
        ("pause@example.kr", NEXT_MONDAY_0800),
        ("back@example.kr", FRIDAY_0800 - timedelta(hours=8)),  # paused until Friday 00:00
    ):
        store.set_preferences(people[address].subscriber.id, {}, paused_until=until, now=T0)
    store.unsubscribe_token(people["gone@example.kr"].token)
    assert set(edition_recipients(config, store, FRIDAY_0800)) == {
        "stay@example.kr",
        "back@example.kr",
    }
    run = pipeline.run_digest(config, store, "morning", now=FRIDAY_0800)
    assert run.paused == 1 and run.sent == 0


def test_stage_refuses_malformed_and_unknown_tokens(site: tuple[Config, Store]) -> None:
    _config, store = site
    for token in ("", "../../etc", "x" * 300, mint_token()):
        assert confirm.open_confirmation(store, token) is None
        assert confirm.confirm(store, token) is None


def test_stored_sections_validate_the_choice(site: tuple[Config, Store]) -> None:
    config, _store = site
    assert stored_sections(config, "evening", ["society", "economy"]) == ()
    assert stored_sections(config, "evening", ["society"]) == ("society",)
    with pytest.raises(ValueError, match="does not offer section 'it'"):
        stored_sections(config, "evening", ["it"])
    with pytest.raises(ValueError, match="no section chosen"):
        stored_sections(config, "evening", [])


def test_past_the_daily_limit_nothing_is_sent(site: tuple[Config, Store]) -> None:
    config, store = site
    req = confirm.SubscribeRequest("morning", "kim@example.kr", "", ())
    notices = [
        confirm.request_confirmation(config, store, req, per_day=2, now=T0) for _ in range(3)
    ]
    assert [n is not None for n in notices] == [True, True, False]
