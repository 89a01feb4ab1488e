"""The scheduler wires jobs to pipeline functions; the daemon starts and stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from syndicate import scheduler
from syndicate.config import load_config
from syndicate.pipeline import missed_digests, open_store, run_collect, run_digest
from syndicate.subscribers import import_subscribers
from tests.conftest import SmtpSink


def _one_hour_grace(site: Path) -> Path:
    """The example site with the default grace of 1h (the example itself allows 7d)."""
    path = site / "schedules.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for digest in data["digests"]:
        digest["grace"] = "1h"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


SATURDAY_NOON = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)  # 12:00 in Seoul
FRIDAY_0730 = datetime(2026, 11, 26, 22, 30, tzinfo=UTC)  # Friday 07:30 in Seoul


def test_jobs_and_their_triggers(example_site: Path) -> None:
    config = load_config(_one_hour_grace(example_site))
    store = open_store(config)
    try:
        sched = scheduler.build_scheduler(config, store, now=SATURDAY_NOON)
        jobs = {job.id: job for job in sched.get_jobs()}
        assert set(jobs) == {"collect", "collect:start", "resume", "digest:morning"}
        assert jobs["collect:start"].next_run_time == SATURDAY_NOON
        saturday = SATURDAY_NOON
        fire = jobs["digest:morning"].trigger.get_next_fire_time(None, saturday)
        # "0 7 * * 1-5": the next one is Monday 07:00 in Seoul
        assert fire.isoformat() == "2026-11-30T07:00:00+09:00"
        assert jobs["digest:morning"].args[2] == "morning"
    finally:
        store.close()


def test_start_during_the_grace_time_adds_one_catch_up_job(example_site: Path) -> None:
    # The daemon starting on a weekday at 07:30 in Seoul, half an hour after the
    # morning slot, with no edition for it: the digest is caught up right away.
    config = load_config(_one_hour_grace(example_site))
    store = open_store(config)
    try:
        sched = scheduler.build_scheduler(config, store, now=FRIDAY_0730)
        jobs = {job.id: job for job in sched.get_jobs()}
        assert set(jobs) == {
            "collect",
            "collect:start",
            "resume",
            "digest:morning",
            "digest:morning:catch-up",
        }
        catch_up = jobs["digest:morning:catch-up"]
        assert catch_up.next_run_time == FRIDAY_0730 + timedelta(seconds=1)
        assert catch_up.args[2] == "morning"
        run_digest(config, store, "morning", now=FRIDAY_0730)
        again = scheduler.build_scheduler(config, store, now=FRIDAY_0730)
        assert {job.id for job in again.get_jobs()} == {
            "collect",
            "collect:start",
            "resume",
            "digest:morning",
        }
    finally:
        store.close()


def test_missed_digest_is_caught_up_once(example_site: Path) -> None:
    config = load_config(_one_hour_grace(example_site))
    store = open_store(config)
    grace = timedelta(hours=1)
    friday_0720 = datetime(2026, 11, 26, 22, 20, tzinfo=UTC)  # Friday 07:20 in Seoul
    try:
        assert missed_digests(config, store, now=friday_0720) == ["morning"]
        assert missed_digests(config, store, now=friday_0720 + 2 * grace) == []
        run_digest(config, store, "morning", now=friday_0720)
        assert missed_digests(config, store, now=friday_0720) == []
    finally:
        store.close()


def test_job_table_matches_schedules(example_site: Path) -> None:
    config = load_config(example_site / "schedules.yaml")
    table = scheduler.job_table(config, now=datetime(2026, 11, 28, 3, 0, tzinfo=UTC))
    assert [(j.id, j.next_run.isoformat() if j.next_run else None) for j in table] == [
        ("collect", "2026-11-28T12:10:00+09:00"),
        ("digest:morning", "2026-11-30T07:00:00+09:00"),
    ]


def test_job_functions_run_the_pipeline(example_site: Path) -> None:
    config = load_config(example_site / "schedules.yaml")
    store = open_store(config)
    try:
        import_subscribers(config, store, example_site / "examples" / "subscribers.csv")
        scheduler.collect_job(config, store)
        assert store.count_articles() == 29
        assert (example_site / "public" / "feeds" / "all.atom.xml").exists()
        scheduler.digest_job(config, store, "morning")
        assert len(list((example_site / "outbox").glob("*.eml"))) == 6
    finally:
        store.close()


def test_daemon_stops_on_sigterm(example_site: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "syndicate", "run"],
        cwd=example_site,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # the job table is printed once started
        assert first.startswith("collect")
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "Traceback" not in err


def test_a_deferred_send_plans_the_resume_job_at_its_next_try(
    example_site: Path, smtp_server: tuple[SmtpSink, int]
) -> None:
    sink, port = smtp_server
    path = example_site / "schedules.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["digests"][0]["delivery"] = {
        "kind": "smtp", "host": "127.0.0.1", "port": port, "security": "none",
    }  # fmt: skip
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    config = load_config(path)
    sink.answers["choi.yuna@example.com"] = ["451 4.7.1 greylisted"]
    store = open_store(config)
    try:
        import_subscribers(config, store, example_site / "examples" / "subscribers.csv")
        run_collect(config, store)
        sched = scheduler.build_scheduler(config, store)
        scheduler.digest_job(config, store, "morning", sched)
        assert len(sink.messages) == 5 and not sink.received("choi.yuna@example.com")
        edition = store.last_edition("morning")
        assert edition is not None
        [record] = [r for r in store.send_records(edition.id).values() if r.state == "deferred"]
        due = record.next_attempt_at
        assert due is not None
        resume = {job.id: job for job in sched.get_jobs()}["resume"]
        assert resume.next_run_time == due
        scheduler.resume_job(config, store, sched, now=due - timedelta(seconds=1))
        assert not sink.received("choi.yuna@example.com")  # not yet due
        scheduler.resume_job(config, store, sched, now=due)
        assert len(sink.received("choi.yuna@example.com")) == 1
        assert len(sink.messages) == 6
    finally:
        store.close()
