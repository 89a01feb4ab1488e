"""Double opt-in: store a subscribe request, mail its confirmation link, confirm it.

The web pages only call this module. A request is stored as a
:class:`~syndicate.model.Confirmation` keyed by the SHA-256 of a random token; the
token travels only in the link mailed to the address
(``{public_base_url}confirm?token=…``), which expires after ``ttl``. The message
is rendered from ``confirm.html.j2`` / ``confirm.txt.j2`` like a digest, composed
by :func:`syndicate.mail.compose_notice` and sent through the digest's own
delivery (file or SMTP).

Every request to an address gets the same treatment whether or not it is already
subscribed (no way to learn who is): a confirmation is mailed, and confirming it
makes the subscription active with the chosen sections. At most ``per_day``
confirmation messages go to one address per day; past that, nothing is stored or sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import TYPE_CHECKING
from urllib.parse import quote

from syndicate.addresses import parse_mailbox
from syndicate.config import Config
from syndicate.digest import digest_config, masthead_for, subscribed_sections
from syndicate.errors import DeliveryError
from syndicate.model import Confirmation, Subscriber, Subscription, SubscriptionState, utcnow
from syndicate.tokens import mint_token, token_hash, well_formed

if TYPE_CHECKING:
    from syndicate.store import Store

logger = logging.getLogger(__name__)

DEFAULT_TTL = timedelta(hours=48)
DEFAULT_PER_DAY = 3
NOTICE = "confirm"


@dataclass(frozen=True)
class SubscribeRequest:
    """A validated subscribe form: digest, normalised address, name and stored sections."""

    digest_id: str
    email: str
    name: str
    sections: tuple[str, ...]


@dataclass(frozen=True)
class PendingNotice:
    """A confirmation message ready to go out through the digest's delivery."""

    digest_id: str
    recipient: str
    message: EmailMessage


def confirm_url(config: Config, token: str) -> str:
    """The public URL that confirms the request of ``token``."""
    return f"{config.public_base_url}confirm?token={quote(token, safe='')}"


def request_confirmation(
    config: Config,
    store: Store,
    request: SubscribeRequest,
    *,
    ttl: timedelta = DEFAULT_TTL,
    per_day: int = DEFAULT_PER_DAY,
    now: datetime | None = None,
) -> PendingNotice | None:
    """Store ``request`` and build its confirmation message; None past the daily limit.

    Raises :class:`RenderError` or :class:`DeliveryError` when the message cannot be
    built (a template or configured sender problem); nothing is stored then.
    """
    when = now or utcnow()
    token = mint_token()
    confirmation = Confirmation(
        request.digest_id, request.email, request.name, request.sections, when, when + ttl
    )
    message = confirmation_message(config, confirmation, token, now=when)
    if not store.request_confirmation(token_hash(token), confirmation, per_day=per_day):
        logger.info("confirmation for %s not sent: daily limit reached", request.digest_id)
        return None
    return PendingNotice(request.digest_id, request.email, message)


def confirmation_message(
    config: Config, confirmation: Confirmation, token: str, *, now: datetime
) -> EmailMessage:
    """The confirmation message of ``confirmation`` with the link of ``token``."""
    from syndicate.mail import Notice, compose_notice
    from syndicate.render import Renderer
    from syndicate.render_views import korean_date

    digest = digest_config(config, confirmation.digest_id)
    masthead = masthead_for(config, digest)
    probe = Subscription(
        Subscriber(0, confirmation.email),
        digest.id,
        confirmation.sections,
        SubscriptionState.PENDING,
        "",
    )
    expires = confirmation.expires_at.astimezone(config.timezone)
    subject = f"[{digest.title}] 구독 신청을 확인해 주세요"
    context = {
        "title": digest.title,
        "subject": subject,
        "email": confirmation.email,
        "section_names": [s.name for s in subscribed_sections(config, probe)],
        "confirm_url": confirm_url(config, token),
        "expires_label": f"{korean_date(expires, year=True)} {expires:%H:%M}",
        "sender_name": parse_mailbox(digest.sender).name or digest.title,
        "public_base_url": config.public_base_url,
        "host": config.host,
    }
    html, text = Renderer.for_config(config).render_notice(NOTICE, context)
    recipient = Subscriber(0, confirmation.email, confirmation.name)
    notice = Notice(NOTICE, token_hash(token)[:32], recipient, subject, html, text)
    return compose_notice(masthead, notice, now=now)


def send_notice(config: Config, notice: PendingNotice) -> bool:
    """Send ``notice`` through its digest's delivery; a failure is logged and False."""
    from syndicate.transports import make_transport

    digest = digest_config(config, notice.digest_id)
    try:
        with make_transport(config, digest) as transport:
            transport.send(notice.message, notice.recipient)
    except DeliveryError as exc:
        logger.error("digest %s: confirmation not sent: %s", digest.id, exc)
        return False
    return True


def open_confirmation(store: Store, token: str) -> Confirmation | None:
    """The request of a confirmation link's ``token`` (None for a malformed or unknown one)."""
    return store.confirmation(token_hash(token)) if well_formed(token) else None


def confirm(store: Store, token: str, *, now: datetime | None = None) -> Subscription | None:
    """Confirm the request of ``token``: its subscription becomes active with its sections.

    None when the token is malformed, unknown, already used or expired.
    """
    if not well_formed(token):
        return None
    return store.confirm(token_hash(token), now=now)
