"""The idempotent send loop: claim a batch, send each message once, record the outcomes.

Every send is claimed in the store before it is attempted and marked after, so
running :func:`deliver_batch` twice never sends a message twice; deferred sends
are retried by a later run after their backoff, and a message whose answer was
lost is ``uncertain``, never resent at once. Transports are in
:mod:`syndicate.transports` (files) and :mod:`syndicate.smtp`.
"""

from __future__ import annotations

import contextlib
import email.errors
import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from syndicate.addresses import shown
from syndicate.config import Config, DigestConfig
from syndicate.digest import quiet_end
from syndicate.errors import DeliveryError, one_line
from syndicate.lease import LEASE_TIME, Journal, Lease, lease_for
from syndicate.mail import compose, message_id_for, recipient_address
from syndicate.model import Digest, Edition, RenderedDigest, SendState, utcnow
from syndicate.retry import Brakes, retry_delay
from syndicate.senders import Senders, senders_for
from syndicate.store.sends import SendOutcome
from syndicate.transports import Outgoing, Transport

logger = logging.getLogger(__name__)


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


def brakes_for(digest: DigestConfig) -> Brakes:
    """The stops of one pass over an edition of ``digest`` (relay down, domain paused)."""
    from syndicate.deliveries import delivery_kind

    return Brakes(*delivery_kind(digest.delivery).limits(digest.delivery))


CLAIM_EXPIRY = LEASE_TIME
"""A claim's lease lasts at least this long (and ten exchanges' timeouts)."""


def claim_expiry(digest: DigestConfig) -> timedelta:
    """How long a claim's lease lasts: the run holding it is taken for dead after it.

    At least :data:`CLAIM_EXPIRY`, ten exchanges' timeouts, and twice the time a
    whole batch takes at the slowest rate limit (all of it to one throttled domain).
    """
    from syndicate.deliveries import delivery_kind

    kind = delivery_kind(digest.delivery)
    seconds = kind.exchange_seconds(digest.delivery)
    rate, domains = kind.pace(digest.delivery)
    rates = [r for r in (rate, *domains.values()) if r is not None]
    paced = 2 * kind.batch_size(digest.delivery) / min(rates) if rates else 0.0
    return max(CLAIM_EXPIRY, timedelta(seconds=max(10 * seconds, paced)))


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


def _next_attempt(config: Config, digest: DigestConfig, attempt: int, now: datetime) -> datetime:
    """When a send deferred at its ``attempt``-th try is tried again: after its backoff,
    or at the end of the digest's quiet hours when the backoff ends inside them."""
    retry = now + retry_delay(attempt, digest.retry.first_delay, digest.retry.max_delay)
    return quiet_end(digest.quiet_hours, retry, config.timezone) or retry


_CONSEQUENCE = {
    SendState.DEFERRED: "will retry",
    SendState.FAILED: "permanent",
    SendState.BOUNCED: "bounced: no such mailbox",
    SendState.UNCERTAIN: "uncertain: may have been delivered",
}


@dataclass
class _Batch:
    """What one batch shares: its settings, brakes, lease and journal."""

    config: Config
    digest: DigestConfig
    brakes: Brakes
    lease: Lease
    journal: Journal | None
    now: datetime | None


@dataclass(frozen=True)
class _Result:
    """One attempted message: its outcome to record, the failure detail, the file written."""

    outcome: SendOutcome
    detail: str
    written: Path | None = None


def _deliver_one(
    batch: _Batch, transport: Transport, item: Pending, attempt: int
) -> tuple[SendOutcome, str]:
    """Build and send one claimed message; its outcome and the failure detail."""
    edition = item.digest.edition
    subscriber = item.digest.subscription.subscriber
    journal = batch.journal
    try:
        message = built(item.build, subscriber.id, subscriber.email)
        if journal is not None:
            journal.started(edition.id, subscriber.id)
        transport.send(message, recipient_address(subscriber))
    except DeliveryError as exc:
        _brake(_where(batch.config, edition), batch.brakes, subscriber.email, exc)
        moment = batch.now or utcnow()
        deferred = exc.state is SendState.DEFERRED
        retry = _next_attempt(batch.config, batch.digest, attempt, moment) if deferred else None
        if journal is not None:
            journal.finished(edition.id, subscriber.id, exc.state.value, str(exc))
        outcome = SendOutcome(subscriber.id, exc.state, str(exc), retry)
        return outcome, f"{exc.message} ({_CONSEQUENCE[exc.state]})"
    batch.brakes.answered(subscriber.email)
    if journal is not None:
        journal.finished(edition.id, subscriber.id, SendState.SENT.value, None)
    return SendOutcome(subscriber.id, SendState.SENT), ""


def _attempt(batch: _Batch, transport: Transport, item: Pending, attempt: int) -> _Result | None:
    """Send one claimed message on ``transport`` unless the brakes hold it (then None)."""
    if not batch.brakes.allows(item.digest.subscription.subscriber.email):
        return None
    outcome, detail = _deliver_one(batch, transport, item, attempt)
    sent = outcome.state is SendState.SENT and transport.written
    return _Result(outcome, detail, transport.written[-1] if sent else None)


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
    senders: Senders | None = None,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
    brakes: Brakes | None = None,
    journal: Journal | None = None,
) -> DeliveryReport:
    """Send each message of one edition once; failures are recorded and the batch goes on.

    The batch is claimed in one transaction under a lease, its messages spread
    over the connections of ``senders`` (one pass's, kept open across batches;
    default: the digest's own for this batch, or just ``transport``), its
    outcomes recorded in one more transaction (``journal`` notes each message
    between the two). A message that may not be claimed (sent, sending, failed
    for good, or uncertain under ``uncertain: skip``) is counted in
    ``already_claimed``. ``brakes`` (one per pass over an edition; default: a
    fresh one) stop the batch when the server is down and skip paused domains;
    what they hold back is counted in ``held`` and left for a later run.
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
        batch = _Batch(config, digest, brakes, lease, journal, now)
        own = senders is None
        active = senders_for(config, digest, transport) if senders is None else senders
        claims = _Claims(allowed, claimed)
        try:
            with active if own else contextlib.nullcontext():
                _spread(batch, active, claims)
        finally:
            outcomes, unsent = _settle(batch, report, claims, progress)
            store.finish_sends(edition.id, outcomes, owner=lease.owner, now=now)
            store.release_sends(edition.id, unsent, lease.owner, now=now)
    report.stopped = brakes.stopped
    _log_batch(digest, report)
    return report


@dataclass
class _Claims:
    """A claimed batch: its messages, the attempt number of each claimed subscriber,
    and (filled by the connection threads) each position taken and its result."""

    allowed: Sequence[Pending]
    claimed: dict[int, int]
    results: dict[int, _Result | None] = field(default_factory=dict)
    taken: set[int] = field(default_factory=set)


def _spread(batch: _Batch, senders: Senders, claims: _Claims) -> None:
    """Send the claimed messages over the connections of ``senders``."""

    def send(transport: Transport, index: int) -> None:
        claims.taken.add(index)
        item = claims.allowed[index]
        attempt = claims.claimed[item.digest.subscription.subscriber.id]
        claims.results[index] = _attempt(batch, transport, item, attempt)

    entries = [
        (item.digest.subscription.subscriber.email, index)
        for index, item in enumerate(claims.allowed)
        if item.digest.subscription.subscriber.id in claims.claimed
    ]
    senders.run(entries, send)


def _settle(
    batch: _Batch,
    report: DeliveryReport,
    claims: _Claims,
    progress: Callable[[str], None] | None,
) -> tuple[list[SendOutcome], list[int]]:
    """Count and log each message of the batch in order; the outcomes to record and the
    claims to give back (held, or never taken). A message taken whose attempt never
    ended (its thread failed) stays claimed: the journal or the lease settles it."""
    outcomes: list[SendOutcome] = []
    unsent: list[int] = []
    for index, item in enumerate(claims.allowed):
        subscriber_id = item.digest.subscription.subscriber.id
        if subscriber_id not in claims.claimed:
            line: tuple[SendState | None, str] = (None, "")
            _record(batch.config, report, item.digest, line, None)
        elif (result := claims.results.get(index)) is not None:
            outcomes.append(result.outcome)
            line = (result.outcome.state, result.detail)
            _record(batch.config, report, item.digest, line, result.written)
        elif index in claims.results or index not in claims.taken:
            report.held += 1  # claimed, never attempted: given back
            unsent.append(subscriber_id)
            continue
        else:
            continue
        if progress is not None:
            progress(_progress_line(item.digest, line))
    return outcomes, unsent


def _message_id_of(digest: Digest) -> str:
    return message_id_for(digest.masthead, digest.edition, digest.subscription.subscriber)


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
    written: Path | None,
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
        if written is not None:
            report.written.append(written)
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
