"""Editions (a digest's frozen article list per slot) and sends (one per subscriber).

:class:`EditionsMixin` gives :class:`syndicate.store.Store` its edition and
send methods; send states follow the transition table of :mod:`syndicate.model`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from syndicate.errors import StoreError
from syndicate.model import (
    Edition,
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
from syndicate.store.tables import articles, edition_articles, editions, sends, subscriptions


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


def insert_claim(
    conn: sa.Connection, edition_id: int, subscriber_id: int, message_id: str, when: datetime
) -> None:
    """The first claim of a send: a new row in state ``sending``."""
    values = {
        "edition_id": edition_id,
        "subscriber_id": subscriber_id,
        "status": SendState.SENDING.value,
        "attempts": 1,
        "message_id": message_id,
        "created_at": when,
        "updated_at": when,
    }
    conn.execute(sends.insert().values(values))


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
    ) -> int:
        """Claim the right to send ``edition_id`` to ``subscriber_id`` now.

        Allowed when :func:`~syndicate.model.may_claim` allows it and a deferred
        send's next attempt is due; the row becomes ``sending``. Returns the
        attempt number (1 for the first), 0 when the send may not be claimed.
        A resent message keeps the Message-ID of its first claim.
        """
        when, key = now_or(now), self._send_key(edition_id, subscriber_id)
        try:
            with self._tx(write=True) as conn:
                query = sa.select(sends).where(key).with_for_update()
                row = conn.execute(query).first()
                record = None if row is None else self._record(row)
                if record is None:
                    insert_claim(conn, edition_id, subscriber_id, message_id, when)
                    return 1
                if not may_claim(record.state, resend_uncertain=resend_uncertain):
                    return 0
                if not record.due(when):
                    return 0
                return self._reclaim(conn, key, record, message_id, when)
        except Conflict:
            if self.send_states(edition_id).get(subscriber_id) is None:
                raise
            return 0

    def _reclaim(
        self,
        conn: sa.Connection,
        key: sa.ColumnElement[bool],
        record: SendRecord,
        message_id: str,
        when: datetime,
    ) -> int:
        """Move a deferred or uncertain send back to ``sending``; the attempt number or 0."""
        retry = sends.update().where(key, sends.c.status == record.state.value)
        values = {
            "status": SendState.SENDING.value,
            "attempts": record.attempts + 1,
            "next_attempt_at": None,
            "message_id": record.message_id or message_id,
            "updated_at": when,
        }
        return record.attempts + 1 if conn.execute(retry.values(values)).rowcount == 1 else 0

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
                self._bounce(conn, edition_id, subscriber_id, when)

    def _bounce(
        self, conn: sa.Connection, edition_id: int, subscriber_id: int, when: datetime
    ) -> None:
        """Make the subscription the bounced send belonged to bounced (if it receives)."""
        digest = sa.select(editions.c.digest_id).where(editions.c.id == edition_id)
        receiving = [
            s.value
            for s in SubscriptionState
            if s is not SubscriptionState.BOUNCED
            and bounced_subscription(s) is SubscriptionState.BOUNCED
        ]
        update = subscriptions.update().where(
            subscriptions.c.subscriber_id == subscriber_id,
            subscriptions.c.digest_id == digest.scalar_subquery(),
            subscriptions.c.status.in_(receiving),
        )
        conn.execute(update.values(status=SubscriptionState.BOUNCED.value, updated_at=when))

    def expire_claims(
        self, edition_id: int, before: datetime, *, now: datetime | None = None
    ) -> int:
        """Sends of ``edition_id`` claimed before ``before`` and still ``sending`` become
        what :func:`~syndicate.model.expired_claim` says (``uncertain``); returns how many."""
        target = expired_claim(SendState.SENDING) or SendState.UNCERTAIN
        update = sends.update().where(
            sends.c.edition_id == edition_id,
            sends.c.status == SendState.SENDING.value,
            sends.c.updated_at < as_utc(before),
        )
        reason = "interrupted: the run sending it ended without an answer from the server"
        values = {"status": target.value, "error": reason, "updated_at": now_or(now)}
        with self._tx(write=True) as conn:
            return int(conn.execute(update.values(values)).rowcount)

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
