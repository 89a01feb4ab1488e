"""The same story from several sources: what the store reads and writes for it.

:mod:`syndicate.decide` decides whether an incoming article repeats a stored
one (:class:`~syndicate.decide.CandidatePool`); these functions read the
candidates (articles with the same URL or title key), the further sources
already remembered (``article_sources``), and write the plan's duplicates.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa

from syndicate.decide import BatchPlan, Candidate, Incoming, Stored, StoredKey
from syndicate.store.tables import article_sources, articles

CHUNK = 500
"""Keys per ``IN (...)`` query."""


def _chunks(values: Sequence[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), CHUNK):
        yield list(values[start : start + CHUNK])


def key_chunks(keys: Iterable[StoredKey]) -> Iterable[tuple[list[str], list[str]]]:
    """(source ids, key hashes) of ``keys`` in chunks, for one ``IN``/``IN`` query each.

    Such a query may return pairs that are not among ``keys``: callers filter.
    """
    ordered = sorted(set(keys))
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start : start + CHUNK]
        yield sorted({source for source, _ in chunk}), [key for _, key in chunk]


def stored_aliases(conn: sa.Connection, keys: Iterable[StoredKey]) -> dict[StoredKey, Stored]:
    """(source_id, key hash) -> the stored article that key is a further source of."""
    wanted = set(keys)
    found: dict[StoredKey, Stored] = {}
    table = article_sources.c
    for sources, hashes in key_chunks(wanted):
        query = sa.select(table.source_id, table.key_hash, table.article_id).where(
            table.source_id.in_(sources), table.key_hash.in_(hashes)
        )
        for row in conn.execute(query):
            if (row.source_id, row.key_hash) in wanted:
                found[(row.source_id, row.key_hash)] = Stored(int(row.article_id), "", alias=True)
    return found


def duplicate_candidates(conn: sa.Connection, incoming: Sequence[Incoming]) -> list[Candidate]:
    """Stored articles sharing a URL or title key with ``incoming``, oldest first."""
    urls = sorted({item.url_key for item in incoming if item.url_key})
    titles = sorted({item.title_key for item in incoming if item.title_key})
    a = articles.c
    when = sa.func.coalesce(a.published_at, a.updated_at, a.first_seen_at)
    columns = (articles.c.id, articles.c.source_id, articles.c.url_key, articles.c.title_key)
    found: dict[int, Candidate] = {}
    for column, keys in ((articles.c.url_key, urls), (articles.c.title_key, titles)):
        for chunk in _chunks(keys):
            query = sa.select(*columns, when.label("story_at")).where(column.in_(chunk))
            for row in conn.execute(query):
                found[int(row.id)] = Candidate(
                    int(row.id), row.source_id, row.url_key, row.title_key, row.story_at
                )
    return [found[seq] for seq in sorted(found)]


def write_duplicates(
    conn: sa.Connection, plan: BatchPlan, new_seqs: Sequence[int], when: datetime
) -> None:
    """Remember the plan's duplicates as further sources (``new_seqs``: ids of ``plan.new``)."""
    rows = [
        {
            "source_id": item.article.source_id,
            "key_hash": item.key,
            "article_id": new_seqs[-target - 1] if target < 0 else target,
            "guid": item.article.guid.replace("\x00", ""),
            "url": item.article.url.replace("\x00", ""),
            "first_seen_at": when,
        }
        for target, item in plan.duplicates
    ]
    if rows:
        conn.execute(article_sources.insert(), rows)


def sources_of(conn: sa.Connection, seqs: Sequence[int]) -> dict[int, list[str]]:
    """Article sequence -> the further sources remembered for it, in the order first seen."""
    found: dict[int, list[str]] = {}
    query = (
        sa.select(article_sources.c.article_id, article_sources.c.source_id)
        .where(article_sources.c.article_id.in_(list(seqs)))
        .order_by(article_sources.c.first_seen_at, article_sources.c.source_id)
    )
    for row in conn.execute(query):
        found.setdefault(int(row.article_id), []).append(row.source_id)
    return found
