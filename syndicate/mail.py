"""Compose the e-mail message of one rendered digest (no sending here).

The message is ``multipart/alternative`` (text first, then HTML), UTF-8 with a
7-bit-safe transfer encoding, CRLF line endings (``email.policy.SMTP``) and no
line longer than 998 octets.

Every header is written by this module, never by the email package from raw
data: a value from data or config (names, titles, subjects) is first decoded
(RFC 2047 encoded-words, which could hide CR/LF), then stripped of control
characters and line breaks, shortened, and finally encoded by us: a quoted
phrase or plain folded text when it is printable ASCII, else RFC 2047
encoded-words. Addresses go through :mod:`syndicate.addresses`. So no value can
add a header or change an address.
"""

from __future__ import annotations

import base64
import email.policy
import functools
import hashlib
import logging
import quopri
import re
import string
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from email import errors as email_errors
from email.headerregistry import HeaderRegistry
from email.message import EmailMessage
from email.policy import Policy
from email.utils import format_datetime
from urllib.parse import quote

from syndicate.addresses import AddressError, normalize_address, parse_mailbox, shown
from syndicate.errors import DeliveryError, one_line
from syndicate.model import Edition, Masthead, RenderedDigest, Subscriber, as_utc, utcnow
from syndicate.sanitize import truncate

logger = logging.getLogger(__name__)

POLICY = email.policy.SMTP
EDITION_HEADER = "X-Syndicate-Edition"
NAME_LIMIT = 200
TEXT_LIMIT = 300
_MAX_HEADER_LINE = 998
_RAW_LIMIT = 10_000  # characters looked at before decoding (bounds the work)
_DECODE_ROUNDS = 3
_WORD_BYTES = 39  # 52 base64 characters: an encoded-word of 64 (RFC 2047 allows 75)
_LINE = 76
_QUOTED_LIMIT = 60
_SPACE_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
_JOINERS = frozenset({"\u200c", "\u200d"})
_HOST_CHARS = frozenset(string.ascii_lowercase + string.digits + "-._")
_DECODER = HeaderRegistry()
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9-]+")


class _RawHeader(str):
    """A header value that is already RFC 5322 / RFC 2047 safe and folded.

    The email package would otherwise parse the value (decoding encoded-words,
    which is how CR/LF used to get in) and re-encode it. Lines are joined with
    ``\\n `` and re-joined with the policy's line separator on output.
    """

    name: str

    def __new__(cls, name: str, value: str) -> _RawHeader:
        """Create the header ``name`` with the pre-encoded ``value``."""
        lines = value.split("\n")
        if not value.isascii() or not all(line.isprintable() for line in lines):
            raise ValueError(f"header {name}: value is not printable ASCII")
        if any(not line.startswith(" ") for line in lines[1:]):
            raise ValueError(f"header {name}: value is not a folded one-line value")
        if any(len(line) > _MAX_HEADER_LINE - len(name) - 2 for line in lines):
            raise ValueError(f"header {name}: a line is longer than {_MAX_HEADER_LINE} octets")
        header = super().__new__(cls, value)
        header.name = name
        return header

    def fold(self, *, policy: Policy) -> str:
        """Return ``Name: value`` with the policy's line separator."""
        return f"{self.name}: " + policy.linesep.join(self.split("\n")) + policy.linesep


def _decode_words(text: str) -> str:
    """Decode RFC 2047 encoded-words as the email package would (repeatedly, bounded)."""
    for _ in range(_DECODE_ROUNDS):
        if "=?" not in text:
            break
        try:
            decoded = str(_DECODER("X-Decode", text))
        except (ValueError, LookupError, IndexError, email_errors.MessageError):
            break
        if decoded == text:
            break
        text = decoded
    return text


def _visible(char: str) -> str:
    """Map a control, line break or surrogate to a space and drop invisible format characters."""
    category = unicodedata.category(char)
    if category in _SPACE_CATEGORIES:
        return " "
    if category == "Cf" and char not in _JOINERS:
        return ""
    return char


def header_text(value: str, limit: int = TEXT_LIMIT) -> str:
    """Return ``value`` as it may appear in a header, before encoding.

    RFC 2047 encoded-words are decoded first; then control characters, line
    breaks, lone surrogates and invisible format characters are removed, spaces
    collapsed, and the text is cut to ``limit`` characters between grapheme clusters.
    """
    text = _decode_words(value[:_RAW_LIMIT])
    text = " ".join("".join(_visible(c) for c in text).split())
    return truncate(text, limit)


def _is_plain(text: str) -> bool:
    """True when ``text`` can be written as it is: printable ASCII, no encoded-word opener."""
    return text.isascii() and text.isprintable() and "=?" not in text


def _encoded_words(text: str) -> list[str]:
    """Split ``text`` into RFC 2047 base64 encoded-words, never inside a character."""
    chunks = [""]
    for char in text:
        if len((chunks[-1] + char).encode("utf-8")) > _WORD_BYTES:
            chunks.append("")
        chunks[-1] += char
    return [f"=?utf-8?b?{base64.b64encode(c.encode('utf-8')).decode('ascii')}?=" for c in chunks]


def _fold(words: list[str], first: int) -> str:
    """Join ``words`` with spaces, folding (``\\n ``) before a line would pass 76 characters."""
    lines = [words[0]]
    width = first + len(words[0])
    for word in words[1:]:
        if width + 1 + len(word) > _LINE:
            lines.append(word)
            width = 1 + len(word)
        else:
            lines[-1] += " " + word
            width += 1 + len(word)
    return "\n ".join(lines)


def _phrase(text: str, header_name: str) -> str:
    """Return ``text`` (already cleaned) as an RFC 5322 phrase: a quoted string or encoded-words."""
    if _is_plain(text) and len(text) <= _QUOTED_LIMIT:
        escaped = text.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    return _fold(_encoded_words(text), len(header_name) + 2)


def _unstructured(text: str, header_name: str) -> str:
    """Return ``text`` (already cleaned) as an unstructured header value (e.g. Subject)."""
    words = text.split(" ")
    if not _is_plain(text) or any(len(w) > _LINE - 8 for w in words):
        words = _encoded_words(text)
    return _fold(words, len(header_name) + 2)


def _mailbox(header_name: str, display_name: str, address: str) -> _RawHeader:
    """Build an address header from a display name (cleaned here) and a validated address."""
    name = header_text(display_name, NAME_LIMIT)
    value = f"{_phrase(name, header_name)} <{address}>" if name else address
    return _RawHeader(header_name, value)


def id_domain(masthead: Masthead) -> str:
    """The ASCII (IDNA) host used in Message-ID and List-Id, e.g. ``news.example.kr``."""
    return _ascii_host(masthead.host)


@functools.lru_cache(maxsize=16)
def _ascii_host(host: str) -> str:
    """``host`` in IDNA form when it is a usable dot-atom, else ``localhost`` (warned once)."""
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        ascii_host = ""
    if not ascii_host or not set(ascii_host) <= _HOST_CHARS or not all(ascii_host.split(".")):
        logger.warning("host %r cannot be used in message ids; using 'localhost'", host)
        return "localhost"
    return ascii_host


def message_id_for(masthead: Masthead, edition: Edition, subscriber: Subscriber) -> str:
    """Return the deterministic Message-ID of ``edition`` sent to ``subscriber``.

    Same edition and subscriber give the same id, so a re-send is recognisable,
    e.g. ``<morning.20261128T0700.42.1a2b3c4d@news.example.kr>``.
    """
    slot = edition.slot.astimezone(masthead.timezone).strftime("%Y%m%dT%H%M")
    key = f"{edition.digest_id}|{edition.slot.isoformat()}|{edition.id}|{subscriber.id}"
    data = f"{key}|{subscriber.email}".encode("utf-8", "backslashreplace")
    fingerprint = hashlib.sha256(data).hexdigest()[:8]
    return f"<{edition.digest_id}.{slot}.{subscriber.id}.{fingerprint}@{id_domain(masthead)}>"


def recipient_address(subscriber: Subscriber) -> str:
    """The subscriber's normalised address; :class:`DeliveryError` (permanent) when unusable."""
    try:
        return normalize_address(subscriber.email)
    except AddressError as exc:
        raise DeliveryError(
            shown(subscriber.email),
            f"subscriber {subscriber.id}: invalid recipient address: {exc.reason}",
            permanent=True,
        ) from None


def _sender(value: str, role: str) -> _RawHeader:
    """The From or Reply-To header of a configured ``Name <addr>`` value."""
    try:
        mailbox = parse_mailbox(value)
    except AddressError as exc:
        raise DeliveryError(
            shown(value), f"invalid {role} address: {exc.reason}", permanent=True
        ) from None
    return _mailbox("From" if role == "sender" else "Reply-To", mailbox.name, mailbox.address)


def list_id(masthead: Masthead) -> str:
    """Return the RFC 2919 List-Id value: ``"<title>" <digest-id.host>``."""
    title = header_text(masthead.title) or masthead.digest_id
    return f"{_phrase(title, 'List-Id')} <{masthead.digest_id}.{id_domain(masthead)}>"


def _transfer_encoding(text: str) -> str:
    """Pick the shorter 7-bit encoding for ``text``: quoted-printable or base64."""
    data = text.encode("utf-8")
    if len(quopri.encodestring(data)) <= len(base64.encodebytes(data)):
        return "quoted-printable"
    return "base64"


def html_part_size(html: str) -> int:
    """Bytes the HTML part of a composed message takes for ``html``: its headers and
    its body after transfer encoding (what Gmail's ~102 KB clipping counts)."""
    part = EmailMessage(policy=POLICY)
    part.set_content(html, subtype="html", charset="utf-8", cte=_transfer_encoding(html))
    return len(part.as_bytes(policy=POLICY))


def _set_bodies(message: EmailMessage, text: str, html: str) -> None:
    """Add the text part, then the HTML alternative, both UTF-8 and 7-bit safe."""
    message.set_content(text, subtype="plain", charset="utf-8", cte=_transfer_encoding(text))
    message.add_alternative(html, subtype="html", charset="utf-8", cte=_transfer_encoding(html))
    # "=_" cannot occur in base64 or quoted-printable text, so this never collides;
    # a fixed boundary makes re-composing the same digest give the same bytes.
    key = f"{message['Message-ID']}|{message['Subject']}".encode()
    message.set_boundary(f"=_syndicate_{hashlib.sha256(key).hexdigest()[:24]}")


def _edition_label(masthead: Masthead, edition: Edition) -> str:
    """Return ``<digest>/<slot in the publication's timezone, ISO 8601>`` for tracing."""
    slot = edition.slot.astimezone(masthead.timezone).isoformat(timespec="minutes")
    return f"{edition.digest_id}/{slot}"


def _set_list_headers(message: EmailMessage, masthead: Masthead, url: str) -> None:
    """Add List-Id, List-Unsubscribe and List-Unsubscribe-Post (RFC 2919, 2369, 8058)."""
    message["List-Id"] = _RawHeader("List-Id", list_id(masthead))
    safe_url = quote(one_line(url), safe=":/?#[]@!$&'()*+,;=%~-._")
    if len("List-Unsubscribe: <>") + len(safe_url) > _MAX_HEADER_LINE:
        logger.warning(
            "unsubscribe URL of digest %s is too long for a header line", masthead.digest_id
        )
    else:
        message["List-Unsubscribe"] = _RawHeader("List-Unsubscribe", f"<{safe_url}>")
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"


def compose(rendered: RenderedDigest, *, now: datetime | None = None) -> EmailMessage:
    """Build the e-mail message of ``rendered`` for its subscriber.

    Everything comes from ``rendered`` and its Digest's masthead; no configuration.

    Raises :class:`DeliveryError` (permanent) when the recipient or sender
    address cannot be written into a header.
    """
    edition = rendered.digest.edition
    masthead = rendered.digest.masthead
    subscriber = rendered.digest.subscription.subscriber
    message = EmailMessage(policy=POLICY)
    message["From"] = _sender(masthead.sender, "sender")
    message["To"] = _mailbox("To", subscriber.name, recipient_address(subscriber))
    if masthead.reply_to:
        message["Reply-To"] = _sender(masthead.reply_to, "reply-to")
    subject = header_text(rendered.subject) or header_text(masthead.title) or masthead.digest_id
    message["Subject"] = _RawHeader("Subject", _unstructured(subject, "Subject"))
    message["Date"] = format_datetime(as_utc(now or utcnow()).astimezone(masthead.timezone))
    message_id = message_id_for(masthead, edition, subscriber)
    message["Message-ID"] = _RawHeader("Message-ID", message_id)
    _set_list_headers(message, masthead, rendered.digest.unsubscribe_url)
    message[EDITION_HEADER] = _edition_label(masthead, edition)
    _set_bodies(message, rendered.text, rendered.html)
    return message


@dataclass(frozen=True)
class Notice:
    """A one-off message to one address (a subscription confirmation, say), already rendered.

    ``key`` makes the Message-ID (``<{kind}.{key}@host>``): same key, same id.
    """

    kind: str
    key: str
    recipient: Subscriber
    subject: str
    html: str
    text: str


def compose_notice(
    masthead: Masthead, notice: Notice, *, now: datetime | None = None
) -> EmailMessage:
    """Build the e-mail message of ``notice`` from the digest of ``masthead``.

    Headers are written like a digest's (From, To, Reply-To, Subject, Date,
    Message-ID, List-Id), without List-Unsubscribe: a notice goes out once, on request.
    Raises :class:`DeliveryError` (permanent) for an unusable address.
    """
    message = EmailMessage(policy=POLICY)
    message["From"] = _sender(masthead.sender, "sender")
    message["To"] = _mailbox("To", notice.recipient.name, recipient_address(notice.recipient))
    if masthead.reply_to:
        message["Reply-To"] = _sender(masthead.reply_to, "reply-to")
    subject = header_text(notice.subject) or header_text(masthead.title) or masthead.digest_id
    message["Subject"] = _RawHeader("Subject", _unstructured(subject, "Subject"))
    message["Date"] = format_datetime(as_utc(now or utcnow()).astimezone(masthead.timezone))
    kind = _UNSAFE_ID.sub("-", notice.kind)[:40] or "notice"
    key = _UNSAFE_ID.sub("-", notice.key)[:64] or "0"
    message["Message-ID"] = _RawHeader("Message-ID", f"<{kind}.{key}@{id_domain(masthead)}>")
    message["List-Id"] = _RawHeader("List-Id", list_id(masthead))
    _set_bodies(message, notice.text, notice.html)
    return message
