"""Assemble digest messages from a template made once per section set of an edition.

:func:`syndicate.mail.compose` builds an ``EmailMessage`` per subscriber; here
the MIME structure, every header that does not vary and the encoded body
around the personal spans are made once per :class:`~syndicate.model.EditionBody`
(:class:`MessageTemplate`), and each subscriber only fills in their own To,
Date, Message-ID, List-Unsubscribe, boundary and the body lines holding their
address, name or token. The bytes are those ``compose`` writes for the same
subscriber (a test holds them equal):

* quoted-printable encodes line by line, so lines without a personal value
  are encoded once and only the few personal lines per subscriber;
* base64 runs across lines, so the whole 57-byte groups before the first
  personal line are encoded once and the rest per subscriber (C speed).

Values are escaped for where they go: HTML-escaped in the HTML part, raw in
the text part; the token is URL-quoted in both.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.quoprimime import body_encode
from email.utils import parseaddr
from typing import TYPE_CHECKING, Protocol
from urllib.parse import quote

from markupsafe import escape

from syndicate.mail import (
    EDITION_HEADER,
    POLICY,
    boundary_for,
    compose,
    date_value,
    edition_label,
    list_id,
    message_id_for,
    qp_escapes,
    raw_header,
    recipient_address,
    recipient_header,
    sender_header,
    subject_value,
    transfer_encoding,
    unsubscribe_header,
)
from syndicate.model import (
    PLACEHOLDER_EMAIL,
    PLACEHOLDER_NAME,
    PLACEHOLDER_TOKEN,
    Digest,
    Edition,
    EditionBody,
    Masthead,
    body_variant,
)

if TYPE_CHECKING:
    from syndicate.render import Renderer

logger = logging.getLogger(__name__)

_CRLF = b"\r\n"
_LINE = 78  # email.policy.SMTP.max_line_length
_B64_GROUP = _LINE // 4 * 3  # bytes per base64 line, as the email package
_PLACEHOLDERS = (PLACEHOLDER_EMAIL, PLACEHOLDER_NAME, PLACEHOLDER_TOKEN)
_SPLIT = re.compile("(" + "|".join(re.escape(p) for p in _PLACEHOLDERS) + ")")


@dataclass(frozen=True)
class Assembled:
    """One finished message: its Message-ID, envelope sender and wire bytes (CRLF)."""

    message_id: str
    sender: str
    data: bytes

    def get(self, name: str, default: str = "") -> str:
        """Message-ID or From (the envelope sender), as a transport asks an EmailMessage."""
        if name.lower() == "message-id":
            return self.message_id
        if name.lower() == "from":
            return self.sender
        return default

    def as_bytes(self) -> bytes:
        """The message as it goes on the wire."""
        return self.data


def _values(digest: Digest, *, html: bool) -> dict[str, str]:
    """The subscriber's own values for the placeholders, escaped for the part."""
    subscriber = digest.subscription.subscriber
    token = quote(digest.subscription.token, safe="")
    values = {
        PLACEHOLDER_EMAIL: subscriber.email,
        PLACEHOLDER_NAME: subscriber.name,
        PLACEHOLDER_TOKEN: token,
    }
    if html:
        return {key: str(escape(value)) for key, value in values.items()}
    return values


def _normal(data: bytes, sep: bytes) -> bytes:
    """Lines of ``data`` joined by ``sep`` and ended by it, as the email package writes them."""
    return sep.join(data.splitlines()) + sep


def _qp_line(line: bytes) -> str:
    """One line (no line break) encoded quoted-printable as the email package does."""
    return body_encode(line.decode("latin-1"), _LINE, eol="\r\n")


class _Part:
    """One body part with placeholders: its counts and the encodings prepared once."""

    def __init__(self, text: str, *, html: bool) -> None:
        """Split ``text`` at its personal lines and encode what does not vary."""
        self.html = html
        data = text.encode("utf-8")
        self.counts = {p: text.count(p) for p in _PLACEHOLDERS}
        self.size = len(data) - sum(len(p) * n for p, n in self.counts.items())
        self.escapes = qp_escapes(data)
        self.qp: list[str | bytes] = [
            line if _SPLIT.search(line.decode("utf-8")) else _qp_line(line)
            for line in data.splitlines()
        ]
        first = _SPLIT.search(text)
        start = len(text) if first is None else text.rfind("\n", 0, first.start()) + 1
        prefix = _normal(text[:start].encode("utf-8"), _CRLF) if start else b""
        whole = len(prefix) // _B64_GROUP * _B64_GROUP
        self.b64_head = _base64_lines(prefix[:whole])
        self.b64_tail = prefix[whole:]
        self.rest = text[start:]

    def payload(self, digest: Digest) -> tuple[str, bytes]:
        """(transfer encoding, encoded payload ending in CRLF) for ``digest``'s subscriber."""
        values = _values(digest, html=self.html)
        size, escapes = self.size, self.escapes
        for placeholder, count in self.counts.items():
            if count:
                value = values[placeholder].encode("utf-8")
                size += count * len(value)
                escapes += count * qp_escapes(value)
        cte = transfer_encoding(size, escapes)
        if cte == "base64":
            return cte, self._base64(values)
        return cte, self._quoted_printable(values)

    def _base64(self, values: dict[str, str]) -> bytes:
        rest = _fill(self.rest, values).encode("utf-8")
        tail = self.b64_tail + (_normal(rest, _CRLF) if rest else b"")
        return self.b64_head + _base64_lines(tail)

    def _quoted_printable(self, values: dict[str, str]) -> bytes:
        lines: list[str] = []
        for line in self.qp:
            if isinstance(line, str):
                lines.append(line)
                continue
            filled = _fill(line.decode("utf-8"), values).encode("utf-8")
            lines += [_qp_line(bit) for bit in filled.splitlines() or [b""]]
        return ("\r\n".join(lines) + "\r\n").encode("ascii")


def _base64_lines(data: bytes) -> bytes:
    """``data`` in base64 lines of 76 characters, each ending in CRLF: the bytes of
    ``base64.encodebytes`` with CRLF, in half its time (one encode, then slices)."""
    encoded = base64.b64encode(data)
    if not encoded:
        return b""
    lines = [encoded[i : i + _B64_LINE] for i in range(0, len(encoded), _B64_LINE)]
    return _CRLF.join(lines) + _CRLF


_B64_LINE = 76


def _fill(piece: str, values: dict[str, str]) -> str:
    """``piece`` with each placeholder replaced by its value."""
    return "".join(values.get(bit, bit) for bit in _SPLIT.split(piece))


class MessageTemplate:
    """The message of one section set of an edition, with the personal fields left open."""

    def __init__(self, masthead: Masthead, edition: Edition, body: EditionBody) -> None:
        """Prepare the headers and both parts of ``body`` (the email package is not used)."""
        self.masthead = masthead
        self.edition = edition
        self.body = body
        self.sender = recipient_of(masthead.sender)
        self.from_line = sender_header(masthead.sender, "sender").fold(policy=POLICY)
        reply = masthead.reply_to
        self.reply_line = sender_header(reply, "reply-to").fold(policy=POLICY) if reply else ""
        self.subject = subject_value(body.subject, masthead)
        self.subject_line = raw_header("Subject", self.subject).fold(policy=POLICY)
        self.list_line = raw_header("List-Id", list_id(masthead)).fold(policy=POLICY)
        label = edition_label(masthead, edition)
        self.edition_line = f"{EDITION_HEADER}: {label}\r\n"
        self.text = _Part(body.text, html=False)
        self.html = _Part(body.html, html=True)

    def assemble(self, digest: Digest, *, now: datetime | None = None) -> Assembled:
        """The message for ``digest``'s subscriber (a Digest of this template's section set).

        :class:`~syndicate.errors.DeliveryError` (permanent) for an unusable address.
        """
        subscriber = digest.subscription.subscriber
        recipient_address(subscriber)  # refuses an unusable address before anything is built
        message_id = message_id_for(self.masthead, self.edition, subscriber)
        boundary = boundary_for(message_id, self.subject)
        head = [
            self.from_line,
            recipient_header(subscriber).fold(policy=POLICY),
            self.reply_line,
            self.subject_line,
            f"Date: {date_value(self.masthead, now)}\r\n",
            f"Message-ID: {message_id}\r\n",
            self.list_line,
            self._unsubscribe_lines(digest.unsubscribe_url),
            self.edition_line,
            "MIME-Version: 1.0\r\n",
            f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n\r\n',
        ]
        data = "".join(head).encode("ascii") + self._parts(digest, boundary)
        return Assembled(message_id, self.sender, data)

    def _unsubscribe_lines(self, url: str) -> str:
        value = unsubscribe_header(self.masthead, url)
        if value is None:
            return ""
        line = raw_header("List-Unsubscribe", value).fold(policy=POLICY)
        return line + "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"

    def _parts(self, digest: Digest, boundary: str) -> bytes:
        text_cte, text = self.text.payload(digest)
        html_cte, html = self.html.payload(digest)
        mark = f"--{boundary}\r\n".encode("ascii")
        return b"".join(
            [
                mark,
                b'Content-Type: text/plain; charset="utf-8"\r\n',
                f"Content-Transfer-Encoding: {text_cte}\r\n\r\n".encode("ascii"),
                text,
                b"\r\n",
                mark,
                b'Content-Type: text/html; charset="utf-8"\r\n',
                f"Content-Transfer-Encoding: {html_cte}\r\n".encode("ascii"),
                b"MIME-Version: 1.0\r\n\r\n",
                html,
                f"\r\n--{boundary}--\r\n".encode("ascii"),
            ]
        )


def recipient_of(value: str) -> str:
    """The bare address of a configured ``Name <addr>`` (the envelope sender)."""
    return parseaddr(value)[1]


class BodyStore(Protocol):
    """The part of ``store.Store`` that keeps an edition's bodies."""

    def edition_body(self, edition_id: int, variant: str) -> EditionBody | None:
        """The stored body of ``variant``, if any."""

    def save_edition_body(
        self, edition_id: int, body: EditionBody, *, now: datetime | None = None
    ) -> EditionBody:
        """Store ``body``; the one stored first wins and is returned."""


class Bodies:
    """The messages of one edition: one template per section set, built on first use.

    A body is read from the store when an earlier run (or another process)
    rendered it, else rendered once (:meth:`~syndicate.render.Renderer.render_body`)
    and stored. A section set whose body cannot be shared is rendered and
    composed per subscriber (``renderer`` builds the Renderer when first needed).
    """

    def __init__(self, store: BodyStore, renderer: Callable[[], Renderer]) -> None:
        """Build templates from ``store``'s bodies, rendering missing ones with ``renderer()``."""
        self.store = store
        self._make_renderer = renderer
        self._renderer: Renderer | None = None
        self.templates: dict[tuple[int, str], MessageTemplate | None] = {}
        self._lock = threading.RLock()  # the connection threads build messages in parallel

    @property
    def renderer(self) -> Renderer:
        """The Renderer, built on first use."""
        with self._lock:
            if self._renderer is None:
                self._renderer = self._make_renderer()
            return self._renderer

    def message(self, digest: Digest, *, now: datetime | None = None) -> Assembled | EmailMessage:
        """The finished message of ``digest`` (Jinja2 and premailer do not run here)."""
        key = (digest.edition.id, body_variant(digest))
        if key not in self.templates:
            with self._lock:  # one render per section set, whichever thread comes first
                if key not in self.templates:
                    self.templates[key] = self._template(digest)
        template = self.templates[key]
        if template is None:
            return compose(self.renderer.render(digest), now=now)
        return template.assemble(digest, now=now)

    def _template(self, digest: Digest) -> MessageTemplate | None:
        edition, variant = digest.edition, body_variant(digest)
        body = self.store.edition_body(edition.id, variant)
        if body is None:
            body = self.renderer.render_body(digest)
            if body is None:
                logger.info(
                    "digest %s: section set %s rendered per subscriber", edition.digest_id, variant
                )
                return None
            body = self.store.save_edition_body(edition.id, body)
        return MessageTemplate(digest.masthead, edition, body)
