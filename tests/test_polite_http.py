"""Polite, resilient HTTP collection against a real server on 127.0.0.1.

Retry-After on 429/503, backoff growing to its cap and reset by a success, 410
retiring a source until ``sources enable``, permanent redirects remembered (and
logged once), gzip and br bodies, and the per-host concurrency cap and delay.
The slow-drip cut is in tests/hostile/test_http_deadline.py.
"""

from __future__ import annotations

import gzip
import http.server
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any, ClassVar

import brotli  # type: ignore[import-untyped]
import pytest
from click.testing import CliRunner

from syndicate.cli import cli
from syndicate.collect import collect_all
from syndicate.config import Config, load_config
from syndicate.sources.retrieve import retry_after_seconds
from syndicate.store import Store
from tests.conftest import HttpServe

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
FEED = (
    '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>속보</title>'
    "<link>https://news.example.kr/</link><description>d</description>"
    "<item><title>첫 기사</title><link>https://news.example.kr/1</link><guid>n-1</guid></item>"
    "<item><title>둘째 기사</title><link>https://news.example.kr/2</link><guid>n-2</guid></item>"
    "</channel></rss>"
).encode()


class Script(http.server.BaseHTTPRequestHandler):
    """Answers each path from ``answers`` (status, headers, body); records every request."""

    answers: ClassVar[dict[str, list[tuple[int, dict[str, str], bytes]]]] = {}
    seen: ClassVar[list[tuple[str, dict[str, str]]]] = []

    def do_GET(self) -> None:
        type(self).seen.append((self.path, dict(self.headers.items())))
        queue = type(self).answers.get(self.path) or [(404, {}, b"")]
        status, headers, body = queue.pop(0) if len(queue) > 1 else queue[0]
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def script(serve_http: HttpServe) -> tuple[type[Script], str]:
    class Fresh(Script):
        answers: ClassVar[dict[str, list[tuple[int, dict[str, str], bytes]]]] = {}
        seen: ClassVar[list[tuple[str, dict[str, str]]]] = []

    return Fresh, serve_http(Fresh)


@pytest.fixture
def store(migrated_sqlite_url: str) -> Any:
    with Store(migrated_sqlite_url) as opened:
        opened.upgrade()
        yield opened


def config_for(write_config: Callable[..., Path], store: Store, urls: dict[str, str],
               **collect: Any) -> Config:  # fmt: skip
    sources = [{"id": sid, "kind": "feed", "location": url, "section": "it"}
               for sid, url in urls.items()]  # fmt: skip
    path = write_config(sources=sources, collect=collect, store=store.url)
    return load_config(path)


OK = (200, {"Content-Type": "application/rss+xml"}, FEED)


def hits(handler: type[Script], path: str) -> int:
    return sum(1 for seen, _ in handler.seen if seen == path)


def test_retry_after_seconds_and_http_dates() -> None:
    assert retry_after_seconds("120") == 120.0
    later = format_datetime(NOW + timedelta(minutes=90), usegmt=True)
    assert retry_after_seconds(later, NOW) == 5400.0
    assert retry_after_seconds(format_datetime(NOW - timedelta(hours=1), usegmt=True), NOW) == 0.0
    assert retry_after_seconds("99999999") == 7 * 24 * 3600.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_429_with_retry_after_waits_that_long(
    script: tuple[type[Script], str], write_config: Callable[..., Path], store: Store
) -> None:
    handler, base = script
    handler.answers["/busy.xml"] = [(429, {"Retry-After": "3600"}, b""), OK]
    config = config_for(write_config, store, {"busy": base + "busy.xml"})
    [first] = collect_all(config, store, now=NOW)
    assert first.error == f"source 'busy': HTTP 429 Too Many Requests from {base}busy.xml " \
        "(retry after 3600s)"  # fmt: skip
    state = store.get_source_state("busy")
    assert state.next_due_at == NOW + timedelta(hours=1) and state.backoff_seconds == 3600
    seen: list[str] = []
    [waiting] = collect_all(config, store, now=NOW + timedelta(minutes=59), progress=lambda o:
                            seen.append(o.describe()))  # fmt: skip
    assert seen == ["busy: skipped: backing off until 2026-11-29 10:00:00 UTC"]
    assert waiting.error is None and waiting.waiting is not None
    assert "backing off until 2026-11-29 10:00:00 UTC" in waiting.waiting
    assert hits(handler, "/busy.xml") == 1
    [done] = collect_all(config, store, now=NOW + timedelta(hours=1))
    assert done.error is None and done.new == 2 and hits(handler, "/busy.xml") == 2


def test_503_with_an_http_date(
    script: tuple[type[Script], str], write_config: Callable[..., Path], store: Store
) -> None:
    handler, base = script
    when = format_datetime(datetime.now(UTC) + timedelta(hours=2), usegmt=True)
    handler.answers["/down.xml"] = [(503, {"Retry-After": when}, b"")]
    config = config_for(write_config, store, {"down": base + "down.xml"})
    now = datetime.now(UTC)
    [outcome] = collect_all(config, store, now=now)
    assert outcome.error and "HTTP 503 Service Unavailable" in outcome.error
    state = store.get_source_state("down")
    assert state.next_due_at is not None
    assert timedelta(minutes=119) < state.next_due_at - now <= timedelta(hours=2)


def test_backoff_grows_to_its_cap_and_a_success_resets_it(
    script: tuple[type[Script], str], write_config: Callable[..., Path], store: Store
) -> None:
    handler, base = script
    broken: tuple[int, dict[str, str], bytes] = (500, {}, b"oops")
    handler.answers["/flaky.xml"] = [broken, broken, broken, broken, OK]
    config = config_for(write_config, store, {"flaky": base + "flaky.xml"}, backoff_max="15m")
    now, waits = NOW, []
    for _ in range(4):
        [outcome] = collect_all(config, store, now=now)
        assert outcome.error == f"source 'flaky': HTTP 500 Internal Server Error from " \
            f"{base}flaky.xml"  # fmt: skip
        state = store.get_source_state("flaky")
        assert state.next_due_at == now + timedelta(seconds=state.backoff_seconds)
        waits.append(state.backoff_seconds)
        [skipped] = collect_all(config, store, now=now + timedelta(seconds=1))
        assert skipped.waiting is not None
        now = state.next_due_at
    assert waits == [300, 600, 900, 900]
    assert hits(handler, "/flaky.xml") == 4
    [ok] = collect_all(config, store, now=now)
    assert ok.error is None and ok.new == 2
    state = store.get_source_state("flaky")
    assert (state.error_count, state.backoff_seconds, state.next_due_at) == (0, 0, None)
    assert state.last_success_at == now and state.last_error is None


def test_410_retires_a_source_until_it_is_enabled(
    script: tuple[type[Script], str], write_config: Callable[..., Path], store: Store
) -> None:
    handler, base = script
    handler.answers["/gone.xml"] = [(410, {}, b""), OK]
    config = config_for(write_config, store, {"gone": base + "gone.xml"})
    [first] = collect_all(config, store, now=NOW)
    assert first.error == f"source 'gone': HTTP 410 Gone from {base}gone.xml"
    assert store.get_source_state("gone").retired_at == NOW
    [later] = collect_all(config, store, now=NOW + timedelta(days=30))
    assert later.error is None and later.waiting is not None and "retired" in later.waiting
    [named] = collect_all(config, store, source_ids=["gone"], now=NOW + timedelta(days=30))
    assert named.error is not None and "retired since 2026-11-29 09:00 UTC" in named.error
    assert hits(handler, "/gone.xml") == 1

    runner = CliRunner()
    shown = runner.invoke(cli, ["--config", str(config.path), "sources"])
    assert shown.exit_code == 0, shown.output
    header, row = shown.output.splitlines()
    assert header.split("\t")[:3] == ["source", "status", "last success"]
    assert row.split("\t")[:2] == ["gone", "retired"]
    assert row.split("\t")[5] == f"source 'gone': HTTP 410 Gone from {base}gone.xml"
    enabled = runner.invoke(cli, ["--config", str(config.path), "sources", "enable", "gone"])
    assert enabled.exit_code == 0, enabled.output
    assert enabled.output == "gone: enabled (retired before); it is read at the next collect\n"
    unknown = runner.invoke(cli, ["--config", str(config.path), "sources", "enable", "nope"])
    assert unknown.exit_code == 1 and "unknown source 'nope'" in unknown.output

    [back] = collect_all(config, store, now=NOW + timedelta(days=31))
    assert back.error is None and back.new == 2 and hits(handler, "/gone.xml") == 2
    shown = runner.invoke(cli, ["--config", str(config.path), "sources"])
    assert shown.output.splitlines()[1].split("\t")[1] == "ok"


def test_a_permanent_redirect_updates_the_location_once(
    script: tuple[type[Script], str],
    write_config: Callable[..., Path],
    store: Store,
    caplog: pytest.LogCaptureFixture,
) -> None:
    handler, base = script
    handler.answers["/old.xml"] = [(301, {"Location": "/new.xml"}, b"")]
    handler.answers["/tmp.xml"] = [(302, {"Location": "/new.xml"}, b"")]
    handler.answers["/new.xml"] = [OK]
    config = config_for(write_config, store, {"moved": base + "old.xml", "temp": base + "tmp.xml"})
    with caplog.at_level(logging.WARNING):
        for day in range(3):
            outcomes = collect_all(config, store, now=NOW + timedelta(days=day))
            assert [o.error for o in outcomes] == [None, None]
    moves = [r.getMessage() for r in caplog.records if "moved permanently" in r.getMessage()]
    assert moves == [f"source moved moved permanently to {base}new.xml (configured: "
                     f"{base}old.xml); reading it there from now on"]  # fmt: skip
    assert hits(handler, "/old.xml") == 1 and hits(handler, "/tmp.xml") == 3
    moved, temp = store.get_source_state("moved"), store.get_source_state("temp")
    assert (moved.location, moved.moved_from) == (base + "new.xml", base + "old.xml")
    assert (temp.location, temp.moved_from) == (None, None)
    shown = CliRunner().invoke(cli, ["--config", str(config.path), "sources"])
    rows = [line.split("\t") for line in shown.output.splitlines()[1:]]
    assert [(row[0], row[6]) for row in rows] == [("moved", base + "new.xml"), ("temp", "-")]


def test_a_new_configured_location_drops_the_move(
    script: tuple[type[Script], str], write_config: Callable[..., Path], store: Store
) -> None:
    handler, base = script
    handler.answers["/old.xml"] = [(308, {"Location": "/new.xml"}, b"")]
    handler.answers["/new.xml"] = [OK]
    handler.answers["/other.xml"] = [OK]
    collect_all(config_for(write_config, store, {"s": base + "old.xml"}), store, now=NOW)
    assert store.get_source_state("s").location == base + "new.xml"
    config = config_for(write_config, store, {"s": base + "other.xml"})
    [outcome] = collect_all(config, store, now=NOW + timedelta(hours=1))
    assert outcome.error is None and hits(handler, "/other.xml") == 1
    assert store.get_source_state("s").location is None


@pytest.mark.parametrize(
    ("encoding", "compress"), [("gzip", gzip.compress), ("br", brotli.compress)]
)
def test_compressed_responses_are_accepted(
    script: tuple[type[Script], str],
    write_config: Callable[..., Path],
    store: Store,
    encoding: str,
    compress: Callable[[bytes], bytes],
) -> None:
    handler, base = script
    body = compress(FEED)
    assert body != FEED
    handler.answers["/z.xml"] = [(200, {"Content-Encoding": encoding}, body)]
    config = config_for(write_config, store, {"z": base + "z.xml"})
    [outcome] = collect_all(config, store, now=NOW)
    assert outcome.error is None and outcome.new == 2
    [(_, headers)] = handler.seen
    accepted = {part.strip() for part in headers["Accept-Encoding"].split(",")}
    assert {"gzip", "br"} <= accepted
    assert sorted(a.title for a in store.latest_articles()) == ["둘째 기사", "첫 기사"]


def own_feed(path: str) -> bytes:
    """FEED with stories of its own per path (the same stories would be stored once)."""
    tag = path.strip("/").replace(".xml", "")
    own = FEED.decode().replace("기사</title>", f"기사 {tag}</title>")
    return own.replace("kr/1<", f"kr/{tag}/1<").replace("kr/2<", f"kr/{tag}/2<").encode()


class Counting(http.server.BaseHTTPRequestHandler):
    """Serves FEED slowly, counting requests in flight and recording start times."""

    lock: ClassVar[threading.Lock] = threading.Lock()
    active: ClassVar[int] = 0
    peak: ClassVar[int] = 0
    starts: ClassVar[list[float]] = []

    def do_GET(self) -> None:
        cls = type(self)
        with cls.lock:
            cls.active += 1
            cls.peak = max(cls.peak, cls.active)
            cls.starts.append(time.monotonic())
        time.sleep(0.1)
        with cls.lock:
            cls.active -= 1
        body = own_feed(self.path)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.mark.parametrize(("concurrency", "delay"), [(1, 0.0), (2, 0.0), (4, 0.25)])
def test_requests_to_one_host_are_capped_and_spaced(
    serve_http: HttpServe,
    write_config: Callable[..., Path],
    store: Store,
    concurrency: int,
    delay: float,
) -> None:
    class Fresh(Counting):
        lock = threading.Lock()
        active, peak, starts = 0, 0, []

    base = serve_http(Fresh, http.server.ThreadingHTTPServer)
    urls = {f"s{n}": f"{base}f{n}.xml" for n in range(6)}
    config = config_for(write_config, store, urls, host_concurrency=concurrency,
                        host_delay=delay)  # fmt: skip
    began = time.monotonic()
    outcomes = collect_all(config, store, now=NOW)
    assert [o.new for o in outcomes] == [2] * 6
    # Four workers, six feeds answered in 0.1 s each: without a delay the cap is reached.
    assert Fresh.peak == concurrency if delay == 0 else Fresh.peak <= concurrency
    # Load only makes a request arrive later than the gate let it go: the i-th
    # cannot arrive before i delays have passed since the collect began.
    offsets = [round(start - began, 3) for start in sorted(Fresh.starts)]
    assert len(offsets) == 6 and all(o >= delay * i - 0.01 for i, o in enumerate(offsets)), offsets
