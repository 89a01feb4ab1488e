"""The pipeline's ordering and its promises: idempotent, crash-safe, failures isolated."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml

from syndicate import pipeline
from syndicate.config import Config, load_config
from syndicate.digest import masthead_for
from syndicate.errors import FeedWriteError, RenderError
from syndicate.mail import message_id_for
from syndicate.model import SendState
from syndicate.store import Store
from syndicate.subscribers import import_subscribers
from tests.conftest import SmtpSink

FRIDAY_0800 = datetime(2026, 11, 26, 23, 0, tzinfo=UTC)  # Friday 08:00 in Seoul


@pytest.fixture
def setup(example_site: Path) -> tuple[Config, Store]:
    config = load_config(example_site / "schedules.yaml")
    store = pipeline.open_store(config)
    import_subscribers(config, store, example_site / "examples" / "subscribers.csv")
    return config, store


def claim_then_crash(config: Config, store: Store, when: datetime) -> tuple[int, int]:
    """Claim one send of the morning edition at ``when`` and never finish it (a crash).

    Returns (edition id, subscriber id).
    """
    from syndicate.digest import build_edition

    edition, _ = build_edition(config, store, "morning", now=FRIDAY_0800)
    victim = store.subscriptions("morning")[0].subscriber
    message_id = message_id_for(masthead_for(config, config.digests[0]), edition, victim)
    assert store.claim_send(edition.id, victim.id, message_id, now=when) == 1
    return edition.id, victim.id


def outbox_recipients(config: Config) -> list[str]:
    """Subscriber ids of the .eml files written (one file per Message-ID)."""
    outbox = config.digests[0].delivery.folder  # type: ignore[union-attr]
    return sorted(p.name.split(".")[2] for p in outbox.glob("*.eml"))


def test_a_send_claimed_moments_ago_is_left_to_its_run(setup: tuple[Config, Store]) -> None:
    config, store = setup
    pipeline.run_collect(config, store, now=FRIDAY_0800)
    edition_id, victim = claim_then_crash(config, store, FRIDAY_0800 - timedelta(minutes=1))
    run = pipeline.run_digest(config, store, "morning", now=FRIDAY_0800)
    assert (run.claimed_elsewhere, run.already_sent, run.uncertain) == (1, 0, 0)
    assert run.sent == len(store.subscriptions("morning")) - 1
    assert str(victim) not in outbox_recipients(config)
    assert store.send_states(edition_id)[victim] is SendState.SENDING


@pytest.mark.parametrize("policy", ["resend", "skip"])
def test_a_send_left_sending_by_a_dead_run_is_uncertain(
    setup: tuple[Config, Store], policy: Literal["resend", "skip"]
) -> None:
    config, store = setup
    digests = (replace(config.digests[0], uncertain=policy),)
    config = replace(config, digests=digests)
    pipeline.run_collect(config, store, now=FRIDAY_0800)
    edition_id, victim = claim_then_crash(config, store, FRIDAY_0800 - timedelta(hours=1))
    run = pipeline.run_digest(config, store, "morning", now=FRIDAY_0800)
    owed = len(store.subscriptions("morning"))
    record = store.send_records(edition_id)[victim]
    if policy == "resend":
        assert run.sent == owed and run.uncertain_earlier == 0
        assert (record.state, record.attempts) == (SendState.SENT, 2)
        assert str(victim) in outbox_recipients(config)
    else:
        assert run.sent == owed - 1 and run.uncertain_earlier == 1
        assert record.state is SendState.UNCERTAIN and "interrupted" in (record.error or "")
        assert str(victim) not in outbox_recipients(config)
    assert len(outbox_recipients(config)) == run.sent


def test_second_slot_gets_only_new_articles(setup: tuple[Config, Store], tmp_path: Path) -> None:
    config, store = setup
    pipeline.run_once(config, store, now=FRIDAY_0800)
    next_monday = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)  # Monday 08:00 in Seoul
    run = pipeline.run_digest(config, store, "morning", now=next_monday)
    assert run.created and run.edition.articles == ()
    assert run.sent == 0 and run.empty == len(store.subscriptions("morning"))


def test_one_bad_source_does_not_stop_the_cycle(setup: tuple[Config, Store]) -> None:
    config, store = setup
    broken = replace(config.sources[1], location="/nonexistent/feed.xml")
    config = replace(config, sources=(config.sources[0], broken, *config.sources[2:]))
    report = pipeline.run_once(config, store, now=FRIDAY_0800)
    errors = {o.source_id: o.error for o in report.sources}
    assert errors["economy-atom"] and "nonexistent" in errors["economy-atom"]
    assert all(error is None for sid, error in errors.items() if sid != "economy-atom")
    assert report.has_failures
    assert report.digests[0].sent == 6  # every example subscriber still has a section


def test_one_smtp_connection_is_reopened_after_batch_size_messages(
    example_site: Path, smtp_server: tuple[SmtpSink, int]
) -> None:
    sink, port = smtp_server
    path = example_site / "schedules.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["digests"][0]["delivery"] = {
        "kind": "smtp", "host": "127.0.0.1", "port": port, "security": "none", "batch_size": 4,
        "connections": 1,
    }  # fmt: skip
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    config = load_config(path)
    with pipeline.open_store(config) as store:
        import_subscribers(config, store, example_site / "examples" / "subscribers.csv")
        pipeline.run_collect(config, store, now=FRIDAY_0800)
        run = pipeline.run_digest(config, store, "morning", now=FRIDAY_0800)
    assert run.sent == 6 and len(sink.messages) == 6
    # 6 readers in batches of 4: one connection for the first four, a new one for the rest
    first, second = sink.peers[0], sink.peers[4]
    assert sink.peers == [first] * 4 + [second] * 2 and first != second


def test_run_once_goes_on_after_a_feeds_failure(
    setup: tuple[Config, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, store = setup

    def broken_feeds(*args: object) -> None:
        raise FeedWriteError("public/feeds: No space left on device")

    monkeypatch.setattr(pipeline, "run_feeds", broken_feeds)
    report = pipeline.run_once(config, store, now=FRIDAY_0800)
    assert report.errors == ["feeds: public/feeds: No space left on device"]
    assert [run.sent for run in report.digests] == [6]  # the digest still went out
    assert report.has_failures


def test_run_once_goes_on_after_a_digest_failure(
    example_site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = example_site / "schedules.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["digests"].append({**data["digests"][0], "id": "evening", "schedule": "0 18 * * 1-5"})
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    config = load_config(path)
    real = pipeline.run_digest

    def morning_breaks(config: Config, store: Store, digest_id: str, **options: Any) -> Any:
        if digest_id == "morning":
            raise RenderError("template digest.html.j2, line 3: 'x' is undefined")
        return real(config, store, digest_id, **options)

    monkeypatch.setattr(pipeline, "run_digest", morning_breaks)
    with pipeline.open_store(config) as store:
        report = pipeline.run_once(config, store, now=FRIDAY_0800)
    assert report.errors == ["digest morning: template digest.html.j2, line 3: 'x' is undefined"]
    assert [run.digest_id for run in report.digests] == ["evening"]
    assert (example_site / "public" / "feeds" / "all.atom.xml").exists()
