"""What storing a batch of collected articles should do, decided without a database.

As lemon24/reader's ``Decider``: the store reads what it holds for the batch
(``(source_id, key) -> (seq, content hash)``), :func:`plan_batch` decides which
articles are new, updated or unchanged, and the store only writes the plan.
Hashing the GUID and the content, minting public ids, de-duplicating a batch,
recognising the same story from another source (:class:`CandidatePool`) and
clamping dates in the future live here too, and so does setting apart the entries
a source gave unchanged at its previous read (:func:`split_known`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import NamedTuple

from syndicate.matching import DEFAULT_MATCHING, Matching, title_key, url_key
from syndicate.model import Article, UpsertResult, as_utc

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

StoredKey = tuple[str, str]
"""(source_id, key hash) of an article."""


class ArticleChange(StrEnum):
    """What storing one incoming article does to the store."""

    NEW = "new"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


class Incoming(NamedTuple):
    """A collected article with its GUID hash (``key``), content hash and matching keys."""

    article: Article
    key: str
    content_hash: str
    url_key: str | None = None
    title_key: str | None = None

    @property
    def stored_key(self) -> StoredKey:
        """(source_id, key hash): what the article matches on in the store."""
        return (self.article.source_id, self.key)


class Stored(NamedTuple):
    """The sequence and content hash of an article the store already holds.

    ``alias``: the key is another source's copy of the article (``article_sources``),
    whose content the first source owns.
    """

    seq: int
    content_hash: str
    first_seen_at: datetime | None = None
    alias: bool = False


class Candidate(NamedTuple):
    """A stored article another source's article may duplicate (same URL or title key).

    A negative ``seq`` names an article new in the same batch (``-1`` the first).
    """

    seq: int
    source_id: str
    url_key: str | None
    title_key: str | None
    when: datetime


class BatchPlan(NamedTuple):
    """What to write for one batch: rows to insert, rows to update, how many stay.

    ``duplicates`` are (sequence, article) pairs: another source's copy of a stored
    article (a negative sequence: of ``new[-seq - 1]``), remembered as one more source.
    """

    new: list[Incoming]
    updated: list[tuple[int, Incoming]]
    unchanged: int
    duplicates: list[tuple[int, Incoming]]

    def result(self) -> UpsertResult:
        """The counts of this plan."""
        return UpsertResult(
            new=len(self.new),
            updated=len(self.updated),
            unchanged=self.unchanged,
            duplicates=len(self.duplicates),
        )


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


def entry_salt(*facts: object) -> str:
    """What an entry's fingerprint depends on beside the entry: the program's version and
    how its source normalises (section, rules, location), so a change to either re-reads it."""
    return hashlib.blake2b(repr(facts).encode("utf-8"), digest_size=12).hexdigest()


def entry_fingerprint(article: Article, salt: str) -> str:
    """A short hash of one entry as its source gave it (before normalising)."""
    text = salt + repr(article)
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()


class KnownSplit(NamedTuple):
    """A read's entries split by the fingerprints of the source's previous read."""

    fresh: list[Article]
    """Entries that read did not give as they are now: normalised and decided."""
    known: int
    """Entries it gave unchanged: they are stored as they are, nothing to do."""
    fingerprints: tuple[str, ...]
    """Every entry's fingerprint, remembered for the next read."""


def split_known(articles: Sequence[Article], previous: Sequence[str], salt: str) -> KnownSplit:
    """Set apart the entries the previous read already gave, unchanged.

    A feed repeats most entries from one read to the next; skipping them spares
    normalising (sanitizing) and deciding each again. Nothing is skipped when two
    entries share a GUID: which one is stored depends on the whole list.
    """
    prints = tuple(entry_fingerprint(article, salt) for article in articles)
    guids = [article.guid for article in articles if article.guid]
    if not previous or len(set(guids)) < len(guids):
        return KnownSplit(list(articles), 0, prints)
    seen = set(previous)
    fresh = [article for article, print_ in zip(articles, prints, strict=True)
             if print_ not in seen]  # fmt: skip
    return KnownSplit(fresh, len(articles) - len(fresh), prints)


def mint_public_id(tag_authority: str, id_date: date, source_id: str, key: str) -> str:
    """The permanent ``tag:`` URI of an article (RFC 4151), from facts that never move.

    ``tag_authority`` is the publisher's host, ``id_date`` the configured date
    (never the day the article was collected), ``key`` the hash of its GUID (else
    its canonical URL): collecting the same article into another store on another
    day mints the same id.
    """
    return f"tag:{tag_authority},{id_date:%Y-%m-%d}:{source_id}/{key[:16]}"


def clamp_dates(article: Article, seen: datetime) -> Article:
    """``article`` with any publication or update time after ``seen`` moved back to it."""
    published, updated = article.published_at, article.updated_at
    if (published is None or published <= seen) and (updated is None or updated <= seen):
        return article
    return replace(
        article,
        published_at=None if published is None else min(published, seen),
        updated_at=None if updated is None else min(updated, seen),
    )


def dedupe_batch(batch: Sequence[Article]) -> list[Article]:
    """One article per (source_id, guid), the last one winning, in first-seen order."""
    unique: dict[tuple[str, str], Article] = {}
    for article in batch:
        unique[(article.source_id, article.guid)] = article
    return list(unique.values())


def prepare_article(article: Article, matching: Matching = DEFAULT_MATCHING) -> Incoming:
    """One article hashed: its key, content hash and URL and title keys."""
    return Incoming(
        article,
        key_hash(article.guid),
        content_hash(article),
        url_key(article.url, matching),
        title_key(article.title),
    )


def prepare_batch(
    batch: Sequence[Article], matching: Matching = DEFAULT_MATCHING
) -> list[Incoming]:
    """The batch de-duplicated and hashed; ValueError naming the article that cannot be."""
    prepared: list[Incoming] = []
    for article in dedupe_batch(batch):
        try:
            prepared.append(prepare_article(article, matching))
        except ValueError as exc:
            raise ValueError(f"article {article.source_id}/{article.guid}: {exc}") from exc
    return prepared


def decide_article(incoming: Incoming, stored: Stored | None) -> ArticleChange:
    """New when nothing is stored, updated when the content hash differs, else unchanged.

    Another source's copy (``stored.alias``) is always unchanged: the first source
    owns the content.
    """
    if stored is None:
        return ArticleChange.NEW
    if stored.alias or stored.content_hash == incoming.content_hash:
        return ArticleChange.UNCHANGED
    return ArticleChange.UPDATED


def story_time(article: Article, seen: datetime) -> datetime:
    """When a story happened, for matching titles: published, else updated, else ``seen``."""
    return article.published_at or article.updated_at or seen


class CandidatePool:
    """Articles a new one may repeat, indexed by URL key and title key.

    Candidates keep the order they were added in; a match is the first one in
    that order, so the pool answers as a scan of the list would, in constant time.
    """

    def __init__(self, candidates: Sequence[Candidate] = ()) -> None:
        self.by_url: dict[str, list[Candidate]] = {}
        self.by_title: dict[str, list[Candidate]] = {}
        for candidate in candidates:
            self.add(candidate)

    def add(self, candidate: Candidate) -> None:
        """Add ``candidate`` after those already in the pool."""
        if candidate.url_key is not None:
            self.by_url.setdefault(candidate.url_key, []).append(candidate)
        if candidate.title_key is not None:
            self.by_title.setdefault(candidate.title_key, []).append(candidate)

    def match(self, incoming: Incoming, when: datetime, matching: Matching) -> int | None:
        """The sequence of the article ``incoming`` repeats from another source, if any.

        The same URL key matches at any distance in time; the same title key only
        within ``matching.title_window`` of ``when``. URL matches win, then the
        first candidate added (the oldest, as :func:`plan_batch` orders them).
        """
        source_id = incoming.article.source_id
        if incoming.url_key is not None:
            for candidate in self.by_url.get(incoming.url_key, ()):
                if candidate.source_id != source_id:
                    return candidate.seq
        if incoming.title_key is not None:
            for candidate in self.by_title.get(incoming.title_key, ()):
                close = abs(candidate.when - when) <= matching.title_window
                if candidate.source_id != source_id and close:
                    return candidate.seq
        return None


def plan_batch(
    prepared: Sequence[Incoming],
    stored: Mapping[StoredKey, Stored],
    candidates: Sequence[Candidate] = (),
    *,
    now: datetime | None = None,
    matching: Matching = DEFAULT_MATCHING,
) -> BatchPlan:
    """Decide every article of a prepared batch against what the store holds.

    Dates after ``now`` (for a new article) or after the stored first-seen time
    are clamped to it; a new article repeating a ``candidate`` (or an article new
    earlier in the batch) of another source becomes a duplicate of it.
    """
    plan = BatchPlan(new=[], updated=[], unchanged=0, duplicates=[])
    pool, unchanged = CandidatePool(sorted(candidates, key=lambda c: abs(c.seq))), 0
    for incoming in prepared:
        held = stored.get(incoming.stored_key)
        change = decide_article(incoming, held)
        if held is not None and change is ArticleChange.UPDATED:
            seen = held.first_seen_at or now
            article = incoming.article if seen is None else clamp_dates(incoming.article, seen)
            plan.updated.append((held.seq, incoming._replace(article=article)))
        elif change is not ArticleChange.NEW:
            unchanged += 1
        else:
            _plan_new(plan, pool, incoming, now, matching)
    return plan._replace(unchanged=unchanged)


def _plan_new(
    plan: BatchPlan,
    pool: CandidatePool,
    incoming: Incoming,
    now: datetime | None,
    matching: Matching,
) -> None:
    """Add a new article to ``plan``: as a duplicate of a candidate, else as new."""
    article = incoming.article if now is None else clamp_dates(incoming.article, now)
    incoming = incoming._replace(article=article)
    when = story_time(article, now or _EPOCH)
    if matching.enabled:
        target = pool.match(incoming, when, matching)
        if target is not None:
            plan.duplicates.append((target, incoming))
            return
    plan.new.append(incoming)
    seq = -len(plan.new)
    pool.add(Candidate(seq, article.source_id, incoming.url_key, incoming.title_key, when))


def results_by_source(prepared: Sequence[Incoming], plan: BatchPlan) -> dict[str, UpsertResult]:
    """Each source's counts in a plan made for the ``prepared`` articles of several sources."""
    counts: dict[str, list[int]] = {}  # source -> [new, updated, unchanged, duplicates]
    for item in prepared:
        counts.setdefault(item.article.source_id, [0, 0, 0, 0])[2] += 1
    updated, duplicates = [i for _, i in plan.updated], [i for _, i in plan.duplicates]
    changed = ((0, plan.new), (1, updated), (3, duplicates))
    for index, items in changed:
        for item in items:
            tally = counts[item.article.source_id]
            tally[index] += 1
            tally[2] -= 1
    return {source: UpsertResult(*tally) for source, tally in counts.items()}
