"""Tests of syndicate.decide: what storing a batch does, decided without a database."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from syndicate.decide import (
    ArticleChange,
    Incoming,
    Stored,
    content_hash,
    decide_article,
    dedupe_batch,
    key_hash,
    mint_public_id,
    plan_batch,
    prepare_batch,
)
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
