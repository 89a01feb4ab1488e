"""Parallel SMTP connections and rate limits: real aiosmtpd, real SQLite, real threads.

Facts counted here do not depend on timing: messages per address, the most
messages in flight at once, the pace's own clock readings, refusals before a
domain is paused.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from syndicate.config import load_config
from syndicate.errors import ConfigError
from syndicate.pace import Pace
from syndicate.senders import Queue
from tests.conftest import SmtpSink, serving_smtp
from tests.delivery_world import World, make_world, smtp_delivery


class SlowSink(SmtpSink):
    """A sink that answers each message after ``delay`` seconds and counts those in flight."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.in_flight = 0
        self.most_in_flight = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def slow_server() -> Iterator[tuple[SlowSink, int]]:
    sink = SlowSink(0.03)
    with serving_smtp(sink) as port:
        yield sink, port


@pytest.fixture
def make(
    write_config: Callable[..., Path], migrated_sqlite_url: str
) -> Iterator[Callable[..., World]]:
    made: list[World] = []

    def build(delivery: dict[str, Any], readers: list[str]) -> World:
        made.append(
            make_world(write_config, migrated_sqlite_url, delivery, [(r, "") for r in readers])
        )
        return made[-1]

    yield build
    for world in made:
        world.store.close()


def test_the_pace_spaces_messages_overall_and_per_domain() -> None:
    pace = Pace(rate=4, domains={"naver.com": 1})
    assert pace.delay("naver.com", 0.0) == 0.0
    pace.spend("naver.com", 0.0)
    assert pace.delay("gmail.com", 0.0) == 0.25  # the overall bucket: 4 per second
    assert pace.delay("naver.com", 0.0) == 1.0  # naver.com: 1 per second
    pace.spend("gmail.com", 0.25)
    assert pace.delay("naver.com", 0.5) == 0.5
    assert pace.delay("daum.net", 0.5) == 0.0
    assert not Pace().limited and Pace(domains={"a.kr": 2}).limited
    assert Pace().delay("naver.com", 0.0) == 0.0


def test_a_connection_takes_the_first_message_whose_domain_may_go_now() -> None:
    now = [0.0]
    entries = [("a@naver.com", 1), ("b@naver.com", 2), ("c@gmail.com", 3), ("d@naver.com", 4)]
    queue = Queue(entries, Pace(domains={"naver.com": 1}), clock=lambda: now[0])
    assert queue.take() == 1
    assert queue.take() == 3  # naver.com must wait a second; gmail.com goes first
    now[0] = 1.0
    assert queue.take() == 2
    now[0] = 2.0
    assert queue.take() == 4
    assert queue.take() is None
    stopped = Queue(entries, Pace(), clock=lambda: 0.0)
    assert stopped.take() == 1
    assert stopped.stop() == [2, 3, 4]  # what was never taken, in order
    assert stopped.take() is None


def test_parallel_connections_send_everyone_once_with_one_message_in_flight_each(
    slow_server: tuple[SlowSink, int], make: Callable[..., World]
) -> None:
    sink, port = slow_server
    readers = [f"reader{n}@example.com" for n in range(40)]
    # batch_size 40: no connection sends enough to be reopened, however unevenly the
    # four share the work on a busy machine
    world = make(smtp_delivery(port) | {"connections": 4, "batch_size": 40}, readers)
    report = world.deliver()
    assert report.sent == 40 and not report.failed
    assert sorted(r for _, rcpts, _ in sink.messages for r in rcpts) == sorted(readers)
    assert 2 <= sink.most_in_flight <= 4  # parallel, and never more than the connections
    assert len(set(sink.peers)) <= 4  # each connection reused with RSET
    assert set(world.states().values()) == {"sent"}


def test_rate_limits_pace_the_connections_overall_and_per_domain(
    smtp_server: tuple[SmtpSink, int],
    make: Callable[..., World],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sink, port = smtp_server
    spent: list[tuple[str, float]] = []
    spend = Pace.spend

    def recorded(self: Pace, domain: str, now: float) -> None:
        spent.append((domain, now))
        spend(self, domain, now)

    monkeypatch.setattr(Pace, "spend", recorded)
    readers = [f"n{n}@naver.com" for n in range(5)] + [f"g{n}@gmail.com" for n in range(10)]
    limits = {"rate_limit": 100, "domain_limits": {"NAVER.com": 10}, "connections": 4}
    world = make(smtp_delivery(port) | limits, readers)
    report = world.deliver()
    assert report.sent == 15 and len(sink.messages) == 15
    assert len(spent) == 15
    times = [t for _, t in spent]
    assert all(b - a >= 0.01 - 1e-9 for a, b in itertools.pairwise(times))
    naver = [t for domain, t in spent if domain == "naver.com"]
    assert len(naver) == 5
    assert all(b - a >= 0.1 - 1e-9 for a, b in itertools.pairwise(naver))


def test_a_domain_refusing_by_policy_is_paused_across_connections_within_the_bound(
    smtp_server: tuple[SmtpSink, int],
    make: Callable[..., World],
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink, port = smtp_server
    blocked = [f"b{n}@blocked.example" for n in range(20)]
    others = [f"o{n}@open.example" for n in range(10)]
    for address in blocked:
        sink.reject[address] = "554 5.7.1 Message refused by policy"
    readers = [r for pair in zip(blocked, others, strict=False) for r in pair] + blocked[10:]
    world = make(smtp_delivery(port) | {"connections": 4, "domain_refusals": 3}, readers)
    caplog.set_level(logging.WARNING, logger="syndicate")
    report = world.deliver()
    tried = [r for r in sink.rcpts if r.endswith("@blocked.example")]
    assert 3 <= len(tried) <= 3 + 4 - 1  # the limit, and at most one more per other connection
    assert len(report.failed) == len(tried) and report.held == 20 - len(tried)
    assert report.sent == 10 and {r for _, rcpts, _ in sink.messages for r in rcpts} == set(others)
    pauses = [r.getMessage() for r in caplog.records if "paused" in r.getMessage()]
    assert len(pauses) == 1 and "blocked.example refused 3 messages in a row" in pauses[0]
    states = world.states()
    assert sum(state == "failed" for state in states.values()) == len(tried)


@pytest.mark.parametrize(
    ("limits", "problem"),
    [
        ({"connections": 0}, "digests[0].delivery.connections: Input should be greater"),
        ({"rate_limit": -1}, "digests[0].delivery.rate_limit: Input should be greater than 0"),
        ({"domain_limits": {"naver": 1}}, "digests[0].delivery.domain_limits.naver: 'naver' is"),
        ({"domain_limits": {"naver.com": "x"}}, "digests[0].delivery.domain_limits.'naver.com':"),
    ],
)
def test_bad_limits_are_one_line_naming_their_key(
    write_config: Callable[..., Path], limits: dict[str, Any], problem: str
) -> None:
    digest = {
        "id": "morning",
        "title": "t",
        "schedule": "0 7 * * *",
        "sender": "news@news.example.kr",
        "delivery": smtp_delivery(25) | limits,
    }
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(digests=[digest]))
    assert problem in str(caught.value)


def test_a_claim_lasts_while_a_whole_batch_may_wait_for_its_rate_limit(
    write_config: Callable[..., Path],
) -> None:
    from datetime import timedelta

    from syndicate.delivery import CLAIM_EXPIRY, claim_expiry

    def expiry(limits: dict[str, Any]) -> timedelta:
        digest = {
            "id": "morning",
            "title": "t",
            "schedule": "0 7 * * *",
            "sender": "news@news.example.kr",
            "delivery": smtp_delivery(25) | {"batch_size": 1000} | limits,
        }
        return claim_expiry(load_config(write_config(digests=[digest])).digests[0])

    assert expiry({}) == CLAIM_EXPIRY
    assert expiry({"rate_limit": 100}) == CLAIM_EXPIRY  # 1000 messages: 20 s at most
    assert expiry({"domain_limits": {"naver.com": 0.5}}) == timedelta(seconds=4000)
