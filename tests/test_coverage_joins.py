"""The joins between stages that no other test protected (issue 6, item 8).

Each test runs the real example site (schedules.yaml + examples/) on a real
SQLite file; SMTP tests talk to a real aiosmtpd server; store failures are
raised at the store boundary (the ``Store`` instance) only.
"""

from __future__ import annotations

import email
import email.policy
import logging
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from syndicate import jobs, pipeline, scheduler
from syndicate.config import Config, load_config
from syndicate.errors import ConfigError, StoreError
from syndicate.model import SendState
from syndicate.store import Store
from syndicate.store import sources as store_sources
from syndicate.subscribers import import_subscribers
from tests.conftest import ROOT, SmtpSink

FRIDAY_0800 = datetime(2026, 11, 26, 23, 0, tzinfo=UTC)  # Friday 08:00 in Seoul
FRIDAY_0730 = datetime(2026, 11, 26, 22, 30, tzinfo=UTC)  # Friday 07:30 in Seoul

Edit = Callable[[dict[str, Any]], None]


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A copy of the example site."""
    shutil.copy(ROOT / "schedules.yaml", tmp_path / "schedules.yaml")
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    return tmp_path


def edit_config(site: Path, edit: Edit) -> Path:
    """Apply ``edit`` to the site's schedules.yaml data and write it back."""
    path = site / "schedules.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def add_evening(data: dict[str, Any]) -> None:
    """A second digest, for the example subscribers' second row set."""
    evening = dict(data["digests"][0], id="evening", title="저녁 브리핑", schedule="0 18 * * 1-5")
    evening["delivery"] = {"kind": "file", "folder": "outbox-evening"}
    data["digests"].append(evening)


def open_site(site: Path, csv: Path | None = None) -> tuple[Config, Store]:
    """Load the config, open the store and import the subscribers."""
    config = load_config(site / "schedules.yaml")
    store = pipeline.open_store(config)
    import_subscribers(config, store, csv or site / "examples" / "subscribers.csv")
    return config, store


def evening_csv(site: Path) -> Path:
    """The example subscribers, plus two who take only the evening digest."""
    path = site / "both.csv"
    text = (site / "examples" / "subscribers.csv").read_text(encoding="utf-8")
    extra = (
        "evening.one@example.kr,저녁일,evening,it,2026-11-20T08:00:00+09:00\n"
        "evening.two@example.kr,저녁이,evening,,2026-11-20T08:00:00+09:00\n"
    )
    path.write_text(text.rstrip("\n") + "\n" + extra, encoding="utf-8")
    return path


def syndicate(site: Path, *args: str) -> Result:
    """Run the command line in-process on the site's config."""
    import os

    from syndicate.cli import cli

    unset: dict[str, str | None] = {k: None for k in os.environ if k.startswith("SYNDICATE_")}
    return CliRunner().invoke(cli, ["--config", str(site / "schedules.yaml"), *args], env=unset)


# --- run_once goes on after a feeds or a digest failure -----------------------------


def block_feeds(site: Path) -> None:
    """Put a regular file where the feeds folder must be created."""
    (site / "public").mkdir(exist_ok=True)
    (site / "public" / "feeds").write_text("not a folder", encoding="utf-8")


def test_run_once_sends_digests_after_feeds_fail(site: Path) -> None:
    block_feeds(site)
    config, store = open_site(site)
    try:
        report = pipeline.run_once(config, store, now=FRIDAY_0800)
        owed = len(store.subscriptions("morning"))
    finally:
        store.close()
    assert report.feeds is not None and report.feeds.failed
    assert report.errors and all(error.startswith("feeds: ") for error in report.errors)
    assert all("\n" not in error for error in report.errors)
    [run] = report.digests
    assert run.sent + run.empty == owed and run.sent > 0
    assert len(list((site / "outbox").glob("*.eml"))) == run.sent
    assert report.has_failures


def test_cli_run_once_exits_3_after_feeds_fail(site: Path) -> None:
    block_feeds(site)
    assert syndicate(site, "subscribers", "import", "examples/subscribers.csv").exit_code == 0
    result = syndicate(site, "run", "--once")
    assert result.exit_code == 3, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "public/feeds" in result.output
    assert list((site / "outbox").glob("*.eml"))


def test_run_once_runs_the_next_digest_after_one_fails(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    edit_config(site, add_evening)
    config, store = open_site(site, evening_csv(site))
    create = store.create_edition

    def create_edition(digest_id: str, *args: Any, **kwargs: Any) -> Any:
        if digest_id == "morning":
            raise StoreError("database is locked")
        return create(digest_id, *args, **kwargs)

    monkeypatch.setattr(store, "create_edition", create_edition)
    try:
        report = pipeline.run_once(config, store, now=FRIDAY_0800)
        evening_owed = len(store.subscriptions("evening"))
    finally:
        store.close()
    assert report.errors == ["digest morning: database is locked"]
    assert [run.digest_id for run in report.digests] == ["evening"]
    assert report.digests[0].sent + report.digests[0].empty == evening_owed
    assert report.digests[0].sent > 0
    assert not list((site / "outbox").glob("*.eml"))
    assert report.feeds is not None and report.feeds.written
    assert report.has_failures


def test_cli_run_once_exits_3_after_a_digest_fails(site: Path) -> None:
    templates = site / "templates"
    templates.mkdir()
    (templates / "digest.html.j2").write_text("{% for %}broken", encoding="utf-8")
    edit_config(site, lambda data: data.update(templates="templates"))
    assert syndicate(site, "subscribers", "import", "examples/subscribers.csv").exit_code == 0
    result = syndicate(site, "run", "--once")
    assert result.exit_code == 3, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "digest morning" in result.output
    assert "digest.html.j2" in result.output
    assert list((site / "public" / "feeds").glob("*.xml"))
    assert not list((site / "outbox").glob("*.eml"))


# --- a store failure during collect ------------------------------------------------


def test_store_failure_during_collect_fails_one_source(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, store = open_site(site)
    upsert = store._upsert_in

    def upsert_in(conn: Any, articles: Any, *args: Any) -> Any:
        if any(article.source_id == "economy-atom" for article in articles):
            raise StoreError("disk I/O error")
        return upsert(conn, articles, *args)

    monkeypatch.setattr(store, "_upsert_in", upsert_in)
    try:
        outcomes = pipeline.run_collect(config, store, now=FRIDAY_0800)
        state = store.get_source_state("economy-atom")
    finally:
        store.close()
    failed = {o.source_id: o.error for o in outcomes if o.error}
    assert failed == {
        "economy-atom": "source 'economy-atom': cannot store articles: disk I/O error"
    }
    assert all(o.new > 0 for o in outcomes if o.source_id != "economy-atom")
    assert state.last_error == failed["economy-atom"] and state.error_count == 1


def test_state_that_cannot_be_saved_fails_each_source_and_stores_nothing_half(
    site: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A source's articles and state go in one transaction: neither is stored without the other."""
    config, store = open_site(site)

    def write_states(conn: Any, states: Any) -> None:
        raise StoreError("attempt to write a readonly database")

    monkeypatch.setattr(store_sources, "write_states", write_states)
    try:
        with caplog.at_level(logging.WARNING, logger="syndicate.collect"):
            outcomes = pipeline.run_collect(config, store, now=FRIDAY_0800)
        stored = store.count_articles()
    finally:
        store.close()
    assert outcomes and all(
        o.error == f"source {o.source_id!r}: cannot store articles: attempt to write a readonly "
        "database"
        for o in outcomes
    )
    assert stored == 0
    warnings = [r.getMessage() for r in caplog.records if "cannot save its state" in r.getMessage()]
    assert len(warnings) == len(outcomes)


# --- the scheduler's catch-up job ---------------------------------------------------


def test_catch_up_job_sends_the_missed_digest(site: Path) -> None:
    config, store = open_site(site)
    try:
        pipeline.run_collect(config, store, now=FRIDAY_0730)
        [due] = [d for d in jobs.plan(config, store, FRIDAY_0730, {}).due if d.job.target]
        assert store.last_edition("morning") is None
        scheduler.action_for(config, store, due, {})()
        edition = store.last_edition("morning")
        states = store.send_states(edition.id) if edition else {}
        owed = len(store.subscriptions("morning"))
        later = jobs.plan(config, store, FRIDAY_0730, {})
    finally:
        store.close()
    assert edition is not None and edition.slot == datetime(2026, 11, 26, 22, 0, tzinfo=UTC)
    assert 0 < len(states) <= owed and set(states.values()) == {SendState.SENT}
    assert "digest:morning" not in {d.job.id for d in later.due}


# --- config: a digest's sections exist ----------------------------------------------


def test_unknown_digest_section_is_one_line(site: Path) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["digests"][0]["sections"] = ["it", "sports", "economy"]

    path = edit_config(site, edit)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    lines = [line for line in str(caught.value).splitlines() if "sports" in line]
    assert len(lines) == 1
    assert lines[0].startswith(f"{path}: digests[0].sections[1]: unknown section 'sports'")


# --- SMTP: sender refused, one connection per batch ---------------------------------


def smtp_site(site: Path, port: int, batch_size: int = 100) -> None:
    """Deliver the morning digest through the test server on one connection (its
    counts are exact; parallel connections are tested in test_senders.py)."""

    def edit(data: dict[str, Any]) -> None:
        data["digests"][0]["delivery"] = {
            "kind": "smtp", "host": "127.0.0.1", "port": port, "security": "none",
            "timeout": 10, "batch_size": batch_size, "connections": 1,
        }  # fmt: skip

    edit_config(site, edit)


def test_sender_refused_stops_the_run_not_the_readers(
    site: Path, smtp_server: tuple[SmtpSink, int]
) -> None:
    handler, port = smtp_server
    smtp_site(site, port)
    handler.reject_sender = "553 5.7.1 Sender address rejected: not owned by user"
    config, store = open_site(site)
    later = FRIDAY_0800 + timedelta(minutes=5)  # the first retry delay
    try:
        pipeline.run_collect(config, store, now=FRIDAY_0800)
        first = pipeline.run_digest(config, store, "morning", now=FRIDAY_0800)
        records = store.send_records(first.edition.id).values()
        handler.reject_sender = None
        second = pipeline.run_digest(config, store, "morning", now=later)
        after = set(store.send_states(first.edition.id).values())
    finally:
        store.close()
    assert first.sent == 0 and not first.failed and first.deferred == 6
    assert first.stopped is not None and first.unfinished
    sender = "newsletter@news.example.kr"
    assert len(records) == 3  # three refusals in a row stop the edition; three never tried
    assert all(f"refused sender {sender}" in (r.error or "") for r in records)
    assert all("553" in (r.error or "") and "\n" not in (r.error or "") for r in records)
    # a refused sender is the operator's problem: no reader is marked failed or bounced
    assert {r.state for r in records} == {SendState.DEFERRED}
    assert second.sent == 6 and not second.failed and not second.unfinished
    assert after == {SendState.SENT}
    assert len(handler.messages) == second.sent


@pytest.mark.parametrize("batch_size", [1, 2])
def test_one_connection_per_batch(
    site: Path, smtp_server: tuple[SmtpSink, int], batch_size: int
) -> None:
    handler, port = smtp_server
    smtp_site(site, port, batch_size=batch_size)
    config, store = open_site(site)
    try:
        pipeline.run_collect(config, store, now=FRIDAY_0800)
        run = pipeline.run_digest(config, store, "morning", now=FRIDAY_0800)
    finally:
        store.close()
    assert run.sent == 6 and not run.failed
    assert len(handler.messages) == run.sent
    connections = len(set(handler.peers))  # each connection has its own client port
    assert connections == -(-run.sent // batch_size)


# --- render: the Gmail clipping warning ---------------------------------------------


def big_feed(path: Path, count: int) -> None:
    """An RSS feed of ``count`` long Korean items in section it."""
    items = []
    for n in range(count):
        when = format_datetime(datetime(2026, 11, 26, 12, n % 60, tzinfo=UTC))
        items.append(
            f"<item><title>반도체 수출 {n}번째 소식: " + "기사 제목이 깁니다 " * 8 + "</title>"
            f"<link>https://news.example.kr/it/{n}</link><guid>it-{n}</guid>"
            f"<pubDate>{when}</pubDate>"
            "<description>" + "요약 문장이 이어집니다. " * 30 + "</description></item>"
        )
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        "<title>큰 피드</title><link>https://news.example.kr/</link><description>d</description>"
        + "".join(items)
        + "</channel></rss>",
        encoding="utf-8",
    )


@pytest.mark.parametrize(("per_section", "trimmed"), [(200, True), (10, False)])
def test_gmail_size_budget(
    site: Path, caplog: pytest.LogCaptureFixture, per_section: int, trimmed: bool
) -> None:
    big_feed(site / "examples" / "big.rss.xml", 200)

    def edit(data: dict[str, Any]) -> None:
        data["sources"] = [
            {"id": "big", "kind": "feed", "location": "examples/big.rss.xml", "section": "it"}
        ]
        data["digests"][0]["max_per_section"] = per_section

    edit_config(site, edit)
    config, store = open_site(site)
    try:
        pipeline.run_collect(config, store, now=FRIDAY_0800)
        with caplog.at_level(logging.INFO, logger="syndicate.render"):
            run = pipeline.run_digest(config, store, "morning", now=FRIDAY_0800)
    finally:
        store.close()
    readers_of_it = 2  # kim.minji (it industry) and choi.yuna (everything)
    assert run.sent >= readers_of_it and not run.failed
    lines = [r.getMessage() for r in caplog.records if "trimmed" in r.getMessage()]
    # decided once per edition and shown sections: both readers see only "it" here
    assert len(lines) == (1 if trimmed else 0)
    assert all(line.startswith("digest morning edition ") for line in lines)
    for path in (site / "outbox").glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        (html,) = [p for p in message.walk() if p.get_content_type() == "text/html"]
        assert len(html.as_bytes()) <= 90_000  # the default size_budget


# --- subscribers list --digest ------------------------------------------------------


def test_subscribers_list_is_filtered_by_digest(site: Path) -> None:
    edit_config(site, add_evening)
    csv = evening_csv(site)
    assert syndicate(site, "subscribers", "import", str(csv)).exit_code == 0
    every = syndicate(site, "subscribers", "list")
    evening = syndicate(site, "subscribers", "list", "--digest", "evening")
    morning = syndicate(site, "subscribers", "list", "--digest", "morning")
    assert (every.exit_code, evening.exit_code, morning.exit_code) == (0, 0, 0)
    rows = {
        name: [line.split("\t") for line in result.output.splitlines()]
        for name, result in [("every", every), ("evening", evening), ("morning", morning)]
    }
    assert sorted(row[0] for row in rows["evening"]) == [
        "evening.one@example.kr",
        "evening.two@example.kr",
    ]
    assert {row[2] for row in rows["evening"]} == {"evening"}
    assert {row[2] for row in rows["morning"]} == {"morning"}
    assert len(rows["morning"]) + len(rows["evening"]) == len(rows["every"])
