"""Takedowns and what ops ask about articles: hide, unhide, list, sources of a story.

:class:`TakedownsMixin` gives :class:`syndicate.store.Store` its operator-side
article methods. Hiding sets ``articles.hidden_at`` (which every feed, archive
and edition query leaves out), drops the rendered bodies of the editions that
hold the article and records the reason, who and when in ``takedowns``;
unhiding clears it and is recorded likewise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from syndicate.errors import StoreError
from syndicate.model import Article, as_utc
from syndicate.store.articles import newest_first, row_article
from syndicate.store.base import StoreBase, now_or
from syndicate.store.duplicates import sources_of
from syndicate.store.tables import (
    article_sources,
    articles,
    edition_articles,
    edition_bodies,
    takedowns,
)

HIDE = "hide"
"""``takedowns.action`` of a hide."""
UNHIDE = "unhide"
"""``takedowns.action`` of an unhide."""


@dataclass(frozen=True)
class Takedown:
    """One hide or unhide of an article: what, why, who and when."""

    seq: int
    action: str
    reason: str
    actor: str
    at: datetime


@dataclass(frozen=True)
class ArticleEntry:
    """An article as ``articles list`` shows it: the article, whether hidden, all its sources."""

    article: Article
    hidden_at: datetime | None
    sources: tuple[str, ...]
    takedown: Takedown | None = None


class ArticleNotFound(StoreError):
    """No stored article has the sequence or public id asked for."""


def _row_takedown(row: sa.Row[Any]) -> Takedown:
    return Takedown(int(row.article_id), row.action, row.reason, row.actor, row.at)


class TakedownsMixin(StoreBase):
    """Hiding and unhiding articles, and the article listing of ops."""

    def find_article(self, ref: str) -> Article:
        """The article named by its sequence number or public id; ArticleNotFound otherwise."""
        text = ref.strip()
        where = articles.c.id == int(text) if text.isdigit() else articles.c.public_id == text
        with self._tx() as conn:
            row = conn.execute(sa.select(articles).where(where)).first()
        if row is None:
            raise ArticleNotFound(f"no article with sequence or public id {ref!r}")
        return row_article(row)

    def set_hidden(
        self, seq: int, hidden: bool, *, reason: str, actor: str, now: datetime | None = None
    ) -> bool:
        """Hide (or unhide) article ``seq``, recording why, who and when.

        Returns False (and records nothing) when it already was so. The stored
        bodies of every edition holding the article are dropped, so a message
        still to be sent (a retry, a resumed edition) is rendered again without it.
        """
        when = now_or(now)
        action = HIDE if hidden else UNHIDE
        was_hidden = articles.c.hidden_at.is_(None) if hidden else articles.c.hidden_at.isnot(None)
        with self._tx(write=True) as conn:
            changed = conn.execute(
                articles.update()
                .where(articles.c.id == seq, was_hidden)
                .values(hidden_at=when if hidden else None)
            ).rowcount
            if not changed:
                return False
            conn.execute(
                takedowns.insert().values(
                    article_id=seq, action=action, reason=reason, actor=actor, at=when
                )
            )
            conn.execute(edition_bodies.delete().where(edition_bodies.c.edition_id.in_(
                sa.select(edition_articles.c.edition_id).where(edition_articles.c.article_id == seq)
            )))  # fmt: skip
        return True

    def takedown_history(self, seq: int) -> list[Takedown]:
        """Every hide and unhide of article ``seq``, oldest first."""
        query = sa.select(takedowns).where(takedowns.c.article_id == seq).order_by(takedowns.c.id)
        with self._tx() as conn:
            return [_row_takedown(row) for row in conn.execute(query)]

    def takedowns_version(self) -> int:
        """A number that grows with every hide and unhide (feeds rewrite when it moves)."""
        with self._tx() as conn:
            return int(conn.execute(sa.select(sa.func.max(takedowns.c.id))).scalar() or 0)

    def list_articles(
        self,
        *,
        source_id: str | None = None,
        section_id: str | None = None,
        since: datetime | None = None,
        hidden: bool | None = None,
        limit: int = 50,
    ) -> list[ArticleEntry]:
        """Stored articles, newest first, filtered for ops (``hidden``: only / never hidden)."""
        query = sa.select(articles).order_by(*newest_first()).limit(limit)
        for condition in _filters(source_id, section_id, since, hidden):
            query = query.where(condition)
        with self._tx() as conn:
            rows = conn.execute(query).all()
            further = sources_of(conn, [int(row.id) for row in rows])
            last = _last_takedowns(conn, [int(row.id) for row in rows if row.hidden_at])
        return [
            ArticleEntry(
                row_article(row),
                row.hidden_at,
                (row.source_id, *further.get(int(row.id), [])),
                last.get(int(row.id)),
            )
            for row in rows
        ]


def _filters(
    source_id: str | None, section_id: str | None, since: datetime | None, hidden: bool | None
) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    if source_id is not None:
        further = sa.select(article_sources.c.article_id).where(
            article_sources.c.source_id == source_id
        )
        conditions.append(sa.or_(articles.c.source_id == source_id, articles.c.id.in_(further)))
    if section_id is not None:
        conditions.append(articles.c.section_id == section_id)
    if since is not None:
        conditions.append(articles.c.first_seen_at >= as_utc(since))
    if hidden is not None:
        column = articles.c.hidden_at
        conditions.append(column.isnot(None) if hidden else column.is_(None))
    return conditions


def _last_takedowns(conn: sa.Connection, seqs: Sequence[int]) -> dict[int, Takedown]:
    """The latest takedown record of each of ``seqs``."""
    if not seqs:
        return {}
    query = (
        sa.select(takedowns).where(takedowns.c.article_id.in_(list(seqs))).order_by(takedowns.c.id)
    )
    return {int(row.article_id): _row_takedown(row) for row in conn.execute(query)}
