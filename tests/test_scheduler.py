"""The daemon's jobs: due times from the database, the lease and its fence, pauses, reloads."""

from __future__ import annotations

import http.server
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from syndicate import jobs, pipeline, scheduler
from syndicate.config import Config, load_config
from syndicate.daemon import Daemon
from syndicate.leader import LEASE_NAME
from syndicate.model import SendState, utcnow
from syndicate.pipeline import open_store
from syndicate.store import Store
from syndicate.store.runs import Fence
from syndicate.subscribers import import_subscribers
from tests.conftest import BASE_CONFIG, SmtpSink

SATURDAY_NOON = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)  # 12:00 in Seoul
FRIDAY_0730 = datetime(2026, 11, 26, 22, 30, tzinfo=UTC)  # Friday 07:30 in Seoul
SECOND = timedelta(seconds=1)


class RealClock:
    """The current time plus an offset a test moves on."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


class Clock:
    """A settable clock for the daemon and the store."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _config(write_config: Callable[..., Path], store: str, **changes: Any) -> Config:
    data = {**BASE_CONFIG, "store": store, **changes}
    return load_config(write_config(data))


@pytest.fixture
def opened(
    write_config: Callable[..., Path], migrated_store_url: str
) -> Iterator[Callable[..., tuple[Config, Store]]]:
    stores: list[Store] = []

    def make(**changes: Any) -> tuple[Config, Store]:
        config = _config(write_config, migrated_store_url, **changes)
        stores.append(open_store(config))
        return config, stores[-1]

    yield make
    for store in stores:
        store.close()


def test_job_table_matches_schedules(example_site: Path) -> None:
    config = load_config(example_site / "schedules.yaml")
    table = scheduler.job_table(config, now=SATURDAY_NOON)
    assert [(j.id, j.next_run.isoformat() if j.next_run else None) for j in table] == [
        ("collect", "2026-11-28T12:10:00+09:00"),
        ("digest:morning", "2026-11-30T07:00:00+09:00"),
        ("prune", "2026-11-29T04:40:00+09:00"),
    ]


def test_the_lease_has_one_holder_and_a_new_fence_per_taker(
    opened: Callable[..., tuple[Config, Store]],
) -> None:
    _, store = opened()
    ttl = timedelta(seconds=30)
    first = store.acquire_lease(LEASE_NAME, "a", ttl, now=SATURDAY_NOON)
    assert first == 1
    assert store.acquire_lease(LEASE_NAME, "b", ttl, now=SATURDAY_NOON + 29 * SECOND) is None
    assert store.renew_lease(LEASE_NAME, "a", 1, ttl, now=SATURDAY_NOON + 20 * SECOND)
    assert store.acquire_lease(LEASE_NAME, "b", ttl, now=SATURDAY_NOON + 49 * SECOND) is None
    # a stops renewing: b takes over once the lease expired, with the next fence
    assert store.acquire_lease(LEASE_NAME, "b", ttl, now=SATURDAY_NOON + 50 * SECOND) == 2
    assert not store.renew_lease(LEASE_NAME, "a", 1, ttl, now=SATURDAY_NOON + 51 * SECOND)
    state = store.lease_state(LEASE_NAME)
    assert state is not None and (state.holder, state.fence) == ("b", 2)
    assert store.release_lease(LEASE_NAME, "b", 2, now=SATURDAY_NOON + 52 * SECOND)
    assert store.acquire_lease(LEASE_NAME, "a", ttl, now=SATURDAY_NOON + 52 * SECOND) == 3


def test_a_result_under_a_lost_lease_is_not_recorded(
    opened: Callable[..., tuple[Config, Store]],
) -> None:
    _, store = opened()
    ttl = timedelta(seconds=30)
    store.acquire_lease(LEASE_NAME, "a", ttl, now=SATURDAY_NOON)
    old = Fence(LEASE_NAME, "a", 1)
    run_id = store.start_run(old, "collect", "collect", SATURDAY_NOON, now=SATURDAY_NOON)
    assert run_id is not None
    assert store.start_run(old, "collect", "collect", SATURDAY_NOON) is None  # that slot is taken
    later = SATURDAY_NOON + timedelta(minutes=1)
    assert store.acquire_lease(LEASE_NAME, "b", ttl, now=later) == 2
    new = Fence(LEASE_NAME, "b", 2)
    assert not store.finish_run(old, run_id, "ok", counts={"new": 3}, now=later)
    assert store.start_run(old, "digest:morning", "digest", later, now=later) is None
    assert store.mark_lost_runs(new, now=later) == 1
    [run] = store.job_runs()
    assert (run.outcome, run.counts, run.runner) == ("lost", {}, "a")


def test_a_missed_slot_is_caught_up_within_its_grace_and_skipped_outside_it(
    opened: Callable[..., tuple[Config, Store]], caplog: pytest.LogCaptureFixture
) -> None:
    digest = {**BASE_CONFIG["digests"][0], "grace": "1h"}
    config, store = opened(digests=[digest], collect={"schedule": "0 * * * *", "grace": "10m"})
    seoul_0720 = datetime(2026, 11, 27, 22, 20, tzinfo=UTC)
    within = jobs.plan(config, store, seoul_0720, {})
    assert [(d.job.id, d.slot) for d in within.due] == [
        ("digest:morning", datetime(2026, 11, 27, 22, 0, tzinfo=UTC)),
        ("prune", datetime(2026, 11, 27, 19, 40, tzinfo=UTC)),
    ]
    assert [(d.job.id, why[:37]) for d, why in within.skipped] == [
        ("collect", "collect: slot 2026-11-28T07:00+09:00 ")
    ]
    with caplog.at_level(logging.WARNING):
        late = jobs.plan(config, store, seoul_0720 + timedelta(hours=1), {})
    [(skipped, reason)] = [(d, r) for d, r in late.skipped if d.job.kind == jobs.DIGEST]
    assert "edition for 2026-11-28T07:00+09:00 skipped" in reason
    assert reason in [r.getMessage() for r in caplog.records]
    lease = _hold(store, seoul_0720)
    assert store.record_skipped(lease, skipped.job.id, "digest", skipped.slot, reason)
    assert not store.record_skipped(lease, skipped.job.id, "digest", skipped.slot, reason)
    [run] = store.job_runs(job_id="digest:morning")
    assert (run.outcome, run.error) == ("skipped", reason)
    again = jobs.plan(config, store, seoul_0720 + timedelta(hours=1), {})
    assert [d.job.id for d, _ in again.skipped] == ["collect"]  # recorded: not again


def _hold(store: Store, now: datetime, holder: str = "test") -> Fence:
    fence = store.acquire_lease(LEASE_NAME, holder, timedelta(days=3650), now=now)
    assert fence is not None
    return Fence(LEASE_NAME, holder, fence)


def _drive(config: Config, store: Store, start: datetime, end: datetime, step: timedelta) -> None:
    """Run what is due at every ``step`` from ``start`` to ``end``, as the daemon would."""
    lease, now = _hold(store, start), start
    while now < end:
        plan = jobs.plan(config, store, now, {})
        for due, reason in plan.skipped:
            store.record_skipped(lease, due.job.id, due.job.kind, due.slot, reason, now=now)
        for due in plan.due:
            action = scheduler.action_for(config, store, due, {})
            clock = Clock(now)
            assert jobs.run_recorded(store, lease, due, action, clock) == "ok"
        now += step
    store.release_lease(LEASE_NAME, lease.holder, lease.fence, now=now)


@pytest.mark.parametrize(
    ("zone", "spring", "autumn"),
    [
        (
            "America/New_York",
            datetime(2026, 3, 6, 12, tzinfo=UTC),
            datetime(2026, 10, 30, 12, tzinfo=UTC),
        ),
        (
            "Europe/Berlin",
            datetime(2026, 3, 27, 12, tzinfo=UTC),
            datetime(2026, 10, 23, 12, tzinfo=UTC),
        ),
    ],
)
def test_daily_digests_across_daylight_saving_changes_give_one_edition_a_day(
    write_config: Callable[..., Path],
    sqlite_url: str,
    zone: str,
    spring: datetime,
    autumn: datetime,
) -> None:
    digests = [
        {
            **BASE_CONFIG["digests"][0],
            "id": f"d{hour}",
            "schedule": f"30 {hour} * * *",
            "grace": "1h",
        }
        for hour in (1, 2)
    ]
    collect = {"schedule": "0 12 * * *"}
    config = _config(write_config, sqlite_url, timezone=zone, digests=digests, collect=collect)
    with open_store(config) as store:
        for start in (spring, autumn):
            _drive(config, store, start, start + timedelta(days=4), timedelta(minutes=10))
        editions = store.edition_counts(["d1", "d2"])
    per_day = Counter((e.digest_id, e.slot.astimezone(config.timezone).date()) for e in editions)
    assert len(per_day) == 2 * 2 * 4  # two digests, two changes, four days each
    assert set(per_day.values()) == {1}


def test_paused_digest_slot_is_skipped_and_paused_source_not_collected(
    opened: Callable[..., tuple[Config, Store]], http_root: tuple[Path, str]
) -> None:
    root, base = http_root
    (root / "a.xml").write_bytes(_feed("a").encode())
    (root / "b.xml").write_bytes(_feed("b").encode())
    sources = [
        {"id": name, "kind": "feed", "location": f"{base}/{name}.xml", "section": "it"}
        for name in ("a", "b")
    ]
    config, store = opened(sources=sources)
    assert store.pause("morning", "digest") and store.pause("b", "source")
    assert not store.pause("b", "source")
    paused = store.paused()
    plan = jobs.plan(config, store, FRIDAY_0730, paused)
    assert [(d.job.id, why) for d, why in plan.skipped] == [
        ("digest:morning", "digest morning is paused")
    ]
    counts = scheduler.collect_job(config, store, paused)
    assert counts["sources"] == 1 and counts["new"] == 1
    assert store.get_source_state("b").last_checked_at is None
    assert store.unpause("b") and not store.unpause("b")
    assert scheduler.collect_job(config, store, store.paused())["new"] == 1


def _feed(name: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        f"<item><title>{name} 기사</title><link>https://news.example.kr/{name}/1</link>"
        f"<guid>{name}-1</guid><pubDate>Fri, 27 Nov 2026 07:00:00 +0900</pubDate></item>"
        "</channel></rss>"
    )


def test_a_reload_with_an_invalid_file_keeps_the_running_configuration(
    write_config: Callable[..., Path], sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_config({**BASE_CONFIG, "store": sqlite_url})
    config = load_config(path)
    with open_store(config) as store:
        daemon = Daemon(config, store, loader=lambda: load_config(path))
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data["digests"][0]["schedule"] = "99 7 * * *"
        data["collect"] = {"schedule": "every 1s"}
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        with caplog.at_level(logging.ERROR, logger="syndicate.daemon"):
            assert not daemon.reload()
        assert daemon.config is config
        lines = [r.getMessage() for r in caplog.records]
        assert len(lines) == 3, lines
        assert lines[0].startswith("reload rejected: ") and "collect.schedule" in "".join(lines)
        assert "digests[0].schedule" in "".join(lines)
        data["digests"][0]["schedule"] = "0 8 * * *"
        del data["collect"]
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        assert daemon.reload() and str(daemon.config.digests[0].schedule) == "0 8 * * *"
        daemon.close()


def test_only_one_of_two_daemons_runs_jobs_and_the_standby_takes_over(
    write_config: Callable[..., Path], store_url: str
) -> None:
    config = _config(write_config, store_url, scheduler={"takeover": "20s"})
    clock = Clock(FRIDAY_0730)
    with open_store(config) as first_store, open_store(config) as second_store:
        first = Daemon(config, first_store, clock=clock)
        second = Daemon(config, second_store, clock=clock)
        _steps(first, second)
        assert first.leader.active() and not second.leader.active()
        waited = 0  # first is killed now: it beats no more
        while not second.leader.active():
            clock.now += SECOND
            waited += 1
            _steps(second)
        assert 15 <= waited <= 20  # the lease lasts 3/4 of the takeover time; beats every 1/4
        runs = first_store.job_runs()
        _close(first, second)
    assert Counter((r.job_id, r.due_at) for r in runs).most_common(1)[0][1] == 1
    runners = {r.job_id: r.runner for r in runs if r.job_id != jobs.RESUME}
    assert runners == {
        "collect": first.leader.holder,
        "digest:morning": first.leader.holder,
        "prune": first.leader.holder,
    }
    assert {r.runner for r in runs if r.job_id == jobs.RESUME} == {
        first.leader.holder,
        second.leader.holder,
    }


def _steps(*daemons: Daemon) -> None:
    for daemon in daemons:
        daemon.step()
        for future in list(daemon.running.values()):
            future.result(timeout=60)
        daemon.step()  # the resume planned by the jobs that just ended
        for future in list(daemon.running.values()):
            future.result(timeout=60)


def _close(*daemons: Daemon) -> None:
    for daemon in daemons:
        daemon.close()


class _SlowFeed(http.server.BaseHTTPRequestHandler):
    """A feed that takes a second to arrive."""

    def do_GET(self) -> None:
        time.sleep(1)
        body = _feed("a").encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_sending_runs_beside_collection(
    write_config: Callable[..., Path], sqlite_url: str, serve_http: Any
) -> None:
    from tests.conftest import serving_smtp

    class SlowSink:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            import asyncio

            await asyncio.sleep(0.05)
            return "250 OK"

    base = serve_http(_SlowFeed)
    with serving_smtp(SlowSink()) as port:
        delivery = {"kind": "smtp", "host": "127.0.0.1", "port": port, "security": "none",
                    "connections": 1}  # fmt: skip
        digest = {**BASE_CONFIG["digests"][0], "delivery": delivery, "schedule": "*/5 * * * *"}
        source = {"id": "a", "kind": "feed", "location": f"{base}/a.xml", "section": "it"}
        config = _config(
            write_config, sqlite_url, digests=[digest], sources=[source],
            collect={"schedule": "*/5 * * * *"}, scheduler={"takeover": "1h"},
        )  # fmt: skip
        with open_store(config) as store:
            csv = config.path.parent / "s.csv"
            rows = [f"r{n}@example.com,morning,it" for n in range(60)]
            csv.write_text("email,digest,sections\n" + "\n".join(rows) + "\n", encoding="utf-8")
            import_subscribers(config, store, csv)
            clock = RealClock()  # the real clock, moved on when the test says
            daemon = Daemon(config, store, clock=clock)
            daemon.step()  # collect starts; the digest waits for it
            daemon.running["collect"].result(timeout=60)
            daemon.step()  # now the edition starts
            assert "digest:morning" in daemon.running
            clock.offset += timedelta(minutes=5)  # the next collect comes due
            daemon.step()
            for future in list(daemon.running.values()):
                future.result(timeout=120)
            runs = store.job_runs()
            _close(daemon)
    [digest_run] = [r for r in runs if r.job_id == "digest:morning"]
    first, collect = sorted((r for r in runs if r.job_id == "collect"), key=lambda r: r.due_at)
    assert first.finished_at is not None and first.finished_at <= digest_run.started_at
    assert digest_run.counts["sent"] == 60 and collect.counts["sources"] == 1
    assert collect.finished_at is not None and digest_run.finished_at is not None
    # the second collect (one second long) ran and ended while the edition was being sent
    assert collect.finished_at < digest_run.finished_at - timedelta(seconds=1)


def test_prune_deletes_old_history_and_final_sends_and_keeps_the_rest(
    example_site: Path, smtp_server: tuple[SmtpSink, int]
) -> None:
    sink, port = smtp_server
    config = load_config(_smtp(example_site, port))
    sink.answers["choi.yuna@example.com"] = ["451 4.7.1 greylisted"]
    with open_store(config) as store:
        import_subscribers(config, store, example_site / "examples" / "subscribers.csv")
        pipeline.run_collect(config, store)
        run = pipeline.run_digest(config, store, "morning")
        lease = _hold(store, utcnow())
        long_ago = utcnow() - timedelta(days=200)
        old = store.start_run(lease, "collect", "collect", long_ago, now=long_ago)
        assert old is not None and store.finish_run(lease, old, "ok", now=long_ago)
        store.start_run(lease, "collect", "collect", utcnow(), now=utcnow())
        later = utcnow() + config.scheduler.retention + timedelta(days=1)
        first = scheduler.prune_job(config, store, now=utcnow())
        assert first == {"runs": 1, "sends": 0, "pending": 0}
        second = scheduler.prune_job(config, store, now=later)
        assert second == {"runs": 0, "sends": 5, "pending": 0}
        left = store.send_records(run.edition.id)
        runs = store.job_runs()
    assert [r.state for r in left.values()] == [SendState.DEFERRED]  # not final: kept
    assert [(r.job_id, r.outcome) for r in runs] == [("collect", None)]  # still running: kept


def _smtp(site: Path, port: int) -> Path:
    path = site / "schedules.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["digests"][0]["delivery"] = {
        "kind": "smtp", "host": "127.0.0.1", "port": port, "security": "none",
    }  # fmt: skip
    data["scheduler"] = {"takeover": "1h"}  # the lease outlives the clock moved by a test
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_a_deferred_send_is_retried_by_the_daemon_when_it_comes_due(
    example_site: Path, smtp_server: tuple[SmtpSink, int]
) -> None:
    sink, port = smtp_server
    config = load_config(_smtp(example_site, port))
    sink.answers["choi.yuna@example.com"] = ["451 4.7.1 greylisted"]
    clock = Clock(utcnow())  # stands still unless the test moves it
    with open_store(config) as store:
        import_subscribers(config, store, example_site / "examples" / "subscribers.csv")
        daemon = Daemon(config, store, clock=clock)
        _steps(daemon)
        assert len(sink.messages) == 5 and not sink.received("choi.yuna@example.com")
        edition = store.last_edition("morning")
        assert edition is not None
        [record] = [r for r in store.send_records(edition.id).values() if r.state == "deferred"]
        assert record.next_attempt_at is not None
        assert daemon.resume_at == record.next_attempt_at  # planned from the database
        clock.now = record.next_attempt_at - SECOND
        _steps(daemon)
        assert not sink.received("choi.yuna@example.com")  # not yet due
        clock.now += SECOND
        _steps(daemon)
        _close(daemon)
    assert len(sink.received("choi.yuna@example.com")) == 1 and len(sink.messages) == 6


class ThreadClock(Clock):
    """A settable clock that notes the threads that read it (the lanes jobs run in)."""

    def __init__(self, now: datetime) -> None:
        super().__init__(now)
        self.threads: set[str] = set()

    def __call__(self) -> datetime:
        self.threads.add(threading.current_thread().name.rsplit("_", 1)[0])
        return self.now


def test_apscheduler_runs_each_kind_in_its_own_lane_and_keeps_no_jobs(
    write_config: Callable[..., Path], sqlite_url: str
) -> None:
    from apscheduler.schedulers.background import BackgroundScheduler

    config = _config(write_config, sqlite_url)
    clock = ThreadClock(FRIDAY_0730)
    with open_store(config) as store:
        daemon = Daemon(config, store, clock=clock)
        assert isinstance(daemon.engine, BackgroundScheduler) and daemon.engine.running
        _steps(daemon)
        assert daemon.engine.get_jobs() == []  # due times live in the database, not in it
        runs = store.job_runs()
        daemon.close()
    assert not daemon.engine.running
    assert sorted(r.job_id for r in runs if r.job_id != jobs.RESUME) == [
        "collect",
        "digest:morning",
        "prune",
    ]
    assert {"syndicate-collect", "syndicate-send", "syndicate-prune"} <= clock.threads
