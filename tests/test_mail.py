"""Message composition: MIME structure, Korean headers, list headers, no injection."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from syndicate.config import Config, DigestConfig, load_config
from syndicate.digest import digest_for, masthead_for
from syndicate.errors import DeliveryError, one_line
from syndicate.mail import compose, list_id, message_id_for
from syndicate.model import (
    Digest,
    Edition,
    Masthead,
    RenderedDigest,
    Subscriber,
    Subscription,
    SubscriptionState,
)

SLOT = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)  # 07:00 in Seoul
NOW = datetime(2026, 11, 27, 22, 0, 5, tzinfo=UTC)
SUBJECT = "[아침 브리핑] 2026년 11월 28일 (토) — IT·과학 외 12건, 반도체 수출 回復 🚀"


def rendered_for(
    subscriber: Subscriber,
    *,
    subject: str = SUBJECT,
    html: str = "<html><body><p>안녕하세요, 오늘의 뉴스입니다.</p></body></html>",
    text: str = "안녕하세요, 오늘의 뉴스입니다.\n",
    edition_id: int = 7,
    token: str = "tok-abc_123",
) -> RenderedDigest:
    """Build a RenderedDigest by hand for ``subscriber``."""
    edition = Edition(id=edition_id, digest_id="morning", slot=SLOT, cutoff_seq=10, created_at=SLOT)
    subscription = Subscription(subscriber, "morning", ("it",), SubscriptionState.ACTIVE, token)
    return RenderedDigest(Digest(edition, subscription, (), UNSET, (), ""), subject, html, text)


UNSET = Masthead("unset", "", "", None, "unset.invalid", "https://unset.invalid/", UTC)


def addressed(config: Config, digest: DigestConfig, rendered: RenderedDigest) -> RenderedDigest:
    """``rendered`` whose Digest carries ``digest``'s masthead, sections and unsubscribe URL,
    as :func:`syndicate.digest.digest_for` builds them from the configuration."""
    old = rendered.digest
    masthead = masthead_for(config, digest)
    new = digest_for(config, old.edition, old.subscription, old.groups, masthead=masthead)
    return replace(rendered, digest=new)


@pytest.fixture
def config(write_config: Callable[..., Path]) -> Config:
    """The test configuration (file delivery, Seoul time)."""
    return load_config(write_config())


def roundtrip(message: EmailMessage) -> tuple[bytes, EmailMessage]:
    """Serialise ``message`` and parse it back with the modern policy."""
    data = message.as_bytes()
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return data, parsed


def test_structure_text_then_html_utf8_7bit(config: Config) -> None:
    subscriber = Subscriber(42, "reader@example.com", "김독자")
    message = compose(addressed(config, config.digests[0], rendered_for(subscriber)), now=NOW)
    data, parsed = roundtrip(message)
    assert parsed.get_content_type() == "multipart/alternative"
    parts = list(parsed.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    for part in parts:
        assert part.get_content_charset() == "utf-8"
        assert part["Content-Transfer-Encoding"] in ("base64", "quoted-printable")
    assert parts[0].get_content().replace("\r\n", "\n") == "안녕하세요, 오늘의 뉴스입니다.\n"
    assert "오늘의 뉴스" in parts[1].get_content()
    assert parsed["MIME-Version"] == "1.0"
    assert data.isascii()
    assert b"\n" not in data.replace(b"\r\n", b"")


def test_korean_headers_encoded_and_decode_back(config: Config) -> None:
    subscriber = Subscriber(42, "reader@example.com", "김독자 (서울)")
    message = compose(addressed(config, config.digests[0], rendered_for(subscriber)), now=NOW)
    data, parsed = roundtrip(message)
    raw_headers = data.split(b"\r\n\r\n", 1)[0]
    assert b"=?utf-8?" in raw_headers
    assert parsed["Subject"] == SUBJECT
    raw_subject = message.policy.fold("Subject", message["Subject"])
    assert str(make_header(decode_header(raw_subject[len("Subject: ") :]))) == SUBJECT
    assert parsed["From"].addresses[0].display_name == "테스트뉴스"
    assert parsed["From"].addresses[0].addr_spec == "news@news.example.kr"
    assert parsed["To"].addresses[0].display_name == "김독자 (서울)"
    assert parsed["To"].addresses[0].addr_spec == "reader@example.com"


def test_date_in_config_timezone(config: Config) -> None:
    message = compose(
        addressed(config, config.digests[0], rendered_for(Subscriber(1, "a@example.com"))), now=NOW
    )
    _, parsed = roundtrip(message)
    assert parsed["Date"] == "Sat, 28 Nov 2026 07:00:05 +0900"
    assert parsed["Date"].datetime == NOW


def test_list_headers_and_trace(config: Config) -> None:
    message = compose(
        addressed(config, config.digests[0], rendered_for(Subscriber(1, "a@example.com"))), now=NOW
    )
    data, parsed = roundtrip(message)
    url = "https://news.example.kr/unsubscribe?token=tok-abc_123"
    assert parsed["List-Unsubscribe"] == f"<{url}>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["List-Id"] == "아침 브리핑 <morning.news.example.kr>"
    assert b"List-Id: =?utf-8?" in data
    assert parsed["X-Syndicate-Edition"] == "morning/2026-11-28T07:00+09:00"


def test_long_unsubscribe_url_stays_a_plain_url(config: Config) -> None:
    token = "x" * 150
    rendered = rendered_for(Subscriber(1, "a@example.com"), token=token)
    data, parsed = roundtrip(compose(addressed(config, config.digests[0], rendered), now=NOW))
    assert f"<https://news.example.kr/unsubscribe?token={token}>".encode() in data
    assert parsed["List-Unsubscribe"].endswith(f"{token}>")


def test_ascii_list_name_with_specials_is_quoted(
    write_config: Callable[..., Path],
) -> None:
    base: dict[str, Any] = {
        "id": "daily",
        "title": 'Daily, "Morning" News',
        "schedule": "0 7 * * *",
        "sender": "News <news@news.example.kr>",
        "delivery": {"kind": "file", "folder": "outbox"},
    }
    config = load_config(write_config(digests=[base]))
    assert list_id(masthead_for(config, config.digests[0])) == (
        '"Daily, \\"Morning\\" News" <daily.news.example.kr>'
    )


def test_message_id_deterministic_and_distinct(config: Config) -> None:
    edition = rendered_for(Subscriber(42, "a@example.com")).digest.edition
    first = message_id_for(
        masthead_for(config, config.digests[0]), edition, Subscriber(42, "a@example.com")
    )
    assert first == message_id_for(
        masthead_for(config, config.digests[0]), edition, Subscriber(42, "a@example.com")
    )
    assert first.startswith("<morning.20261128T0700.42.")
    assert first.endswith("@news.example.kr>")
    assert first != message_id_for(
        masthead_for(config, config.digests[0]), edition, Subscriber(43, "b@example.com")
    )
    message = compose(
        addressed(config, config.digests[0], rendered_for(Subscriber(42, "a@example.com")))
    )
    _, parsed = roundtrip(message)
    assert parsed["Message-ID"] == first


def test_crlf_in_title_and_name_does_not_inject_headers(
    write_config: Callable[..., Path],
) -> None:
    base: dict[str, Any] = {
        "id": "morning",
        "title": "브리핑\r\nBcc: evil@attacker.example",
        "schedule": "0 7 * * *",
        "sender": "뉴스 <news@news.example.kr>",
        "reply_to": "Desk <desk@news.example.kr>",
        "delivery": {"kind": "file", "folder": "outbox"},
    }
    title = base.pop("title")
    config = load_config(write_config(digests=[{**base, "title": "브리핑"}]))
    digest = replace(config.digests[0], title=title)  # the config refuses CR/LF
    subscriber = Subscriber(5, "a@example.com", "Kim\r\nX-Injected: yes")
    rendered = rendered_for(subscriber, subject="오늘의 뉴스\r\nBcc: evil@attacker.example\n\nbody")
    data, parsed = roundtrip(compose(addressed(config, digest, rendered), now=NOW))
    assert parsed["Bcc"] is None
    assert parsed["X-Injected"] is None
    assert parsed["Subject"] == "오늘의 뉴스 Bcc: evil@attacker.example body"
    assert parsed["To"].addresses[0].display_name == "Kim X-Injected: yes"
    assert parsed["Reply-To"].addresses[0].addr_spec == "desk@news.example.kr"
    assert "Bcc: evil" in parsed["List-Id"]
    headers = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert not any(line.lower().startswith((b"bcc:", b"x-injected:")) for line in headers)


def test_no_line_longer_than_998_octets(config: Config) -> None:
    html = "<html><body><p>" + "한국어 기사 본문 " * 2000 + "</p></body></html>"
    text = "a" * 5000 + "\n" + "가" * 3000 + "\n"
    rendered = rendered_for(Subscriber(1, "a@example.com", "이" * 300), html=html, text=text)
    data, parsed = roundtrip(compose(addressed(config, config.digests[0], rendered), now=NOW))
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    assert parsed.get_body(("html",)).get_content().count("한국어 기사 본문") == 2000  # type: ignore[union-attr]
    assert parsed.get_body(("plain",)).get_content().replace("\r\n", "\n") == text  # type: ignore[union-attr]


def test_ascii_body_uses_quoted_printable(config: Config) -> None:
    rendered = rendered_for(Subscriber(1, "a@example.com"), text="Hello\n", html="<p>Hi</p>")
    _, parsed = roundtrip(compose(addressed(config, config.digests[0], rendered), now=NOW))
    parts = list(parsed.iter_parts())
    assert [p["Content-Transfer-Encoding"] for p in parts] == ["quoted-printable"] * 2


def test_invalid_recipient_is_a_permanent_delivery_error(config: Config) -> None:
    rendered = rendered_for(Subscriber(1, "not an address@example.com"))
    with pytest.raises(DeliveryError) as info:
        compose(addressed(config, config.digests[0], rendered), now=NOW)
    assert info.value.permanent
    assert "recipient" in str(info.value)
    assert "\n" not in str(info.value)


def test_one_line_flattens_controls() -> None:
    assert one_line(" a\r\n\tb\x00c\u2028d  ") == "a b c d"


def test_same_digest_composes_to_same_bytes(config: Config) -> None:
    rendered = rendered_for(Subscriber(3, "c@example.com", "최독자"))
    first = compose(addressed(config, config.digests[0], rendered), now=NOW)
    second = compose(addressed(config, config.digests[0], rendered), now=NOW)
    assert first.as_bytes() == second.as_bytes()
    assert (first.get_boundary() or "").startswith("=_syndicate_")
