"""What an operator asks of a digest by hand: a preview, a test copy, a resend.

:func:`preview` and :func:`send_test` build a subscriber's next message (the
stored edition of the slot, else a draft that is stored nowhere) and record
nothing: no edition, no send. :func:`resend` sends one message of an edition
again as a new attempt of its send, with the same Message-ID.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

from syndicate import digest
from syndicate.config import Config, DigestConfig
from syndicate.errors import DeliveryError, SyndicateError
from syndicate.model import (
    Edition,
    SendState,
    Subscriber,
    Subscription,
    SubscriptionState,
    as_utc,
    utcnow,
)
from syndicate.store import Store

logger = logging.getLogger(__name__)

TEST_PREFIX = "[테스트] "
TEST_HEADER = "X-Syndicate-Test"


def parse_slot(config: Config, text: str) -> datetime:
    """A slot given as an edition key (``2026-11-29-0700``) or ISO 8601 (local when naive)."""
    keyed = digest.parse_edition_key(text.strip(), config.timezone)
    if keyed:
        return keyed[0]
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise SyndicateError(
            f"slot {text!r} is neither an edition key (2026-11-29-0700) nor an ISO 8601 time"
        ) from None
    return as_utc(value if value.tzinfo else value.replace(tzinfo=config.timezone))


def find_edition(config: Config, store: Store, text: str) -> Edition:
    """The edition named by its id (``42``) or its archive key (``morning/2026-11-29-0700``)."""
    found: Edition | None = None
    if text.strip().isdigit():
        found = store.edition_by_id(int(text))
    elif "/" in text:
        digest_id, _, key = text.strip().partition("/")
        digest.digest_config(config, digest_id)
        for slot in digest.parse_edition_key(key, config.timezone):
            found = found or store.get_edition(digest_id, slot)
    if found is None:
        raise SyndicateError(
            f"no edition {text!r} (give its id or DIGEST/YYYY-MM-DD-HHMM; see syndicate editions)"
        )
    return found


def edition_label(config: Config, edition: Edition) -> str:
    """``morning/2026-11-29-0700``: the digest and the edition key the archive uses."""
    return f"{edition.digest_id}/{digest.edition_key(edition.slot, config.timezone)}"


def next_edition(
    config: Config, store: Store, digest_id: str, slot: datetime | None = None
) -> Edition:
    """The edition of ``slot`` (default: the next one due) as stored, else as a draft."""
    target = slot if slot is not None else _next_slot(config, store, digest_id)
    stored = store.get_edition(digest_id, target)
    return stored or digest.draft_edition(config, store, digest_id, target)


def _next_slot(config: Config, store: Store, digest_id: str) -> datetime:
    """The slot due now when it has no edition yet, else the next scheduled one."""
    settings = digest.digest_config(config, digest_id)
    now = utcnow()
    due = digest.due_slot(config, settings, now)
    if due is not None and store.get_edition(digest_id, due) is None:
        return due
    coming = settings.schedule.next_slot(now.astimezone(config.timezone), config.timezone)
    return as_utc(coming) if coming is not None else now


def subscription_of(store: Store, digest_id: str, address: str) -> Subscription | None:
    """The subscription of ``address`` to ``digest_id``; None when there is none."""
    from syndicate.addresses import AddressError, normalize_address

    try:
        normal = normalize_address(address)
    except AddressError as exc:
        raise SyndicateError(str(exc)) from None
    found = store.subscriptions_for([normal])
    return next((s for s in found if s.digest_id == digest_id), None)


def _receiving(subscription: Subscription) -> Subscription:
    """``subscription`` as if active and not paused: what it gets when it receives."""
    return dataclasses.replace(subscription, status=SubscriptionState.ACTIVE, paused_until=None)


def _stand_in(digest_id: str, address: str) -> Subscription:
    """Every section of ``digest_id`` for an address that does not subscribe (no token)."""
    from syndicate.addresses import normalize_address

    person = Subscriber(id=0, email=normalize_address(address), name="")
    return Subscription(person, digest_id, (), SubscriptionState.ACTIVE, token="")


def build_message(
    config: Config, edition: Edition, subscription: Subscription, *, test: bool = False
) -> EmailMessage:
    """The message ``subscription`` gets from ``edition``, rendered and composed as sent.

    A ``test`` copy's subject starts with ``[테스트]``.
    """
    from syndicate import mail, render

    digests = digest.digests_for(config, edition, [subscription])
    if not digests:
        who = subscription.subscriber.email or "this address"
        raise SyndicateError(
            f"{edition_label(config, edition)}: nothing for {who}: no article in its sections"
        )
    rendered = render.Renderer.for_config(config).render(digests[0])
    if test:
        rendered = dataclasses.replace(rendered, subject=TEST_PREFIX + rendered.subject)
    return mail.compose(rendered)


def preview(
    config: Config,
    store: Store,
    digest_id: str,
    address: str,
    folder: Path,
    *,
    slot: datetime | None = None,
) -> Path:
    """Write the next message of ``address`` from ``digest_id`` as an ``.eml`` file; its path.

    Records nothing: a slot without an edition gets a draft that is not stored.
    """
    from syndicate.files import write_atomic
    from syndicate.transports import eml_name

    subscription = subscription_of(store, digest_id, address)
    if subscription is None:
        raise SyndicateError(f"{address} does not subscribe to {digest_id}")
    edition = next_edition(config, store, digest_id, slot)
    message = build_message(config, edition, _receiving(subscription))
    path = folder / f"preview-{eml_name(message)}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(path, message.as_bytes(), new_mode=0o600)
    except OSError as exc:
        raise SyndicateError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def send_test(
    config: Config, store: Store, digest_id: str, address: str, *, slot: datetime | None = None
) -> EmailMessage:
    """Send a test copy of the next message to ``address`` through the digest's delivery.

    The copy is the address's own message when it subscribes, else every section;
    its subject starts with ``[테스트]``, it carries ``X-Syndicate-Test`` and a
    Message-ID of its own. Nothing is recorded.
    """
    settings = digest.digest_config(config, digest_id)
    subscription = subscription_of(store, digest_id, address) or _stand_in(digest_id, address)
    edition = next_edition(config, store, digest_id, slot)
    message = build_message(config, edition, _receiving(subscription), test=True)
    _mark_test(config, edition, message)
    _deliver(config, settings, message, subscription.subscriber.email)
    return message


def _mark_test(config: Config, edition: Edition, message: EmailMessage) -> None:
    """Add the test header and give the copy a Message-ID of its own (never the real one)."""
    from syndicate.mail import id_domain

    masthead = digest.masthead_for(config, digest.digest_config(config, edition.digest_id))
    key = digest.edition_key(edition.slot, config.timezone)
    unique = f"test.{edition.digest_id}.{key}.{secrets.token_hex(6)}"
    message.replace_header("Message-ID", f"<{unique}@{id_domain(masthead)}>")
    message[TEST_HEADER] = "test copy; not recorded"


def _deliver(config: Config, settings: DigestConfig, message: EmailMessage, to: str) -> None:
    """Hand one message to the digest's transport; DeliveryError when it was not taken."""
    from syndicate.transports import make_transport

    with make_transport(config, settings) as transport:
        transport.send(message, to)


def resend(config: Config, store: Store, edition: Edition, address: str) -> tuple[int, str]:
    """Send ``edition`` to ``address`` again: a new attempt of its send, same Message-ID.

    Returns (attempt number, Message-ID). Only a subscription that receives is
    resent to. The outcome is recorded like any send's (a bounce bounces the
    subscription); DeliveryError says why it did not go out.
    """
    from syndicate.mail import message_id_for, recipient_address
    from syndicate.retry import retry_delay

    subscription = subscription_of(store, edition.digest_id, address)
    if subscription is None or not subscription.status.receives:
        state = "no subscription" if subscription is None else subscription.status.value
        raise SyndicateError(f"{address}: not resent ({state} for {edition.digest_id})")
    settings = digest.digest_config(config, edition.digest_id)
    subscriber = subscription.subscriber
    masthead = digest.masthead_for(config, settings)
    message_id = message_id_for(masthead, edition, subscriber)
    message = build_message(config, edition, _receiving(subscription))
    attempt = store.resend_claim(edition.id, subscriber.id, message_id)
    if not attempt:
        raise SyndicateError(f"{address}: another run is sending this message now")
    try:
        _deliver(config, settings, message, recipient_address(subscriber))
    except DeliveryError as exc:
        delay = retry_delay(attempt, settings.retry.first_delay, settings.retry.max_delay)
        later = utcnow() + delay if exc.state is SendState.DEFERRED else None
        store.finish_send(
            edition.id, subscriber.id, exc.state, error=str(exc), next_attempt_at=later
        )
        raise
    store.finish_send(edition.id, subscriber.id, SendState.SENT)
    logger.info("%s: resent to %s (attempt %d)", edition_label(config, edition), address, attempt)
    return attempt, str(message["Message-ID"])
