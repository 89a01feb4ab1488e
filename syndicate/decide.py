"""What storing a batch of collected articles should do, decided without a database.

As lemon24/reader's ``Decider``: the store reads what it holds for the batch
(``(source_id, key) -> (seq, content hash)``), :func:`plan_batch` decides which
articles are new, updated or unchanged, and the store only writes the plan.
Hashing the GUID and the content, minting public ids and de-duplicating a batch
live here too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from syndicate.model import Article, UpsertResult, as_utc

StoredKey = tuple[str, str]
"""(source_id, key hash) of an article."""


class ArticleChange(StrEnum):
    """What storing one incoming article does to the store."""

    NEW = "new"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


class Incoming(NamedTuple):
    """A collected article with its GUID hash (``key``) and content hash."""

    article: Article
    key: str
    content_hash: str

    @property
    def stored_key(self) -> StoredKey:
        """(source_id, key hash): what the article matches on in the store."""
        return (self.article.source_id, self.key)


class Stored(NamedTuple):
    """The sequence and content hash of an article the store already holds."""

    seq: int
    content_hash: str


class BatchPlan(NamedTuple):
    """What to write for one batch: rows to insert, rows to update, how many stay."""

    new: list[Incoming]
    updated: list[tuple[int, Incoming]]
    unchanged: int

    def result(self) -> UpsertResult:
        """The counts of this plan."""
        return UpsertResult(new=len(self.new), updated=len(self.updated), unchanged=self.unchanged)


def key_hash(guid: str) -> str:
    """The SHA-256 (hex) of an article GUID (indexed instead of the GUID)."""
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


def mint_public_id(tag_authority: str, when: datetime, source_id: str, key: str) -> str:
    """The permanent ``tag:`` URI of an article first seen at ``when`` (RFC 4151)."""
    return f"tag:{tag_authority},{when:%Y-%m-%d}:{source_id}/{key[:16]}"


def dedupe_batch(batch: Sequence[Article]) -> list[Article]:
    """One article per (source_id, guid), the last one winning, in first-seen order."""
    unique: dict[tuple[str, str], Article] = {}
    for article in batch:
        unique[(article.source_id, article.guid)] = article
    return list(unique.values())


def prepare_batch(batch: Sequence[Article]) -> list[Incoming]:
    """The batch de-duplicated and hashed; ValueError naming the article that cannot be."""
    prepared: list[Incoming] = []
    for article in dedupe_batch(batch):
        try:
            prepared.append(Incoming(article, key_hash(article.guid), content_hash(article)))
        except ValueError as exc:
            raise ValueError(f"article {article.source_id}/{article.guid}: {exc}") from exc
    return prepared


def decide_article(incoming: Incoming, stored: Stored | None) -> ArticleChange:
    """New when nothing is stored, updated when the content hash differs, else unchanged."""
    if stored is None:
        return ArticleChange.NEW
    if stored.content_hash == incoming.content_hash:
        return ArticleChange.UNCHANGED
    return ArticleChange.UPDATED


def plan_batch(prepared: Sequence[Incoming], stored: Mapping[StoredKey, Stored]) -> BatchPlan:
    """Decide every article of a prepared batch against what the store holds."""
    plan = BatchPlan(new=[], updated=[], unchanged=0)
    unchanged = 0
    for incoming in prepared:
        held = stored.get(incoming.stored_key)
        change = decide_article(incoming, held)
        if change is ArticleChange.NEW:
            plan.new.append(incoming)
        elif held is not None and change is ArticleChange.UPDATED:
            plan.updated.append((held.seq, incoming))
        else:
            unchanged += 1
    return plan._replace(unchanged=unchanged)
