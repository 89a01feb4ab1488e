"""Hostile header values: no value from data or config can add a header or change an address.

Every message is serialised, parsed back with ``email.policy.default`` and checked:
exactly the headers we write, no parser defect in any header, no line over 998
octets, and From/To/Reply-To carry exactly the intended addresses.
"""

from __future__ import annotations

import base64
import email.policy
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syndicate.config import Config, DigestConfig, load_config
from syndicate.config_checks import Invalid
from syndicate.mail import compose
from syndicate.model import (
    Digest,
    Edition,
    RenderedDigest,
    Subscriber,
    Subscription,
    SubscriptionState,
)
from tests.conftest import ROOT
from tests.test_mail import UNSET, addressed

SLOT = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 27, 22, 0, 5, tzinfo=UTC)
SENDER = "news@news.example.kr"
REPLY = "desk@news.example.kr"
RECIPIENT = "reader@example.kr"
TOP_HEADERS = {
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "x-syndicate-edition",
    "mime-version",
    "content-type",
}
PART_HEADERS = {"content-type", "content-transfer-encoding", "mime-version"}


def encoded_word(text: str, kind: str = "b") -> str:
    """``text`` as one RFC 2047 encoded-word (the form attackers hide CR/LF in)."""
    data = text.encode("utf-8")
    if kind == "b":
        return f"=?utf-8?b?{base64.b64encode(data).decode()}?="
    return "=?utf-8?q?" + "".join(f"={byte:02X}" for byte in data) + "?="


INJECT = "x\r\nBcc: evil@evil.example\r\nX-Injected: 1"
HOSTILE = [
    encoded_word(INJECT),
    encoded_word(INJECT, "q"),
    "Kim " + encoded_word(INJECT) + " Lee",
    encoded_word(encoded_word(INJECT)),
    "=?utf-8?b?" + base64.b64encode(b"\r\n\r\n<html>body").decode() + "?=",
    "Kim\r\nBcc: evil@evil.example",
    "Kim\nX-Injected: 1",
    "Kim\x00\u2028\u2029\x85 Lee",
    '"quoted" \\ back\\slash "',
    "evil@evil.example <evil@evil.example>",
    "=?iso-8859-1?q?caf=E9?= =?unknown-charset?b?QUJD?= =?utf-8?b?broken",
    "한국어 이름 " * 200,
]


def digest_dict(**overrides: Any) -> dict[str, Any]:
    """A digest of the test config, with ``overrides``."""
    digest: dict[str, Any] = {
        "id": "morning",
        "title": "아침 브리핑",
        "schedule": "0 7 * * *",
        "sender": f"테스트뉴스 <{SENDER}>",
        "reply_to": f"Desk <{REPLY}>",
        "delivery": {"kind": "file", "folder": "outbox"},
    }
    digest.update(overrides)
    return digest


@pytest.fixture
def config(write_config: Callable[..., Path]) -> Config:
    """The test config with one digest that has a Reply-To."""
    return load_config(write_config(digests=[digest_dict()]))


def rendered_for(subscriber: Subscriber, subject: str = "오늘의 뉴스") -> RenderedDigest:
    """A rendered digest of ``subscriber`` built by hand."""
    edition = Edition(id=7, digest_id="morning", slot=SLOT, cutoff_seq=1, created_at=SLOT)
    subscription = Subscription(subscriber, "morning", ("it",), SubscriptionState.ACTIVE, "tok-1")
    return RenderedDigest(
        Digest(edition, subscription, (), UNSET, (), ""), subject, "<p>안녕</p>", "안녕\n"
    )


def parse(message: EmailMessage) -> EmailMessage:
    """Serialise ``message`` as it would be sent and parse it back (modern policy)."""
    data = message.as_bytes()
    assert data.isascii()
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    parsed = BytesParser(policy=email.policy.default).parsebytes(data)
    assert isinstance(parsed, EmailMessage)
    return parsed


def assert_clean(message: EmailMessage, *, recipient: str = RECIPIENT) -> EmailMessage:
    """Assert the message has only our headers, no defects, and the intended addresses."""
    parsed = parse(message)
    names = [name.lower() for name in parsed]
    assert len(names) == len(set(names)), names
    assert set(names) == TOP_HEADERS | {"reply-to"}
    assert not parsed.defects
    for name in parsed:
        header = parsed[name]
        assert not header.defects, (name, str(header), header.defects)
        assert not any(c in str(header) for c in "\r\n\x00"), (name, str(header))
    for part in parsed.iter_parts():
        assert {n.lower() for n in part} <= PART_HEADERS
        assert not part.defects
    for name, address in (("From", SENDER), ("To", recipient), ("Reply-To", REPLY)):
        (mailbox,) = parsed[name].addresses
        assert mailbox.addr_spec == address
        assert not any(ord(c) < 32 or c in "\u2028\u2029\x7f" for c in mailbox.display_name)
    return parsed


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_subscriber_name(config: Config, value: str) -> None:
    rendered = rendered_for(Subscriber(1, RECIPIENT, value))
    parsed = assert_clean(compose(addressed(config, config.digests[0], rendered), now=NOW))
    assert "Bcc:" not in str(parsed["To"]) or "evil" not in parsed["To"].addresses[0].addr_spec


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_subject(config: Config, value: str) -> None:
    rendered = rendered_for(Subscriber(1, RECIPIENT, "김독자"), subject=value)
    assert_clean(compose(addressed(config, config.digests[0], rendered), now=NOW))


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_digest_title(write_config: Callable[..., Path], value: str) -> None:
    """Titles the config refuses (line breaks, controls, over 300 characters) are set
    on the loaded model, so the header layer is tested on its own as well."""
    loaded = load_config(write_config(digests=[digest_dict()]))
    digest = replace(loaded.digests[0], title=value)
    config = replace(loaded, digests=(digest,))
    rendered = rendered_for(Subscriber(1, RECIPIENT, "김독자"), subject="")
    parsed = assert_clean(compose(addressed(config, config.digests[0], rendered), now=NOW))
    assert str(parsed["List-Id"]).endswith("<morning.news.example.kr>")


@pytest.mark.parametrize(
    "display",
    [
        encoded_word(INJECT),
        encoded_word("Evil\r\nFrom: evil@evil.example"),
        '"한국 \\"뉴스\\" 데스크"',
        '"Evil <evil@evil.example>"',
        encoded_word("evil@evil.example, <evil@evil.example>"),
        encoded_word("=?utf-8?b?" + base64.b64encode(b"\r\nBcc: e@evil.example").decode() + "?="),
    ],
)
def test_hostile_sender_and_reply_to_display_names(
    write_config: Callable[..., Path], display: str
) -> None:
    digest = digest_dict(sender=f"{display} <{SENDER}>", reply_to=f"{display} <{REPLY}>")
    config = load_config(write_config(digests=[digest]))
    rendered = rendered_for(Subscriber(1, RECIPIENT, "김독자"))
    assert_clean(compose(addressed(config, config.digests[0], rendered), now=NOW))


@pytest.mark.parametrize(
    "sender",
    [
        f"Evil\r\n <{SENDER}>",
        f"evil@evil.example\r\n <{SENDER}>",
        f"evil@evil.example <{SENDER}>",
        f"News <{SENDER}>\r\nBcc: evil@evil.example",
        f"News <{SENDER}>, evil@evil.example",
        f"News\x00 <{SENDER}>",
        '"' + encoded_word("a\r\nb") + f'" <{SENDER}>',
    ],
)
def test_sender_with_line_breaks_never_changes_from(
    write_config: Callable[..., Path], sender: str
) -> None:
    """Either the config refuses the sender, or From is exactly the configured address."""
    try:
        config = load_config(write_config(digests=[digest_dict(sender=sender)]))
    except Exception as exc:  # the config must say what is wrong, in one line per problem
        assert "sender" in str(exc)
        return
    rendered = rendered_for(Subscriber(1, RECIPIENT, "김독자"))
    assert_clean(compose(addressed(config, config.digests[0], rendered), now=NOW))


# ------------------------------------------------------------------ Hypothesis

HEADER_CHARS = st.one_of(
    st.characters(codec="utf-8"),
    st.sampled_from(["\r", "\n", "\r\n", "\x00", "\u2028", "\u2029", '"', "\\", "<", ">"]),
    st.sampled_from([",", ";", ":", "@", "=?", "?=", "\t", " ", "\x85", "\ufeff", "\u202e"]),
    st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3),
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
)
PLAIN_TEXT = st.lists(HEADER_CHARS, max_size=40).map("".join)
ENCODED = st.builds(
    lambda inner, kind: encoded_word(inner.encode("utf-8", "replace").decode(), kind),
    PLAIN_TEXT,
    st.sampled_from(["b", "q"]),
)
LONG_KOREAN = st.builds(
    lambda text, n: text * n,
    st.text(st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3), min_size=1, max_size=8),
    st.integers(min_value=50, max_value=400),
)
HEADER_VALUES = st.lists(st.one_of(PLAIN_TEXT, ENCODED, LONG_KOREAN), max_size=4).map(" ".join)


def quoted(text: str) -> str:
    """``text`` as an RFC 5322 quoted string (for a configured sender's display name)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@given(name=HEADER_VALUES, subject=HEADER_VALUES)
def test_fuzz_subscriber_names_and_subjects(config: Config, name: str, subject: str) -> None:
    rendered = rendered_for(Subscriber(1, RECIPIENT, name), subject=subject)
    assert_clean(compose(addressed(config, config.digests[0], rendered), now=NOW))


@given(title=HEADER_VALUES, display=HEADER_VALUES)
def test_fuzz_titles_and_sender_display_names(config: Config, title: str, display: str) -> None:
    values = digest_dict(title=title or "t", sender=f"{quoted(display)} <{SENDER}>")
    values["reply_to"] = f"{quoted(display)} <{REPLY}>"
    try:
        digest = DigestConfig.from_mapping(values)
    except Invalid as exc:
        # A sender the config refuses never reaches a header; the reason names the field.
        assert {loc[0] for loc, _ in exc.problems} <= {"sender", "reply_to", "title"}
        return
    digest_config = replace(config, digests=(digest,))
    rendered = rendered_for(Subscriber(1, RECIPIENT, "김독자"), subject="")
    assert_clean(compose(addressed(digest_config, digest, rendered), now=NOW))


LOCAL_CHARS = st.sampled_from([*"aZ09.!#$%&'*+/=?^_`{|}~-\"\\ @(),:;<>[]", "=?", "?=", "\r\n"])
LOCAL_TEXT = st.lists(LOCAL_CHARS, min_size=1, max_size=20).map("".join)
LOCALS = st.one_of(LOCAL_TEXT, LOCAL_TEXT.map(lambda text: f'"{text}"'))
DOMAINS = st.sampled_from(["example.kr", "한국.kr", "XN--3E0B707E.KR", "뉴스.한국", "b.co"])


@given(local=LOCALS, domain=DOMAINS)
def test_fuzz_every_accepted_address_composes(config: Config, local: str, domain: str) -> None:
    """Whatever the address check accepts can be written into To exactly."""
    from syndicate.addresses import AddressError, normalize_address

    try:
        address = normalize_address(f"{local}@{domain}")
    except AddressError as exc:
        assert "\n" not in str(exc)
        return
    rendered = rendered_for(Subscriber(1, address, "독자"))
    assert_clean(
        compose(addressed(config, config.digests[0], rendered), now=NOW), recipient=address
    )


HUGE_SCRIPT = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1_500_000_000, 1_500_000_000))
from tests.hostile import test_header_values as t
from tests.test_mail import addressed
from syndicate.config import load_config
from syndicate.mail import compose
from syndicate.model import Subscriber

config = load_config(sys.argv[1])
huge = "\uae40" * 5_000_000
encoded = " ".join([t.encoded_word("abcd")] * 200_000)
for name, subject in ((huge, encoded), (encoded, huge)):
    rendered = t.rendered_for(Subscriber(1, t.RECIPIENT, name), subject=subject)
    parsed = t.assert_clean(compose(addressed(config, config.digests[0], rendered), now=t.NOW))
    # Python's parser shows a space between adjacent encoded-words in a phrase
    assert len(parsed["To"].addresses[0].display_name.replace(" ", "")) <= 200
    assert len(str(parsed["Subject"])) <= 300
print("ok")
"""


def test_huge_values_are_bounded(write_config: Callable[..., Path]) -> None:
    """5 MB names and subjects (plain and encoded) compose in bounded memory and time."""
    path = write_config(digests=[digest_dict()])
    result = subprocess.run(
        [sys.executable, "-c", HUGE_SCRIPT, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,  # generous: the unbounded version ran out of memory
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"
