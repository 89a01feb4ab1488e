"""Editions (frozen per slot, on a real store) and per-subscriber digests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from syndicate.config import Config, load_config
from syndicate.digest import build_edition, digests_for, due_slot, unsubscribe_url
from syndicate.errors import SyndicateError
from syndicate.model import Article, Edition, Subscriber, Subscription, SubscriptionState
from syndicate.store import Store

SEOUL_0800 = datetime(2026, 11, 27, 23, 0, tzinfo=UTC)  # Sat 28 Nov 2026 08:00 in Seoul
SLOT_0700 = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)  # Sat 28 Nov 2026 07:00 in Seoul
AUTHORITY = "news.example.kr,2026"


def _digest_entry(**overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": "morning",
        "title": "아침 브리핑",
        "schedule": "0 7 * * *",
        "sections": ["it", "economy"],
        "first_window": "1d",
        "max_per_section": 2,
        "sender": "테스트뉴스 <news@news.example.kr>",
        "delivery": {"kind": "file", "folder": "outbox"},
    }
    entry.update(overrides)
    return entry


@pytest.fixture
def config(write_config: Callable[..., Path]) -> Config:
    return load_config(write_config(digests=[_digest_entry()]))


@pytest.fixture
def store(migrated_store_url: str) -> Iterator[Store]:
    store = Store(migrated_store_url)
    store.upgrade()
    yield store
    store.close()


def _article(guid: str, section: str, minute: int = 0, title: str = "") -> Article:
    return Article(
        source_id="src",
        guid=guid,
        url=f"https://news.example.kr/article/{guid}",
        title=title or f"기사 {guid}",
        section_id=section,
        published_at=datetime(2026, 11, 27, 12, minute, tzinfo=UTC),
    )


def _store(store: Store, when: datetime, *articles: Article) -> None:
    store.upsert_articles(list(articles), tag_authority=AUTHORITY, now=when)


def _guids(edition: Edition) -> set[str]:
    return {a.guid for a in edition.articles}


# ---------------------------------------------------------------- due_slot


@pytest.mark.parametrize("weekday", ["0", "7", "sun"])
def test_due_slot_sunday_crontab_in_seoul(write_config: Callable[..., Path], weekday: str) -> None:
    config = load_config(write_config(digests=[_digest_entry(schedule=f"0 7 * * {weekday}")]))
    monday_morning = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # Mon 30 Nov 10:00 in Seoul
    slot = due_slot(config, config.digests[0], monday_morning)
    assert slot == datetime(2026, 11, 28, 22, 0, tzinfo=UTC)  # Sun 29 Nov 07:00 in Seoul
    assert slot is not None and slot.utcoffset() == timedelta(0)
    assert slot.astimezone(config.timezone).strftime("%a %H:%M") == "Sun 07:00"


def test_due_slot_at_and_just_before_the_slot(config: Config) -> None:
    digest = config.digests[0]
    assert due_slot(config, digest, SLOT_0700) == SLOT_0700
    before = SLOT_0700 - timedelta(seconds=1)
    assert due_slot(config, digest, before) == SLOT_0700 - timedelta(days=1)


def test_unknown_digest_is_one_line_error(config: Config, sqlite_url: str) -> None:
    store = Store(sqlite_url)
    store.upgrade()
    with pytest.raises(SyndicateError, match=r"unknown digest 'evening'.*morning"):
        build_edition(config, store, "evening", now=SEOUL_0800)
    store.close()


# ---------------------------------------------------------------- build_edition


def test_first_edition_uses_window_and_offered_sections(config: Config, store: Store) -> None:
    _store(store, SEOUL_0800 - timedelta(days=3), _article("old", "it"))
    _store(
        store,
        SEOUL_0800 - timedelta(hours=5),
        _article("it-1", "it"),
        _article("eco-1", "economy"),
        _article("soc-1", "society"),  # the digest does not offer 사회
    )
    edition, created = build_edition(config, store, "morning", now=SEOUL_0800)
    assert created
    assert edition.slot == SLOT_0700
    assert edition.cutoff_seq == store.max_seq()
    assert _guids(edition) == {"it-1", "eco-1"}


def test_second_edition_takes_only_articles_stored_after_cutoff(
    config: Config, store: Store
) -> None:
    _store(store, SEOUL_0800 - timedelta(hours=5), _article("a", "it"), _article("b", "economy"))
    first, _ = build_edition(config, store, "morning", now=SEOUL_0800)
    later = SEOUL_0800 + timedelta(days=1)
    _store(store, later - timedelta(hours=2), _article("c", "it"))
    # an update of an article of the first edition is not news for the second one
    _store(store, later - timedelta(hours=1), _article("a", "it", title="고친 제목"))
    second, created = build_edition(config, store, "morning", now=later)
    assert created
    assert second.slot == SLOT_0700 + timedelta(days=1)
    assert second.cutoff_seq > first.cutoff_seq
    assert _guids(first) == {"a", "b"}
    assert _guids(second) == {"c"}


def test_same_slot_twice_returns_the_frozen_edition(config: Config, store: Store) -> None:
    _store(store, SEOUL_0800 - timedelta(hours=5), _article("a", "it"))
    first, created_first = build_edition(config, store, "morning", now=SEOUL_0800)
    _store(store, SEOUL_0800 + timedelta(minutes=5), _article("late", "it"))
    again, created_again = build_edition(
        config, store, "morning", now=SEOUL_0800 + timedelta(minutes=10)
    )
    assert (created_first, created_again) == (True, False)
    assert again.id == first.id
    assert again.cutoff_seq == first.cutoff_seq
    assert _guids(again) == {"a"}
    # the late article waits for the next slot
    nxt, _ = build_edition(config, store, "morning", now=SEOUL_0800 + timedelta(days=1))
    assert _guids(nxt) == {"late"}


def test_explicit_slot_is_used(config: Config, store: Store) -> None:
    _store(store, SEOUL_0800 - timedelta(hours=5), _article("a", "it"))
    slot = SLOT_0700 - timedelta(days=2)
    edition, created = build_edition(config, store, "morning", now=SEOUL_0800, slot=slot)
    assert created and edition.slot == slot
    assert store.get_edition("morning", slot) is not None


def test_empty_first_edition_is_still_frozen(config: Config, store: Store) -> None:
    edition, created = build_edition(config, store, "morning", now=SEOUL_0800)
    assert created and edition.articles == () and edition.cutoff_seq == 0


# ---------------------------------------------------------------- digests_for


def _sub(
    sub_id: int,
    sections: tuple[str, ...] = (),
    status: SubscriptionState = SubscriptionState.ACTIVE,
    digest_id: str = "morning",
) -> Subscription:
    subscriber = Subscriber(sub_id, f"reader{sub_id}@example.kr")
    return Subscription(subscriber, digest_id, sections, status, f"token-{sub_id}")


def _frozen(*articles: Article) -> Edition:
    numbered = tuple(
        Article(**{**a.__dict__, "seq": seq}) for seq, a in enumerate(articles, start=1)
    )
    return Edition(1, "morning", SLOT_0700, len(numbered), SLOT_0700, numbered)


def test_digests_group_by_configured_section_order_newest_first_capped(config: Config) -> None:
    edition = _frozen(
        _article("e1", "economy", 10),
        _article("i1", "it", 5),
        _article("i2", "it", 40),
        _article("i3", "it", 20),
        _article("s1", "society", 50),  # not offered
    )
    (digest,) = digests_for(config, edition, [_sub(1)])
    assert [g.section.id for g in digest.groups] == ["it", "economy"]
    assert [a.guid for a in digest.groups[0].articles] == ["i2", "i3"]  # cap 2, newest first
    assert [a.guid for a in digest.groups[1].articles] == ["e1"]
    assert digest.article_count == 3
    assert digest.groups[0].section.name == "IT·과학"


def test_digests_respect_subscriber_sections(config: Config) -> None:
    edition = _frozen(_article("e1", "economy"), _article("i1", "it"))
    subs = [
        _sub(1, ("economy",)),
        _sub(2, ("society",)),  # offered nowhere in this digest: nothing to send
        _sub(3, ("it", "economy")),
        _sub(4, (), status=SubscriptionState.UNSUBSCRIBED),
        _sub(5, (), digest_id="evening"),
    ]
    digests = digests_for(config, edition, subs)
    assert [d.subscription.subscriber.id for d in digests] == [1, 3]
    assert [g.section.id for g in digests[0].groups] == ["economy"]
    assert [g.section.id for g in digests[1].groups] == ["it", "economy"]


def test_no_digest_when_chosen_sections_have_no_articles(config: Config) -> None:
    edition = _frozen(_article("i1", "it"))
    assert digests_for(config, edition, [_sub(1, ("economy",))]) == []
    assert digests_for(config, _frozen(), [_sub(2)]) == []


def test_unsubscribe_url_quotes_token(config: Config) -> None:
    sub = Subscription(
        Subscriber(1, "a@example.kr"), "morning", (), SubscriptionState.ACTIVE, "a b/c+d="
    )
    assert unsubscribe_url(config, sub) == (
        "https://news.example.kr/unsubscribe?token=a%20b%2Fc%2Bd%3D"
    )
