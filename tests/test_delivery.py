"""Delivery: real SMTP (aiosmtpd), .eml files, idempotent send loop on a real SQLite store."""

from __future__ import annotations

import email
import email.policy
import logging
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from syndicate.config import SmtpDelivery, load_config
from syndicate.digest import digest_for
from syndicate.errors import DeliveryError
from syndicate.mail import compose
from syndicate.model import Edition, RenderedDigest, Subscriber, Subscription, SubscriptionState
from syndicate.smtp import SmtpTransport
from syndicate.transports import FileTransport, make_transport
from tests.conftest import SmtpSink, free_port
from tests.delivery_world import LATER, NOW, READERS, SLOT, World, smtp_delivery


def received(sink: SmtpSink) -> dict[str, EmailMessage]:
    """Messages received by the sink, by envelope recipient."""
    out = {}
    for mail_from, rcpt_tos, content in sink.messages:
        assert mail_from == "news@news.example.kr"
        assert len(rcpt_tos) == 1
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        out[rcpt_tos[0]] = parsed
    return out


def test_smtp_delivers_each_reader_once(
    migrated_store_url: str,
    smtp_server: tuple[SmtpSink, int],
    worlds: Callable[[str, dict[str, Any]], World],
) -> None:
    sink, port = smtp_server
    world = worlds(migrated_store_url, smtp_delivery(port))
    lines: list[str] = []
    report = world.deliver(progress=lines.append)
    assert (report.sent, report.already_claimed, report.failed) == (3, 0, {})
    messages = received(sink)
    assert sorted(messages) == sorted(a for a, _ in READERS)
    assert messages["kim@example.com"]["To"].addresses[0].display_name == "김독자"
    assert messages["kim@example.com"]["Subject"] == "아침 브리핑 11월 28일"
    assert "김독자님" in messages["kim@example.com"].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert set(world.states().values()) == {"sent"}
    assert lines == [f"{a}: sent" for a, _ in READERS]

    again = world.deliver()
    assert (again.sent, again.already_claimed, again.failed) == (0, 3, {})
    assert len(sink.messages) == 3


def test_smtp_550_is_permanent_and_others_still_sent(
    migrated_sqlite_url: str,
    smtp_server: tuple[SmtpSink, int],
    worlds: Callable[[str, dict[str, Any]], World],
) -> None:
    sink, port = smtp_server
    sink.reject["lee@example.com"] = "550 mailbox unavailable"
    world = worlds(migrated_sqlite_url, smtp_delivery(port))
    report = world.deliver()
    assert report.sent == 2
    assert list(report.failed) == ["lee@example.com"]
    assert "550 mailbox unavailable" in report.failed["lee@example.com"]
    assert "\n" not in report.failed["lee@example.com"]
    assert sorted(received(sink)) == ["kim@example.com", "park@example.com"]
    assert world.states()["lee@example.com"] == "failed"

    del sink.reject["lee@example.com"]
    again = world.deliver(now=LATER)
    assert (again.sent, again.already_claimed, again.failed) == (0, 3, {})
    assert len(sink.messages) == 2


def test_smtp_450_is_deferred_and_retried_when_due(
    migrated_store_url: str,
    smtp_server: tuple[SmtpSink, int],
    worlds: Callable[[str, dict[str, Any]], World],
) -> None:
    sink, port = smtp_server
    sink.reject["park@example.com"] = "450 try later"
    world = worlds(migrated_store_url, smtp_delivery(port))
    report = world.deliver()
    assert (report.sent, report.deferred, report.failed) == (2, 1, {})
    assert world.states()["park@example.com"] == "deferred"
    assert "450 try later" in world.errors()["park@example.com"]

    del sink.reject["park@example.com"]
    early = world.deliver(now=NOW + timedelta(minutes=4))  # the first delay is 5 minutes
    assert (early.sent, early.already_claimed) == (0, 3)
    again = world.deliver(now=NOW + timedelta(minutes=5))
    assert (again.sent, again.already_claimed, again.failed) == (1, 2, {})
    assert sorted(received(sink)) == sorted(a for a, _ in READERS)
    assert set(world.states().values()) == {"sent"}


def test_unreachable_server_stops_after_the_configured_failures_in_one_line(
    migrated_sqlite_url: str,
    worlds: Callable[[str, dict[str, Any]], World],
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()
    world = worlds(
        migrated_sqlite_url, smtp_delivery(port) | {"relay_failures": 2, "connections": 1}
    )
    caplog.set_level(logging.WARNING)
    report = world.deliver()
    assert (report.sent, report.deferred, report.held, report.failed) == (0, 2, 1, {})
    assert report.stopped is not None
    assert f"cannot connect to SMTP server 127.0.0.1:{port}" in report.stopped
    for reason in world.errors().values():
        assert f"cannot connect to SMTP server 127.0.0.1:{port}" in reason
        assert "\n" not in reason
    assert world.states() == {"kim@example.com": "deferred", "lee@example.com": "deferred"}
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "stopped" in lines[0] and "2 times in a row" in lines[0]


def test_refused_sender_defers_every_reader_naming_the_sender(
    migrated_sqlite_url: str,
    smtp_server: tuple[SmtpSink, int],
    worlds: Callable[[str, dict[str, Any]], World],
) -> None:
    sink, port = smtp_server
    sink.reject_sender = "553 5.7.1 sender not allowed"
    world = worlds(migrated_sqlite_url, smtp_delivery(port))
    report = world.deliver()
    assert report.sent == 0 and sink.messages == []
    assert report.deferred == 3 and report.stopped is not None
    for reason in world.errors().values():
        assert "refused sender news@news.example.kr" in reason and "553" in reason, reason
        assert "\n" not in reason
    # the sender is ours to fix, not the readers' fault: a later run tries again
    assert set(world.states().values()) == {"deferred"}


def test_reconnects_once_after_server_hangs_up(
    migrated_sqlite_url: str,
    smtp_server: tuple[SmtpSink, int],
    worlds: Callable[[str, dict[str, Any]], World],
) -> None:
    sink, port = smtp_server
    world = worlds(migrated_sqlite_url, smtp_delivery(port))
    settings = world.config.digests[0].delivery
    assert isinstance(settings, SmtpDelivery)
    with SmtpTransport(settings) as transport:
        transport.send(compose(world.rendered[0]), "kim@example.com")
        assert transport._smtp is not None
        transport._smtp.docmd("QUIT")  # the server closes; the client does not know yet
        transport.send(compose(world.rendered[1]), "lee@example.com")
    assert sorted(received(sink)) == ["kim@example.com", "lee@example.com"]


def _reject_all(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    from aiosmtpd.smtp import AuthResult

    return AuthResult(success=False, handled=False)


def test_login_refused_names_the_server(
    migrated_sqlite_url: str,
    monkeypatch: pytest.MonkeyPatch,
    worlds: Callable[[str, dict[str, Any]], World],
) -> None:
    from aiosmtpd.controller import Controller

    port = free_port()
    controller = Controller(
        SmtpSink(),
        hostname="127.0.0.1",
        port=port,
        authenticator=_reject_all,
        auth_require_tls=False,
    )
    controller.start()
    try:
        monkeypatch.setenv("TEST_SMTP_PASSWORD", "wrong")
        delivery = smtp_delivery(port) | {
            "username": "mailer",
            "password_env": "TEST_SMTP_PASSWORD",
        }
        world = worlds(migrated_sqlite_url, delivery)
        report = world.deliver()
    finally:
        controller.stop()
    assert report.sent == 0 and report.failed == {}
    reason = world.errors()["kim@example.com"]
    assert f"SMTP server 127.0.0.1:{port} refused login for 'mailer': 535" in reason
    assert set(world.states().values()) == {"deferred"}


def test_missing_password_variable_is_reported(
    migrated_sqlite_url: str,
    smtp_server: tuple[SmtpSink, int],
    monkeypatch: pytest.MonkeyPatch,
    worlds: Callable[[str, dict[str, Any]], World],
) -> None:
    sink, port = smtp_server
    monkeypatch.delenv("TEST_SMTP_PASSWORD_UNSET", raising=False)
    delivery = smtp_delivery(port) | {"username": "u", "password_env": "TEST_SMTP_PASSWORD_UNSET"}
    world = worlds(migrated_sqlite_url, delivery)
    report = world.deliver()
    assert report.stopped is not None and "'TEST_SMTP_PASSWORD_UNSET' is not set" in report.stopped
    assert "'TEST_SMTP_PASSWORD_UNSET' is not set" in world.errors()["park@example.com"]
    assert sink.messages == []


def test_file_delivery_one_eml_per_reader(
    migrated_sqlite_url: str,
    tmp_path: Path,
    worlds: Callable[[str, dict[str, Any]], World],
) -> None:
    world = worlds(migrated_sqlite_url, {"kind": "file", "folder": "outbox/new"})
    report = world.deliver()
    folder = tmp_path / "outbox" / "new"
    files = sorted(folder.iterdir())
    assert report.sent == 3
    assert sorted(report.written) == files
    assert len(files) == 3
    assert all(f.is_file() and f.suffix == ".eml" for f in files)
    by_to = {}
    for path in files:
        parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        by_to[parsed["To"].addresses[0].addr_spec] = parsed
    assert sorted(by_to) == sorted(a for a, _ in READERS)
    again = world.deliver()
    assert (again.sent, again.already_claimed) == (0, 3)
    assert sorted(folder.iterdir()) == files


def test_file_transport_resend_overwrites(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = load_config(write_config())
    subscriber = Subscriber(9, "a@example.com", "가나다")
    edition = Edition(1, "morning", SLOT, 0, SLOT)
    subscription = Subscription(subscriber, "morning", (), SubscriptionState.ACTIVE, "t")
    rendered = RenderedDigest(
        digest_for(config, edition, subscription), "제목", "<p>본문</p>", "본문"
    )
    transport = make_transport(config, config.digests[0])
    assert isinstance(transport, FileTransport)
    assert transport.folder == tmp_path / "outbox"
    with transport:
        transport.send(compose(rendered, now=NOW), subscriber.email)
        transport.send(compose(rendered, now=NOW), subscriber.email)
    files = list((tmp_path / "outbox").iterdir())
    assert len(files) == 1
    assert files[0].name.startswith("morning.20261128T0700.9.")
    assert files[0].name.endswith("_news.example.kr.eml")
    assert files[0].read_bytes() == compose(rendered, now=NOW).as_bytes()


def test_file_transport_unwritable_folder_is_delivery_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    message = EmailMessage()
    message["Message-ID"] = "<a.b@c>"
    message.set_content("x")
    with pytest.raises(DeliveryError) as info, FileTransport(blocker / "outbox") as transport:
        transport.send(message, "a@example.com")
    assert "cannot write" in str(info.value)
    assert not info.value.permanent and info.value.unreachable


def test_starttls_unsupported_is_a_temporary_failure(
    migrated_sqlite_url: str,
    smtp_server: tuple[SmtpSink, int],
    worlds: Callable[[str, dict[str, Any]], World],
) -> None:
    sink, port = smtp_server
    world = worlds(migrated_sqlite_url, smtp_delivery(port) | {"security": "starttls"})
    report = world.deliver()
    assert report.sent == 0 and report.deferred == 3
    reason = world.errors()["kim@example.com"]
    assert f"SMTP server 127.0.0.1:{port}" in reason
    assert "STARTTLS" in reason
    assert set(world.states().values()) == {"deferred"}
    assert sink.messages == []
