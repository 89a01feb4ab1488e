"""Compose the e-mail message of one rendered digest (no sending here).

The message is ``multipart/alternative`` (text first, then HTML), UTF-8 with a
7-bit-safe transfer encoding, CRLF line endings (``email.policy.SMTP``) and no
line longer than 998 octets. Korean display names, subjects and list names are
encoded per RFC 2047. Every header value coming from data (titles, names) is
flattened to one line first, so a CR/LF can never start a new header.
"""

from __future__ import annotations

import base64
import email.policy
import hashlib
import logging
import quopri
import re
from datetime import datetime
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import Policy
from email.utils import format_datetime, parseaddr
from urllib.parse import quote

from syndicate.config import Config, DigestConfig
from syndicate.digest import unsubscribe_url
from syndicate.errors import DeliveryError
from syndicate.model import Edition, RenderedDigest, Subscriber, as_utc, utcnow

logger = logging.getLogger(__name__)

POLICY = email.policy.SMTP
EDITION_HEADER = "X-Syndicate-Edition"
_BREAKS_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_ATOM_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]*$")
_MAX_HEADER_LINE = 998


class _RawHeader(str):
    """A header value that is already RFC 5322 / RFC 2047 safe and folded.

    The email package would otherwise re-encode long unstructured values (a
    long ``List-Unsubscribe`` URL becomes an encoded-word, which clients do
    not follow). Lines are joined with ``\\n `` and re-joined with the policy's
    line separator on output.
    """

    name: str

    def __new__(cls, name: str, value: str) -> _RawHeader:
        """Create the header ``name`` with the pre-encoded ``value``."""
        if "\r" in value or any(not line.startswith(" ") for line in value.split("\n")[1:]):
            raise ValueError(f"header {name}: value is not a folded one-line value")
        header = super().__new__(cls, value)
        header.name = name
        return header

    def fold(self, *, policy: Policy) -> str:
        """Return ``Name: value`` with the policy's line separator."""
        return f"{self.name}: " + policy.linesep.join(self.split("\n")) + policy.linesep


def one_line(text: str) -> str:
    """Flatten ``text`` to one line: control characters and line breaks become spaces."""
    return " ".join(_BREAKS_RE.sub(" ", text).split())


def message_id_for(config: Config, edition: Edition, subscriber: Subscriber) -> str:
    """Return the deterministic Message-ID of ``edition`` sent to ``subscriber``.

    Same edition and subscriber give the same id, so a re-send is recognisable,
    e.g. ``<morning.20261128T0700.42.1a2b3c4d@news.example.kr>``.
    """
    slot = edition.slot.astimezone(config.timezone).strftime("%Y%m%dT%H%M")
    key = f"{edition.digest_id}|{edition.slot.isoformat()}|{edition.id}|{subscriber.id}"
    digest = hashlib.sha256(f"{key}|{subscriber.email}".encode()).hexdigest()[:8]
    return f"<{edition.digest_id}.{slot}.{subscriber.id}.{digest}@{config.host}>"


def _address(display_name: str, addr_spec: str, role: str) -> Address:
    """Build a header address, raising :class:`DeliveryError` when it is unusable."""
    local, _, domain = one_line(addr_spec).rpartition("@")
    try:
        ascii_domain = domain.encode("idna").decode("ascii") if domain else domain
        return Address(display_name=one_line(display_name), addr_spec=f"{local}@{ascii_domain}")
    except (ValueError, UnicodeError) as exc:
        reason = str(exc).rstrip(")").strip() or type(exc).__name__
        raise DeliveryError(addr_spec, f"invalid {role} address: {reason}", permanent=True) from exc


def _sender(value: str) -> Address:
    """Parse a configured ``Name <addr>`` value into an :class:`Address`."""
    name, addr = parseaddr(one_line(value))
    return _address(name, addr, "sender")


def _phrase(text: str, header_name: str) -> str:
    """Return ``text`` as an RFC 5322 phrase: quoted ASCII, else RFC 2047 encoded."""
    if text.isascii():
        if _ATOM_RE.match(text) and text.strip():
            return text
        escaped = text.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    return Header(text, "utf-8", header_name=header_name).encode(linesep="\n", maxlinelen=76)


def list_id(config: Config, digest: DigestConfig) -> str:
    """Return the RFC 2919 List-Id value: ``"<title>" <digest-id.host>``."""
    return f"{_phrase(one_line(digest.title), 'List-Id')} <{digest.id}.{config.host}>"


def _transfer_encoding(text: str) -> str:
    """Pick the shorter 7-bit encoding for ``text``: quoted-printable or base64."""
    data = text.encode("utf-8")
    if len(quopri.encodestring(data)) <= len(base64.encodebytes(data)):
        return "quoted-printable"
    return "base64"


def _set_bodies(message: EmailMessage, rendered: RenderedDigest) -> None:
    """Add the text part, then the HTML alternative, both UTF-8 and 7-bit safe."""
    text, html = rendered.text, rendered.html
    message.set_content(text, subtype="plain", charset="utf-8", cte=_transfer_encoding(text))
    message.add_alternative(html, subtype="html", charset="utf-8", cte=_transfer_encoding(html))
    # "=_" cannot occur in base64 or quoted-printable text, so this never collides;
    # a fixed boundary makes re-composing the same digest give the same bytes.
    key = f"{message['Message-ID']}|{rendered.subject}".encode()
    message.set_boundary(f"=_syndicate_{hashlib.sha256(key).hexdigest()[:24]}")


def _edition_label(config: Config, edition: Edition) -> str:
    """Return ``<digest>/<slot in the config timezone, ISO 8601>`` for tracing."""
    slot = edition.slot.astimezone(config.timezone).isoformat(timespec="minutes")
    return f"{edition.digest_id}/{slot}"


def _set_list_headers(
    message: EmailMessage, config: Config, digest: DigestConfig, url: str
) -> None:
    """Add List-Id, List-Unsubscribe and List-Unsubscribe-Post (RFC 2919, 2369, 8058)."""
    message["List-Id"] = _RawHeader("List-Id", list_id(config, digest))
    safe_url = quote(one_line(url), safe=":/?#[]@!$&'()*+,;=%~-._")
    if len("List-Unsubscribe: <>") + len(safe_url) > _MAX_HEADER_LINE:
        logger.warning("unsubscribe URL of digest %s is too long for a header line", digest.id)
    else:
        message["List-Unsubscribe"] = _RawHeader("List-Unsubscribe", f"<{safe_url}>")
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"


def compose(
    config: Config,
    digest: DigestConfig,
    rendered: RenderedDigest,
    *,
    now: datetime | None = None,
) -> EmailMessage:
    """Build the e-mail message of ``rendered`` for its subscriber.

    Raises :class:`DeliveryError` (permanent) when the recipient or sender
    address cannot be written into a header.
    """
    edition = rendered.digest.edition
    subscriber = rendered.digest.subscription.subscriber
    message = EmailMessage(policy=POLICY)
    message["From"] = _sender(digest.sender)
    message["To"] = _address(subscriber.name, subscriber.email, "recipient")
    if digest.reply_to:
        message["Reply-To"] = _sender(digest.reply_to)
    message["Subject"] = one_line(rendered.subject) or one_line(digest.title)
    message["Date"] = format_datetime(as_utc(now or utcnow()).astimezone(config.timezone))
    message["Message-ID"] = _RawHeader("Message-ID", message_id_for(config, edition, subscriber))
    _set_list_headers(
        message, config, digest, unsubscribe_url(config, rendered.digest.subscription)
    )
    message[EDITION_HEADER] = _edition_label(config, edition)
    _set_bodies(message, rendered)
    return message
