"""Deliver composed messages: ``.eml`` files or SMTP, with an idempotent send loop.

This is the only module that imports :mod:`smtplib`. Every send is claimed in
the store before it is attempted and marked after, so running
:func:`deliver_batch` twice never sends a message twice, and temporary
failures are retried on the next run.
"""

from __future__ import annotations

import email.errors
import hashlib
import logging
import re
import smtplib
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from types import TracebackType
from typing import Protocol

from syndicate.addresses import shown
from syndicate.config import Config, DigestConfig, SmtpDelivery
from syndicate.errors import DeliveryError, one_line
from syndicate.files import write_atomic
from syndicate.mail import compose, message_id_for, recipient_address
from syndicate.model import RenderedDigest, SendState

logger = logging.getLogger(__name__)

_UNSAFE_NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")


class Transport(Protocol):
    """Something that delivers messages; used as a context manager around a batch."""

    def __enter__(self) -> Transport:
        """Prepare for a batch (connections may still be opened lazily)."""

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Release what the batch used (close connections)."""

    written: list[Path]
    """Files written so far, oldest first (empty when messages leave the machine)."""

    def send(self, message: EmailMessage, recipient: str) -> None:
        """Deliver ``message`` to ``recipient``; raise :class:`DeliveryError` on failure."""


class SendLedger(Protocol):
    """The part of ``store.Store`` the send loop needs (claims and outcomes)."""

    def claim_send(
        self, edition_id: int, subscriber_id: int, message_id: str, *, now: datetime | None = None
    ) -> bool:
        """Claim a send; True means the caller may send now."""

    def finish_send(
        self,
        edition_id: int,
        subscriber_id: int,
        status: SendState,
        *,
        error: str | None = None,
        now: datetime | None = None,
    ) -> None:
        """Record the outcome of a claimed send."""


@dataclass
class DeliveryReport:
    """What one :func:`deliver_batch` call did.

    ``already_claimed`` counts messages whose send was claimed before (sent,
    sending or failed for good, by this or another run) and so not sent again;
    ``failed`` maps an e-mail address to a one-line reason; ``written`` lists
    the ``.eml`` files written by a file transport.
    """

    sent: int = 0
    already_claimed: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)


def _message_id(message: EmailMessage) -> str:
    """Return the message's Message-ID, or a hash of its bytes when it has none."""
    value = message.get("Message-ID")
    if value:
        return str(value)
    return hashlib.sha256(message.as_bytes()).hexdigest()


def eml_name(message: EmailMessage) -> str:
    """Return the file name of ``message``: its Message-ID in safe characters + ``.eml``."""
    name = _UNSAFE_NAME_RE.sub("_", _message_id(message).strip("<> ")).strip("._")
    return f"{name[:200] or 'message'}.eml"


class FileTransport:
    """Write each message as one ``.eml`` file directly in ``folder``.

    The file name comes from the Message-ID, so re-sending a message overwrites
    its file instead of adding one. Files are written atomically.
    """

    def __init__(self, folder: Path) -> None:
        """Deliver into ``folder`` (created when needed)."""
        self.folder = Path(folder)
        self.written: list[Path] = []

    def __enter__(self) -> FileTransport:
        """Start a batch."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Nothing to release."""

    def path_for(self, message: EmailMessage) -> Path:
        """Return the file ``message`` is (or would be) written to."""
        return self.folder / eml_name(message)

    def send(self, message: EmailMessage, recipient: str) -> None:
        """Write ``message`` to its ``.eml`` file (temporary file, then rename)."""
        path = self.path_for(message)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_atomic(path, message.as_bytes(), new_mode=0o600)  # holds an address
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise DeliveryError(recipient, f"cannot write {path}: {reason}") from exc
        self.written.append(path)
        logger.debug("wrote %s for %s", path, recipient)


def _smtp_text(value: bytes | str) -> str:
    """Decode an SMTP server reply into one line."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return one_line(text)


def _reply(code: int, text: bytes | str) -> str:
    """Format an SMTP reply code and text as ``550 no such user``."""
    return f"{code} {_smtp_text(text)}".strip()


class SmtpTransport:
    """Send through one SMTP connection per batch.

    The connection is opened on the first message and re-opened once when the
    server has disconnected. A failure to connect or log in is remembered for
    the rest of the batch so every later message fails fast (temporarily).
    """

    def __init__(self, settings: SmtpDelivery) -> None:
        """Use the server described by ``settings``."""
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None
        self._broken: str | None = None
        self._count = 0
        self.written: list[Path] = []  # messages leave the machine: no files

    @property
    def server(self) -> str:
        """``host:port`` of the server, for messages."""
        return f"{self.settings.host}:{self.settings.port}"

    def __enter__(self) -> SmtpTransport:
        """Start a batch: forget an earlier connection failure."""
        self._broken = None
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the connection politely."""
        self.close()

    def close(self) -> None:
        """Send QUIT and close the connection, ignoring errors."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def _open(self) -> smtplib.SMTP:
        """Connect, secure and log in according to the settings."""
        settings = self.settings
        if settings.security == "ssl":
            context = ssl.create_default_context()
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        try:
            self._prepare(smtp)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _prepare(self, smtp: smtplib.SMTP) -> None:
        """Say EHLO, start TLS when configured, and log in when a username is set."""
        settings = self.settings
        smtp.ehlo()
        if settings.security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if settings.username:
            password = settings.password()
            if password is None:
                raise _LoginProblem(f"password variable {settings.password_env!r} is not set")
            smtp.login(settings.username, password)

    def _connection(self, recipient: str) -> smtplib.SMTP:
        """Return the open connection, opening it first; failures are remembered."""
        if self._broken is not None:
            raise DeliveryError(recipient, self._broken)
        if self._smtp is None:
            try:
                self._smtp = self._open()
            except (smtplib.SMTPException, OSError, _LoginProblem) as exc:
                self._broken = self._connect_reason(exc)
                logger.warning("SMTP delivery stops for this batch: %s", self._broken)
                raise DeliveryError(recipient, self._broken) from exc
        return self._smtp

    def _connect_reason(self, exc: BaseException) -> str:
        """Describe in one line why the server could not be used."""
        where = f"SMTP server {self.server}"
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            user = self.settings.username
            return f"{where} refused login for {user!r}: {_reply(exc.smtp_code, exc.smtp_error)}"
        if isinstance(exc, smtplib.SMTPResponseException):
            return f"{where} refused the session: {_reply(exc.smtp_code, exc.smtp_error)}"
        if isinstance(exc, _LoginProblem):
            return f"{where}: {exc}"
        if isinstance(exc, smtplib.SMTPException):
            return f"{where}: {one_line(str(exc)) or type(exc).__name__}"
        if isinstance(exc, TimeoutError):
            return f"{where}: timed out after {self.settings.timeout:g}s"
        reason = one_line(getattr(exc, "strerror", None) or str(exc)) or type(exc).__name__
        return f"cannot connect to {where}: {reason}"

    def send(self, message: EmailMessage, recipient: str) -> None:
        """Send ``message`` to ``recipient``; reconnect once if the server hung up."""
        sender = parseaddr(str(message.get("From", "")))[1]
        try:
            self._send_once(message, sender, recipient)
        except smtplib.SMTPServerDisconnected:
            logger.info("SMTP server %s disconnected; reconnecting", self.server)
            self._drop()
            try:
                self._send_once(message, sender, recipient)
            except smtplib.SMTPServerDisconnected as exc:
                self._drop()
                raise DeliveryError(recipient, f"SMTP server {self.server} disconnected") from exc
        self._count += 1
        if self._count % self.settings.batch_size == 0:
            self.close()

    def _drop(self) -> None:
        """Forget a dead connection without talking to the server."""
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    def _send_once(self, message: EmailMessage, sender: str, recipient: str) -> None:
        """One attempt; SMTP refusals become :class:`DeliveryError`."""
        smtp = self._connection(recipient)
        try:
            smtp.send_message(message, from_addr=sender, to_addrs=[recipient])
        except smtplib.SMTPServerDisconnected:
            raise
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = exc.recipients.get(recipient, (550, b"recipient refused"))
            raise _refusal(recipient, "refused the recipient", code, text) from exc
        except smtplib.SMTPSenderRefused as exc:
            what = f"refused sender {sender}"
            raise _refusal(recipient, what, exc.smtp_code, exc.smtp_error, False) from exc
        except smtplib.SMTPResponseException as exc:
            raise _refusal(recipient, "refused the message", exc.smtp_code, exc.smtp_error) from exc
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            reason = one_line(str(exc)) or type(exc).__name__
            raise DeliveryError(recipient, f"SMTP server {self.server}: {reason}") from exc


class _LoginProblem(Exception):
    """The SMTP login cannot be attempted (e.g. the password variable is unset)."""


def _refusal(
    recipient: str, what: str, code: int, text: bytes | str, permanent: bool | None = None
) -> DeliveryError:
    """Build the error for an SMTP refusal; 5xx is permanent unless told otherwise."""
    final = code >= 500 if permanent is None else permanent
    return DeliveryError(recipient, f"server {what}: {_reply(code, text)}", permanent=final)


def make_transport(config: Config, digest: DigestConfig) -> Transport:
    """Return the transport configured for ``digest``."""
    from syndicate.deliveries import DELIVERY_KINDS

    kind = DELIVERY_KINDS.get(digest.delivery.kind)
    if kind is None:
        message = f"unknown delivery kind {digest.delivery.kind!r}"
        raise DeliveryError(digest.id, message, permanent=True)
    return kind.transport(config, digest.delivery)


def _compose(
    config: Config, digest: DigestConfig, rendered: RenderedDigest, *, now: datetime | None
) -> EmailMessage:
    """Compose one message; any failure to compose is a permanent :class:`DeliveryError`.

    A message that cannot be built today cannot be built on a retry either, and
    it must never leave its send claimed but unfinished.
    """
    subscriber = rendered.digest.subscription.subscriber
    try:
        message = compose(rendered, now=now)
    except DeliveryError:
        raise
    except (ValueError, LookupError, TypeError, email.errors.MessageError) as exc:
        reason = one_line(str(exc)) or type(exc).__name__
        raise DeliveryError(
            shown(subscriber.email),
            f"subscriber {subscriber.id}: message cannot be composed: {reason}",
            permanent=True,
        ) from exc
    return message


def _deliver_one(
    config: Config,
    store: SendLedger,
    digest: DigestConfig,
    rendered: RenderedDigest,
    transport: Transport,
    *,
    now: datetime | None,
) -> tuple[SendState | None, str]:
    """Claim, compose and send one message; return (state reached, failure detail).

    The state is None when the send was claimed before and nothing was done.
    """
    edition = rendered.digest.edition
    subscriber = rendered.digest.subscription.subscriber
    message_id = message_id_for(rendered.digest.masthead, edition, subscriber)
    if not store.claim_send(edition.id, subscriber.id, message_id, now=now):
        return None, ""
    try:
        message = _compose(config, digest, rendered, now=now)
        transport.send(message, recipient_address(subscriber))
    except DeliveryError as exc:
        state = SendState.FAILED_PERMANENT if exc.permanent else SendState.FAILED_TEMPORARY
        store.finish_send(edition.id, subscriber.id, state, error=str(exc), now=now)
        return state, f"{exc.message} ({'permanent' if state.is_final else 'will retry'})"
    store.finish_send(edition.id, subscriber.id, SendState.SENT, now=now)
    return SendState.SENT, ""


def deliver_batch(
    config: Config,
    store: SendLedger,
    digest: DigestConfig,
    rendered: Sequence[RenderedDigest],
    *,
    transport: Transport | None = None,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> DeliveryReport:
    """Send each rendered digest once; failures are recorded and the batch goes on.

    A message claimed before (sent, sending or failed for good) is counted in
    ``already_claimed`` and not sent again.
    """
    report = DeliveryReport()
    active = transport if transport is not None else make_transport(config, digest)
    with active:
        for item in rendered:
            outcome = _deliver_one(config, store, digest, item, active, now=now)
            _record(config, report, item, outcome, active)
            if progress is not None:
                progress(_progress_line(item, outcome))
    logger.info(
        "digest %s: %d sent, %d claimed before, %d failed",
        digest.id,
        report.sent,
        report.already_claimed,
        len(report.failed),
    )
    return report


def _record(
    config: Config,
    report: DeliveryReport,
    item: RenderedDigest,
    outcome: tuple[SendState | None, str],
    transport: Transport,
) -> None:
    """Count one outcome in ``report`` and log it with address and edition."""
    email = _printable(item.digest.subscription.subscriber.email)
    edition = item.digest.edition
    slot = edition.slot.astimezone(config.timezone).isoformat(timespec="minutes")
    state, detail = outcome
    if state is None:
        report.already_claimed += 1
        logger.debug("%s %s: already claimed for %s", edition.digest_id, slot, email)
    elif not state.delivered:
        report.failed[email] = detail
        logger.warning("%s %s: delivery to %s failed: %s", edition.digest_id, slot, email, detail)
    else:
        report.sent += 1
        if transport.written:
            report.written.append(transport.written[-1])
        logger.info("%s %s: delivered to %s", edition.digest_id, slot, email)


def _printable(address: str) -> str:
    """``address`` as it is, or quoted and escaped when it holds control characters."""
    return address if address.isprintable() else shown(address)


def _progress_line(item: RenderedDigest, outcome: tuple[SendState | None, str]) -> str:
    """One human-readable line about one message."""
    email = _printable(item.digest.subscription.subscriber.email)
    state, detail = outcome
    kind = "already claimed" if state is None else "sent" if state.delivered else "failed"
    return f"{email}: {kind}" + (f" ({detail})" if detail else "")
