"""One SMTP session at a time, done right: envelope sender, RSET between messages,
reconnect on 421. Against a real aiosmtpd server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from syndicate.config import SmtpDelivery, load_config
from syndicate.errors import ConfigError, DeliveryError
from syndicate.smtp import SmtpTransport
from tests.conftest import BASE_CONFIG, SmtpSink, serving_smtp


class CountingSink(SmtpSink):
    """An SmtpSink that also counts RSET commands and sessions."""

    def __init__(self) -> None:
        super().__init__()
        self.resets = 0
        self.sessions = 0
        self.rset_answer = "250 OK"

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_RSET(self, server: Any, session: Any, envelope: Any) -> str:
        self.resets += 1
        return self.rset_answer


@pytest.fixture
def sink() -> Iterator[tuple[CountingSink, int]]:
    sink = CountingSink()
    with serving_smtp(sink) as port:
        yield sink, port


def settings(port: int, **extra: Any) -> SmtpDelivery:
    values = {"kind": "smtp", "host": "127.0.0.1", "port": port, "security": "none"}
    return SmtpDelivery.from_mapping({**values, "timeout": 10, **extra})


def message(to: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = "테스트뉴스 <news@news.example.kr>"
    mail["To"] = to
    mail["Subject"] = "아침 브리핑"
    mail.set_content("오늘의 뉴스입니다.\n")
    return mail


READERS = [f"r{i}@example.kr" for i in range(3)]


def test_one_connection_reused_with_rset_between_messages(
    sink: tuple[CountingSink, int],
) -> None:
    server, port = sink
    with SmtpTransport(settings(port)) as transport:
        for address in READERS:
            transport.send(message(address), address)
    assert [rcpts for _, rcpts, _ in server.messages] == [[a] for a in READERS]
    assert server.sessions == 1 and len(set(server.peers)) == 1
    assert server.resets == len(READERS) - 1  # before each reuse, not before the first
    assert {mail_from for mail_from, _, _ in server.messages} == {"news@news.example.kr"}


def test_envelope_sender_apart_from_from(sink: tuple[CountingSink, int]) -> None:
    server, port = sink
    with SmtpTransport(settings(port, envelope_from="Bounces@News.Example.KR")) as transport:
        transport.send(message(READERS[0]), READERS[0])
    ((mail_from, _, content),) = server.messages
    assert mail_from == "bounces@news.example.kr"
    assert b"From: =?utf-8?" in content and b"<news@news.example.kr>" in content


def test_a_refused_rset_reconnects_before_the_message(sink: tuple[CountingSink, int]) -> None:
    server, port = sink
    server.rset_answer = "421 4.3.2 closing"
    with SmtpTransport(settings(port)) as transport:
        for address in READERS[:2]:
            transport.send(message(address), address)
    assert len(server.messages) == 2 and server.sessions == 2
    assert len(set(server.peers)) == 2


def test_421_reconnects_once_and_sends(sink: tuple[CountingSink, int]) -> None:
    server, port = sink
    server.answers[READERS[1]] = ["421 4.7.0 too many messages on this connection"]
    with SmtpTransport(settings(port)) as transport:
        for address in READERS:
            transport.send(message(address), address)
    assert [rcpts for _, rcpts, _ in server.messages] == [[a] for a in READERS]
    assert server.sessions == 2
    assert server.rcpts.count(READERS[1]) == 2


def test_421_twice_defers_and_counts_as_unreachable(sink: tuple[CountingSink, int]) -> None:
    server, port = sink
    server.answers[READERS[0]] = ["421 4.3.2 shutting down"] * 2
    with SmtpTransport(settings(port)) as transport, pytest.raises(DeliveryError) as info:
        transport.send(message(READERS[0]), READERS[0])
    assert info.value.state == "deferred" and info.value.unreachable
    assert "421 4.3.2 shutting down" in str(info.value)
    assert server.messages == []


def test_envelope_from_must_be_a_plain_address(write_config: Callable[..., Path]) -> None:
    digest = dict(BASE_CONFIG["digests"][0])
    digest["delivery"] = {"kind": "smtp", "host": "127.0.0.1", "envelope_from": "News <x@y.kr>"}
    with pytest.raises(ConfigError) as info:
        load_config(write_config(digests=[digest]))
    (line,) = [line for line in info.value.lines() if "envelope_from" in line]
    assert "digests[0].delivery.envelope_from" in line
