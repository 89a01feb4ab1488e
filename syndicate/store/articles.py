"""Articles and source states: the collect side of the store.

:class:`ArticlesMixin` gives :class:`syndicate.store.Store` its article and
source-state methods.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from syndicate.model import Article, SourceState, UpsertResult, as_utc
from syndicate.store.base import StoreBase, now_or, opt_utc
from syndicate.store.tables import articles, source_states

logger = logging.getLogger(__name__)

KEY_CHUNK = 500  # GUID hashes per IN (...) query


def key_hash(guid: str) -> str:
    """The sha256 hex digest of an article GUID (indexed instead of the GUID)."""
    return hashlib.sha256(guid.encode("utf-8")).hexdigest()


def content_hash(article: Article) -> str:
    """Hash of the fields whose change makes a stored article 'updated'."""
    payload = [
        article.url,
        article.title,
        article.section_id,
        article.summary_html,
        article.content_html,
        article.author,
        list(article.categories),
        article.image_url,
        None if article.published_at is None else as_utc(article.published_at).isoformat(),
        None if article.updated_at is None else as_utc(article.updated_at).isoformat(),
    ]
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def no_nul(text: str) -> str:
    """``text`` without NUL characters, which PostgreSQL text columns refuse."""
    return text.replace("\x00", "")


def article_values(article: Article, digest: str) -> dict[str, Any]:
    """Column values of the mutable fields of ``article`` (NUL characters dropped)."""
    texts = ("url", "title", "section_id", "summary_html", "content_html", "author", "image_url")
    values: dict[str, Any] = {name: no_nul(getattr(article, name)) for name in texts}
    return values | {
        "categories": [no_nul(c) for c in article.categories],
        "published_at": article.published_at,
        "updated_at": article.updated_at,
        "content_hash": digest,
    }


def stored_article_hashes(
    conn: sa.Connection, prepared: list[tuple[Article, str, str]]
) -> dict[tuple[str, str], tuple[int, str]]:
    """(source_id, key_hash) -> (id, content_hash) of the batch's stored articles."""
    by_source: dict[str, list[str]] = {}
    for article, key, _digest in prepared:
        by_source.setdefault(article.source_id, []).append(key)
    found: dict[tuple[str, str], tuple[int, str]] = {}
    columns = (articles.c.id, articles.c.key_hash, articles.c.content_hash)
    for source_id, keys in by_source.items():
        for start in range(0, len(keys), KEY_CHUNK):
            chunk = keys[start : start + KEY_CHUNK]
            query = sa.select(*columns).where(
                articles.c.source_id == source_id, articles.c.key_hash.in_(chunk)
            )
            for row in conn.execute(query):
                found[(source_id, row.key_hash)] = (int(row.id), row.content_hash)
    return found


def new_article_row(
    article: Article, key: str, digest: str, tag_authority: str, when: datetime
) -> dict[str, Any]:
    """Column values of a new article, with its public id minted from ``when``."""
    public_id = f"tag:{tag_authority},{when:%Y-%m-%d}:{article.source_id}/{key[:16]}"
    return article_values(article, digest) | {
        "source_id": article.source_id,
        "guid": no_nul(article.guid),
        "key_hash": key,
        "public_id": public_id,
        "first_seen_at": when,
        "changed_at": when,
    }


def dedupe_batch(batch: Sequence[Article]) -> list[Article]:
    """One article per (source_id, guid), the last one winning, in first-seen order."""
    unique: dict[tuple[str, str], Article] = {}
    for article in batch:
        unique[(article.source_id, article.guid)] = article
    return list(unique.values())


def row_source_state(row: sa.Row[Any]) -> SourceState:
    """A ``source_states`` row as a :class:`SourceState`."""
    return SourceState(
        source_id=row.source_id,
        etag=row.etag,
        last_modified=row.last_modified,
        last_checked_at=row.last_checked_at,
        last_success_at=row.last_success_at,
        last_error=row.last_error,
        error_count=int(row.error_count),
        pages=dict(row.pages or {}),
    )


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
        id=row.id,
        public_id=row.public_id,
        first_seen_at=row.first_seen_at,
    )


def newest_first() -> tuple[sa.UnaryExpression[Any], ...]:
    """ORDER BY terms: newest first by publication (else update, else first seen), then id."""
    when = sa.func.coalesce(
        articles.c.published_at, articles.c.updated_at, articles.c.first_seen_at
    )
    return (when.desc(), articles.c.id.desc())


class ArticlesMixin(StoreBase):
    """Articles (matched on source and GUID) and per-source fetch state."""

    def get_source_state(self, source_id: str) -> SourceState:
        """What is remembered about ``source_id``; a fresh state when nothing is."""
        query = sa.select(source_states).where(source_states.c.source_id == source_id)
        with self._tx() as conn:
            row = conn.execute(query).first()
        return SourceState(source_id) if row is None else row_source_state(row)

    def save_source_state(self, state: SourceState) -> None:
        """Insert or replace the stored state of ``state.source_id``."""
        values = {
            "etag": state.etag,
            "last_modified": state.last_modified,
            "last_checked_at": opt_utc(state.last_checked_at),
            "last_success_at": opt_utc(state.last_success_at),
            "last_error": state.last_error,
            "error_count": state.error_count,
            "pages": state.pages or None,
        }
        key = source_states.c.source_id == state.source_id

        def save() -> None:
            with self._tx(write=True) as conn:
                if conn.execute(source_states.update().where(key).values(values)).rowcount:
                    return
                conn.execute(source_states.insert().values(source_id=state.source_id, **values))

        self._retry_on_conflict(save)

    def upsert_articles(
        self, articles: Sequence[Article], *, tag_authority: str, now: datetime | None = None
    ) -> UpsertResult:
        """Store a batch of collected articles in one transaction; count new/updated/unchanged.

        Articles match on (source_id, guid). New ones get their ingest sequence,
        ``first_seen_at`` and ``public_id`` (never changed later); known ones are
        updated only when their content hash changed.
        """
        when = now_or(now)
        prepared: list[tuple[Article, str, str]] = []
        for article in dedupe_batch(articles):
            try:
                prepared.append((article, key_hash(article.guid), content_hash(article)))
            except ValueError as exc:
                raise ValueError(f"article {article.source_id}/{article.guid}: {exc}") from exc

        def upsert() -> UpsertResult:
            with self._tx(write=True) as conn:
                return self._upsert_batch(conn, prepared, tag_authority, when)

        result = self._retry_on_conflict(upsert)
        logger.debug("stored articles: %s", result)
        return result

    def _upsert_batch(
        self,
        conn: sa.Connection,
        prepared: list[tuple[Article, str, str]],
        tag_authority: str,
        when: datetime,
    ) -> UpsertResult:
        existing = stored_article_hashes(conn, prepared)
        new_rows: list[dict[str, Any]] = []
        updated = unchanged = 0
        for article, key, digest in prepared:
            stored = existing.get((article.source_id, key))
            if stored is None:
                new_rows.append(new_article_row(article, key, digest, tag_authority, when))
            elif stored[1] == digest:
                unchanged += 1
            else:
                values = article_values(article, digest) | {"changed_at": when}
                conn.execute(articles.update().where(articles.c.id == stored[0]).values(values))
                updated += 1
        if new_rows:
            conn.execute(articles.insert(), new_rows)
        return UpsertResult(new=len(new_rows), updated=updated, unchanged=unchanged)

    def get_article(self, article_id: int) -> Article | None:
        """The stored article with ingest sequence ``article_id``, if any."""
        with self._tx() as conn:
            row = conn.execute(sa.select(articles).where(articles.c.id == article_id)).first()
        return None if row is None else row_article(row)

    def latest_articles(self, *, section_id: str | None = None, limit: int = 50) -> list[Article]:
        """Up to ``limit`` articles, newest first, optionally of one section."""
        query = sa.select(articles).order_by(*newest_first()).limit(limit)
        if section_id is not None:
            query = query.where(articles.c.section_id == section_id)
        with self._tx() as conn:
            return [row_article(row) for row in conn.execute(query)]

    def max_seq(self) -> int:
        """The highest ingest sequence (article id); 0 when there are no articles."""
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
        """Candidates for an edition, newest first.

        Articles with ``id <= upto_seq`` in ``section_ids``, and either after the
        previous edition's cutoff (``after_seq``) or, for a first edition, first
        seen at or after ``since``.
        """
        if not section_ids:
            return []
        conditions = [articles.c.id <= upto_seq, articles.c.section_id.in_(list(section_ids))]
        if after_seq is not None:
            conditions.append(articles.c.id > after_seq)
        elif since is not None:
            conditions.append(articles.c.first_seen_at >= as_utc(since))
        query = sa.select(articles).where(*conditions).order_by(*newest_first())
        with self._tx() as conn:
            return [row_article(row) for row in conn.execute(query)]
