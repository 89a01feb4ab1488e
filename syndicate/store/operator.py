"""Sends as an operator sees them: each edition's counts, one edition's sends, a resend.

:class:`OperatorMixin` gives :class:`syndicate.store.Store` what the ``editions``,
``sends`` and ``sends resend`` commands ask of editions and sends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from syndicate.lease import lease_for
from syndicate.model import Edition, SendState
from syndicate.store.base import now_or
from syndicate.store.editions import EditionsMixin, load_edition
from syndicate.store.sends import SendsMixin, claim_row, reclaim_values
from syndicate.store.tables import edition_articles, editions, sends, subscribers


@dataclass(frozen=True)
class EditionCounts:
    """An edition with its article count and how many of its sends are in each state."""

    edition_id: int
    digest_id: str
    slot: datetime
    article_count: int
    sends: dict[SendState, int]


@dataclass(frozen=True)
class SendEntry:
    """One send of an edition as an operator lists it: who, where it stands, why."""

    subscriber_id: int
    email: str
    state: SendState
    attempts: int
    updated_at: datetime
    error: str | None
    message_id: str | None


class OperatorMixin(SendsMixin, EditionsMixin):
    """What the operator commands ask about editions and sends, and their resend."""

    def edition_by_id(self, edition_id: int) -> Edition | None:
        """The edition with ``edition_id``, with its frozen articles."""
        with self._tx() as conn:
            row = conn.execute(sa.select(editions).where(editions.c.id == edition_id)).first()
            return None if row is None else load_edition(conn, row)

    def edition_counts(self, digest_ids: Sequence[str] | None = None) -> list[EditionCounts]:
        """Editions (of ``digest_ids``, or all), newest slot first, with their send counts."""
        articles_of = (
            sa.select(sa.func.count())
            .where(edition_articles.c.edition_id == editions.c.id)
            .scalar_subquery()
        )
        query = sa.select(editions, articles_of.label("article_count"))
        if digest_ids is not None:
            query = query.where(editions.c.digest_id.in_(list(digest_ids)))
        query = query.order_by(editions.c.slot.desc(), editions.c.id.desc())
        per_state = sa.select(sends.c.edition_id, sends.c.status, sa.func.count()).group_by(
            sends.c.edition_id, sends.c.status
        )
        with self._tx() as conn:
            rows = conn.execute(query).all()
            counted = conn.execute(per_state).all()
        tally: dict[int, dict[SendState, int]] = {}
        for edition_id, status, number in counted:
            tally.setdefault(int(edition_id), {})[self._known_state(status)] = int(number)
        return [
            EditionCounts(
                int(r.id), r.digest_id, r.slot, int(r.article_count), tally.get(int(r.id), {})
            )
            for r in rows
        ]

    def list_sends(self, edition_id: int, state: SendState | None = None) -> list[SendEntry]:
        """The sends of ``edition_id`` (only those in ``state`` unless None), by address."""
        query = (
            sa.select(sends, subscribers.c.email)
            .join(subscribers, subscribers.c.id == sends.c.subscriber_id)
            .where(sends.c.edition_id == edition_id)
            .order_by(subscribers.c.email)
        )
        if state is not None:
            query = query.where(sends.c.status == state.value)
        with self._tx() as conn:
            rows = conn.execute(query).all()
        return [
            SendEntry(
                int(r.subscriber_id),
                r.email,
                self._known_state(r.status),
                int(r.attempts),
                r.updated_at,
                r.error,
                r.message_id,
            )
            for r in rows
        ]

    def resend_claim(
        self, edition_id: int, subscriber_id: int, message_id: str, *, now: datetime | None = None
    ) -> int:
        """Claim a send again on an operator's request, whatever its state but ``sending``.

        A new attempt of the same message: the Message-ID of the first claim is kept.
        Returns the attempt number, 0 when another run is sending it right now.
        Record the outcome with :meth:`finish_send`.
        """
        when, key = now_or(now), self._send_key(edition_id, subscriber_id)
        lease = lease_for(when)
        with self._tx(write=True) as conn:
            row = conn.execute(sa.select(sends).where(key).with_for_update()).first()
            if row is None:
                conn.execute(
                    sends.insert(), [claim_row(edition_id, subscriber_id, message_id, lease, when)]
                )
                return 1
            record = self._record(row)
            if record.state is SendState.SENDING:
                return 0
            conn.execute(sends.update().where(key).values(reclaim_values(lease, when)))
            return record.attempts + 1
