"""Editions (a digest's frozen article list per slot) and sends (one per subscriber).

:class:`EditionsMixin` gives :class:`syndicate.store.Store` its edition and
send methods; send states follow the transition table of :mod:`syndicate.model`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from syndicate.errors import StoreError
from syndicate.model import (
    Edition,
    SendState,
    as_utc,
    may_claim,
    send_predecessors,
    send_transition,
)
from syndicate.store.articles import row_article
from syndicate.store.base import Conflict, StoreBase, now_or
from syndicate.store.tables import articles, edition_articles, editions, sends


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
        self, edition_id: int, subscriber_id: int, message_id: str, *, now: datetime | None = None
    ) -> bool:
        """Claim the right to send ``edition_id`` to ``subscriber_id`` now.

        True when :func:`~syndicate.model.may_claim` allows it (a first attempt or
        a retry after a temporary failure; the row becomes ``sending``), else False.
        """
        when, key = now_or(now), self._send_key(edition_id, subscriber_id)
        try:
            with self._tx(write=True) as conn:
                query = sa.select(sends.c.status).where(key).with_for_update()
                state = self._send_state(conn.execute(query).scalar())
                if not may_claim(state):
                    return False
                if state is None:
                    insert_claim(conn, edition_id, subscriber_id, message_id, when)
                    return True
                retry = sends.update().where(key, sends.c.status == state.value)
                values = {
                    "status": SendState.SENDING.value,
                    "attempts": sends.c.attempts + 1,
                    "error": None,
                    "message_id": message_id,
                    "updated_at": when,
                }
                return conn.execute(retry.values(values)).rowcount == 1
        except Conflict:
            if self.send_states(edition_id).get(subscriber_id) is None:
                raise
            return False

    def finish_send(
        self,
        edition_id: int,
        subscriber_id: int,
        status: SendState,
        *,
        error: str | None = None,
        now: datetime | None = None,
    ) -> None:
        """Record the outcome of a claimed send (a state that may follow ``sending``).

        ValueError when ``status`` may not follow a claim; StoreError when the
        send is not in a state ``status`` may follow (it was never claimed).
        """
        send_transition(SendState.SENDING, SendState(status))
        when, key = now_or(now), self._send_key(edition_id, subscriber_id)
        values: dict[str, Any] = {"status": status.value, "error": error, "updated_at": when}
        if status.delivered:
            values["sent_at"] = when
        before = [state.value for state in send_predecessors(status) if state is not None]
        with self._tx(write=True) as conn:
            update = sends.update().where(key, sends.c.status.in_(before)).values(values)
            if not conn.execute(update).rowcount:
                raise StoreError(
                    f"database {self.url}: send of edition {edition_id} to subscriber "
                    f"{subscriber_id} is not claimed; cannot record {status.value!r}"
                )

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
