"""Deferred sends of a digest with quiet hours (21:00-08:00 Seoul) wait for their end:
a backoff ending inside them is moved to their end, and nothing is sent inside them.
Real aiosmtpd answering 451, real SQLite, a pinned clock."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import yaml

from syndicate import pipeline
from syndicate.config import Config, load_config
from syndicate.store import Store
from syndicate.subscribers import import_subscribers
from tests.conftest import SmtpSink
from tests.delivery_world import smtp_delivery

SEOUL_2000 = datetime(2026, 11, 26, 11, 0, tzinfo=UTC)  # Thursday 20:00 in Seoul
SEOUL_2050 = datetime(2026, 11, 26, 11, 50, tzinfo=UTC)
SEOUL_2105 = datetime(2026, 11, 26, 12, 5, tzinfo=UTC)
SEOUL_0800 = datetime(2026, 11, 26, 23, 0, tzinfo=UTC)  # Friday 08:00 in Seoul: quiet ends
READERS = ["late@example.kr", "ontime@example.kr"]
LATER = "451 4.3.0 try again later"


def quiet_site(site: Path, port: int, schedule: str) -> Config:
    """The example site's digest at ``schedule`` with quiet hours, a 30-minute first retry,
    sending to READERS through 127.0.0.1:port; articles collected."""
    path = site / "schedules.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    digest = data["digests"][0]
    digest.update(schedule=schedule, quiet_hours=True, retry={"first_delay": "30m"})
    digest["delivery"] = smtp_delivery(port)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    rows = "".join(f"{a},,morning,,2026-11-20T08:00:00+09:00\n" for a in READERS)
    (site / "readers.csv").write_text("email,name,digest,sections,consented_at\n" + rows)
    config = load_config(path)
    with pipeline.open_store(config) as store:
        import_subscribers(config, store, site / "readers.csv")
        pipeline.run_collect(config, store, now=SEOUL_2000)
    return config


def next_try(store: Store, edition_id: int, address: str) -> datetime | None:
    records = store.send_records(edition_id)
    ids = {s.subscriber.email: s.subscriber.id for s in store.subscriptions("morning")}
    return records[ids[address]].next_attempt_at


def test_a_retry_due_inside_quiet_hours_waits_for_their_end(
    example_site: Path, smtp_server: tuple[SmtpSink, int]
) -> None:
    sink, port = smtp_server
    sink.answers["late@example.kr"] = [LATER]
    config = quiet_site(example_site, port, "0 20 * * *")
    with pipeline.open_store(config) as store:
        first = pipeline.run_digest(config, store, "morning", now=SEOUL_2000)
        assert (first.sent, first.deferred) == (1, 1)
        edition = first.edition
        assert next_try(store, edition.id, "late@example.kr") == datetime(
            2026, 11, 26, 11, 30, tzinfo=UTC
        )  # 20:30, before the quiet hours
        held = pipeline.resume_editions(config, store, now=SEOUL_2105)  # due, but quiet
        assert held == [] and sink.received("late@example.kr") == []
        assert pipeline.next_resume(config, store, now=SEOUL_2105) == SEOUL_0800
        assert pipeline.send_edition(config, store, edition, now=SEOUL_2105).stopped == (
            "quiet hours until 2026-11-27T08:00+09:00; the rest waits"
        )
        morning = pipeline.resume_editions(config, store, now=SEOUL_0800)
        assert [run.sent for run in morning] == [1]
        assert len(sink.received("late@example.kr")) == 1
        assert len(sink.received("ontime@example.kr")) == 1


def test_a_backoff_ending_inside_quiet_hours_is_moved_to_their_end(
    example_site: Path, smtp_server: tuple[SmtpSink, int]
) -> None:
    sink, port = smtp_server
    sink.answers["late@example.kr"] = [LATER]
    config = quiet_site(example_site, port, "50 20 * * *")
    with pipeline.open_store(config) as store:
        first = pipeline.run_digest(config, store, "morning", now=SEOUL_2050)
        assert (first.sent, first.deferred) == (1, 1)
        # 20:50 + 30 minutes is 21:20, inside the quiet hours: 08:00 the next morning
        assert next_try(store, first.edition.id, "late@example.kr") == SEOUL_0800
        assert pipeline.next_resume(config, store, now=SEOUL_2050) == SEOUL_0800
        early = datetime(2026, 11, 26, 22, 59, tzinfo=UTC)
        assert pipeline.resume_editions(config, store, now=early) == []
        assert sink.received("late@example.kr") == []
        morning = pipeline.resume_editions(config, store, now=SEOUL_0800)
        assert [run.sent for run in morning] == [1]
        assert len(sink.received("late@example.kr")) == 1
