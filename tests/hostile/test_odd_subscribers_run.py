"""An accepted address never crashes a later edition; a bad stored one fails alone.

Odd but valid subscribers (quoted local part, IDNA domain, Korean display names
with quotes and encoded-words) are imported, then the real ``run --once`` sends
to every one of them. A subscriber stored by an older version with an address
that cannot be composed (``<x@y.kr>``) is recorded as failed permanently with a
one-line reason naming it, and the rest of the edition goes on.
"""

from __future__ import annotations

import base64
import csv
import email.policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from syndicate.config import load_config
from syndicate.model import utcnow
from syndicate.store import Store
from syndicate.store.tables import sends, subscribers
from syndicate.subscribers import import_subscribers
from tests.conftest import CliOutcome, SmtpSink, invoke_syndicate

HIDDEN = "=?utf-8?b?" + base64.b64encode(b"Kim\r\nBcc: evil@evil.example").decode() + "?="
ODD = [
    ('"john doe"@example.kr', '김 "큰따옴표" 독자'),
    ("user@한국.kr", HIDDEN),
    ("O'Brien+news@Example.COM", 'O\'Brien, "Bob" \\ 백슬래시'),
    ("kim.minji@뉴스.한국", "=?utf-8?q?=EA=B9=80?= 민지"),
    ("plain@example.kr", "한국어 이름 " * 28),
]
EXPECTED = {
    '"john doe"@example.kr',
    "user@xn--3e0b707e.kr",
    "o'brien+news@example.com",
    "kim.minji@xn--vg1b002a.xn--3e0b707e",
    "plain@example.kr",
}
LEGACY = ["<x@y.kr>", "x@-y.kr", "bad\r\nBcc: evil@evil.example"]


def cli(site: Path, env: dict[str, str], *args: str) -> CliOutcome:
    """Run the command line in this process in ``site`` (the real process: test_cli.py)."""
    return invoke_syndicate(*args, cwd=site, env=env)


def make_site(
    site: Path,
    store_url: str,
    delivery: dict[str, Any] | None = None,
    people: list[tuple[str, str]] = ODD,
) -> Path:
    """The example copy ``site`` with ``people`` and legacy bad addresses in ``store_url``."""
    if delivery is not None:
        data = yaml.safe_load((site / "schedules.yaml").read_text(encoding="utf-8"))
        data["digests"][0]["delivery"] = delivery
        text = yaml.safe_dump(data, allow_unicode=True)
        (site / "schedules.yaml").write_text(text, encoding="utf-8")
    config = load_config(site / "schedules.yaml")
    path = site / "odd.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "name", "digest"])
        writer.writerows([address, name, "morning"] for address, name in people)
    with Store(store_url) as store:
        store.upgrade()
        import_subscribers(config, store, path)
        engine = sa.create_engine(store_url)
        for address in LEGACY:  # as an older version could have stored them
            with engine.begin() as conn:
                values = {"email": address, "name": "Legacy", "created_at": utcnow()}
                new_id = conn.execute(
                    subscribers.insert().values(values).returning(subscribers.c.id)
                ).scalar_one()
            store.set_subscription(int(new_id), "morning", ())
        engine.dispose()
    return site


def parse(data: bytes) -> EmailMessage:
    """Parse a sent message with the modern policy; it must have no defects at all."""
    message = BytesParser(policy=email.policy.default).parsebytes(data)
    assert isinstance(message, EmailMessage)
    assert not message.defects
    assert all(not message[name].defects for name in message)
    assert message["Bcc"] is None
    return message


def check_sends(store_url: str, expected: set[str] = EXPECTED) -> None:
    """No send is left in 'sending'; each legacy address failed permanently, named."""
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(sends.c.status, sends.c.error, subscribers.c.email).join(
                subscribers, subscribers.c.id == sends.c.subscriber_id
            )
        ).all()
    engine.dispose()
    states = {row.email: (row.status, row.error) for row in rows}
    assert {email for email, (status, _) in states.items() if status == "sent"} == expected
    assert "sending" not in {status for status, _ in states.values()}
    for address in LEGACY:
        status, error = states[address]
        assert status == "failed"
        assert "subscriber" in error and "\n" not in error and "\r" not in error


def test_run_once_sends_to_every_odd_subscriber(example_site: Path, store_url: str) -> None:
    site = make_site(example_site, store_url)
    env = {"SYNDICATE_STORE_URL": store_url}
    result = cli(site, env, "run", "--once")
    assert "Traceback" not in result.stderr
    assert result.returncode == 3, result.stderr  # the legacy addresses failed, nothing else
    to = set()
    for path in (site / "outbox").glob("*.eml"):
        message = parse(path.read_bytes())
        (mailbox,) = message["To"].addresses
        to.add(mailbox.addr_spec)
        assert "\n" not in mailbox.display_name
    assert to == EXPECTED  # and none of LEGACY
    check_sends(store_url)
    again = cli(site, env, "run", "--once")
    assert again.returncode == 0, again.stderr
    check_sends(store_url)


def test_legacy_bad_address_fails_alone(example_site: Path, sqlite_url: str) -> None:
    """Plain subscribers and addresses an older version stored: the edition goes on."""
    plain = [("kim@example.kr", "김"), ("lee@example.kr", "이")]
    site = make_site(example_site, sqlite_url, people=plain)
    result = cli(site, {"SYNDICATE_STORE_URL": sqlite_url}, "run", "--once")
    assert "Traceback" not in result.stderr
    assert result.returncode == 3, result.stderr
    check_sends(sqlite_url, {address for address, _ in plain})


def test_smtp_envelope_of_odd_subscribers(
    example_site: Path, sqlite_url: str, smtp_server: tuple[SmtpSink, int]
) -> None:
    sink, port = smtp_server
    delivery = {"kind": "smtp", "host": "127.0.0.1", "port": port, "security": "none"}
    site = make_site(example_site, sqlite_url, delivery)
    result = cli(site, {"SYNDICATE_STORE_URL": sqlite_url}, "run", "--once")
    assert "Traceback" not in result.stderr
    assert result.returncode == 3, result.stderr
    recipients = {rcpt for _, rcpts, _ in sink.messages for rcpt in rcpts}
    assert recipients == EXPECTED
    for mail_from, rcpts, data in sink.messages:
        assert mail_from == "newsletter@news.example.kr"
        message = parse(data)
        assert [a.addr_spec for a in message["To"].addresses] == rcpts
    check_sends(sqlite_url)


@pytest.mark.parametrize("address", ['"john doe"@example.kr', "user@xn--3e0b707e.kr"])
def test_odd_address_unsubscribes_by_address(
    example_site: Path, sqlite_url: str, address: str
) -> None:
    site = make_site(example_site, sqlite_url)
    result = cli(site, {"SYNDICATE_STORE_URL": sqlite_url}, "subscribers", "unsubscribe", address)
    assert result.returncode == 0, result.stderr
    assert f"{address}: unsubscribed from morning" in result.stdout
