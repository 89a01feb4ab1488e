"""The daemon's commands: pause, resume, runs, status, reload."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import yaml

from syndicate.config import load_config
from syndicate.leader import LEASE_NAME
from syndicate.model import SourceState, utcnow
from syndicate.pipeline import open_store, run_collect, run_digest
from syndicate.store.runs import Fence
from syndicate.subscribers import import_subscribers
from tests.conftest import SmtpSink, invoke_syndicate


def test_pause_and_resume_a_digest_and_a_source(example_site: Path) -> None:
    def run(*args: str) -> tuple[int, str, str]:
        result = invoke_syndicate(*args, cwd=example_site)
        return result.returncode, result.stdout, result.stderr

    assert run("pause", "morning") == (0, "digest morning paused\n", "")
    assert run("pause", "morning") == (0, "digest morning was already paused\n", "")
    assert run("pause", "it-rss")[:2] == (0, "source it-rss paused\n")
    code, _, err = run("pause", "nothing")
    assert (
        code == 1 and err.count("\n") == 1 and "'nothing' is neither a digest nor a source" in err
    )
    jobs = run("jobs")[1].splitlines()
    assert [line.endswith("(paused)") for line in jobs] == [False, True, False]
    status = run("status")[1]
    assert "paused: source it-rss, digest morning" in status
    assert "job digest:morning" in status and "never ran  (paused)" in status
    assert run("resume", "morning") == (0, "morning resumed\n", "")
    assert run("resume", "morning") == (1, "", "morning was not paused\n")
    assert "paused: source it-rss" in run("status")[1]


def test_runs_lists_the_history_filtered_by_job_and_time(example_site: Path) -> None:
    config = load_config(example_site / "schedules.yaml")
    now = utcnow()
    with open_store(config) as store:
        fence = store.acquire_lease(LEASE_NAME, "host:1:ab", timedelta(minutes=1), now=now)
        assert fence is not None
        lease = Fence(LEASE_NAME, "host:1:ab", fence)
        old = store.start_run(
            lease, "collect", "collect", now - timedelta(hours=3), now=now - timedelta(hours=3)
        )
        assert old is not None and store.finish_run(lease, old, "ok", counts={"new": 4})
        recent = store.start_run(lease, "collect", "collect", now - timedelta(minutes=10), now=now)
        assert recent is not None
        assert store.finish_run(lease, recent, "failed", error="feeds: disk full", now=now)
        assert store.record_skipped(lease, "digest:morning", "digest", now, "late", now=now)
    every = invoke_syndicate("runs", cwd=example_site).stdout.splitlines()
    assert len(every) == 3 and every[2].startswith("collect") and "new=4" in every[2]
    assert "ok" in every[2] and "host:1:ab" in every[2] and "+0900" in every[2]
    collects = invoke_syndicate("runs", "--job", "collect", "--since", "1h", cwd=example_site)
    [line] = collects.stdout.splitlines()
    assert " failed " in line and line.endswith("error: feeds: disk full")
    skipped = invoke_syndicate("runs", "--job", "digest:morning", cwd=example_site).stdout
    assert " skipped " in skipped and skipped.rstrip().endswith("error: late")
    bad = invoke_syndicate("runs", "--since", "yesterday", cwd=example_site)
    assert bad.returncode == 2 and "neither a duration" in bad.stderr
    status = invoke_syndicate("status", cwd=example_site).stdout
    assert status.startswith("active: host:1:ab since ")
    assert "job collect" in status and "last failed" in status


def test_status_shows_failing_sources_and_unfinished_editions(
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
    with open_store(config) as store:
        import_subscribers(config, store, example_site / "examples" / "subscribers.csv")
        run_collect(config, store)
        run_digest(config, store, "morning")
        store.save_source_state(SourceState("it-rss", last_error="HTTP 503", error_count=2))
    status = invoke_syndicate("status", cwd=example_site).stdout.splitlines()
    assert status[0] == "active: no daemon holds the scheduler lease"
    [failing] = [line for line in status if line.startswith("failing source")]
    assert failing.startswith("failing source it-rss: HTTP 503 (2 times")
    [unfinished] = [line for line in status if line.startswith("unfinished edition")]
    assert unfinished.startswith("unfinished edition morning ") and unfinished.endswith(
        ": 1 deferred"
    )


def test_reload_asks_through_the_database_and_refuses_an_invalid_file(example_site: Path) -> None:
    result = invoke_syndicate("reload", cwd=example_site)
    assert result.returncode == 0 and result.stdout.startswith("reload asked at ")
    config = load_config(example_site / "schedules.yaml")
    with open_store(config) as store:
        state = store.lease_state(LEASE_NAME)
    assert state is not None and state.reload_at is not None
    assert abs(state.reload_at - utcnow()) < timedelta(minutes=1)
    path = example_site / "schedules.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "\nbogus: 1\n", encoding="utf-8")
    refused = invoke_syndicate("reload", cwd=example_site)
    assert refused.returncode == 1 and "bogus" in refused.stderr
