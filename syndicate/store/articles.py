"""Articles: the collect side of the store (source states are in :mod:`.sources`).

:class:`ArticlesMixin` gives :class:`syndicate.store.Store` its article methods.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Collection, Iterable, Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from syndicate import DEFAULT_ID_DATE
from syndicate.decide import (
    BatchPlan,
    Incoming,
    Stored,
    StoredKey,
    mint_public_id,
    plan_batch,
    prepare_batch,
)
from syndicate.matching import DEFAULT_MATCHING, Matching
from syndicate.model import Article, UpsertResult, as_utc
from syndicate.store.base import StoreBase, now_or
from syndicate.store.duplicates import (
    duplicate_candidates,
    key_chunks,
    stored_aliases,
    write_duplicates,
)
from syndicate.store.tables import articles, newest_time

logger = logging.getLogger(__name__)


def no_nul(text: str) -> str:
    """``text`` without NUL characters, which PostgreSQL text columns refuse."""
    return text.replace("\x00", "")


def article_values(incoming: Incoming) -> dict[str, Any]:
    """Column values of the mutable fields of an incoming article (NUL characters dropped)."""
    article = incoming.article
    texts = ("url", "title", "section_id", "summary_html", "content_html", "author", "image_url")
    values: dict[str, Any] = {name: no_nul(getattr(article, name)) for name in texts}
    return values | {
        "categories": [no_nul(c) for c in article.categories],
        "published_at": article.published_at,
        "updated_at": article.updated_at,
        "content_hash": incoming.content_hash,
        "url_key": incoming.url_key,
        "title_key": incoming.title_key,
    }


def stored_article_hashes(
    conn: sa.Connection, keys: Iterable[StoredKey]
) -> dict[StoredKey, Stored]:
    """(source_id, key hash) -> sequence and content hash of the stored articles among ``keys``.

    One query per :data:`~syndicate.store.duplicates.CHUNK` keys, whatever their sources.
    """
    wanted = set(keys)
    found: dict[StoredKey, Stored] = {}
    a = articles.c
    columns = (a.id, a.source_id, a.key_hash, a.content_hash, a.first_seen_at)
    for sources, hashes in key_chunks(wanted):
        query = sa.select(*columns).where(a.source_id.in_(sources), a.key_hash.in_(hashes))
        for row in conn.execute(query):
            key = (row.source_id, row.key_hash)
            if key in wanted:
                found[key] = Stored(int(row.id), row.content_hash, row.first_seen_at)
    return found


def new_article_row(
    incoming: Incoming, tag_authority: str, id_date: date, when: datetime
) -> dict[str, Any]:
    """Column values of a new article first seen at ``when``, with its public id minted."""
    article, key = incoming.article, incoming.key
    return article_values(incoming) | {
        "source_id": article.source_id,
        "guid": no_nul(article.guid),
        "key_hash": key,
        "public_id": mint_public_id(tag_authority, id_date, article.source_id, key),
        "first_seen_at": when,
        "changed_at": when,
    }


def row_article(row: sa.Row[Any]) -> Article:
    """An ``articles`` row as an :class:`Article`."""
    return Article(
        source_id=row.source_id,
        guid=row.guid,
        url=row.url,
        title=row.title,
        section_id=row.section_id,
        summary_html=row.summary_html,
        content_html=row.content_html,
        author=row.author,
        categories=tuple(row.categories or ()),
        published_at=row.published_at,
        updated_at=row.updated_at,
        image_url=row.image_url,
        seq=row.id,
        public_id=row.public_id,
        first_seen_at=row.first_seen_at,
    )


def newest_first() -> tuple[sa.UnaryExpression[Any], ...]:
    """ORDER BY terms: newest first by publication (else update, else first seen), then seq.

    The expression is the one the ``ix_articles_newest`` indexes cover, so a
    feed's newest articles are read from an index instead of sorting the table.
    """
    return (newest_time().desc(), articles.c.id.desc())


def feed_query(
    columns: Sequence[Any], section_id: Any, source_id: Any, limit: Any
) -> sa.Select[Any]:
    """SELECT ``columns`` of a feed's newest ``limit`` articles (of a section or source).

    ``section_id``, ``source_id`` and ``limit`` are values or bound parameters.
    """
    query = sa.select(*columns).where(articles.c.hidden_at.is_(None))
    query = query.order_by(*newest_first()).limit(limit)
    if section_id is not None:
        query = query.where(articles.c.section_id == section_id)
    if source_id is not None:
        query = query.where(articles.c.source_id == source_id)
    return query


@functools.cache
def head_query(by_section: bool, by_source: bool) -> sa.Select[Any]:
    """The feed-head query, built once: sequence, content hash and raw change time.

    The stored change time is read as it is (text on SQLite): with the content
    hash it only has to differ when the article changed. Parameters are bound later.
    """
    changed = sa.type_coerce(articles.c.changed_at, sa.String)
    columns = [articles.c.id, articles.c.content_hash, changed]
    section: sa.BindParameter[str] | None = sa.bindparam("section_id") if by_section else None
    source: sa.BindParameter[str] | None = sa.bindparam("source_id") if by_source else None
    return feed_query(columns, section, source, sa.bindparam("limit", type_=sa.Integer))


FeedSelection = tuple[str | None, str | None]  # (section_id, source_id); None: any


class ArticlesMixin(StoreBase):
    """Articles (matched on source and GUID)."""

    def upsert_articles(
        self,
        articles: Sequence[Article],
        *,
        tag_authority: str,
        id_date: date = DEFAULT_ID_DATE,
        matching: Matching = DEFAULT_MATCHING,
        now: datetime | None = None,
    ) -> UpsertResult:
        """Store a batch of collected articles in one transaction; count what happened.

        Articles match on (source_id, guid), including the further sources of a
        stored story. New ones get their ingest sequence, ``first_seen_at`` and a
        ``public_id`` minted from ``tag_authority`` and ``id_date`` (never changed
        later); known ones are updated only when their content hash changed; one
        repeating another source's article (``matching``) is remembered as a
        further source of it. The decisions are :func:`syndicate.decide.plan_batch`'s.
        """
        when = now_or(now)

        def upsert() -> UpsertResult:
            with self._tx(write=True) as conn:
                _, plan = self._upsert_in(conn, articles, (tag_authority, id_date), matching, when)
                return plan.result()

        result = self._retry_on_conflict(upsert)
        logger.debug("stored articles: %s", result)
        return result

    def _upsert_in(
        self,
        conn: sa.Connection,
        articles: Sequence[Article],
        tagging: tuple[str, date],
        matching: Matching,
        when: datetime,
    ) -> tuple[list[Incoming], BatchPlan]:
        """Store ``articles`` inside the open transaction ``conn`` (see :meth:`upsert_articles`).

        ``tagging`` is the public ids' authority and date. Returns the prepared
        articles and the plan written. The articles may come from several sources:
        a few queries serve the whole batch.
        """
        prepared = prepare_batch(articles, matching)
        keys = [item.stored_key for item in prepared]
        stored = stored_article_hashes(conn, keys)
        stored |= stored_aliases(conn, [k for k in keys if k not in stored])
        fresh = [item for item in prepared if item.stored_key not in stored]
        candidates = duplicate_candidates(conn, fresh) if matching.enabled else []
        plan = plan_batch(prepared, stored, candidates, now=when, matching=matching)
        self._write_plan(conn, plan, tagging, when)
        return prepared, plan

    @staticmethod
    def _write_plan(
        conn: sa.Connection, plan: BatchPlan, tagging: tuple[str, date], when: datetime
    ) -> None:
        for seq, incoming in plan.updated:
            values = article_values(incoming) | {"changed_at": when}
            conn.execute(articles.update().where(articles.c.id == seq).values(values))
        if plan.new:
            rows = [new_article_row(incoming, *tagging, when) for incoming in plan.new]
            conn.execute(articles.insert(), rows)
        if plan.duplicates:
            new_seqs: list[int] = []
            if any(target < 0 for target, _ in plan.duplicates):
                ids = stored_article_hashes(conn, [item.stored_key for item in plan.new])
                new_seqs = [ids[item.stored_key].seq for item in plan.new]
            write_duplicates(conn, plan, new_seqs, when)

    def get_article(self, seq: int) -> Article | None:
        """The stored article with ingest sequence ``seq``, if any."""
        with self._tx() as conn:
            row = conn.execute(sa.select(articles).where(articles.c.id == seq)).first()
        return None if row is None else row_article(row)

    def latest_articles(
        self, *, section_id: str | None = None, source_id: str | None = None, limit: int = 50
    ) -> list[Article]:
        """Up to ``limit`` shown (not hidden) articles, newest first, of a section and/or source."""
        query = feed_query([articles], section_id, source_id, limit)
        with self._tx() as conn:
            return [row_article(row) for row in conn.execute(query)]

    def feed_heads(
        self, selections: Sequence[FeedSelection], *, limit: int = 50
    ) -> list[list[tuple[int, str]]]:
        """Per (section, source) selection: (sequence, ``content hash@change time``) of
        the articles :meth:`latest_articles` returns for it, in order, in one transaction.

        A feed whose head is the same as at its last write shows the same
        articles with the same content: an update changes the content hash and
        ``changed_at``; a new, re-dated or (no longer) shown article the sequence list.
        """
        heads: list[list[tuple[int, str]]] = []
        with self._tx() as conn:
            for section_id, source_id in selections:
                query = head_query(section_id is not None, source_id is not None)
                values = {"section_id": section_id, "source_id": source_id, "limit": limit}
                rows = conn.execute(query, values)
                heads.append([(int(seq), f"{hashed}@{changed}") for seq, hashed, changed in rows])
        return heads

    def max_seq(self) -> int:
        """The highest ingest sequence; 0 when there are no articles."""
        with self._tx() as conn:
            value = conn.execute(sa.select(sa.func.max(articles.c.id))).scalar()
        return int(value or 0)

    def count_articles(self) -> int:
        """How many articles are stored."""
        with self._tx() as conn:
            value = conn.execute(sa.select(sa.func.count()).select_from(articles)).scalar()
        return int(value or 0)

    def articles_for_edition(
        self,
        *,
        upto_seq: int,
        section_ids: Collection[str],
        after_seq: int | None = None,
        since: datetime | None = None,
    ) -> list[Article]:
        """Candidates for an edition, newest first; hidden articles never are.

        Articles with ``seq <= upto_seq`` in ``section_ids``, and either after the
        previous edition's cutoff (``after_seq``) or, for a first edition, first
        seen at or after ``since``.
        """
        if not section_ids:
            return []
        conditions = [
            articles.c.id <= upto_seq,
            articles.c.section_id.in_(list(section_ids)),
            articles.c.hidden_at.is_(None),
        ]
        if after_seq is not None:
            conditions.append(articles.c.id > after_seq)
        elif since is not None:
            conditions.append(articles.c.first_seen_at >= as_utc(since))
        query = sa.select(articles).where(*conditions).order_by(*newest_first())
        with self._tx() as conn:
            return [row_article(row) for row in conn.execute(query)]
