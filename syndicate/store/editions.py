"""Editions (a digest's frozen article list per slot) and sends (one per subscriber).

:class:`EditionsMixin` gives :class:`syndicate.store.Store` its edition and
send methods; send states follow the transition table of :mod:`syndicate.model`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from syndicate.model import (
    Edition,
    EditionBody,
    as_utc,
)
from syndicate.store.articles import row_article
from syndicate.store.base import Conflict, StoreBase, now_or
from syndicate.store.tables import (
    articles,
    edition_articles,
    edition_bodies,
    editions,
)


@dataclass(frozen=True)
class EditionEntry:
    """An edition as an archive lists it: which digest, which slot, how many articles."""

    edition_id: int
    digest_id: str
    slot: datetime
    article_count: int


def load_edition(conn: sa.Connection, row: sa.Row[Any]) -> Edition:
    """An edition row with its frozen articles in position order (hidden ones left out)."""
    joined = edition_articles.join(articles, edition_articles.c.article_id == articles.c.id)
    query = (
        sa.select(articles)
        .select_from(joined)
        .where(edition_articles.c.edition_id == row.id, articles.c.hidden_at.is_(None))
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


def freeze_articles(conn: sa.Connection, edition_id: int, seqs: Sequence[int]) -> None:
    """Store the article list (by ingest sequence) of a new edition, in order, each once."""
    unique = list(dict.fromkeys(seqs))
    if unique:
        rows = [
            {"edition_id": edition_id, "article_id": seq, "position": position}
            for position, seq in enumerate(unique)
        ]
        conn.execute(edition_articles.insert(), rows)


def variant_hash(variant: str) -> str:
    """The stored key of a body variant (variants can be long lists of sections)."""
    return hashlib.sha256(variant.encode("utf-8", "surrogatepass")).hexdigest()


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
        """Editions of ``digest_ids`` with at least one shown article, newest slot first."""
        count = sa.func.count(edition_articles.c.article_id).label("article_count")
        query = (
            sa.select(editions.c.id, editions.c.digest_id, editions.c.slot, count)
            .join(edition_articles, edition_articles.c.edition_id == editions.c.id)
            .join(articles, edition_articles.c.article_id == articles.c.id)
            .where(editions.c.digest_id.in_(list(digest_ids)), articles.c.hidden_at.is_(None))
            .group_by(editions.c.id, editions.c.digest_id, editions.c.slot)
            .order_by(editions.c.slot.desc(), editions.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        with self._tx() as conn:
            rows = conn.execute(query).all()
        return [EditionEntry(int(r.id), r.digest_id, r.slot, int(r.article_count)) for r in rows]

    def count_editions(self, digest_ids: Sequence[str]) -> int:
        """How many editions of ``digest_ids`` have at least one shown article."""
        query = (
            sa.select(sa.func.count(sa.distinct(edition_articles.c.edition_id)))
            .join(editions, edition_articles.c.edition_id == editions.c.id)
            .join(articles, edition_articles.c.article_id == articles.c.id)
            .where(editions.c.digest_id.in_(list(digest_ids)), articles.c.hidden_at.is_(None))
        )
        with self._tx() as conn:
            return int(conn.execute(query).scalar_one())

    def create_edition(
        self,
        digest_id: str,
        slot: datetime,
        cutoff_seq: int,
        seqs: Sequence[int],
        *,
        now: datetime | None = None,
    ) -> tuple[Edition, bool]:
        """Freeze an edition of the articles ``seqs`` atomically.

        ``(existing, False)`` when the slot already has an edition.
        """
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
                freeze_articles(conn, int(row.id), seqs)
                return load_edition(conn, row), True
        except Conflict:
            found = self.get_edition(digest_id, slot)
            if found is None:
                raise
            return found, False

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

    def open_editions(self, digest_id: str, since: datetime) -> list[Edition]:
        """Editions of ``digest_id`` created at or after ``since``, oldest slot first."""
        query = (
            sa.select(editions)
            .where(editions.c.digest_id == digest_id, editions.c.created_at >= as_utc(since))
            .order_by(editions.c.slot, editions.c.id)
        )
        with self._tx() as conn:
            return [load_edition(conn, row) for row in conn.execute(query).all()]
