"""The tables of the store: what Alembic compares with the database and migrates.

Imported by every part of :mod:`syndicate.store` and by ``migrations/env.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

from syndicate.model import as_utc

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A datetime column that only accepts aware values and always returns aware UTC.

    PostgreSQL stores ``timestamptz``; SQLite (which drops offsets) stores the
    naive UTC wall time, and the UTC zone is re-attached on read.
    """

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """Use ``timestamptz`` on PostgreSQL and a plain DATETIME elsewhere."""
        if dialect.name == "postgresql":
            return dialect.type_descriptor(sa.DateTime(timezone=True))
        return dialect.type_descriptor(sa.DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes; convert to UTC (naive UTC for SQLite)."""
        if value is None:
            return None
        utc = as_utc(value)
        return utc if dialect.name == "postgresql" else utc.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime whatever the backend gave back."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _ts(name: str, *, nullable: bool = True) -> sa.Column[datetime]:
    return sa.Column(name, UTCDateTime(), nullable=nullable)


articles = sa.Table(
    "articles",
    metadata,
    # The ingest sequence (Article.seq; editions' cutoff_seq). The column keeps the
    # name it has in existing databases; only the store reads it.
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source_id", sa.String(200), nullable=False),
    sa.Column("guid", sa.Text, nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False),
    sa.Column("public_id", sa.Text, nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("section_id", sa.String(200), nullable=False),
    sa.Column("summary_html", sa.Text, nullable=False),
    sa.Column("content_html", sa.Text, nullable=False),
    sa.Column("author", sa.Text, nullable=False),
    sa.Column("categories", sa.JSON, nullable=False),
    sa.Column("image_url", sa.Text, nullable=False),
    _ts("published_at"),
    _ts("updated_at"),
    _ts("first_seen_at", nullable=False),
    _ts("changed_at", nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    # Matching across sources (syndicate.matching): hashes of the normalised URL and title.
    sa.Column("url_key", sa.String(64)),
    sa.Column("title_key", sa.String(64)),
    # Set while the article is taken down (the story is in ``takedowns``).
    _ts("hidden_at"),
    sa.UniqueConstraint("source_id", "key_hash"),
    sa.UniqueConstraint("public_id"),
    sa.Index(None, "section_id", "published_at"),
    sa.Index(None, "first_seen_at"),
    sa.Index(None, "url_key"),
    sa.Index(None, "title_key"),
    sqlite_autoincrement=True,
)


def newest_time() -> sa.ColumnElement[datetime]:
    """An article's time in feeds and editions: published, else updated, else first seen."""
    return sa.func.coalesce(
        articles.c.published_at, articles.c.updated_at, articles.c.first_seen_at
    )


# Feeds read the newest articles by this order (all, of a section or of a source):
# indexed, so a feed write at 100,000 articles reads 50 index entries, not a sort of all.
sa.Index("ix_articles_newest", newest_time(), articles.c.id)
sa.Index("ix_articles_section_newest", articles.c.section_id, newest_time(), articles.c.id)
sa.Index("ix_articles_source_newest", articles.c.source_id, newest_time(), articles.c.id)

# Further sources of a stored article: the same story given by another source.
article_sources = sa.Table(
    "article_sources",
    metadata,
    sa.Column("source_id", sa.String(200), primary_key=True),
    sa.Column("key_hash", sa.String(64), primary_key=True),
    sa.Column("article_id", sa.Integer, sa.ForeignKey("articles.id"), nullable=False),
    sa.Column("guid", sa.Text, nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    _ts("first_seen_at", nullable=False),
    sa.Index(None, "article_id"),
)

# Every hide and unhide of an article: what, why, who, when.
takedowns = sa.Table(
    "takedowns",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("article_id", sa.Integer, sa.ForeignKey("articles.id"), nullable=False),
    sa.Column("action", sa.String(10), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    _ts("at", nullable=False),
    sa.Index(None, "article_id"),
)

source_states = sa.Table(
    "source_states",
    metadata,
    sa.Column("source_id", sa.String(200), primary_key=True),
    sa.Column("etag", sa.Text),
    sa.Column("last_modified", sa.Text),
    _ts("last_checked_at"),
    _ts("last_success_at"),
    sa.Column("last_error", sa.Text),
    sa.Column("error_count", sa.Integer, nullable=False),
    sa.Column("pages", sa.JSON),
    sa.Column("location", sa.Text),
    sa.Column("moved_from", sa.Text),
    _ts("next_due_at"),
    sa.Column("backoff_seconds", sa.Integer, nullable=False, server_default="0"),
    _ts("retired_at"),
    sa.Column("entries", sa.JSON),
)

subscribers = sa.Table(
    "subscribers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    _ts("created_at", nullable=False),
    sa.UniqueConstraint("email"),
)

subscriptions = sa.Table(
    "subscriptions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("subscriber_id", sa.Integer, sa.ForeignKey("subscribers.id"), nullable=False),
    sa.Column("digest_id", sa.String(200), nullable=False),
    sa.Column("sections", sa.JSON, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("token", sa.String(64), nullable=False),
    _ts("consent_at"),
    _ts("created_at", nullable=False),
    _ts("updated_at", nullable=False),
    sa.Column("consent_method", sa.String(40)),
    _ts("paused_until"),
    sa.UniqueConstraint("subscriber_id", "digest_id"),
    sa.UniqueConstraint("token"),
    sa.Index(None, "digest_id", "status"),
)

confirmations = sa.Table(
    "confirmations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("token_hash", sa.String(64), nullable=False),
    sa.Column("digest_id", sa.String(200), nullable=False),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("sections", sa.JSON, nullable=False),
    _ts("created_at", nullable=False),
    _ts("expires_at", nullable=False),
    _ts("used_at"),
    sa.UniqueConstraint("token_hash"),
    sa.Index(None, "email", "created_at"),
)

rate_counts = sa.Table(
    "rate_counts",
    metadata,
    sa.Column("key", sa.String(100), nullable=False),
    _ts("window_start", nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.PrimaryKeyConstraint("key", "window_start"),
)

secrets = sa.Table(
    "secrets",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    _ts("created_at", nullable=False),
)

editions = sa.Table(
    "editions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("digest_id", sa.String(200), nullable=False),
    _ts("slot", nullable=False),
    sa.Column("cutoff_seq", sa.Integer, nullable=False),
    _ts("created_at", nullable=False),
    sa.UniqueConstraint("digest_id", "slot"),
)

edition_articles = sa.Table(
    "edition_articles",
    metadata,
    sa.Column("edition_id", sa.Integer, sa.ForeignKey("editions.id"), primary_key=True),
    sa.Column("article_id", sa.Integer, sa.ForeignKey("articles.id"), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
)

sends = sa.Table(
    "sends",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("edition_id", sa.Integer, sa.ForeignKey("editions.id"), nullable=False),
    sa.Column("subscriber_id", sa.Integer, sa.ForeignKey("subscribers.id"), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("message_id", sa.Text),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("error", sa.Text),
    _ts("created_at", nullable=False),
    _ts("updated_at", nullable=False),
    _ts("sent_at"),
    _ts("next_attempt_at"),
    sa.Column("lease_owner", sa.String(200)),
    _ts("lease_until"),
    sa.UniqueConstraint("edition_id", "subscriber_id"),
)

edition_bodies = sa.Table(
    "edition_bodies",
    metadata,
    sa.Column("edition_id", sa.Integer, sa.ForeignKey("editions.id"), primary_key=True),
    sa.Column("variant_hash", sa.String(64), primary_key=True),
    sa.Column("variant", sa.Text, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("html", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    _ts("created_at", nullable=False),
)

# The one row per lease name that makes one `syndicate run` active: the holder renews
# it before ``expires_at``; each new holder increments ``fence``. ``reload_at`` is the
# last reload asked of the daemons through the database (`syndicate reload`).
scheduler_lease = sa.Table(
    "scheduler_lease",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("holder", sa.String(200)),
    _ts("acquired_at"),
    _ts("heartbeat_at"),
    _ts("expires_at", nullable=False),
    sa.Column("fence", sa.Integer, nullable=False),
    _ts("reload_at"),
)

job_runs = sa.Table(
    "job_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    _ts("due_at", nullable=False),
    _ts("started_at", nullable=False),
    _ts("finished_at"),
    sa.Column("outcome", sa.String(20)),
    sa.Column("counts", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("runner", sa.String(200), nullable=False),
    sa.Column("fence", sa.Integer, nullable=False),
    sa.UniqueConstraint("job_id", "due_at"),
    sa.Index(None, "started_at"),
)

paused = sa.Table(
    "paused",
    metadata,
    sa.Column("target", sa.String(200), primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),
    _ts("paused_at", nullable=False),
)
