"""Deliver composed messages: ``.eml`` files or SMTP, with an idempotent send loop.

This is the only module that imports :mod:`smtplib`, and so the one that reads
SMTP answers (:func:`classify_answer`). Every send is claimed in the store
before it is attempted and marked after, so running :func:`deliver_batch` twice
never sends a message twice; deferred sends are retried by a later run after
their backoff, and a message whose answer was lost is ``uncertain``, never
resent at once.
"""

from __future__ import annotations

import email.errors
import functools
import hashlib
import logging
import re
import smtplib
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from types import TracebackType
from typing import Protocol

from syndicate.addresses import shown
from syndicate.assemble import Assembled
from syndicate.config import Config, DigestConfig, SmtpDelivery
from syndicate.errors import DeliveryError, one_line
from syndicate.files import write_atomic
from syndicate.lease import LEASE_TIME, Journal, Lease, lease_for
from syndicate.mail import compose, message_id_for, recipient_address
from syndicate.model import Digest, Edition, RenderedDigest, SendState, utcnow
from syndicate.retry import Brakes, retry_delay
from syndicate.store.sends import SendOutcome

Outgoing = EmailMessage | Assembled
"""A message ready to go: composed by the email package, or assembled from a template."""

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

    def send(self, message: Outgoing, recipient: str) -> None:
        """Deliver ``message`` to ``recipient``; raise :class:`DeliveryError` on failure."""


class SendLedger(Protocol):
    """The part of ``store.Store`` the send loop needs (claims and outcomes, in batches)."""

    def claim_sends(
        self,
        edition_id: int,
        wanted: Sequence[tuple[int, str]],
        lease: Lease,
        *,
        now: datetime | None = None,
        resend_uncertain: bool = True,
    ) -> dict[int, int]:
        """Claim a batch of sends; subscriber id -> attempt number of those claimed."""

    def finish_sends(
        self,
        edition_id: int,
        outcomes: Sequence[SendOutcome],
        *,
        owner: str | None = None,
        now: datetime | None = None,
    ) -> int:
        """Record the outcomes of a batch of claimed sends."""

    def release_sends(
        self,
        edition_id: int,
        subscriber_ids: Sequence[int],
        owner: str,
        *,
        now: datetime | None = None,
    ) -> None:
        """Give back claims that were never attempted."""


@dataclass(frozen=True)
class Pending:
    """One message of a batch: whose digest, and how to build it once it is claimed."""

    digest: Digest
    build: Callable[[], Outgoing]


@dataclass
class DeliveryReport:
    """What one :func:`deliver_batch` call did, one count per message.

    ``already_claimed`` counts messages that may not be sent again (sent, sending,
    failed for good, or uncertain under ``uncertain: skip``); ``held`` those not
    attempted because the batch stopped (``stopped`` says why) or their domain
    is paused; ``failed`` and ``bounced`` map an e-mail address to a one-line
    reason; ``written`` lists the ``.eml`` files written by a file transport.
    """

    sent: int = 0
    deferred: int = 0
    uncertain: int = 0
    held: int = 0
    already_claimed: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    bounced: dict[str, str] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)
    stopped: str | None = None


def _message_id(message: Outgoing) -> str:
    """Return the message's Message-ID, or a hash of its bytes when it has none."""
    value = message.get("Message-ID")
    if value:
        return str(value)
    return hashlib.sha256(message.as_bytes()).hexdigest()


def eml_name(message: Outgoing) -> str:
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

    def path_for(self, message: Outgoing) -> Path:
        """Return the file ``message`` is (or would be) written to."""
        return self.folder / eml_name(message)

    def send(self, message: Outgoing, recipient: str) -> None:
        """Write ``message`` to its ``.eml`` file (temporary file, then rename)."""
        path = self.path_for(message)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_atomic(path, message.as_bytes(), new_mode=0o600)  # holds an address
        except OSError as exc:
            reason = exc.strerror or str(exc)
            problem = f"cannot write {path}: {reason}"
            raise DeliveryError(recipient, problem, unreachable=True) from exc
        self.written.append(path)
        logger.debug("wrote %s for %s", path, recipient)


def _smtp_text(value: bytes | str) -> str:
    """Decode an SMTP server reply into one line."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return one_line(text)


def _reply(code: int, text: bytes | str) -> str:
    """Format an SMTP reply code and text as ``550 no such user``."""
    return f"{code} {_smtp_text(text)}".strip()


NO_MAILBOX_CODES = frozenset({"5.1.1", "5.1.10", "5.2.1"})
"""Enhanced status codes saying the mailbox does not exist (or is disabled): a bounce."""
_ENHANCED_RE = re.compile(r"\s*([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)")
_USER_UNKNOWN_RE = re.compile(
    r"\b(no such (user|mailbox|recipient)|user unknown|unknown (user|recipient|mailbox)"
    r"|(user|mailbox|recipient) (does not|doesn't) exist)\b",
    re.IGNORECASE,
)
_USER_UNKNOWN_REPLIES = frozenset({550, 551, 553})


def enhanced_code(text: str) -> str | None:
    """The enhanced status code (RFC 3463) at the start of a reply text, e.g. ``5.1.1``."""
    match = _ENHANCED_RE.match(text)
    return ".".join(match.groups()) if match else None


def classify_answer(code: int, text: str) -> tuple[SendState, bool]:
    """The state an SMTP refusal leaves a send in, and whether it is a policy refusal.

    * 4xx (421, 450, 451, 452, ...) or a code outside 5xx: ``deferred``;
    * enhanced code 5.1.1, 5.1.10 or 5.2.1 (no such mailbox): ``bounced``;
    * enhanced code 5.7.x (policy, spam): ``failed``, and a policy refusal;
    * 550, 551 or 553 without an enhanced code whose text plainly says the user
      is unknown ("no such user", "user unknown", ...): ``bounced``;
    * any other 5xx: ``failed``.
    """
    if not 500 <= code < 600:
        return SendState.DEFERRED, False
    enhanced = enhanced_code(text)
    if enhanced in NO_MAILBOX_CODES:
        return SendState.BOUNCED, False
    if enhanced is not None and enhanced.startswith("5.7."):
        return SendState.FAILED, True
    if enhanced is None and code in _USER_UNKNOWN_REPLIES and _USER_UNKNOWN_RE.search(text):
        return SendState.BOUNCED, False
    return SendState.FAILED, False


class _Tracked(smtplib.SMTP):
    """An SMTP connection that knows whether a message went out whole.

    ``data_sent`` turns true once the message and the final ``CRLF.CRLF`` were
    handed to the network; an answer lost after that leaves the send uncertain.
    """

    data_sent = False

    def send(self, s: bytes | str) -> None:  # type: ignore[override]
        """Send ``s``; remember when it was the end of a message's data."""
        super().send(s)
        if isinstance(s, bytes) and s.endswith(b"\r\n.\r\n"):
            self.data_sent = True


class _TrackedSsl(_Tracked, smtplib.SMTP_SSL):
    """:class:`_Tracked` over implicit TLS."""


class _Disconnected(Exception):
    """The server hung up before the message's data went out: safe to reconnect once."""


class SmtpTransport:
    """Send through one SMTP connection per batch.

    The connection is opened on the first message and reused for the next ones,
    each starting with ``RSET`` (which also finds a connection the server has
    dropped). It is re-opened once when the server disconnected, or answered
    421 (closing the channel), before the message's data went out or with an
    explicit 421 refusal. A reply lost after the end of DATA is never followed
    by a resend: the send is uncertain. The envelope sender is ``envelope_from``
    when configured, else the From address.
    """

    def __init__(self, settings: SmtpDelivery) -> None:
        """Use the server described by ``settings``."""
        self.settings = settings
        self._smtp: _Tracked | None = None
        self._used = False  # a transaction already ran on the open connection
        self._count = 0
        self.written: list[Path] = []  # messages leave the machine: no files

    @property
    def server(self) -> str:
        """``host:port`` of the server, for messages."""
        return f"{self.settings.host}:{self.settings.port}"

    def __enter__(self) -> SmtpTransport:
        """Start a batch."""
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

    def _open(self) -> _Tracked:
        """Connect, secure and log in according to the settings."""
        settings = self.settings
        if settings.security == "ssl":
            context = ssl.create_default_context()
            smtp: _Tracked = _TrackedSsl(
                settings.host, settings.port, timeout=settings.timeout, context=context
            )
        else:
            smtp = _Tracked(settings.host, settings.port, timeout=settings.timeout)
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

    def _connection(self, recipient: str) -> _Tracked:
        """Return the open connection, opening it first (a failure: relay unreachable)."""
        if self._smtp is None:
            try:
                self._smtp = self._open()
            except (smtplib.SMTPException, OSError, _LoginProblem) as exc:
                reason = self._connect_reason(exc)
                raise DeliveryError(recipient, reason, unreachable=True) from exc
            self._used = False
        elif self._used:
            self._reset(self._smtp)
        return self._smtp

    def _reset(self, smtp: _Tracked) -> None:
        """``RSET`` before reusing the connection; a dead or closing one is dropped."""
        try:
            code, text = smtp.rset()
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise _Disconnected(one_line(str(exc)) or type(exc).__name__) from exc
        if code != 250:
            self._drop()
            raise _Disconnected(_reply(code, text))

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

    def send(self, message: Outgoing, recipient: str) -> None:
        """Send ``message`` to ``recipient``; reconnect once if the server hung up before DATA."""
        sender = self.settings.envelope_from or parseaddr(str(message.get("From", "")))[1]
        try:
            self._send_once(message, sender, recipient)
        except _Disconnected:
            logger.info("SMTP server %s disconnected; reconnecting", self.server)
            try:
                self._send_once(message, sender, recipient)
            except _Disconnected as exc:
                reason = f"SMTP server {self.server} disconnected: {exc}"
                raise DeliveryError(recipient, reason, unreachable=True) from exc
        self._count += 1
        if self._count % self.settings.batch_size == 0:
            self.close()

    def _drop(self) -> None:
        """Forget a dead connection without talking to the server."""
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    def _send_once(self, message: Outgoing, sender: str, recipient: str) -> None:
        """One attempt; SMTP answers become :class:`DeliveryError` in the state they leave."""
        smtp = self._connection(recipient)
        smtp.data_sent = False
        self._used = True
        try:
            smtp.sendmail(sender, [recipient], message.as_bytes())
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = exc.recipients.get(recipient, (550, b"recipient refused"))
            self._closing(code, text)
            raise self._refusal(recipient, "refused the recipient", code, text) from exc
        except smtplib.SMTPSenderRefused as exc:
            self._closing(exc.smtp_code, exc.smtp_error)
            reason = f"server refused sender {sender}: {_reply(exc.smtp_code, exc.smtp_error)}"
            raise DeliveryError(recipient, reason, unreachable=True) from exc
        except smtplib.SMTPResponseException as exc:
            self._closing(exc.smtp_code, exc.smtp_error)
            raise self._refusal(
                recipient, "refused the message", exc.smtp_code, exc.smtp_error
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise self._lost(recipient, exc, smtp.data_sent) from exc

    def _refusal(self, recipient: str, what: str, code: int, text: bytes | str) -> DeliveryError:
        """The error for a refusal of a recipient or a message, classified by its answer."""
        self._drop_after(code)
        state, policy = classify_answer(code, _smtp_text(text))
        reply = _reply(code, text)
        return DeliveryError(recipient, f"server {what}: {reply}", state=state, policy=policy)

    def _drop_after(self, code: int) -> None:
        """After 421 the server closes the connection: forget it."""
        if code == 421:
            self._drop()

    def _closing(self, code: int, text: bytes | str) -> None:
        """A 421 refused this message and closes the channel: reconnect and try once more."""
        if code == 421:
            self._drop()
            raise _Disconnected(_reply(code, text))

    def _lost(self, recipient: str, exc: BaseException, data_sent: bool) -> Exception:
        """The error for a connection lost mid-message: uncertain once its data went out."""
        reason = one_line(str(exc)) or type(exc).__name__
        if data_sent:
            what = f"SMTP server {self.server}: no answer after the message was sent ({reason})"
            return DeliveryError(recipient, what, state=SendState.UNCERTAIN)
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            return _Disconnected(reason)
        return DeliveryError(recipient, f"SMTP server {self.server}: {reason}", unreachable=True)


class _LoginProblem(Exception):
    """The SMTP login cannot be attempted (e.g. the password variable is unset)."""


def brakes_for(digest: DigestConfig) -> Brakes:
    """The stops of one pass over an edition of ``digest`` (relay down, domain paused)."""
    from syndicate.deliveries import delivery_kind

    return Brakes(*delivery_kind(digest.delivery).limits(digest.delivery))


CLAIM_EXPIRY = LEASE_TIME
"""A claim's lease lasts at least this long (and ten exchanges' timeouts)."""


def claim_expiry(digest: DigestConfig) -> timedelta:
    """How long a claim's lease lasts: the run holding it is taken for dead after it."""
    from syndicate.deliveries import delivery_kind

    seconds = delivery_kind(digest.delivery).exchange_seconds(digest.delivery)
    return max(CLAIM_EXPIRY, timedelta(seconds=10 * seconds))


def make_transport(config: Config, digest: DigestConfig) -> Transport:
    """Return the transport configured for ``digest``."""
    from syndicate.deliveries import DELIVERY_KINDS

    kind = DELIVERY_KINDS.get(digest.delivery.kind)
    if kind is None:
        message = f"unknown delivery kind {digest.delivery.kind!r}"
        raise DeliveryError(digest.id, message, permanent=True)
    return kind.transport(config, digest.delivery)


def _compose(rendered: RenderedDigest, *, now: datetime | None) -> EmailMessage:
    """Compose one rendered digest (see :func:`built`)."""
    return compose(rendered, now=now)


def built(build: Callable[[], Outgoing], subscriber_id: int, address: str) -> Outgoing:
    """Run ``build``; any failure to build is a permanent :class:`DeliveryError`.

    A message that cannot be built today cannot be built on a retry either, and
    it must never leave its send claimed but unfinished.
    """
    try:
        return build()
    except DeliveryError:
        raise
    except (ValueError, LookupError, TypeError, email.errors.MessageError) as exc:
        reason = one_line(str(exc)) or type(exc).__name__
        raise DeliveryError(
            shown(address),
            f"subscriber {subscriber_id}: message cannot be composed: {reason}",
            permanent=True,
        ) from exc


def _where(config: Config, edition: Edition) -> str:
    """``digest morning edition 2026-11-28T07:00+09:00`` (the slot in the configured zone)."""
    slot = edition.slot.astimezone(config.timezone).isoformat(timespec="minutes")
    return f"digest {edition.digest_id} edition {slot}"


def _next_attempt(digest: DigestConfig, attempt: int, now: datetime) -> datetime:
    """When a send deferred at its ``attempt``-th try is tried again."""
    return now + retry_delay(attempt, digest.retry.first_delay, digest.retry.max_delay)


_CONSEQUENCE = {
    SendState.DEFERRED: "will retry",
    SendState.FAILED: "permanent",
    SendState.BOUNCED: "bounced: no such mailbox",
    SendState.UNCERTAIN: "uncertain: may have been delivered",
}


@dataclass
class _Batch:
    """What one batch shares: its settings, transport, brakes, lease and journal."""

    config: Config
    digest: DigestConfig
    transport: Transport
    brakes: Brakes
    lease: Lease
    journal: Journal | None
    now: datetime | None


def _deliver_one(batch: _Batch, item: Pending, attempt: int) -> tuple[SendOutcome, str]:
    """Build and send one claimed message; its outcome and the failure detail."""
    edition = item.digest.edition
    subscriber = item.digest.subscription.subscriber
    journal = batch.journal
    try:
        message = built(item.build, subscriber.id, subscriber.email)
        if journal is not None:
            journal.started(edition.id, subscriber.id)
        batch.transport.send(message, recipient_address(subscriber))
    except DeliveryError as exc:
        _brake(_where(batch.config, edition), batch.brakes, subscriber.email, exc)
        moment = batch.now or utcnow()
        deferred = exc.state is SendState.DEFERRED
        retry = _next_attempt(batch.digest, attempt, moment) if deferred else None
        if journal is not None:
            journal.finished(edition.id, subscriber.id, exc.state.value, str(exc))
        outcome = SendOutcome(subscriber.id, exc.state, str(exc), retry)
        return outcome, f"{exc.message} ({_CONSEQUENCE[exc.state]})"
    batch.brakes.answered(subscriber.email)
    if journal is not None:
        journal.finished(edition.id, subscriber.id, SendState.SENT.value, None)
    return SendOutcome(subscriber.id, SendState.SENT), ""


def _brake(where: str, brakes: Brakes, address: str, exc: DeliveryError) -> None:
    """Tell ``brakes`` about a failure; log the one line when it stops or pauses sending."""
    if exc.unreachable:
        if line := brakes.unreachable(exc.message):
            logger.warning(
                "%s: stopped: %s; the remaining sends wait for the next run", where, line
            )
    elif exc.policy:
        if line := brakes.refused_by_policy(address, exc.message):
            logger.warning("%s: paused %s; its remaining sends wait for the next run", where, line)
    else:
        brakes.answered(address)


def claim_lease(digest: DigestConfig, now: datetime | None) -> Lease:
    """The lease a batch of ``digest`` is claimed under (see :func:`claim_expiry`)."""
    return lease_for(now or utcnow(), claim_expiry(digest))


def deliver_batch(
    config: Config,
    store: SendLedger,
    digest: DigestConfig,
    rendered: Sequence[RenderedDigest],
    *,
    transport: Transport | None = None,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
    brakes: Brakes | None = None,
) -> DeliveryReport:
    """Compose and send each rendered digest once (see :func:`deliver_pending`)."""
    items = [Pending(item.digest, functools.partial(_compose, item, now=now)) for item in rendered]
    return deliver_pending(
        config, store, digest, items,
        transport=transport, now=now, progress=progress, brakes=brakes,
    )  # fmt: skip


def deliver_pending(
    config: Config,
    store: SendLedger,
    digest: DigestConfig,
    items: Sequence[Pending],
    *,
    transport: Transport | None = None,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
    brakes: Brakes | None = None,
    journal: Journal | None = None,
) -> DeliveryReport:
    """Send each message of one edition once; failures are recorded and the batch goes on.

    The batch is claimed in one transaction under a lease, its outcomes recorded
    in one more (``journal`` notes each message between the two). A message
    that may not be claimed (sent, sending, failed for good, or uncertain
    under ``uncertain: skip``) is counted in ``already_claimed``. ``brakes``
    (one per pass over an edition; default: a fresh one) stop the batch when
    the server is down and skip paused domains; what they hold back is
    counted in ``held`` and left for a later run.
    """
    report = DeliveryReport()
    brakes = brakes if brakes is not None else brakes_for(digest)
    allowed = [i for i in items if brakes.allows(i.digest.subscription.subscriber.email)]
    report.held = len(items) - len(allowed)
    if allowed:
        lease = claim_lease(digest, now)
        edition = allowed[0].digest.edition
        wanted = [(i.digest.subscription.subscriber.id, _message_id_of(i.digest)) for i in allowed]
        resend = digest.uncertain == "resend"
        claimed = store.claim_sends(edition.id, wanted, lease, now=now, resend_uncertain=resend)
        active = transport if transport is not None else make_transport(config, digest)
        batch = _Batch(config, digest, active, brakes, lease, journal, now)
        outcomes: list[SendOutcome] = []
        try:
            with active:
                for item in allowed:
                    attempt = claimed.get(item.digest.subscription.subscriber.id, 0)
                    outcomes += _send_claimed(batch, report, item, attempt, progress=progress)
        finally:
            done = [o for o in outcomes if o.state is not None]
            store.finish_sends(edition.id, done, owner=lease.owner, now=now)
            unsent = [o.subscriber_id for o in outcomes if o.state is None]
            store.release_sends(edition.id, unsent, lease.owner, now=now)
    report.stopped = brakes.stopped
    _log_batch(digest, report)
    return report


def _message_id_of(digest: Digest) -> str:
    return message_id_for(digest.masthead, digest.edition, digest.subscription.subscriber)


def _send_claimed(
    batch: _Batch,
    report: DeliveryReport,
    item: Pending,
    attempt: int,
    *,
    progress: Callable[[str], None] | None,
) -> list[SendOutcome]:
    """Send one message of the batch if it was claimed and its domain is not paused;
    the outcome to record (none when it was not claimed)."""
    subscriber = item.digest.subscription.subscriber
    outcomes = []
    if not attempt:
        result: tuple[SendState | None, str] = (None, "")
    elif not batch.brakes.allows(subscriber.email):
        report.held += 1
        return [SendOutcome(subscriber.id, None)]  # claimed, never attempted: given back
    else:
        outcome, detail = _deliver_one(batch, item, attempt)
        outcomes.append(outcome)
        result = (outcome.state, detail)
    _record(batch.config, report, item.digest, result, batch.transport)
    if progress is not None:
        progress(_progress_line(item.digest, result))
    return outcomes


def _log_batch(digest: DigestConfig, report: DeliveryReport) -> None:
    logger.info(
        "digest %s: %d sent, %d deferred, %d bounced, %d failed, %d uncertain, "
        "%d held back, %d claimed before",
        digest.id,
        report.sent,
        report.deferred,
        len(report.bounced),
        len(report.failed),
        report.uncertain,
        report.held,
        report.already_claimed,
    )


def _record(
    config: Config,
    report: DeliveryReport,
    item: Digest,
    outcome: tuple[SendState | None, str],
    transport: Transport,
) -> None:
    """Count one outcome in ``report`` and log it with address and edition."""
    email = _printable(item.subscription.subscriber.email)
    edition = item.edition
    slot = edition.slot.astimezone(config.timezone).isoformat(timespec="minutes")
    state, detail = outcome
    where = (edition.digest_id, slot, email)
    if state is None:
        report.already_claimed += 1
        logger.debug("%s %s: already claimed for %s", *where)
    elif state is SendState.SENT:
        report.sent += 1
        if transport.written:
            report.written.append(transport.written[-1])
        logger.info("%s %s: delivered to %s", *where)
    elif state is SendState.DEFERRED:
        report.deferred += 1
        logger.info("%s %s: delivery to %s deferred: %s", *where, detail)
    elif state is SendState.UNCERTAIN:
        report.uncertain += 1
        logger.warning("%s %s: delivery to %s uncertain: %s", *where, detail)
    elif state is SendState.BOUNCED:  # normal on any list: the subscription is now bounced
        report.bounced[email] = detail
        logger.info("%s %s: delivery to %s bounced: %s", *where, detail)
    else:
        report.failed[email] = detail
        logger.warning("%s %s: delivery to %s failed: %s", *where, detail)


def _printable(address: str) -> str:
    """``address`` as it is, or quoted and escaped when it holds control characters."""
    return address if address.isprintable() else shown(address)


def _progress_line(item: Digest, outcome: tuple[SendState | None, str]) -> str:
    """One human-readable line about one message."""
    email = _printable(item.subscription.subscriber.email)
    state, detail = outcome
    kind = "already claimed" if state is None else state.value
    return f"{email}: {kind}" + (f" ({detail})" if detail else "")
