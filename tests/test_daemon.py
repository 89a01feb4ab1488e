"""`syndicate run` as ops run it: a subprocess that collects, sends, reloads, hands over, stops."""

from __future__ import annotations

import email
import email.policy
import functools
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from syndicate.leader import LEASE_NAME
from syndicate.store import Store
from tests.conftest import BASE_CONFIG, SmtpSink, copy_example, invoke_syndicate, run_syndicate
from tests.test_engine import write_subscribers

CONNECTIONS = 4  # parallel SMTP connections of the edition the daemons send


def _feed(name: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        f"<item><title>{name} 기사</title><link>https://news.example.kr/{name}/1</link>"
        f"<guid>{name}-1</guid><pubDate>Fri, 27 Nov 2026 07:00:00 +0900</pubDate></item>"
        "</channel></rss>"
    ).encode()


def _site(folder: Path, base: str, store: str, names: str) -> dict[str, Any]:
    """A config collecting feeds ``names`` every 5 s with a digest every 5 s (file delivery)."""
    digest = {**BASE_CONFIG["digests"][0], "schedule": "every 5s", "grace": "1m"}
    data = {
        **BASE_CONFIG,
        "store": store,
        "sources": [
            {"id": n, "kind": "feed", "location": f"{base}/{n}.xml", "section": "it"} for n in names
        ],
        "collect": {"schedule": "every 5s", "grace": "1m"},
        "digests": [digest],
        "scheduler": {"takeover": "4s"},
    }
    _write(folder, data)
    return data


def _write(folder: Path, data: dict[str, Any]) -> None:
    text = yaml.safe_dump(data, allow_unicode=True)
    (folder / "schedules.yaml").write_text(text, encoding="utf-8")


def _start(folder: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
    with log.open("ab") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "syndicate", "run"],
            cwd=folder,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def _until(check: Callable[[], bool], what: str, seconds: float = 60) -> float:
    """Wait until ``check()``; the seconds it took."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < seconds, f"timed out waiting for {what}"
        time.sleep(0.2)
    return time.monotonic() - started


@pytest.fixture
def running() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Daemons started by a test; any still running at its end is killed."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def _collected(store: Store, source_id: str) -> Callable[[], bool]:
    return lambda: store.get_source_state(source_id).last_success_at is not None


def test_run_collects_sends_reloads_on_sighup_and_reload_and_stops_on_sigterm(
    tmp_path: Path, http_root: tuple[Path, str], running: list[subprocess.Popen[bytes]]
) -> None:
    root, base = http_root
    for name in "abc":
        (root / f"{name}.xml").write_bytes(_feed(name))
    data = _site(tmp_path, base, f"sqlite:///{tmp_path / 'run.db'}", "a")
    assert invoke_syndicate("db", "upgrade", cwd=tmp_path).returncode == 0
    csv = tmp_path / "people.csv"
    csv.write_text("email,digest,sections\nkim@example.kr,morning,it\n", encoding="utf-8")
    assert invoke_syndicate("subscribers", "import", str(csv), cwd=tmp_path).returncode == 0
    log = tmp_path / "run.log"
    process = _start(tmp_path, log)
    running.append(process)
    store = Store(data["store"])
    try:
        outbox = tmp_path / "outbox"
        _until(lambda: len(list(outbox.glob("*.eml"))) == 1, "the first edition")
        assert (tmp_path / "public" / "feeds" / "all.atom.xml").is_file()
        assert _collected(store, "a")() and not _collected(store, "b")()
        data["sources"].append({**data["sources"][0], "id": "b", "location": f"{base}/b.xml"})
        _write(tmp_path, data)
        process.send_signal(signal.SIGHUP)
        _until(_collected(store, "b"), "source b after SIGHUP")
        broken = {**data, "collect": {"schedule": "every 1s"}}
        _write(tmp_path, broken)
        process.send_signal(signal.SIGHUP)
        _until(lambda: "reload rejected" in log.read_text(encoding="utf-8"), "the rejection")
        rejected = [
            line
            for line in log.read_text(encoding="utf-8").splitlines()
            if "reload rejected" in line
        ]
        assert len(rejected) == 2 and "collect.schedule" in rejected[0]
        runs_before = len(store.job_runs(job_id="collect"))
        _until(lambda: len(store.job_runs(job_id="collect")) > runs_before, "a collect after it")
        assert process.poll() is None
        data["sources"].append({**data["sources"][0], "id": "c", "location": f"{base}/c.xml"})
        _write(tmp_path, data)
        assert run_syndicate("reload", cwd=tmp_path).returncode == 0  # another process
        _until(_collected(store, "c"), "source c after `syndicate reload`")
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        assert process.wait(timeout=10) == 0
        assert time.monotonic() - started < 10
        failed = [r for r in store.job_runs() if r.outcome != "ok"]
    finally:
        store.close()
    errors = log.read_text(encoding="utf-8")
    assert "Traceback" not in errors
    assert failed == []


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_daemons_run_every_due_time_once_and_the_standby_takes_over_a_kill(
    tmp_path: Path,
    http_root: tuple[Path, str],
    running: list[subprocess.Popen[bytes]],
    request: pytest.FixtureRequest,
    backend: str,
) -> None:
    url = str(request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url"))
    root, base = http_root
    (root / "a.xml").write_bytes(_feed("a"))
    data = _site(tmp_path, base, url, "a")
    assert invoke_syndicate("db", "upgrade", cwd=tmp_path).returncode == 0
    csv = tmp_path / "people.csv"
    rows = "".join(f"p{n}@example.kr,morning,it\n" for n in range(3))
    csv.write_text("email,digest,sections\n" + rows, encoding="utf-8")
    assert invoke_syndicate("subscribers", "import", str(csv), cwd=tmp_path).returncode == 0
    store = Store(data["store"])
    try:
        first = _start(tmp_path, tmp_path / "first.log")
        running.append(first)
        _until(lambda: _holder_pid(store) == first.pid, "the first daemon to be active")
        second = _start(tmp_path, tmp_path / "second.log")
        running.append(second)
        time.sleep(12)
        assert _holder_pid(store) == first.pid
        first.kill()  # kill -9: no goodbye, the lease simply stops being renewed
        killed = datetime.now(UTC)
        first.wait()
        _until(lambda: _holder_pid(store) == second.pid, "the standby to take over", 15)
        state = store.lease_state(LEASE_NAME)
        assert state is not None and state.acquired_at is not None
        takeover = (state.acquired_at - killed).total_seconds()
        _until(functools.partial(_covered, store, second.pid), "due times run by the standby", 40)
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=10) == 0
        runs = store.job_runs()
    finally:
        store.close()
    assert takeover <= 4 + 0.6  # the configured takeover, and one poll of the loop
    for job in ("collect", "digest:morning"):
        due = sorted(r.due_at for r in runs if r.job_id == job)
        assert len(due) >= 20 / 5
        assert {b - a for a, b in itertools.pairwise(due)} == {timedelta(seconds=5)}
    assert Counter((r.job_id, r.due_at) for r in runs).most_common(1)[0][1] == 1
    assert [r.outcome for r in runs if r.outcome != "ok"].count("lost") <= 1
    holders = {r.runner.split(":")[1] for r in runs}
    assert holders == {str(first.pid), str(second.pid)}
    ids = [_message_id(path) for path in (tmp_path / "outbox").glob("*.eml")]
    assert len(ids) == len(set(ids))  # nothing sent twice


def _covered(store: Store, pid: int) -> bool:
    """Both jobs have run for four due times, each twice by the daemon ``pid`` (what it
    caught up after the takeover, then its own next due time)."""
    runs = [r for r in store.job_runs() if r.outcome is not None]
    for job in ("collect", "digest:morning"):
        mine = [r for r in runs if r.job_id == job]
        if len({r.due_at for r in mine}) < 20 / 5:
            return False
        if sum(r.runner.split(":")[1] == str(pid) for r in mine) < 2:
            return False
    return True


def _received(sink: SmtpSink, count: int) -> bool:
    return len(sink.messages) >= count


def _holder_pid(store: Store) -> int | None:
    state = store.lease_state(LEASE_NAME)
    if state is None or state.holder is None or not state.active(datetime.now(UTC)):
        return None
    return int(state.holder.split(":")[1])


def _message_id(path: Path) -> str:
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    return str(parsed["Message-ID"])


@pytest.mark.parametrize("second_signal", [signal.SIGTERM, signal.SIGKILL])
def test_the_daemon_finishes_an_edition_stopped_by_sigterm_and_a_second_stop(
    tmp_path: Path,
    smtp_server: tuple[SmtpSink, int],
    running: list[subprocess.Popen[bytes]],
    second_signal: signal.Signals,
) -> None:
    sink, port = smtp_server
    site = copy_example(tmp_path)
    path = site / "schedules.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    seoul = (datetime.now(UTC) - timedelta(minutes=1)).astimezone(ZoneInfo("Asia/Seoul"))
    data["digests"][0].update(
        schedule=f"{seoul.minute} {seoul.hour} * * *",
        grace="1h",
        delivery={
            "kind": "smtp", "host": "127.0.0.1", "port": port, "security": "none",
            "batch_size": 50, "connections": CONNECTIONS,
        },
    )  # fmt: skip
    data["digests"][0].pop("quiet_hours", None)
    data["scheduler"] = {"takeover": "4s"}  # the restart after a SIGKILL waits this at most
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    subscribers = 2000  # issue 8: an edition of at least 2,000 (40 batches of 50)
    assert invoke_syndicate("db", "upgrade", cwd=site).returncode == 0
    many = write_subscribers(site / "many.csv", subscribers)
    assert invoke_syndicate("subscribers", "import", str(many), cwd=site).returncode == 0
    log = site / "run.log"
    # the SIGTERM lets the batches in flight end (at most CONNECTIONS x 50 more messages),
    # so the second stop still comes partway through
    for stop, at in ((signal.SIGTERM, 400), (second_signal, 900)):
        process = _start(site, log)
        running.append(process)
        _until(functools.partial(_received, sink, at), f"{at} messages", 120)
        process.send_signal(stop)
        started = time.monotonic()
        code = process.wait(timeout=30)
        if stop is signal.SIGTERM:
            assert code == 0 and time.monotonic() - started < 10
        assert len(sink.messages) < subscribers  # stopped partway through
    last = _start(site, log)
    running.append(last)
    _until(lambda: len({m[1][0] for m in sink.messages}) == subscribers, "everyone", 300)
    last.send_signal(signal.SIGTERM)
    assert last.wait(timeout=10) == 0
    by_address: dict[str, list[str]] = {}
    for _, rcpts, content in sink.messages:
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        by_address.setdefault(rcpts[0], []).append(str(parsed["Message-ID"]))
    assert len(by_address) == subscribers
    duplicates = {a: ids for a, ids in by_address.items() if len(ids) > 1}
    # a SIGTERM stops at a batch boundary (no duplicate); a SIGKILL may leave the message
    # in flight on the one connection
    # in flight at a SIGKILL: one message per connection; a SIGTERM waits for each answer
    assert len(duplicates) <= (CONNECTIONS if second_signal is signal.SIGKILL else 0)
    assert all(len(set(ids)) == 1 for ids in duplicates.values())
    assert "Traceback" not in log.read_text(encoding="utf-8")


def test_two_daemons_on_one_sqlite_file_stop_on_sigterm_without_a_traceback(
    tmp_path: Path, http_root: tuple[Path, str], running: list[subprocess.Popen[bytes]]
) -> None:
    root, base = http_root
    (root / "a.xml").write_bytes(_feed("a"))
    data = _site(tmp_path, base, f"sqlite:///{tmp_path / 'run.db'}", "a")
    assert invoke_syndicate("db", "upgrade", cwd=tmp_path).returncode == 0
    store = Store(data["store"])
    try:
        logs = [tmp_path / "first.log", tmp_path / "second.log"]
        daemons = [_start(tmp_path, log) for log in logs]
        running.extend(daemons)
        _until(lambda: _holder_pid(store) in {d.pid for d in daemons}, "one daemon to be active")
        _until(lambda: len(store.job_runs(job_id="collect")) >= 2, "two collects")
    finally:
        store.close()
    for daemon in daemons:
        daemon.send_signal(signal.SIGTERM)
    assert [daemon.wait(timeout=10) for daemon in daemons] == [0, 0]
    for log in logs:
        errors = log.read_text(encoding="utf-8")
        assert "Traceback" not in errors
        assert "cannot schedule new futures" not in errors


def test_sigterm_while_the_daemon_starts_exits_0_with_one_line(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # a database that never answers
        port = silent.getsockname()[1]
        _write(tmp_path, {**BASE_CONFIG, "store": f"postgresql+psycopg://u@127.0.0.1:{port}/x"})
        log = tmp_path / "run.log"
        process = _start(tmp_path, log)
        try:
            silent.settimeout(60)
            connection, _ = silent.accept()  # the daemon is reaching its store now
            with connection:
                process.send_signal(signal.SIGTERM)
                code = process.wait(timeout=10)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert code == 0
    lines = log.read_text(encoding="utf-8").splitlines()
    assert lines == ["signal 15 received before the daemon ran; stopped"]
