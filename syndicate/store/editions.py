"""Editions (a digest's frozen article list per slot) and sends (one per subscriber).

:class:`EditionsMixin` gives :class:`syndicate.store.Store` its edition and
send methods; send states follow the transition table of :mod:`syndicate.model`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from syndicate.errors import StoreError
from syndicate.lease import Lease, lease_for
from syndicate.model import (
    Edition,
    EditionBody,
    SendRecord,
    SendState,
    SubscriptionState,
    as_utc,
    bounced_subscription,
    expired_claim,
    may_claim,
    send_transition,
)
from syndicate.store.articles import row_article
from syndicate.store.base import Conflict, StoreBase, now_or
from syndicate.store.tables import (
    articles,
    edition_articles,
    edition_bodies,
    editions,
    sends,
    subscriptions,
)

_INTERRUPTED = "interrupted: the run sending it ended without an answer from the server"


@dataclass(frozen=True)
class SendOutcome:
    """How one claimed send ended: its state, the reason, and when a deferred one is retried.

    ``state`` None: the send was claimed but never attempted (see ``release_sends``).
    """

    subscriber_id: int
    state: SendState | None
    error: str | None = None
    next_attempt_at: datetime | None = None


@dataclass(frozen=True)
class EditionEntry:
    """An edition as an archive lists it: which digest, which slot, how many articles."""

    edition_id: int
    digest_id: str
    slot: datetime
    article_count: int


def load_edition(conn: sa.Connection, row: sa.Row[Any]) -> Edition:
    """An edition row with its frozen articles in position order."""
    joined = edition_articles.join(articles, edition_articles.c.article_id == articles.c.id)
    query = (
        sa.select(articles)
        .select_from(joined)
        .where(edition_articles.c.edition_id == row.id)
        .order_by(edition_articles.c.position)
    )
    frozen = tuple(row_article(item) for item in conn.execute(query))
    return Edition(
        id=int(row.id),
        digest_id=row.digest_id,
        slot=row.slot,
        cutoff_seq=int(row.cutoff_seq),
        created_at=row.created_at,
        articles=frozen,
    )


def freeze_articles(conn: sa.Connection, edition_id: int, article_ids: Sequence[int]) -> None:
    """Store the article list of a new edition, in order, each article once."""
    ids = list(dict.fromkeys(article_ids))
    if ids:
        rows = [
            {"edition_id": edition_id, "article_id": article_id, "position": position}
            for position, article_id in enumerate(ids)
        ]
        conn.execute(edition_articles.insert(), rows)


def claim_row(
    edition_id: int, subscriber_id: int, message_id: str, lease: Lease, when: datetime
) -> dict[str, Any]:
    """The row of a send's first claim: state ``sending``, attempt 1, held under ``lease``."""
    return {
        "edition_id": edition_id,
        "subscriber_id": subscriber_id,
        "status": SendState.SENDING.value,
        "attempts": 1,
        "message_id": message_id,
        "created_at": when,
        "updated_at": when,
        "lease_owner": lease.owner,
        "lease_until": as_utc(lease.until),
    }


def variant_hash(variant: str) -> str:
    """The stored key of a body variant (variants can be long lists of sections)."""
    return hashlib.sha256(variant.encode("utf-8", "surrogatepass")).hexdigest()


def _claimable(resend_uncertain: bool) -> list[str]:
    """Stored states a send may be claimed again from."""
    return [s.value for s in SendState if may_claim(s, resend_uncertain=resend_uncertain)]


class EditionsMixin(StoreBase):
    """Editions, unique per (digest, slot), and the claimed sends of each."""

    def _find_edition(self, conn: sa.Connection, digest_id: str, slot: datetime) -> Edition | None:
        query = sa.select(editions).where(
            editions.c.digest_id == digest_id, editions.c.slot == as_utc(slot)
        )
        row = conn.execute(query).first()
        return None if row is None else load_edition(conn, row)

    def last_edition(self, digest_id: str) -> Edition | None:
        """The edition of ``digest_id`` with the highest cutoff (then latest slot)."""
        query = (
            sa.select(editions)
            .where(editions.c.digest_id == digest_id)
            .order_by(editions.c.cutoff_seq.desc(), editions.c.slot.desc(), editions.c.id.desc())
            .limit(1)
        )
        with self._tx() as conn:
            row = conn.execute(query).first()
            return None if row is None else load_edition(conn, row)

    def get_edition(self, digest_id: str, slot: datetime) -> Edition | None:
        """The edition of ``digest_id`` for ``slot``, with its frozen articles."""
        with self._tx() as conn:
            return self._find_edition(conn, digest_id, slot)

    def list_editions(
        self, digest_ids: Sequence[str], *, limit: int, offset: int = 0
    ) -> list[EditionEntry]:
        """Editions of ``digest_ids`` with at least one article, newest slot first."""
        count = sa.func.count(edition_articles.c.article_id).label("article_count")
        query = (
            sa.select(editions.c.id, editions.c.digest_id, editions.c.slot, count)
            .join(edition_articles, edition_articles.c.edition_id == editions.c.id)
            .where(editions.c.digest_id.in_(list(digest_ids)))
            .group_by(editions.c.id, editions.c.digest_id, editions.c.slot)
            .order_by(editions.c.slot.desc(), editions.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        with self._tx() as conn:
            rows = conn.execute(query).all()
        return [EditionEntry(int(r.id), r.digest_id, r.slot, int(r.article_count)) for r in rows]

    def count_editions(self, digest_ids: Sequence[str]) -> int:
        """How many editions of ``digest_ids`` have at least one article."""
        query = (
            sa.select(sa.func.count(sa.distinct(edition_articles.c.edition_id)))
            .join(editions, edition_articles.c.edition_id == editions.c.id)
            .where(editions.c.digest_id.in_(list(digest_ids)))
        )
        with self._tx() as conn:
            return int(conn.execute(query).scalar_one())

    def create_edition(
        self,
        digest_id: str,
        slot: datetime,
        cutoff_seq: int,
        article_ids: Sequence[int],
        *,
        now: datetime | None = None,
    ) -> tuple[Edition, bool]:
        """Freeze an edition atomically; ``(existing, False)`` if the slot already has one."""
        slot, when = as_utc(slot), now_or(now)
        values = {
            "digest_id": digest_id,
            "slot": slot,
            "cutoff_seq": cutoff_seq,
            "created_at": when,
        }
        try:
            with self._tx(write=True) as conn:
                existing = self._find_edition(conn, digest_id, slot)
                if existing is not None:
                    return existing, False
                row = conn.execute(editions.insert().values(values).returning(editions)).one()
                freeze_articles(conn, int(row.id), article_ids)
                return load_edition(conn, row), True
        except Conflict:
            found = self.get_edition(digest_id, slot)
            if found is None:
                raise
            return found, False

    def _send_key(self, edition_id: int, subscriber_id: int) -> sa.ColumnElement[bool]:
        return (sends.c.edition_id == edition_id) & (sends.c.subscriber_id == subscriber_id)

    def claim_send(
        self,
        edition_id: int,
        subscriber_id: int,
        message_id: str,
        *,
        now: datetime | None = None,
        resend_uncertain: bool = True,
        lease: Lease | None = None,
    ) -> int:
        """Claim the right to send ``edition_id`` to ``subscriber_id`` now (see
        :meth:`claim_sends`); the attempt number (1 for the first), 0 when it may not be sent.

        ``lease`` defaults to this process for :data:`~syndicate.lease.LEASE_TIME`.
        """
        held = lease or lease_for(now_or(now))
        claimed = self.claim_sends(
            edition_id, [(subscriber_id, message_id)], held,
            now=now, resend_uncertain=resend_uncertain,
        )  # fmt: skip
        return claimed.get(subscriber_id, 0)

    def claim_sends(
        self,
        edition_id: int,
        wanted: Sequence[tuple[int, str]],
        lease: Lease,
        *,
        now: datetime | None = None,
        resend_uncertain: bool = True,
    ) -> dict[int, int]:
        """Claim a batch of sends of ``edition_id`` under ``lease``, in one transaction.

        ``wanted`` holds (subscriber id, Message-ID) pairs. A send is claimed when
        :func:`~syndicate.model.may_claim` allows it and a deferred send's next
        attempt is due; its row becomes ``sending``. Three statements whatever the
        batch size: read the existing rows, insert the new ones, move the retried
        ones. Returns subscriber id -> attempt number (1 for the first) of the
        claimed sends. A resent message keeps the Message-ID of its first claim.
        """
        when = now_or(now)
        ids = list(dict.fromkeys(subscriber_id for subscriber_id, _ in wanted))
        if not ids:
            return {}

        def claim() -> dict[int, int]:
            with self._tx(write=True) as conn:
                found = self._claim_states(conn, edition_id, ids)
                fresh = [
                    claim_row(edition_id, sid, mid, lease, when)
                    for sid, mid in dict(wanted).items()
                    if sid not in found
                ]
                if fresh:
                    conn.execute(sends.insert(), fresh)
                again = {
                    sid: record.attempts + 1
                    for sid, record in found.items()
                    if may_claim(record.state, resend_uncertain=resend_uncertain)
                    and record.due(when)
                }
                self._reclaim(
                    conn, edition_id, list(again), lease,
                    when=when, resend_uncertain=resend_uncertain,
                )  # fmt: skip
                return {**{row["subscriber_id"]: 1 for row in fresh}, **again}

        return self._retry_on_conflict(claim)

    def _claim_states(
        self, conn: sa.Connection, edition_id: int, ids: Sequence[int]
    ) -> dict[int, SendRecord]:
        """The existing sends of ``ids``, locked until the claim commits."""
        query = (
            sa.select(sends)
            .where(sends.c.edition_id == edition_id, sends.c.subscriber_id.in_(ids))
            .with_for_update()
        )
        return {int(row.subscriber_id): self._record(row) for row in conn.execute(query)}

    def _reclaim(
        self,
        conn: sa.Connection,
        edition_id: int,
        ids: Sequence[int],
        lease: Lease,
        *,
        when: datetime,
        resend_uncertain: bool,
    ) -> None:
        """Move deferred (and uncertain) sends back to ``sending`` in one statement."""
        if not ids:
            return
        retry = sends.update().where(
            sends.c.edition_id == edition_id,
            sends.c.subscriber_id.in_(ids),
            sends.c.status.in_(_claimable(resend_uncertain)),
        )
        values = {
            "status": SendState.SENDING.value,
            "attempts": sends.c.attempts + 1,
            "next_attempt_at": None,
            "lease_owner": lease.owner,
            "lease_until": as_utc(lease.until),
            "updated_at": when,
        }
        conn.execute(retry.values(values))

    def finish_send(
        self,
        edition_id: int,
        subscriber_id: int,
        status: SendState,
        *,
        error: str | None = None,
        now: datetime | None = None,
        next_attempt_at: datetime | None = None,
    ) -> None:
        """Record the outcome of a claimed send (a state that may follow ``sending``).

        ``next_attempt_at`` is when a deferred send may be claimed again. A bounced
        send makes the subscriber's subscription to the edition's digest bounced,
        in the same transaction. ValueError when ``status`` may not follow a
        claim; StoreError when the send is not claimed.
        """
        send_transition(SendState.SENDING, SendState(status))
        when, key = now_or(now), self._send_key(edition_id, subscriber_id)
        values: dict[str, Any] = {"status": status.value, "error": error, "updated_at": when}
        values |= {"lease_owner": None, "lease_until": None}
        values["next_attempt_at"] = None if next_attempt_at is None else as_utc(next_attempt_at)
        if status.delivered:
            values["sent_at"] = when
        with self._tx(write=True) as conn:
            update = sends.update().where(key, sends.c.status == SendState.SENDING.value)
            if not conn.execute(update.values(values)).rowcount:
                raise StoreError(
                    f"database {self.url}: send of edition {edition_id} to subscriber "
                    f"{subscriber_id} is not claimed; cannot record {status.value!r}"
                )
            if status is SendState.BOUNCED:
                self._bounce(conn, edition_id, [subscriber_id], when)

    def _bounce(
        self, conn: sa.Connection, edition_id: int, subscriber_ids: Sequence[int], when: datetime
    ) -> None:
        """Make the subscriptions the bounced sends belonged to bounced (if they receive)."""
        digest = sa.select(editions.c.digest_id).where(editions.c.id == edition_id)
        receiving = [
            s.value
            for s in SubscriptionState
            if s is not SubscriptionState.BOUNCED
            and bounced_subscription(s) is SubscriptionState.BOUNCED
        ]
        update = subscriptions.update().where(
            subscriptions.c.subscriber_id.in_(list(subscriber_ids)),
            subscriptions.c.digest_id == digest.scalar_subquery(),
            subscriptions.c.status.in_(receiving),
        )
        conn.execute(update.values(status=SubscriptionState.BOUNCED.value, updated_at=when))

    def finish_sends(
        self,
        edition_id: int,
        outcomes: Sequence[SendOutcome],
        *,
        owner: str | None = None,
        now: datetime | None = None,
    ) -> int:
        """Record the outcomes of a batch of claimed sends in one transaction.

        Sent ones in one statement, the others in one executemany, bounced
        subscriptions in one more. Only sends still ``sending`` (and, with
        ``owner``, still held by it) change; returns how many did.
        """
        outcomes = [o for o in outcomes if o.state is not None]
        for outcome in outcomes:
            send_transition(SendState.SENDING, SendState(str(outcome.state)))
        when = now_or(now)
        sent = [o.subscriber_id for o in outcomes if o.state is SendState.SENT]
        others = [o for o in outcomes if o.state is not SendState.SENT]
        bounced = [o.subscriber_id for o in outcomes if o.state is SendState.BOUNCED]
        held = [sends.c.edition_id == edition_id, sends.c.status == SendState.SENDING.value]
        if owner is not None:
            held.append(sends.c.lease_owner == owner)
        with self._tx(write=True) as conn:
            changed = self._finish_sent(conn, held, sent, when)
            changed += self._finish_others(conn, held, others, when)
            if bounced:
                self._bounce(conn, edition_id, bounced, when)
        return changed

    def _finish_sent(
        self,
        conn: sa.Connection,
        held: list[sa.ColumnElement[bool]],
        ids: Sequence[int],
        when: datetime,
    ) -> int:
        if not ids:
            return 0
        update = sends.update().where(*held, sends.c.subscriber_id.in_(ids))
        values = {
            "status": SendState.SENT.value,
            "error": None,
            "sent_at": when,
            "updated_at": when,
            "next_attempt_at": None,
            "lease_owner": None,
            "lease_until": None,
        }
        return int(conn.execute(update.values(values)).rowcount)

    def _finish_others(
        self,
        conn: sa.Connection,
        held: list[sa.ColumnElement[bool]],
        outcomes: Sequence[SendOutcome],
        when: datetime,
    ) -> int:
        if not outcomes:
            return 0
        update = sends.update().where(*held, sends.c.subscriber_id == sa.bindparam("sid"))
        update = update.values(
            status=sa.bindparam("new_status"),
            error=sa.bindparam("new_error"),
            next_attempt_at=sa.bindparam("retry_at", type_=sends.c.next_attempt_at.type),
            sent_at=sa.bindparam("sent_when", type_=sends.c.sent_at.type),
            updated_at=when,
            lease_owner=None,
            lease_until=None,
        )
        rows = [
            {
                "sid": o.subscriber_id,
                "new_status": str(o.state),
                "new_error": o.error,
                "retry_at": None if o.next_attempt_at is None else as_utc(o.next_attempt_at),
                "sent_when": when if o.state is not None and o.state.delivered else None,
            }
            for o in outcomes
        ]
        result = conn.execute(update, rows)
        return max(int(result.rowcount), 0)

    def lease_owners(self, edition_id: int) -> list[str]:
        """The owners holding claims (``sending``) of ``edition_id``."""
        query = (
            sa.select(sends.c.lease_owner)
            .where(sends.c.edition_id == edition_id, sends.c.status == SendState.SENDING.value)
            .where(sends.c.lease_owner.is_not(None))
            .distinct()
        )
        with self._tx() as conn:
            return [str(owner) for owner in conn.execute(query).scalars()]

    def release_sends(
        self,
        edition_id: int,
        subscriber_ids: Sequence[int],
        owner: str,
        *,
        now: datetime | None = None,
    ) -> None:
        """Give back claims that were never attempted (the pass stopped first): a first
        claim is removed, a retry is deferred again as it was, due now."""
        if not subscriber_ids:
            return
        held = [
            sends.c.edition_id == edition_id,
            sends.c.subscriber_id.in_(list(subscriber_ids)),
            sends.c.status == SendState.SENDING.value,
            sends.c.lease_owner == owner,
        ]
        back = {
            "status": SendState.DEFERRED.value,
            "attempts": sends.c.attempts - 1,
            "next_attempt_at": now_or(now),
            "lease_owner": None,
            "lease_until": None,
        }
        with self._tx(write=True) as conn:
            conn.execute(sends.delete().where(*held, sends.c.attempts == 1))
            conn.execute(sends.update().where(*held).values(back))

    def leased_sends(self, edition_id: int, owner: str) -> list[int]:
        """Subscriber ids of the sends of ``edition_id`` that ``owner`` holds (``sending``)."""
        query = sa.select(sends.c.subscriber_id).where(
            sends.c.edition_id == edition_id,
            sends.c.status == SendState.SENDING.value,
            sends.c.lease_owner == owner,
        )
        with self._tx() as conn:
            return [int(sid) for sid in conn.execute(query).scalars()]

    def expire_claims(
        self, edition_id: int, *, now: datetime | None = None, dead: Sequence[str] = ()
    ) -> int:
        """Sends of ``edition_id`` still ``sending`` whose lease ended (at ``now``), whose
        owner is among ``dead``, or which have no lease become what
        :func:`~syndicate.model.expired_claim` says (``uncertain``); returns how many."""
        target = expired_claim(SendState.SENDING) or SendState.UNCERTAIN
        when = now_or(now)
        ended = sa.or_(
            sends.c.lease_until.is_(None),
            sends.c.lease_until < when,
            sends.c.lease_owner.in_(list(dead)),
        )
        update = sends.update().where(
            sends.c.edition_id == edition_id, sends.c.status == SendState.SENDING.value, ended
        )
        values = {
            "status": target.value,
            "error": _INTERRUPTED,
            "updated_at": when,
            "lease_owner": None,
            "lease_until": None,
        }
        with self._tx(write=True) as conn:
            return int(conn.execute(update.values(values)).rowcount)

    def send_records_of(
        self, edition_id: int, subscriber_ids: Sequence[int]
    ) -> dict[int, SendRecord]:
        """subscriber_id -> :class:`~syndicate.model.SendRecord` for a batch of subscribers."""
        if not subscriber_ids:
            return {}
        query = sa.select(sends).where(
            sends.c.edition_id == edition_id, sends.c.subscriber_id.in_(list(subscriber_ids))
        )
        with self._tx() as conn:
            rows = conn.execute(query).all()
        return {int(row.subscriber_id): self._record(row) for row in rows}

    def edition_body(self, edition_id: int, variant: str) -> EditionBody | None:
        """The stored body of ``variant`` of ``edition_id``, if one was rendered."""
        query = sa.select(edition_bodies).where(
            edition_bodies.c.edition_id == edition_id,
            edition_bodies.c.variant_hash == variant_hash(variant),
        )
        with self._tx() as conn:
            row = conn.execute(query).first()
        return None if row is None else EditionBody(row.variant, row.subject, row.html, row.text)

    def save_edition_body(
        self, edition_id: int, body: EditionBody, *, now: datetime | None = None
    ) -> EditionBody:
        """Store ``body`` with its edition; the body stored first wins (and is returned)."""
        values = {
            "edition_id": edition_id,
            "variant_hash": variant_hash(body.variant),
            "variant": body.variant,
            "subject": body.subject,
            "html": body.html,
            "text": body.text,
            "created_at": now_or(now),
        }
        try:
            with self._tx(write=True) as conn:
                conn.execute(edition_bodies.insert().values(values))
        except Conflict:
            stored = self.edition_body(edition_id, body.variant)
            if stored is None:
                raise
            return stored
        return body

    def close_deferred(self, edition_id: int, reason: str, *, now: datetime | None = None) -> int:
        """Deferred sends of ``edition_id`` fail for good (its retry window ended); how many."""
        send_transition(SendState.DEFERRED, SendState.FAILED)
        update = sends.update().where(
            sends.c.edition_id == edition_id, sends.c.status == SendState.DEFERRED.value
        )
        last = sa.func.coalesce(sends.c.error, "")
        values = {
            "status": SendState.FAILED.value,
            "error": sa.literal(f"{reason}; last: ") + last,
            "next_attempt_at": None,
            "updated_at": now_or(now),
        }
        with self._tx(write=True) as conn:
            return int(conn.execute(update.values(values)).rowcount)

    def send_records(self, edition_id: int) -> dict[int, SendRecord]:
        """subscriber_id -> :class:`~syndicate.model.SendRecord` of each send of ``edition_id``."""
        query = sa.select(sends).where(sends.c.edition_id == edition_id)
        with self._tx() as conn:
            rows = conn.execute(query).all()
        return {int(row.subscriber_id): self._record(row) for row in rows}

    def _record(self, row: sa.Row[Any]) -> SendRecord:
        return SendRecord(
            subscriber_id=int(row.subscriber_id),
            state=self._known_state(row.status),
            attempts=int(row.attempts),
            next_attempt_at=row.next_attempt_at,
            error=row.error,
            message_id=row.message_id,
        )

    def open_editions(self, digest_id: str, since: datetime) -> list[Edition]:
        """Editions of ``digest_id`` created at or after ``since``, oldest slot first."""
        query = (
            sa.select(editions)
            .where(editions.c.digest_id == digest_id, editions.c.created_at >= as_utc(since))
            .order_by(editions.c.slot, editions.c.id)
        )
        with self._tx() as conn:
            return [load_edition(conn, row) for row in conn.execute(query).all()]

    def next_attempt(self, edition_ids: Sequence[int]) -> datetime | None:
        """The earliest time a deferred send of these editions may be tried again."""
        if not edition_ids:
            return None
        query = sa.select(sa.func.min(sends.c.next_attempt_at)).where(
            sends.c.edition_id.in_(list(edition_ids)),
            sends.c.status == SendState.DEFERRED.value,
        )
        with self._tx() as conn:
            value: datetime | None = conn.execute(query).scalar()
        if value is None:
            return None
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    def send_states(self, edition_id: int) -> dict[int, SendState]:
        """subscriber_id -> send state for every send row of ``edition_id``."""
        query = sa.select(sends.c.subscriber_id, sends.c.status).where(
            sends.c.edition_id == edition_id
        )
        with self._tx() as conn:
            rows = conn.execute(query).all()
        return {int(row.subscriber_id): self._known_state(row.status) for row in rows}

    def _send_state(self, value: str | None) -> SendState | None:
        """The stored send state ``value`` (None: no send row)."""
        return None if value is None else self._known_state(value)

    def _known_state(self, value: str) -> SendState:
        try:
            return SendState(value)
        except ValueError:
            raise StoreError(f"database {self.url}: unknown send state {value!r}") from None
