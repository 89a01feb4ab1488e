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
def store(sqlite_url: str) -> Store:
    store = Store(sqlite_url)
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
