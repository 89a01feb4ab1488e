"""Plain domain objects passed between stages.

Every ``datetime`` here is timezone-aware and in UTC; conversion to the
configured timezone happens only when writing output.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime


def utcnow() -> datetime:
    """Return the current time, aware, in UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Return ``value`` converted to UTC; naive values are rejected."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} has no timezone")
    return value.astimezone(UTC)


@dataclass(frozen=True)
class Section:
    """A section of the publication (IT·과학, 경제, ...), in display order."""

    id: str
    name: str
    order: int


@dataclass
class Article:
    """One article as collected from a source and as kept by the store.

    ``guid`` is the source's stable key for the article (its GUID, else its URL).
    ``summary_html`` and ``content_html`` are already sanitized.
    ``id`` (the ingest sequence), ``public_id`` and ``first_seen_at`` are set by
    the store and stay ``None`` on freshly collected articles.
    """

    source_id: str
    guid: str
    url: str
    title: str
    section_id: str
    summary_html: str = ""
    content_html: str = ""
    author: str = ""
    categories: tuple[str, ...] = ()
    published_at: datetime | None = None
    updated_at: datetime | None = None
    image_url: str = ""
    id: int | None = None
    public_id: str | None = None
    first_seen_at: datetime | None = None

    @property
    def sort_time(self) -> datetime:
        """The time used to order articles: published, else updated, else first seen."""
        for value in (self.published_at, self.updated_at, self.first_seen_at):
            if value is not None:
                return value
        return datetime.min.replace(tzinfo=UTC)


def newest_first(articles: Iterable[Article]) -> list[Article]:
    """Order articles as the store does: newest sort time first, then highest ingest sequence."""
    return sorted(articles, key=lambda a: (a.sort_time, a.id or 0), reverse=True)


@dataclass(frozen=True)
class Subscriber:
    """A person on a list, unique by normalised e-mail address."""

    id: int
    email: str
    name: str = ""


@dataclass(frozen=True)
class Subscription:
    """A subscriber's choice for one digest: which sections, and whether active."""

    subscriber: Subscriber
    digest_id: str
    sections: tuple[str, ...]
    status: str
    token: str
    consent_at: datetime | None = None


@dataclass(frozen=True)
class Edition:
    """One issue of a digest for one scheduled slot, with its frozen article list.

    ``slot`` is the scheduled time (UTC); ``cutoff_seq`` is the highest ingest
    sequence considered, so the next edition starts after it.
    """

    id: int
    digest_id: str
    slot: datetime
    cutoff_seq: int
    created_at: datetime
    articles: tuple[Article, ...] = ()


@dataclass(frozen=True)
class SectionGroup:
    """The articles of one section inside a digest."""

    section: Section
    articles: tuple[Article, ...]


@dataclass(frozen=True)
class Digest:
    """What one subscriber receives from one edition: articles grouped by section."""

    edition: Edition
    subscription: Subscription
    groups: tuple[SectionGroup, ...]

    @property
    def article_count(self) -> int:
        """Number of articles across all groups."""
        return sum(len(g.articles) for g in self.groups)


@dataclass(frozen=True)
class RenderedDigest:
    """A digest rendered to a subject, an HTML body (CSS inlined) and a text body."""

    digest: Digest
    subject: str
    html: str
    text: str


@dataclass
class SourceState:
    """What the store remembers about a source between runs (conditional GET)."""

    source_id: str
    etag: str | None = None
    last_modified: str | None = None
    last_checked_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    error_count: int = 0
    pages: dict[str, dict[str, str]] = field(default_factory=dict)
    """Per-page validators of page sources: URL -> ``etag``/``last_modified``/``sha256``."""


@dataclass(frozen=True)
class UpsertResult:
    """Counts from storing a batch of articles."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass
class RunReport:
    """What one pipeline step did, for the CLI and logs."""

    ok: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def has_failures(self) -> bool:
        """True when any unit of work failed."""
        return bool(self.failed)
