"""Importing subscribers from CSV files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from syndicate.config import Config, load_config
from syndicate.errors import SubscriberFileError
from syndicate.store import Store
from syndicate.subscribers import import_subscribers, read_subscribers, unsubscribe
from tests.conftest import ROOT


@pytest.fixture
def config(write_config: Callable[..., Path]) -> Config:
    return load_config(write_config())


@pytest.fixture
def store(migrated_sqlite_url: str) -> Store:
    store = Store(migrated_sqlite_url)
    store.upgrade()
    return store


def _csv(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "subscribers.csv"
    path.write_bytes(text.encode(encoding))
    return path


def test_example_file_imports(store: Store) -> None:
    config = load_config(ROOT / "schedules.yaml")
    report = import_subscribers(config, store, ROOT / "examples" / "subscribers.csv")
    assert report.created == 6
    emails = [s.subscriber.email for s in store.subscriptions("morning")]
    assert "lee.jiwoo@example.kr" in emails
    sections = {s.subscriber.email: s.sections for s in store.subscriptions("morning")}
    assert sections["kim.minji@example.kr"] == ("it", "industry")
    again = import_subscribers(config, store, ROOT / "examples" / "subscribers.csv")
    assert (again.created, again.updated, again.unchanged) == (0, 0, report.created)


def test_names_and_sections_by_display_name(config: Config, store: Store, tmp_path: Path) -> None:
    path = _csv(tmp_path, "\ufeffEmail,Name,Sections\n Kim@Example.KR ,김 민지,IT·과학;경제\n")
    import_subscribers(config, store, path)
    (sub,) = store.subscriptions("morning")
    assert sub.subscriber.email == "kim@example.kr"
    assert sub.subscriber.name == "김 민지"
    assert sub.sections == ("it", "economy")
    assert sub.consent_at is not None


def test_cp949_file_from_a_spreadsheet(config: Config, store: Store, tmp_path: Path) -> None:
    path = _csv(tmp_path, "email,name\nhan@example.kr,한똠방\n", encoding="cp949")
    import_subscribers(config, store, path)
    assert store.subscriptions("morning")[0].subscriber.name == "한똠방"


def test_every_bad_line_named_and_nothing_imported(
    config: Config, store: Store, tmp_path: Path
) -> None:
    path = _csv(
        tmp_path,
        "email,name,digest,sections,consented_at\n"
        "good@example.kr,좋음,morning,it,\n"
        "not-an-address,나쁨,morning,,\n"
        "x@example.kr,,evening,,\n"
        "y@example.kr,,morning,sports,\n"
        "z@example.kr,,morning,,yesterday\n"
        "GOOD@example.kr,,morning,,\n",
    )
    with pytest.raises(SubscriberFileError) as info:
        import_subscribers(config, store, path)
    lines = str(info.value).splitlines()
    assert lines == [
        f"{path}:3: 'not-an-address' is not an e-mail address: "
        "an email address must have an @-sign",
        f"{path}:4: unknown digest 'evening'",
        f"{path}:5: unknown section 'sports'",
        f"{path}:6: consented_at 'yesterday' is not an ISO 8601 time",
        f"{path}:7: good@example.kr already listed on line 2",
    ]
    assert store.subscriptions("morning", status=None) == []


def test_missing_email_column_and_missing_file(config: Config, tmp_path: Path) -> None:
    with pytest.raises(SubscriberFileError, match=r":1: header row needs an 'email' column"):
        read_subscribers(_csv(tmp_path, "name,address\n김,kim@example.kr\n"), config)
    with pytest.raises(SubscriberFileError, match="file not found"):
        read_subscribers(tmp_path / "absent.csv", config)


def test_import_never_resubscribes(config: Config, store: Store, tmp_path: Path) -> None:
    import_subscribers(config, store, _csv(tmp_path, "email,status\nlee@example.kr,unsubscribed\n"))
    report = import_subscribers(config, store, _csv(tmp_path, "email\nlee@example.kr\n"))
    assert report.kept_unsubscribed == 1
    (sub,) = store.subscriptions("morning", status=None)
    assert sub.status == "unsubscribed"


def test_unsubscribe_by_address_and_token(config: Config, store: Store, tmp_path: Path) -> None:
    import_subscribers(config, store, _csv(tmp_path, "email\nkim@example.kr\nlee@example.kr\n"))
    changed = unsubscribe(store, " KIM@example.KR ")
    assert [(s.subscriber.email, s.status) for s in changed] == [("kim@example.kr", "unsubscribed")]
    assert unsubscribe(store, "kim@example.kr") == []  # already done
    lee = next(s for s in store.subscriptions("morning") if s.subscriber.email == "lee@example.kr")
    assert unsubscribe(store, lee.token, digest_id="other") == []
    assert [s.subscriber.email for s in unsubscribe(store, lee.token)] == ["lee@example.kr"]
    assert store.subscriptions("morning") == []
    assert len(store.subscriptions("morning", status=None)) == 2
    with pytest.raises(SubscriberFileError):
        unsubscribe(store, "not@valid@")


def test_import_in_batches_keeps_every_rule(config: Config, store_url: str, tmp_path: Path) -> None:
    """More rows than one batch, on SQLite and PostgreSQL: created once, names, consent
    dates and sections kept, a bounced and an unsubscribed address left alone, and a
    re-import changes nothing."""
    from datetime import datetime

    from syndicate.model import SubscriptionState
    from syndicate.store.imports import BATCH

    store = Store(store_url)
    store.upgrade()
    count = BATCH * 2 + 7
    lines = ["email,name,sections,consented_at"]
    lines += [f"r{i}@example.kr,독자{i},{'it economy' if i % 2 else ''}," for i in range(count)]
    lines[1] = "r0@example.kr,김첫째,it,2026-11-02T08:15:00+09:00"
    first = import_subscribers(config, store, _csv(tmp_path, "\n".join(lines) + "\n"))
    assert (first.created, first.updated) == (count, 0)
    subs = {s.subscriber.email: s for s in store.subscriptions("morning")}
    assert len(subs) == count and len({s.token for s in subs.values()}) == count
    assert subs["r0@example.kr"].subscriber.name == "김첫째"
    assert subs["r0@example.kr"].consent_at == datetime.fromisoformat("2026-11-01T23:15:00+00:00")
    assert subs[f"r{BATCH + 1}@example.kr"].sections == ("it", "economy")
    assert subs[f"r{BATCH + 2}@example.kr"].sections == ()
    bounced, gone = subs[f"r{BATCH}@example.kr"], subs[f"r{count - 1}@example.kr"]
    store.set_subscription(bounced.subscriber.id, "morning", (), status=SubscriptionState.BOUNCED)
    store.unsubscribe_token(gone.token)
    lines[2] = "r1@example.kr,이름바뀜,it,"
    again = import_subscribers(config, store, _csv(tmp_path, "\n".join(lines) + "\n"))
    assert (again.created, again.updated, again.kept_unsubscribed) == (0, 1, 2)
    assert again.unchanged == count - 3
    after = {s.subscriber.email: s for s in store.subscriptions("morning", status=None)}
    assert after[bounced.subscriber.email].status is SubscriptionState.BOUNCED
    assert after[gone.subscriber.email].status is SubscriptionState.UNSUBSCRIBED
    assert after["r1@example.kr"].subscriber.name == "이름바뀜"
    assert after["r1@example.kr"].sections == ("it",)
    assert after["r1@example.kr"].token == subs["r1@example.kr"].token
    store.close()


def test_save_subscriptions_keeps_a_state_reached_after_the_caller_looked(store: Store) -> None:
    """The import decides from what it read; a bounce recorded meanwhile still wins."""
    from datetime import UTC, datetime

    from syndicate.model import SubscriptionState
    from syndicate.store import SubscriptionEntry

    when = datetime(2026, 11, 28, tzinfo=UTC)
    kim = store.upsert_subscriber("kim@example.kr", "김")
    store.set_subscription(kim.id, "morning", (), status=SubscriptionState.BOUNCED)
    entry = SubscriptionEntry(
        "kim@example.kr", "김", "morning", ("it",), SubscriptionState.ACTIVE, when
    )
    store.save_subscriptions([entry], keep={SubscriptionState.BOUNCED})
    (sub,) = store.subscriptions("morning", status=None)
    assert (sub.status, sub.sections) == (SubscriptionState.BOUNCED, ())
    store.save_subscriptions([entry])
    (sub,) = store.subscriptions("morning", status=None)
    assert (sub.status, sub.sections) == (SubscriptionState.ACTIVE, ("it",))
