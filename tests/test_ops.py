"""Operator commands: digest --preview and --to, sends, sends resend, editions.

Run in-process (click's runner) on a copy of the bundled example: a real SQLite
file, the file delivery into outbox/, and a real SMTP server (aiosmtpd) for --to.
"""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
import yaml

from syndicate.mail import header_text
from tests.conftest import CliOutcome, SmtpSink, invoke_syndicate

KIM = "kim.minji@example.kr"
SEOUL = ZoneInfo("Asia/Seoul")


def syn(site: Path, *args: str) -> CliOutcome:
    return invoke_syndicate(*args, cwd=site)


def _rows(site: Path) -> dict[str, int]:
    """How many rows the edition and send tables hold."""
    engine = sa.create_engine(f"sqlite:///{site / 'var' / 'syndicate.db'}")
    with engine.connect() as conn:
        counts = {
            table: int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())
            for table in ("editions", "edition_articles", "sends")
        }
    engine.dispose()
    return counts


def _read(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


@pytest.fixture
def site(example_site: Path) -> Path:
    """The example after one cycle: collected, the latest edition sent to 6 subscribers."""
    assert syn(example_site, "db", "upgrade").returncode == 0
    assert syn(example_site, "subscribers", "import", "examples/subscribers.csv").returncode == 0
    result = syn(example_site, "run", "--once")
    assert result.returncode == 0, result.stderr
    return example_site


def _slot(site: Path) -> str:
    """The slot (``YYYY-MM-DD-HHMM``, Seoul) of the one edition ``run --once`` sent.

    Which weekday 07:00 that is depends on the day the test runs (the example
    digest's grace of 7 days lets ``run --once`` build the latest one).
    """
    engine = sa.create_engine(f"sqlite:///{site / 'var' / 'syndicate.db'}")
    with engine.connect() as conn:
        (slot,) = conn.execute(sa.text("SELECT slot FROM editions")).scalars().all()
    engine.dispose()
    moment = slot if isinstance(slot, datetime) else datetime.fromisoformat(str(slot))
    return moment.replace(tzinfo=UTC).astimezone(SEOUL).strftime("%Y-%m-%d-%H%M")


@pytest.fixture
def fresh_site(example_site: Path) -> Path:
    """The example collected and with subscribers, but no edition built yet."""
    assert syn(example_site, "db", "upgrade").returncode == 0
    assert syn(example_site, "subscribers", "import", "examples/subscribers.csv").returncode == 0
    assert syn(example_site, "collect").returncode == 0
    return example_site


def test_preview_writes_the_message_and_records_nothing(fresh_site: Path) -> None:
    before = _rows(fresh_site)
    result = syn(fresh_site, "digest", "morning", "--preview", KIM, "--output", "previews")
    assert result.returncode == 0, result.stderr
    path = fresh_site / result.stdout.strip()
    assert path.parent == fresh_site / "previews" and path.is_file()
    message = _read(path)
    assert message["To"].addresses[0].addr_spec == KIM
    assert "김민지" in str(message["To"])
    html = message.get_body(("html",))
    assert html is not None and "<html" in html.get_content().lower()
    assert _rows(fresh_site) == before == {"editions": 0, "edition_articles": 0, "sends": 0}
    assert not (fresh_site / "outbox").exists()


def test_preview_of_a_stored_edition_is_what_was_sent(site: Path) -> None:
    slot = _slot(site)
    before = _rows(site)
    result = syn(site, "digest", "morning", "--preview", KIM, "--slot", slot)
    assert result.returncode == 0, result.stderr
    preview = _read(site / result.stdout.strip())
    sent = [_read(p) for p in (site / "outbox").glob("*.eml")]
    (same,) = [m for m in sent if m["Message-ID"] == preview["Message-ID"]]
    assert same.get_body(("html",)).get_content() == preview.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert _rows(site) == before


def test_test_copy_goes_through_smtp_marked_and_unrecorded(
    fresh_site: Path, smtp_server: tuple[SmtpSink, int]
) -> None:
    sink, port = smtp_server
    config = fresh_site / "schedules.yaml"
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["digests"][0]["delivery"] = {
        "kind": "smtp", "host": "127.0.0.1", "port": port, "security": "none", "timeout": 10,
    }  # fmt: skip
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = syn(fresh_site, "digest", "morning", "--to", "desk@news.example.kr")
    assert result.returncode == 0, result.stderr
    ((_sender, recipients, raw),) = sink.messages
    assert recipients == ["desk@news.example.kr"]
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert str(message["Subject"]).startswith("[테스트] ")
    assert message["X-Syndicate-Test"]
    assert message["Message-ID"].startswith("<test.morning.")
    assert "[테스트]" in result.stdout
    assert _rows(fresh_site) == {"editions": 0, "edition_articles": 0, "sends": 0}


def test_editions_and_sends_list_what_happened(site: Path) -> None:
    edition = f"morning/{_slot(site)}"
    editions = syn(site, "editions")
    assert editions.returncode == 0, editions.stderr
    header, line = editions.stdout.splitlines()
    assert header.split("\t") == [
        "id", "edition", "articles", "sent", "deferred", "bounced", "failed", "uncertain",
    ]  # fmt: skip
    fields = line.split("\t")
    assert fields[:2] == ["1", edition] and int(fields[2]) > 0
    assert fields[3:] == ["6", "0", "0", "0", "0"]
    assert syn(site, "editions", "morning").stdout == editions.stdout
    by_key = syn(site, "sends", edition)
    assert by_key.returncode == 0, by_key.stderr
    lines = [row.split("\t") for row in by_key.stdout.splitlines()]
    assert len(lines) == 6 and {row[1] for row in lines} == {"sent"}
    assert [row[0] for row in lines] == sorted(row[0] for row in lines)
    assert lines[0][3].endswith("+09:00")
    assert syn(site, "sends", "1").stdout == by_key.stdout
    assert syn(site, "sends", "list", "1", "--state", "sent").stdout == by_key.stdout
    assert syn(site, "sends", edition, "--state", "failed").stdout == ""


def test_resend_is_a_new_attempt_with_the_same_message_id(site: Path) -> None:
    edition = f"morning/{_slot(site)}"
    outbox = sorted((site / "outbox").glob("*.eml"))
    first = {str(_read(p)["Message-ID"]): p for p in outbox}
    kim_file = next(p for p in outbox if KIM in str(_read(p)["To"]))
    kim_file.unlink()
    result = syn(site, "sends", "resend", edition, KIM)
    assert result.returncode == 0, result.stderr
    assert "attempt 2" in result.stdout
    again = _read(kim_file)  # the same file name: the same Message-ID
    assert str(again["Message-ID"]) in first
    assert header_text(str(again["Subject"])) == header_text(str(_read(outbox[0])["Subject"]))
    row = next(r for r in syn(site, "sends", "1").stdout.splitlines() if r.startswith(KIM))
    assert row.split("\t")[1:3] == ["sent", "2"]
    assert _rows(site)["sends"] == 6


def test_resend_refuses_who_left_and_names_what_is_wrong(site: Path) -> None:
    slot = _slot(site)
    edition = f"morning/{slot}"
    assert syn(site, "subscribers", "unsubscribe", KIM).returncode == 0
    cases = [
        (("sends", "resend", edition, KIM), f"error: {KIM}: not resent (unsubscribed"),
        (("sends", "resend", edition, "nobody@example.kr"), "error: nobody@example.kr: not resent"),
        (("sends", "morning/2026-01-01-0700"), "error: no edition 'morning/2026-01-01-0700'"),
        (("sends", "evening/2026-11-27-0700"), "error: unknown digest 'evening'"),
        (("sends", "99"), "error: no edition '99'"),
        (("digest", "morning", "--preview", "not-an-address"), "error: 'not-an-address' is not"),
        (("digest", "morning", "--preview", KIM, "--slot", "soon"), "error: slot 'soon' is"),
        (("editions", "evening"), "error: unknown digest 'evening'"),
    ]
    for args, start in cases:
        result = syn(site, *args)
        assert result.returncode == 1, (args, result.stderr)
        (line,) = result.stderr.splitlines()
        assert line.startswith(start), (args, line)
    usage = syn(site, "digest", "morning", "--resume", "--to", KIM)
    assert usage.returncode == 2 and "cannot be used together" in usage.stderr
    assert syn(site, "digest", "morning", "--slot", slot).returncode == 2
    assert syn(site, "sends", edition, "--state", "lost").returncode == 2


def test_the_send_states_the_commands_name_are_the_models() -> None:
    from syndicate.cli_ops import COUNTED, SEND_STATES
    from syndicate.model import SendState

    assert set(SEND_STATES) == {state.value for state in SendState}
    assert set(COUNTED) == set(SEND_STATES) - {"sending"}
