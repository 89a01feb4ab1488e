"""``/metrics``: Prometheus text computed from the database, the same in every process."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from syndicate.errors import SyndicateError
from syndicate.model import SourceState, utcnow
from tests.conftest import ROOT, SmtpSink, StartWeb, free_port, invoke_syndicate
from tests.delivery_world import World, smtp_delivery

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    """Every sample of a scrape: (name, sorted labels) -> value."""
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


def labelled(found: Samples, name: str, label: str) -> dict[str, float]:
    """Values of metric ``name`` (with one more label fixed by the caller) by ``label``."""
    return {dict(labels)[label]: value for (n, labels), value in found.items() if n == name}


def test_metrics_match_the_send_records_of_the_store(
    worlds: Callable[..., World],
    smtp_server: tuple[SmtpSink, int],
    web_server: StartWeb,
    write_config: Callable[..., Path],
    migrated_store_url: str,
) -> None:
    sink, port = smtp_server
    sink.reject["lee@example.com"] = "550 5.1.1 <lee@example.com>: no such user"
    sink.answers["park@example.com"] = ["451 4.7.1 greylisted, try again later"]
    world = worlds(migrated_store_url, smtp_delivery(port))
    world.deliver()
    world.store.save_source_state(SourceState("wire", last_error="timed out", error_count=3))
    digest = {
        "id": "morning",
        "title": "아침 브리핑",
        "schedule": "0 7 * * *",
        "sender": "테스트뉴스 <news@news.example.kr>",
        "delivery": smtp_delivery(port),
    }
    site = web_server(write_config(store=migrated_store_url, digests=[digest]))

    response = httpx.get(site.at("metrics"))

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    found = samples(response.text)
    states = Counter(world.states().values())
    assert states == {"sent": 1, "bounced": 1, "deferred": 1}
    final = labelled(found, "syndicate_messages_total", "state")
    assert final == {"sent": 1, "bounced": 1, "failed": 0}
    assert final == {state: states.get(state, 0) for state in ("sent", "bounced", "failed")}
    open_now = labelled(found, "syndicate_messages_open", "state")
    assert open_now == {"sending": 0, "deferred": 1, "uncertain": 0}
    assert labelled(found, "syndicate_editions_total", "digest") == {"morning": 1}
    assert labelled(found, "syndicate_source_failures_in_a_row", "source") == {"wire": 3}
    assert found["syndicate_store_up", ()] == 1


def test_metrics_say_the_store_is_down_without_failing_the_scrape(
    web_server: StartWeb, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    missing = tmp_path / "missing_folder" / "news.db"
    site = web_server(write_config(store=f"sqlite:///{missing}"), upgrade=False)
    response = httpx.get(site.at("metrics"))
    assert response.status_code == 200
    assert samples(response.text) == {("syndicate_store_up", ()): 0.0}


def _daemon(cwd: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
    command = [sys.executable, "-m", "syndicate", "-v", "run", "--metrics-port", str(port)]
    return subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _scrape_until(
    port: int, process: subprocess.Popen[str], ready: Callable[[Samples], bool]
) -> Samples:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            found = samples(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text)
        except httpx.TransportError:
            found = {}
        if found and ready(found):
            return found
        time.sleep(0.2)
    raise AssertionError("the daemon's metrics never showed the sent digest")


def _steady_pair(ports: list[int], daemons: list[subprocess.Popen[str]]) -> tuple[Samples, Samples]:
    """The two daemons' metrics read while the database stood still.

    The active daemon keeps running jobs (and beating its lease) between two
    scrapes; the second daemon's scrape counts only when the first daemon reports
    the same numbers just before and just after it.
    """
    ready: Callable[[Samples], bool] = lambda found: True  # noqa: E731
    for _ in range(50):
        before = _scrape_until(ports[0], daemons[0], ready)
        other = _scrape_until(ports[1], daemons[1], ready)
        after = _scrape_until(ports[0], daemons[0], ready)
        if before == after:
            return before, other
        time.sleep(0.1)
    raise AssertionError("the database never stood still for three scrapes")


def _raw_counts(db: Path) -> tuple[dict[str, int], dict[str, int]]:
    """Articles by source and sends by state, read with plain sqlite3 (not the store)."""
    with sqlite3.connect(db) as conn:
        articles = dict(conn.execute("SELECT source_id, count(*) FROM articles GROUP BY 1"))
        sends = dict(conn.execute("SELECT status, count(*) FROM sends GROUP BY 1"))
    return articles, sends


def test_two_daemons_serve_the_same_metrics_and_stop_cleanly(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    shutil.copytree(ROOT / "examples" / "opinion", tmp_path / "opinion")
    source = {"id": "opinion", "kind": "folder", "location": "opinion", "section": "society"}
    write_config(sources=[source])
    (tmp_path / "readers.csv").write_text(
        "email,name,digest\nkim@example.com,김독자,morning\nlee@example.com,이독자,morning\n",
        encoding="utf-8",
    )
    assert invoke_syndicate("db", "upgrade", cwd=tmp_path).returncode == 0
    assert invoke_syndicate("subscribers", "import", "readers.csv", cwd=tmp_path).returncode == 0
    ports = [free_port(), free_port()]
    daemons = [_daemon(tmp_path, port) for port in ports]

    def sent_all(found: Samples) -> bool:
        return labelled(found, "syndicate_messages_total", "state").get("sent") == 2

    try:
        _scrape_until(ports[0], daemons[0], sent_all)
        _scrape_until(ports[1], daemons[1], sent_all)
        first, second = _steady_pair(ports, daemons)
    finally:
        for daemon in daemons:
            daemon.send_signal(signal.SIGTERM)
        ended = [daemon.communicate(timeout=30) for daemon in daemons]
    articles, sends = _raw_counts(tmp_path / "var" / "test.db")
    assert first == second
    assert labelled(first, "syndicate_articles_total", "source") == articles
    assert articles["opinion"] >= 3
    assert labelled(first, "syndicate_messages_total", "state") == {
        "sent": sends["sent"], "bounced": 0, "failed": 0
    }  # fmt: skip
    assert labelled(first, "syndicate_editions_total", "digest") == {"morning": 1}
    for daemon, (_out, err) in zip(daemons, ended, strict=True):
        assert daemon.returncode == 0, err
        assert "Traceback" not in err
        assert "cannot schedule new futures" not in err


def test_a_new_metric_family_is_one_function(sqlite_url: str) -> None:
    from prometheus_client.core import GaugeMetricFamily, Metric
    from prometheus_client.registry import CollectorRegistry

    from syndicate import metrics
    from syndicate.store import Store

    def holder_families(store: Store, known: metrics.Known) -> Iterator[Metric]:
        family = GaugeMetricFamily("syndicate_test_owner", "Test.", labels=["holder"])
        family.add_metric(["host-a:123"], 1)
        yield family

    with Store(sqlite_url) as store:
        store.upgrade()
        registry = CollectorRegistry(auto_describe=False)
        families = (*metrics.FAMILIES, holder_families)
        registry.register(metrics.StoreCollector(store, metrics.Known(("wire",)), families))
        found = samples(metrics.exposition(registry).decode())
    assert found["syndicate_test_owner", (("holder", "host-a:123"),)] == 1
    assert found["syndicate_articles_total", (("source", "wire"),)] == 0
    assert found["syndicate_store_up", ()] == 1


class _Clock:
    """The time the test started, moved on by the jobs of the test."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


def test_job_and_lease_metrics_match_the_run_history(
    write_config: Callable[..., Path], store_url: str
) -> None:
    from syndicate import jobs, metrics
    from syndicate.config import load_config
    from syndicate.leader import LEASE_NAME, Leadership
    from syndicate.store import Store

    config = load_config(write_config(store=store_url))
    clock = _Clock()

    def taking(seconds: int, error: bool = False) -> jobs.Action:
        def action() -> dict[str, int]:
            clock.now += timedelta(seconds=seconds)
            if error:
                raise SyndicateError("wire: timed out")
            return {}

        return action

    def due(job_id: str, kind: str, minutes: int) -> jobs.Due:
        job = jobs.Job(job_id, kind, config.collect.schedule, timedelta(hours=1), "")
        return jobs.Due(job, clock.now.replace(microsecond=0) - timedelta(minutes=minutes))

    with Store(store_url) as store:
        store.upgrade()
        leader = Leadership(store, timedelta(seconds=60), clock, holder="host-a:123")
        assert leader.beat() and leader.fence is not None
        fence = leader.fence
        assert jobs.run_recorded(store, fence, due("collect", "collect", 30), taking(3), clock)
        assert jobs.run_recorded(
            store, fence, due("collect", "collect", 20), taking(1, True), clock
        )
        assert jobs.run_recorded(
            store, fence, due("digest:morning", "digest", 25), taking(5), clock
        )
        assert store.record_skipped(fence, "prune", "prune", clock.now, "late", now=clock.now)
        history = store.job_runs()
        lease = store.lease_state(LEASE_NAME)
        found = samples(metrics.exposition(metrics.registry_for(store, config)).decode())
        leader.release()
        released = samples(metrics.exposition(metrics.registry_for(store, config)).decode())
    counted = Counter((r.job_id, r.outcome) for r in history)
    runs = {
        (dict(labels)["job"], dict(labels)["outcome"]): value
        for (name, labels), value in found.items()
        if name == "syndicate_job_runs_total"
    }
    assert {key: value for key, value in runs.items() if value} == dict(counted)
    assert dict(counted) == {
        ("collect", "ok"): 1,
        ("collect", "failed"): 1,
        ("digest:morning", "ok"): 1,
        ("prune", "skipped"): 1,
    }
    assert len(runs) == 3 * 4  # collect, digest:morning, prune; each outcome, 0 when none
    last = {
        job_id: max((r for r in history if r.job_id == job_id), key=lambda r: r.id)
        for job_id in ("collect", "digest:morning")
    }
    durations = labelled(found, "syndicate_job_last_duration_seconds", "job")
    assert durations == {
        job_id: (run.finished_at - run.started_at).total_seconds()
        for job_id, run in last.items()
        if run.finished_at is not None
    }
    assert durations == {"collect": 1.0, "digest:morning": 5.0}  # prune only skipped
    ok = {r.job_id: r.finished_at for r in history if r.outcome == "ok" and r.finished_at}
    success = labelled(found, "syndicate_job_last_success_timestamp_seconds", "job")
    assert success == {job_id: moment.timestamp() for job_id, moment in ok.items()}
    assert found["syndicate_lease_holder", (("holder", "host-a:123"),)] == 1
    assert lease is not None and lease.heartbeat_at is not None
    assert (
        found["syndicate_lease_heartbeat_timestamp_seconds", ()] == lease.heartbeat_at.timestamp()
    )
    assert found["syndicate_lease_expires_timestamp_seconds", ()] == lease.expires_at.timestamp()
    assert labelled(released, "syndicate_lease_holder", "holder") == {}
    assert ("syndicate_lease_heartbeat_timestamp_seconds", ()) not in released
