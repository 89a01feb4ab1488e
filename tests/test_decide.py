"""Tests of syndicate.decide: what storing a batch does, decided without a database."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from syndicate.decide import (
    ArticleChange,
    Candidate,
    CandidatePool,
    Incoming,
    Stored,
    content_hash,
    decide_article,
    dedupe_batch,
    key_hash,
    mint_public_id,
    plan_batch,
    prepare_batch,
    results_by_source,
)
from syndicate.matching import DEFAULT_MATCHING
from syndicate.model import Article, UpsertResult

T0 = datetime(2025, 3, 1, 0, 0, tzinfo=UTC)


def make_article(guid: str, **changes: object) -> Article:
    """A collected article of source 'inews' in section 'it'."""
    article = Article(
        source_id="inews",
        guid=guid,
        url=f"https://www.example.kr/news/{guid}",
        title=f"기사 {guid}",
        section_id="it",
        categories=("AI",),
        published_at=T0,
    )
    return replace(article, **changes)  # type: ignore[arg-type]


def incoming(guid: str, **changes: object) -> Incoming:
    """One prepared article."""
    (item,) = prepare_batch([make_article(guid, **changes)])
    return item


def test_key_hash_is_sha256_of_the_guid() -> None:
    assert key_hash("기사/1") == hashlib.sha256("기사/1".encode()).hexdigest()
    assert key_hash("a") != key_hash("b")


@pytest.mark.parametrize(
    "change",
    [
        {"url": "https://www.example.kr/other"},
        {"title": "고친 제목"},
        {"section_id": "economy"},
        {"summary_html": "<p>요약</p>"},
        {"content_html": "<p>본문</p>"},
        {"author": "홍길동"},
        {"categories": ("AI", "반도체")},
        {"image_url": "https://www.example.kr/a.jpg"},
        {"published_at": T0 + timedelta(seconds=1)},
        {"updated_at": T0},
    ],
)
def test_every_content_field_changes_the_content_hash(change: dict[str, object]) -> None:
    assert content_hash(make_article("a1", **change)) != content_hash(make_article("a1"))


def test_content_hash_ignores_the_guid_and_the_source_and_the_zone_of_a_time() -> None:
    seoul = timezone(timedelta(hours=9))
    original = make_article("a1")
    moved = replace(original, guid="a9", source_id="elsewhere", published_at=T0.astimezone(seoul))
    assert content_hash(moved) == content_hash(original)


def test_public_id_is_a_tag_uri_of_the_configured_date_and_the_key() -> None:
    key = key_hash("a1")
    minted = mint_public_id("news.example.kr", date(2024, 5, 1), "inews", key)
    assert minted == f"tag:news.example.kr,2024-05-01:inews/{key[:16]}"


def test_dedupe_keeps_the_last_of_each_source_and_guid_in_first_seen_order() -> None:
    batch = [
        make_article("a1", title="처음"),
        make_article("a2"),
        make_article("a1", source_id="other"),
        make_article("a1", title="마지막"),
    ]
    unique = dedupe_batch(batch)
    assert [(a.source_id, a.guid, a.title) for a in unique] == [
        ("inews", "a1", "마지막"),
        ("inews", "a2", "기사 a2"),
        ("other", "a1", "기사 a1"),
    ]


def test_prepare_names_the_article_whose_time_is_naive() -> None:
    naive = make_article("bad", published_at=datetime(2025, 3, 1, 9, 0))
    with pytest.raises(ValueError, match=r"article inews/bad: naive datetime"):
        prepare_batch([make_article("good"), naive])


def test_decide_new_updated_unchanged() -> None:
    item = incoming("a1")
    assert decide_article(item, None) is ArticleChange.NEW
    assert decide_article(item, Stored(7, item.content_hash)) is ArticleChange.UNCHANGED
    assert decide_article(item, Stored(7, "0" * 64)) is ArticleChange.UPDATED


def test_plan_batch_sorts_a_batch_against_what_is_stored() -> None:
    fresh, same, changed = incoming("new"), incoming("same"), incoming("changed", title="고침")
    stored = {
        same.stored_key: Stored(1, same.content_hash),
        changed.stored_key: Stored(2, incoming("changed").content_hash),
        ("other", fresh.key): Stored(3, fresh.content_hash),  # same GUID, other source
    }
    plan = plan_batch([fresh, same, changed], stored)
    assert plan.new == [fresh]
    assert plan.updated == [(2, changed)]
    assert plan.unchanged == 1
    assert plan.result() == UpsertResult(new=1, updated=1, unchanged=1)


def test_plan_of_an_empty_batch_is_empty() -> None:
    assert plan_batch([], {}).result() == UpsertResult()


def test_plan_counts_each_source_of_a_mixed_batch() -> None:
    old = make_article("old", source_id="yna")
    batch = prepare_batch([
        old, make_article("new", source_id="yna"),
        make_article("kbs-1", source_id="kbs", url="https://news.example.kr/a/9"),
        make_article("kbs-2", source_id="kbs", url="https://news.example.kr/a/9"),
    ])  # fmt: skip
    (first, *_) = batch
    stored = {first.stored_key: Stored(4, first.content_hash)}
    candidates = [Candidate(9, "sbs", batch[2].url_key, None, datetime(2026, 1, 1, tzinfo=UTC))]
    plan = plan_batch(batch, stored, candidates, now=datetime(2026, 11, 29, tzinfo=UTC))
    assert results_by_source(batch, plan) == {
        "yna": UpsertResult(new=1, unchanged=1),
        "kbs": UpsertResult(duplicates=2),
    }


@pytest.mark.parametrize("seed", range(20))
def test_the_candidate_pool_answers_as_a_scan_of_the_candidates(seed: int) -> None:
    """The indexed pool gives the first matching candidate in order, as a list scan would."""
    import random

    rng = random.Random(seed)
    base = datetime(2026, 11, 29, tzinfo=UTC)

    def key() -> str | None:
        return rng.choice([None, "k1", "k2", "k3"])

    def when() -> datetime:
        return base + timedelta(hours=rng.randrange(-100, 100))

    pool = [Candidate(n, rng.choice("abc"), key(), key(), when()) for n in range(30)]
    for _ in range(50):
        item = make_article("x", source_id=rng.choice("abc"))
        incoming = prepare_batch([item])[0]._replace(url_key=key(), title_key=key())
        at = when()
        others = [c for c in pool if c.source_id != item.source_id]
        by_url = [c.seq for c in others if incoming.url_key and c.url_key == incoming.url_key]
        by_title = [
            c.seq for c in others
            if incoming.title_key and c.title_key == incoming.title_key
            and abs(c.when - at) <= DEFAULT_MATCHING.title_window
        ]  # fmt: skip
        expected = (by_url or by_title)[0] if by_url or by_title else None
        assert CandidatePool(pool).match(incoming, at, DEFAULT_MATCHING) == expected
