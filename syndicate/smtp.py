"""One SMTP session: connect, secure, log in, send with ``RSET`` between messages.

This is the only module that imports :mod:`smtplib`. A refusal becomes a
:class:`DeliveryError` in the state :func:`~syndicate.answers.classify_answer`
gives it; a reply lost after the end of DATA makes the send uncertain, never an
immediate resend.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.utils import parseaddr
from pathlib import Path
from types import TracebackType

from syndicate.answers import classify_answer
from syndicate.config import SmtpDelivery
from syndicate.errors import DeliveryError, one_line
from syndicate.model import SendState
from syndicate.transports import Outgoing

logger = logging.getLogger(__name__)


def _smtp_text(value: bytes | str) -> str:
    """Decode an SMTP server reply into one line."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return one_line(text)


def _reply(code: int, text: bytes | str) -> str:
    """Format an SMTP reply code and text as ``550 no such user``."""
    return f"{code} {_smtp_text(text)}".strip()


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
