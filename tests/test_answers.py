"""Answers from the server: how each SMTP answer leaves a send, on a real aiosmtpd server.

The classification and the backoff are plain functions tested without a network;
everything else sends through the shared sink on 127.0.0.1 into a real store
(SQLite and PostgreSQL where the store's part is what is tested).
"""

from __future__ import annotations

import email
import email.policy
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pytest
import yaml

from syndicate import STORE_ENV, pipeline
from syndicate.answers import classify_answer, enhanced_code
from syndicate.config import Config, load_config
from syndicate.model import SendState, SubscriptionState
from syndicate.retry import Brakes, retry_delay
from syndicate.subscribers import import_subscribers
from tests.conftest import SmtpSink, free_port, invoke_syndicate, run_syndicate
from tests.delivery_world import NOW, World, smtp_delivery

MINUTE = timedelta(minutes=1)


@pytest.mark.parametrize(
    ("code", "text", "state", "policy"),
    [
        (421, "4.3.2 shutting down", SendState.DEFERRED, False),
        (450, "4.2.1 mailbox busy", SendState.DEFERRED, False),
        (451, "4.7.1 greylisted, try again later", SendState.DEFERRED, False),
        (452, "4.5.3 too many recipients", SendState.DEFERRED, False),
        (450, "no such user here", SendState.DEFERRED, False),  # 4xx is never a bounce
        (550, "5.1.1 <kim@example.kr>: Recipient address rejected", SendState.BOUNCED, False),
        (550, "5.1.10 RESOLVER.ADR.RecipientNotFound", SendState.BOUNCED, False),
        (552, "5.2.1 mailbox disabled", SendState.BOUNCED, False),
        (550, "no such user", SendState.BOUNCED, False),
        (551, "User unknown", SendState.BOUNCED, False),
        (553, "mailbox does not exist", SendState.BOUNCED, False),
        (554, "5.7.1 Message rejected as spam", SendState.FAILED, True),
        (550, "5.7.26 unauthenticated mail is prohibited", SendState.FAILED, True),
        (550, "5.1.2 bad destination system", SendState.FAILED, False),
        (550, "5.1.1x is not an enhanced code", SendState.FAILED, False),
        (554, "no such user", SendState.FAILED, False),  # 554 is not a user-unknown reply
        (550, "mailbox unavailable", SendState.FAILED, False),  # not plainly user-unknown
        (552, "5.3.4 message too big", SendState.FAILED, False),
        (354, "unexpected", SendState.DEFERRED, False),  # not a refusal we understand
    ],
)
def test_each_answer_leaves_its_state(code: int, text: str, state: SendState, policy: bool) -> None:
    assert classify_answer(code, text) == (state, policy)


def test_enhanced_codes_are_read_only_at_the_start() -> None:
    assert enhanced_code("5.1.1 no") == "5.1.1"
    assert enhanced_code("  4.7.1 later") == "4.7.1"
    assert enhanced_code("user 5.1.1 unknown") is None
    assert enhanced_code("5.1.10") == "5.1.10"
    assert enhanced_code("5.1.1.2 no") is None


def test_backoff_triples_up_to_its_cap() -> None:
    first, cap = 5 * MINUTE, 3 * 60 * MINUTE
    delays = [retry_delay(n, first, cap) for n in range(1, 8)]
    assert delays == [5 * MINUTE, 15 * MINUTE, 45 * MINUTE, 135 * MINUTE, cap, cap, cap]
    assert retry_delay(0, first, cap) == first
    assert retry_delay(10_000, first, cap) == cap  # no overflow on a long history


def test_brakes_count_in_a_row_and_trip_once() -> None:
    brakes = Brakes(relay_limit=2, domain_limit=2)
    assert brakes.unreachable("down") is None
    brakes.answered("a@x.kr")  # the server answered: the relay count starts over
    assert brakes.unreachable("down") is None
    assert brakes.unreachable("down") == "down (2 times in a row)"
    assert brakes.unreachable("down") is None  # said once
    assert not brakes.allows("a@y.kr")
    other = Brakes(relay_limit=2, domain_limit=2)
    assert other.refused_by_policy("a@strict.kr", "554 5.7.1") is None
    assert other.refused_by_policy("b@other.kr", "554 5.7.1") is None
    assert other.refused_by_policy("c@Strict.KR", "554 5.7.1") is not None
    assert other.refused_by_policy("d@strict.kr", "554 5.7.1") is None  # said once
    assert not other.allows("e@strict.kr") and other.allows("e@other.kr")


# --- one batch against the real server ---------------------------------------------


def greylist(sink: SmtpSink, address: str, times: int = 1) -> None:
    """Answer 451 to ``address``'s next ``times`` RCPTs."""
    sink.answers[address] = ["451 4.7.1 greylisted, try again later"] * times


def message_ids(contents: list[bytes]) -> list[str]:
    """The Message-ID of each raw message."""
    parsed = [email.message_from_bytes(c, policy=email.policy.default) for c in contents]
    return [str(message["Message-ID"]) for message in parsed]


def test_a_bounce_marks_the_send_and_the_subscription(
    migrated_store_url: str,
    smtp_server: tuple[SmtpSink, int],
    worlds: Callable[[str, dict[str, Any]], World],
) -> None:
    sink, port = smtp_server
    sink.reject["lee@example.com"] = "550 5.1.1 <lee@example.com>: user unknown"
    sink.reject["park@example.com"] = "554 5.7.1 rejected by policy"
    world = worlds(migrated_store_url, smtp_delivery(port))
    world.store.set_subscription(world.rendered[1].digest.subscription.subscriber.id, "morning", [])
    world.store.set_subscription(world.rendered[2].digest.subscription.subscriber.id, "morning", [])
    report = world.deliver()
    assert report.sent == 1 and list(report.bounced) == ["lee@example.com"]
    assert list(report.failed) == ["park@example.com"]
    assert world.states() == {
        "kim@example.com": "sent",
        "lee@example.com": "bounced",
        "park@example.com": "failed",
    }
    active = {s.subscriber.email for s in world.store.subscriptions("morning")}
    assert active == {"park@example.com"}  # a policy refusal keeps the subscription
    bounced = world.store.subscriptions("morning", status=SubscriptionState.BOUNCED)
    assert [s.subscriber.email for s in bounced] == ["lee@example.com"]


@pytest.mark.parametrize("policy", ["resend", "skip"])
def test_a_reply_lost_after_data_is_uncertain_never_resent_at_once(
    migrated_store_url: str,
    smtp_server: tuple[SmtpSink, int],
    worlds: Callable[[str, dict[str, Any]], World],
    write_config: Callable[..., Path],
    policy: Literal["resend", "skip"],
) -> None:
    sink, port = smtp_server
    sink.lose_reply.add("lee@example.com")
    world = worlds(migrated_store_url, smtp_delivery(port))
    digest = replace(world.config.digests[0], uncertain=policy)
    report = world.deliver()
    assert (report.sent, report.uncertain, report.failed) == (2, 1, {})
    assert len(sink.received("lee@example.com")) == 1  # not resent on a new connection
    assert len(sink.received("park@example.com")) == 1  # the next reader still got theirs
    assert world.states()["lee@example.com"] == "uncertain"
    assert "no answer after the message was sent" in world.errors()["lee@example.com"]

    from syndicate.delivery import deliver_batch

    again = deliver_batch(world.config, world.store, digest, world.rendered, now=NOW + MINUTE)
    copies = sink.received("lee@example.com")
    if policy == "resend":
        assert (again.sent, again.already_claimed) == (1, 2)
        assert len(copies) == 2 and len(set(message_ids(copies))) == 1  # same Message-ID
        assert world.states()["lee@example.com"] == "sent"
    else:
        assert (again.sent, again.already_claimed) == (0, 3)
        assert len(copies) == 1
        assert world.states()["lee@example.com"] == "uncertain"
    assert len(sink.messages) == 3 + (policy == "resend")


def test_a_domain_refusing_by_policy_is_paused_with_one_line(
    migrated_sqlite_url: str,
    smtp_server: tuple[SmtpSink, int],
    worlds: Callable[[str, dict[str, Any]], World],
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink, port = smtp_server
    for address in ("kim@example.com", "lee@example.com"):
        sink.reject[address] = "554 5.7.1 Service unavailable; client host blocked"
    world = worlds(
        migrated_sqlite_url, smtp_delivery(port) | {"domain_refusals": 2, "connections": 1}
    )
    caplog.set_level(logging.WARNING, logger="syndicate")
    report = world.deliver()
    assert (report.sent, report.held, len(report.failed)) == (0, 1, 2)
    assert world.states() == {"kim@example.com": "failed", "lee@example.com": "failed"}
    assert "park@example.com" not in sink.rcpts  # held for the next run, never claimed
    pauses = [r.getMessage() for r in caplog.records if "paused" in r.getMessage()]
    assert len(pauses) == 1
    assert "example.com refused 2 messages in a row by policy" in pauses[0]


# --- the command line: counts, exit codes, one line when the relay is down ------------


def smtp_example(site: Path, port: int, readers: list[str], **settings: Any) -> Config:
    """The example site sending through 127.0.0.1:port to ``readers`` (all sections),
    its articles collected; ``settings`` go into the digest (``delivery`` is merged)."""
    path = site / "schedules.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    digest = data["digests"][0]
    digest["delivery"] = smtp_delivery(port) | settings.pop("delivery", {})
    digest.update(settings)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    rows = "".join(f"{address},,morning,,2026-11-20T08:00:00+09:00\n" for address in readers)
    (site / "readers.csv").write_text("email,name,digest,sections,consented_at\n" + rows)
    config = load_config(path)
    with pipeline.open_store(config) as store:
        import_subscribers(config, store, site / "readers.csv")
        pipeline.run_collect(config, store)
    return config


def test_relay_down_stops_the_digest_command_with_one_line(example_site: Path) -> None:
    port = free_port()
    readers = [f"reader{n}@example.kr" for n in range(40)]
    (example_site / "examples" / "subscribers.csv").unlink()
    smtp_example(example_site, port, readers, delivery={"timeout": 2})
    result = run_syndicate("digest", "morning", cwd=example_site)
    assert result.returncode == 3, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert f"cannot connect to SMTP server 127.0.0.1:{port}" in lines[0]
    assert "3 times in a row" in lines[0] and "wait for the next run" in lines[0]
    assert ": 0 sent, 40 deferred, 0 bounced, 0 failed, 0 uncertain;" in result.stdout
    assert "stopped early" in result.stdout


@pytest.mark.parametrize(
    ("refusal", "code", "counts"),
    [
        (None, 0, "3 sent, 0 deferred, 0 bounced, 0 failed, 0 uncertain"),
        ("550 5.1.1 no such user", 0, "2 sent, 0 deferred, 1 bounced, 0 failed, 0 uncertain"),
        ("554 5.7.1 spam", 3, "2 sent, 0 deferred, 0 bounced, 1 failed, 0 uncertain"),
        ("451 4.3.0 later", 3, "2 sent, 1 deferred, 0 bounced, 0 failed, 0 uncertain"),
    ],
)
def test_the_digest_command_counts_each_answer_and_exits_0_only_for_bounces(
    example_site: Path,
    smtp_server: tuple[SmtpSink, int],
    refusal: str | None,
    code: int,
    counts: str,
) -> None:
    sink, port = smtp_server
    readers = ["a@example.kr", "b@example.kr", "c@example.kr"]
    (example_site / "examples" / "subscribers.csv").unlink()
    smtp_example(example_site, port, readers)
    if refusal is not None:
        sink.reject["b@example.kr"] = refusal
    result = invoke_syndicate("digest", "morning", cwd=example_site)
    assert result.returncode == code, result.stdout + result.stderr
    assert f": {counts};" in result.stdout
    again = invoke_syndicate("digest", "morning", cwd=example_site)
    # a failure is reported once; a deferred send waiting for its retry keeps exit code 3
    waiting = refusal is not None and refusal.startswith("451")
    assert again.returncode == (3 if waiting else 0)
    assert f"{int(waiting)} waiting to retry" in again.stdout
    assert ": 0 sent, 0 deferred, 0 bounced, 0 failed, 0 uncertain;" in again.stdout


# --- acceptance: the daemon retries 451, bounces 5.1.1, fails 5.7.1 -------------------

EXTRA_ITEM = """<item><title>다음 호 기사</title><link>https://news.example.kr/it/next</link>
<guid>https://news.example.kr/it/next</guid><pubDate>Sat, 28 Nov 2026 08:00:00 +0900</pubDate>
<description>다음 호에 실릴 기사입니다.</description></item>"""


def add_article(site: Path) -> None:
    """One more item in the IT feed, for the next edition."""
    feed = site / "examples" / "feeds" / "it-science.rss.xml"
    text = feed.read_text(encoding="utf-8")
    feed.write_text(text.replace("<item>", EXTRA_ITEM + "<item>", 1), encoding="utf-8")


def wait_for(condition: Callable[[], bool], daemon: subprocess.Popen[str], seconds: float) -> bool:
    """Poll ``condition`` until it holds, the daemon exits or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and daemon.poll() is None:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def run_daemon(site: Path, env: dict[str, str], until: Callable[[], bool]) -> tuple[bool, str]:
    """Run ``syndicate run`` in ``site`` until ``until()`` holds (at most 60 s), then SIGTERM it.

    Returns whether the condition held and the daemon's stderr.
    """
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")} | env
    daemon = subprocess.Popen(
        [sys.executable, "-m", "syndicate", "run"],
        cwd=site,
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        held = wait_for(until, daemon, 60)
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, stderr = daemon.communicate(timeout=30)
    return held, stderr


def test_the_scheduler_retries_451_while_5_1_1_bounces_and_5_7_1_fails(
    example_site: Path,
    smtp_server: tuple[SmtpSink, int],
    store_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sink, port = smtp_server
    fine = [f"ok{n}@example.kr" for n in range(4)]
    grey = ["grey1@greylist.kr", "grey2@greylist.kr"]
    gone = ["gone1@example.kr", "gone2@example.kr"]
    spam = ["spam1@strict.kr", "spam2@strict2.kr"]
    for address in grey:
        sink.answers[address] = ["451 4.7.1 greylisted, try again later"]
    for address in gone:
        sink.reject[address] = f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
    for address in spam:
        sink.reject[address] = "554 5.7.1 Message rejected by policy"
    (example_site / "examples" / "subscribers.csv").unlink()
    monkeypatch.setenv(STORE_ENV, store_url)
    a_minute_ago = datetime.now(ZoneInfo("Asia/Seoul")) - MINUTE  # caught up at start
    schedule = f"{a_minute_ago.minute} {a_minute_ago.hour} * * *"
    retry = {"first_delay": "2s", "max_delay": "2s"}
    config = smtp_example(
        example_site, port, fine + grey + gone + spam, schedule=schedule, retry=retry
    )

    def everyone_reached() -> bool:
        return all(sink.received(address) for address in grey)

    held, stderr = run_daemon(example_site, {STORE_ENV: store_url}, everyone_reached)
    assert held, stderr
    assert "Traceback" not in stderr
    for address in fine + grey:
        assert len(sink.received(address)) == 1, address  # exactly once
    for address in grey:
        assert sink.rcpts.count(address) == 2  # refused with 451, then retried by the daemon
    for address in gone + spam:
        assert sink.received(address) == [] and sink.rcpts.count(address) == 1

    env = {STORE_ENV: store_url}
    listed = invoke_syndicate("subscribers", "list", cwd=example_site, env=env).stdout.splitlines()
    status = {line.split("\t")[0]: line.split("\t")[3] for line in listed}
    assert {status[a] for a in gone} == {"bounced"}
    assert {status[a] for a in fine + grey + spam} == {"active"}

    add_article(example_site)
    with pipeline.open_store(config) as store:
        pipeline.run_collect(config, store)
        tomorrow = datetime.now(UTC) + timedelta(days=1)
        run = pipeline.run_digest(config, store, "morning", now=tomorrow)
    assert run.created and run.sent == len(fine + grey) and sorted(run.failed) == spam
    for address in gone:
        assert sink.rcpts.count(address) == 1  # bounced: left out of the next edition
    for address in spam:
        assert sink.rcpts.count(address) == 2  # still subscribed: tried, refused again
    for address in fine + grey:
        assert len(sink.received(address)) == 2
