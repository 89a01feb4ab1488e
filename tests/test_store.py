"""Tests of syndicate.store on real SQLite files and a real PostgreSQL schema."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from syndicate.errors import SchemaOutOfDate, StoreError
from syndicate.model import Article, SendState, SourceState, SubscriptionState
from syndicate.store import Store, migrations, tables

SEOUL = ZoneInfo("Asia/Seoul")
T0 = datetime(2025, 3, 1, 0, 0, tzinfo=UTC)
TAG = "news.example.kr"
ID_DATE = date(2024, 5, 1)


@pytest.fixture
def store(migrated_store_url: str) -> Iterator[Store]:
    """A migrated store on SQLite and on PostgreSQL."""
    db = Store(migrated_store_url)
    db.upgrade()
    try:
        yield db
    finally:
        db.close()


def make_article(guid: str, **changes: object) -> Article:
    """A collected article of source 'inews' in section 'it'."""
    article = Article(
        source_id="inews",
        guid=guid,
        url=f"https://www.example.kr/news/{guid}",
        title=f"기사 {guid}",
        section_id="it",
        summary_html="<p>요약</p>",
        categories=("AI", "반도체"),
        published_at=T0,
    )
    return replace(article, **changes)  # type: ignore[arg-type]


def raw_execute(url: str, sql: str) -> None:
    """Run one statement on the database behind ``url`` outside the store."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(sql))
    finally:
        engine.dispose()


# ---------------------------------------------------------------- schema


def test_upgrade_is_idempotent_and_matches_models(store: Store) -> None:
    store.upgrade()
    assert store.current_revision() == store.head_revision()
    assert store.schema_differences() == []


def test_schema_differences_reports_a_missing_table(migrated_store_url: str, store: Store) -> None:
    raw_execute(migrated_store_url, "DROP TABLE sends")
    differences = store.schema_differences()
    assert any("sends" in line for line in differences)


def test_ensure_current_migrates_a_fresh_database(store_url: str) -> None:
    with Store(store_url) as db:
        assert db.current_revision() is None
        db.ensure_current()
        assert db.current_revision() == db.head_revision()
        db.ensure_current()
        assert db.schema_differences() == []


def test_upgrade_creates_the_folder_of_a_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "var" / "deep" / "store.db"
    with Store(f"sqlite:///{path}") as db:
        db.ensure_current()
        assert path.is_file()
        assert db.count_articles() == 0


def test_sqlite_connections_use_wal_and_foreign_keys(sqlite_url: str) -> None:
    with Store(sqlite_url) as db:
        db.upgrade()
        with db._tx() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert (conn.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0) > 0


def test_unknown_revision_is_out_of_date(migrated_store_url: str, store: Store) -> None:
    raw_execute(migrated_store_url, "UPDATE alembic_version SET version_num = 'ffff'")
    with pytest.raises(SchemaOutOfDate) as info:
        store.ensure_current()
    message = str(info.value)
    assert "ffff" in message and store.head_revision() in message
    assert "\n" not in message


def test_older_revision_asks_for_db_upgrade(
    migrated_store_url: str, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw_execute(migrated_store_url, "UPDATE alembic_version SET version_num = '0000'")
    known = migrations.known_revisions() | {"0000"}
    monkeypatch.setattr(migrations, "known_revisions", lambda: known)
    with pytest.raises(SchemaOutOfDate, match=r"revision 0000, this syndicate needs .*db upgrade"):
        store.ensure_current()


def test_tables_without_revision_are_refused(migrated_store_url: str, store: Store) -> None:
    raw_execute(migrated_store_url, "DROP TABLE alembic_version")
    with pytest.raises(StoreError, match="no schema revision"):
        store.ensure_current()


def test_unreachable_database_gives_one_line_without_password() -> None:
    db = Store("postgresql+psycopg://nobody:s3cr3t-pw@127.0.0.1:1/x")
    try:
        with pytest.raises(StoreError) as info:
            db.ensure_current()
    finally:
        db.close()
    message = str(info.value)
    assert "\n" not in message
    assert "s3cr3t-pw" not in message
    assert "127.0.0.1:1/x" in message
    assert "s3cr3t-pw" not in repr(db) and "s3cr3t-pw" not in db.url


def test_invalid_url_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="database"):
        Store("nosuchdialect://host/db")


# ---------------------------------------------------------------- time


def test_datetimes_round_trip_as_aware_utc(store: Store) -> None:
    seoul_time = datetime(2025, 3, 1, 9, 30, 15, 123456, tzinfo=SEOUL)
    store.upsert_articles([make_article("a1", published_at=seoul_time)], tag_authority=TAG)
    stored = store.latest_articles()[0]
    assert stored.published_at == seoul_time
    assert stored.published_at is not None and stored.published_at.tzinfo is UTC
    assert stored.published_at.hour == 0
    assert stored.first_seen_at is not None and stored.first_seen_at.tzinfo is UTC

    edition, _ = store.create_edition("morning", seoul_time, 0, [])
    assert edition.slot == seoul_time and edition.slot.tzinfo is UTC
    again = store.get_edition("morning", seoul_time.astimezone(UTC))
    assert again is not None and again.id == edition.id


def test_naive_datetimes_are_rejected(store: Store) -> None:
    naive = datetime(2025, 3, 1, 9, 0)
    with pytest.raises(ValueError, match="naive"):
        store.upsert_articles([make_article("a1", published_at=naive)], tag_authority=TAG)
    with pytest.raises(ValueError, match="naive"):
        store.create_edition("morning", naive, 0, [])
    with pytest.raises(ValueError, match="naive"):
        store.save_source_state(SourceState("inews", last_checked_at=naive))
    assert store.count_articles() == 0


# ---------------------------------------------------------------- sources


def test_source_state_round_trip(store: Store) -> None:
    assert store.get_source_state("inews") == SourceState("inews")
    state = SourceState(
        "inews",
        etag='W/"abc"',
        last_modified="Sat, 01 Mar 2025 00:00:00 GMT",
        last_checked_at=T0,
        last_error="HTTP 503",
        error_count=2,
    )
    store.save_source_state(state)
    assert store.get_source_state("inews") == state
    store.save_source_state(replace(state, last_error=None, error_count=0, last_success_at=T0))
    assert store.get_source_state("inews").error_count == 0
    assert store.get_source_state("inews").last_success_at == T0


# ---------------------------------------------------------------- articles


def test_upsert_new_updated_unchanged(store: Store) -> None:
    first = store.upsert_articles(
        [make_article("a1"), make_article("a2")], tag_authority=TAG, id_date=ID_DATE, now=T0
    )
    assert (first.new, first.updated, first.unchanged) == (2, 0, 0)
    original = store.latest_articles(limit=1)[0]
    digest = hashlib.sha256(original.guid.encode()).hexdigest()[:16]
    assert original.public_id == f"tag:{TAG},2024-05-01:inews/{digest}"  # not the day seen
    assert original.first_seen_at == T0

    later = T0 + timedelta(days=3)
    changed = make_article(original.guid, title="고친 제목")
    second = store.upsert_articles(
        [changed, make_article("a1" if original.guid == "a2" else "a2")],
        tag_authority="other.example",
        now=later,
    )
    assert (second.new, second.updated, second.unchanged) == (0, 1, 1)
    updated = store.get_article(original.seq or 0)
    assert updated is not None
    assert updated.title == "고친 제목"
    assert updated.public_id == original.public_id
    assert updated.first_seen_at == T0
    assert store.count_articles() == 2

    recategorised = replace(changed, categories=("AI",))
    third = store.upsert_articles([recategorised], tag_authority=TAG, now=later)
    assert (third.new, third.updated, third.unchanged) == (0, 1, 0)
    final = store.get_article(original.seq or 0)
    assert (
        final is not None and final.categories == ("AI",) and final.public_id == original.public_id
    )


def test_same_guid_twice_in_a_batch_counts_once_last_wins(store: Store) -> None:
    batch = [make_article("a1", title="처음"), make_article("a1", title="마지막")]
    result = store.upsert_articles(batch, tag_authority=TAG)
    assert (result.new, result.updated, result.unchanged) == (1, 0, 0)
    assert [a.title for a in store.latest_articles()] == ["마지막"]


def test_guid_is_scoped_by_source_and_may_be_long(store: Store) -> None:
    long_guid = "https://www.example.kr/view?" + "x" * 5000
    other = make_article(
        long_guid, source_id="other", url="https://other.example.kr/1", title="다른 곳의 다른 기사"
    )
    batch = [make_article(long_guid), other]
    assert store.upsert_articles(batch, tag_authority=TAG).new == 2
    again = store.upsert_articles(batch, tag_authority=TAG)
    assert again.unchanged == 2
    assert {a.source_id for a in store.latest_articles()} == {"inews", "other"}


def test_ingest_sequence_increases_in_batch_order(store: Store) -> None:
    assert store.max_seq() == 0
    store.upsert_articles([make_article(f"a{i}") for i in range(5)], tag_authority=TAG)
    store.upsert_articles([make_article("b0"), make_article("a0")], tag_authority=TAG)
    by_guid = {a.guid: a.seq or 0 for a in store.latest_articles()}
    ids = [by_guid[f"a{i}"] for i in range(5)] + [by_guid["b0"]]
    assert ids == sorted(ids) and len(set(ids)) == 6
    assert store.max_seq() == by_guid["b0"]


def test_latest_articles_order_and_section_filter(store: Store) -> None:
    articles = [
        make_article("old", published_at=T0 - timedelta(days=1)),
        make_article("new", published_at=T0 + timedelta(hours=1)),
        make_article("undated", published_at=None),
        make_article("money", section_id="economy"),
    ]
    store.upsert_articles(articles, tag_authority=TAG, now=T0 + timedelta(hours=2))
    assert [a.guid for a in store.latest_articles()] == ["undated", "new", "money", "old"]
    assert [a.guid for a in store.latest_articles(section_id="economy")] == ["money"]
    assert len(store.latest_articles(limit=2)) == 2


def test_articles_for_edition_after_seq_and_since(store: Store) -> None:
    store.upsert_articles(
        [make_article("a1"), make_article("e1", section_id="economy")], tag_authority=TAG, now=T0
    )
    cutoff = store.max_seq()
    store.upsert_articles(
        [make_article("a2"), make_article("s1", section_id="society")],
        tag_authority=TAG,
        now=T0 + timedelta(hours=5),
    )
    top = store.max_seq()
    sections = {"it", "economy"}

    after = store.articles_for_edition(upto_seq=top, section_ids=sections, after_seq=cutoff)
    assert [a.guid for a in after] == ["a2"]
    since = store.articles_for_edition(
        upto_seq=top, section_ids=sections, since=T0 + timedelta(hours=1)
    )
    assert [a.guid for a in since] == ["a2"]
    everything = store.articles_for_edition(upto_seq=top, section_ids=sections, since=T0)
    assert {a.guid for a in everything} == {"a1", "e1", "a2"}
    capped = store.articles_for_edition(upto_seq=cutoff, section_ids=sections, since=T0)
    assert {a.guid for a in capped} == {"a1", "e1"}
    assert store.articles_for_edition(upto_seq=top, section_ids=[], since=T0) == []


# ---------------------------------------------------------------- subscribers


def test_subscriber_unique_by_normalised_address(store: Store) -> None:
    first = store.upsert_subscriber("Kim@Example.KR", "김철수")
    second = store.upsert_subscriber("kim@example.kr ")
    assert first.id == second.id
    assert second.email == "kim@example.kr" and second.name == "김철수"
    renamed = store.upsert_subscriber("KIM@example.kr", "김영희")
    assert renamed.id == first.id and renamed.name == "김영희"
    with pytest.raises(ValueError):
        store.upsert_subscriber("not an address")
    assert len(store.list_subscribers()) == 1


def test_subscriptions_per_digest_are_independent(store: Store) -> None:
    kim = store.upsert_subscriber("kim@example.kr", "김")
    lee = store.upsert_subscriber("lee@example.kr", "이")
    morning = store.set_subscription(kim.id, "morning", ["it", "economy"], consent_at=T0)
    evening = store.set_subscription(kim.id, "evening", ["society"])
    store.set_subscription(lee.id, "morning", ["it"])
    assert morning.token != evening.token and len(morning.token) >= 32

    gone = store.set_subscription(kim.id, "morning", ["it"], status=SubscriptionState.UNSUBSCRIBED)
    assert gone.token == morning.token and gone.consent_at == T0
    assert [s.subscriber.id for s in store.subscriptions("morning")] == [lee.id]
    assert [s.status for s in store.subscriptions("morning", status=None)] == [
        "unsubscribed",
        "active",
    ]
    assert [s.sections for s in store.subscriptions("evening")] == [("society",)]

    found = store.subscription_by_token(evening.token)
    assert found is not None and found.digest_id == "evening" and found.subscriber == kim
    assert store.subscription_by_token("nope") is None
    listing = store.list_subscribers()
    assert [(p.email, [s.digest_id for s in subs]) for p, subs in listing] == [
        ("kim@example.kr", ["evening", "morning"]),
        ("lee@example.kr", ["morning"]),
    ]
    evening_only = store.list_subscribers("evening")
    assert [(p.email, [s.digest_id for s in subs]) for p, subs in evening_only] == [
        ("kim@example.kr", ["evening"])
    ]
    assert store.list_subscribers("weekly") == []
    with pytest.raises(ValueError, match="status"):
        store.set_subscription(kim.id, "morning", [], status="paused")  # type: ignore[arg-type]


def test_subscription_for_unknown_subscriber_is_a_store_error(store: Store) -> None:
    with pytest.raises(StoreError, match="no subscriber"):
        store.set_subscription(999, "morning", ["it"])


# ---------------------------------------------------------------- editions


def test_edition_is_unique_per_slot_and_frozen(store: Store) -> None:
    store.upsert_articles([make_article(f"a{i}") for i in range(3)], tag_authority=TAG)
    ids = [a.seq or 0 for a in store.latest_articles()]
    picked = [ids[2], ids[0]]
    edition, created = store.create_edition("morning", T0, store.max_seq(), picked)
    assert created and [a.seq for a in edition.articles] == picked

    again, created_again = store.create_edition("morning", T0, 99, [ids[1]])
    assert not created_again
    assert again.id == edition.id and again.cutoff_seq == edition.cutoff_seq
    assert [a.seq for a in again.articles] == picked

    other, created_other = store.create_edition("evening", T0, 1, [])
    assert created_other and other.id != edition.id and other.articles == ()


def test_edition_unique_constraint_in_database(migrated_store_url: str, store: Store) -> None:
    store.create_edition("morning", T0, 0, [])
    engine = sa.create_engine(migrated_store_url)
    try:
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(
                tables.editions.insert().values(
                    digest_id="morning", slot=T0, cutoff_seq=5, created_at=T0
                )
            )
    finally:
        engine.dispose()


def test_create_edition_race_returns_the_winner(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    winner, _ = store.create_edition("morning", T0, 3, [])
    original = store._find_edition
    calls: list[int] = []

    def blind_first_time(conn: sa.Connection, digest_id: str, slot: datetime) -> object:
        calls.append(1)
        return None if len(calls) == 1 else original(conn, digest_id, slot)

    monkeypatch.setattr(store, "_find_edition", blind_first_time)
    found, created = store.create_edition("morning", T0, 7, [])
    assert not created and found.id == winner.id and found.cutoff_seq == 3


def test_create_edition_with_unknown_article_fails(store: Store) -> None:
    with pytest.raises(StoreError):
        store.create_edition("morning", T0, 0, [12345])
    assert store.get_edition("morning", T0) is None


def test_last_edition_prefers_highest_cutoff(store: Store) -> None:
    assert store.last_edition("morning") is None
    store.create_edition("morning", T0, 5, [])
    store.create_edition("morning", T0 + timedelta(days=1), 9, [])
    store.create_edition("morning", T0 + timedelta(days=2), 9, [])
    store.create_edition("evening", T0 + timedelta(days=3), 20, [])
    last = store.last_edition("morning")
    assert last is not None
    assert (last.cutoff_seq, last.slot) == (9, T0 + timedelta(days=2))


# ---------------------------------------------------------------- sends


def test_claim_send_semantics(store: Store) -> None:
    edition, _ = store.create_edition("morning", T0, 0, [])
    people = [store.upsert_subscriber(f"p{i}@example.kr") for i in range(3)]
    first, second, third = (p.id for p in people)
    later = T0 + timedelta(minutes=5)

    assert store.claim_send(edition.id, first, "<m1@example.kr>", now=T0) == 1
    assert not store.claim_send(edition.id, first, "<m1@example.kr>", now=T0)  # sending
    store.finish_send(
        edition.id, first, SendState.DEFERRED, error="421 try later", next_attempt_at=later
    )
    assert not store.claim_send(edition.id, first, "<m1@example.kr>", now=T0)  # not yet due
    assert store.claim_send(edition.id, first, "<other@example.kr>", now=later) == 2  # retry
    store.finish_send(edition.id, first, SendState.SENT)
    assert not store.claim_send(edition.id, first, "<m1@example.kr>")

    assert store.claim_send(edition.id, second, "<m2@example.kr>")
    store.finish_send(edition.id, second, SendState.FAILED, error="554 5.7.1 spam")
    assert not store.claim_send(edition.id, second, "<m2@example.kr>")

    assert store.send_states(edition.id) == {first: SendState.SENT, second: SendState.FAILED}
    record = store.send_records(edition.id)[first]
    assert (record.attempts, record.next_attempt_at, record.error) == (2, None, None)
    assert record.message_id == "<m1@example.kr>"  # a retry keeps the first Message-ID
    with store._tx() as conn:
        row = conn.execute(
            sa.select(tables.sends).where(tables.sends.c.subscriber_id == first)
        ).one()
    assert row.attempts == 2 and row.sent_at is not None and row.sent_at.tzinfo is UTC
    with pytest.raises(ValueError, match="send state 'sending' cannot follow 'sending'"):
        store.finish_send(edition.id, third, SendState.SENDING)
    with pytest.raises(StoreError, match=f"subscriber {third} is not claimed"):
        store.finish_send(edition.id, third, SendState.SENT)  # never claimed
    with pytest.raises(StoreError, match=f"subscriber {first} is not claimed"):
        store.finish_send(edition.id, first, SendState.DEFERRED)  # sent is final
    assert store.send_states(edition.id)[first] is SendState.SENT


def test_deferred_sends_keep_their_next_attempt_and_fail_when_the_window_ends(
    store: Store,
) -> None:
    edition, _ = store.create_edition("morning", T0, 0, [], now=T0)
    person = store.upsert_subscriber("kim@example.kr").id
    soon = T0 + timedelta(minutes=15)
    assert store.claim_send(edition.id, person, "<m@example.kr>", now=T0)
    store.finish_send(
        edition.id, person, SendState.DEFERRED, error="451 later", next_attempt_at=soon
    )
    assert store.send_records(edition.id)[person].next_attempt_at == soon
    assert store.next_attempt([edition.id]) == soon
    assert store.next_attempt([]) is None
    assert store.close_deferred(edition.id, "retry window of 1 day ended") == 1
    record = store.send_records(edition.id)[person]
    assert record.state is SendState.FAILED
    assert record.error == "retry window of 1 day ended; last: 451 later"
    assert store.next_attempt([edition.id]) is None
    assert not store.claim_send(edition.id, person, "<m@example.kr>", now=soon)


def test_an_expired_claim_becomes_uncertain_and_is_resent_only_by_policy(store: Store) -> None:
    edition, _ = store.create_edition("morning", T0, 0, [], now=T0)
    old, fresh = (store.upsert_subscriber(f"{n}@example.kr").id for n in ("old", "fresh"))
    assert store.claim_send(edition.id, old, "<old@example.kr>", now=T0)
    assert store.claim_send(edition.id, fresh, "<fresh@example.kr>", now=T0 + timedelta(hours=1))
    assert store.expire_claims(edition.id, now=T0 + timedelta(minutes=30)) == 1
    assert store.send_states(edition.id) == {old: SendState.UNCERTAIN, fresh: SendState.SENDING}
    assert not store.claim_send(edition.id, old, "<new@example.kr>", resend_uncertain=False)
    assert store.claim_send(edition.id, old, "<new@example.kr>") == 2
    assert store.send_records(edition.id)[old].message_id == "<old@example.kr>"


def test_a_bounce_makes_the_subscription_bounced_in_the_same_step(store: Store) -> None:
    edition, _ = store.create_edition("morning", T0, 0, [], now=T0)
    kim = store.upsert_subscriber("kim@example.kr")
    store.set_subscription(kim.id, "morning", ["it"])
    store.set_subscription(kim.id, "evening", ["it"])
    assert store.claim_send(edition.id, kim.id, "<m@example.kr>")
    store.finish_send(edition.id, kim.id, SendState.BOUNCED, error="550 5.1.1 no such user")
    assert store.subscriptions("morning") == []
    [gone] = store.subscriptions("morning", status=SubscriptionState.BOUNCED)
    assert gone.subscriber.id == kim.id
    assert [s.subscriber.id for s in store.subscriptions("evening")] == [kim.id]  # other digest


def test_claim_send_unknown_edition_is_an_error(store: Store) -> None:
    person = store.upsert_subscriber("kim@example.kr")
    with pytest.raises(StoreError):
        store.claim_send(4242, person.id, "<m@example.kr>")


def test_nul_characters_are_dropped(store: Store) -> None:
    dirty = make_article("nul", title="제목\x00끝", content_html="<p>a\x00b</p>")
    assert store.upsert_articles([dirty], tag_authority=TAG).new == 1
    stored = store.latest_articles()[0]
    assert (stored.title, stored.content_html) == ("제목끝", "<p>ab</p>")
    assert store.upsert_articles([dirty], tag_authority=TAG).unchanged == 1


def test_concurrent_claims_send_each_subscriber_once(migrated_store_url: str, store: Store) -> None:
    edition, _ = store.create_edition("morning", T0, 0, [])
    people = [store.upsert_subscriber(f"p{i}@example.kr").id for i in range(20)]
    wins: list[int] = []
    errors: list[Exception] = []

    def worker() -> None:
        with Store(migrated_store_url) as own:
            for person in people:
                try:
                    if own.claim_send(edition.id, person, f"<{person}@example.kr>"):
                        wins.append(person)
                except Exception as exc:  # collected and asserted below
                    errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(wins) == sorted(people)
    assert set(store.send_states(edition.id).values()) == {"sending"}


def test_current_revision_of_a_missing_sqlite_file_is_none(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "store.db"
    with Store(f"sqlite:///{path}") as db:
        assert db.current_revision() is None
        assert not path.exists()
        db.upgrade()
        assert db.current_revision() == db.head_revision()


def _race_before_insert(store: Store, table: str, sql: str) -> list[str]:
    """Before the store's first INSERT into ``table``, commit ``sql`` from another connection."""
    raced: list[str] = []

    def hook(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.startswith(f"INSERT INTO {table} ") and not raced:
            raced.append(statement)
            raw_execute(store_url_of(store), sql)

    sa.event.listen(store._engine, "before_cursor_execute", hook)
    return raced


def store_url_of(store: Store) -> str:
    """The unmasked URL behind ``store`` (its engine's)."""
    return store._engine.url.render_as_string(hide_password=False)


def test_a_subscriber_inserted_concurrently_is_retried_not_lost(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with Store(pg_url) as store:
        store.upgrade()
        sql = (
            "INSERT INTO subscribers (email, name, created_at) VALUES ('kim@example.kr', '', now())"
        )
        raced = _race_before_insert(store, "subscribers", sql)
        with caplog.at_level("INFO", logger="syndicate.store"):
            person = store.upsert_subscriber("Kim@Example.kr", "김철수")
        assert len(raced) == 1
        assert "retrying after a concurrent write" in caplog.text
        assert [(s.id, s.email, s.name) for s, _ in store.list_subscribers()] == [
            (person.id, "kim@example.kr", "김철수")
        ]


def test_a_source_state_inserted_concurrently_is_retried_not_lost(pg_url: str) -> None:
    with Store(pg_url) as store:
        store.upgrade()
        sql = "INSERT INTO source_states (source_id, error_count) VALUES ('inews', 0)"
        raced = _race_before_insert(store, "source_states", sql)
        state = SourceState("inews", etag='"v2"', error_count=2, last_checked_at=T0)
        store.save_source_state(state)
        assert len(raced) == 1
        assert store.get_source_state("inews") == state
