"""Schema and plumbing of the store: tables, UTC datetimes, migrations, row conversion.

Only :mod:`syndicate.store` and the Alembic migrations use this module.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

from syndicate.model import (
    Article,
    Edition,
    SourceState,
    Subscriber,
    Subscription,
    SubscriptionState,
    as_utc,
)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 15000
KEY_CHUNK = 500  # GUID hashes per IN (...) query
WRITE_OPTION = "syndicate_write"  # execution option: SQLite opens the transaction IMMEDIATE

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
    sa.UniqueConstraint("source_id", "key_hash"),
    sa.UniqueConstraint("public_id"),
    sa.Index(None, "section_id", "published_at"),
    sa.Index(None, "first_seen_at"),
    sqlite_autoincrement=True,
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
    sa.UniqueConstraint("subscriber_id", "digest_id"),
    sa.UniqueConstraint("token"),
    sa.Index(None, "digest_id", "status"),
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
    sa.UniqueConstraint("edition_id", "subscriber_id"),
)


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


def row_subscriber(row: sa.Row[Any]) -> Subscriber:
    """A ``subscribers`` row as a :class:`Subscriber`."""
    return Subscriber(id=int(row.id), email=row.email, name=row.name)


def row_subscription(row: sa.Row[Any], subscriber: Subscriber) -> Subscription:
    """A ``subscriptions`` row (and its subscriber) as a :class:`Subscription`."""
    return Subscription(
        subscriber=subscriber,
        digest_id=row.digest_id,
        sections=tuple(row.sections or ()),
        status=SubscriptionState(row.status),
        token=row.token,
        consent_at=row.consent_at,
    )


def newest_first() -> tuple[sa.UnaryExpression[Any], ...]:
    """ORDER BY terms: newest first by publication (else update, else first seen), then id."""
    when = sa.func.coalesce(
        articles.c.published_at, articles.c.updated_at, articles.c.first_seen_at
    )
    return (when.desc(), articles.c.id.desc())


def describe_diff(diff: Any) -> str:
    """One readable line for an Alembic autogenerate difference."""
    if isinstance(diff, list):
        return "; ".join(describe_diff(item) for item in diff)
    op, *rest = diff
    if op.startswith("modify_"):
        _schema, table, column, _info, old, new = rest
        return f"{op} {table}.{column}: database has {old!r}, models want {new!r}"
    target = rest[0]
    name = getattr(target, "name", None) or repr(target)
    table = getattr(getattr(target, "table", None), "name", None)
    return f"{op} {table}.{name}" if table and table != name else f"{op} {name}"


def alembic_config(conn: sa.Connection | None = None) -> AlembicConfig:
    """An Alembic configuration for the packaged migrations, sharing ``conn`` if given."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    if conn is not None:
        config.attributes["connection"] = conn
    return config


def head_revision() -> str | None:
    """The newest migration revision, None when there are no migrations."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def known_revisions() -> set[str]:
    """Every migration revision this version knows."""
    script = ScriptDirectory.from_config(alembic_config())
    return {rev.revision for rev in script.walk_revisions()}


def current_revision(conn: sa.Connection) -> str | None:
    """The revision recorded in the database, None when never migrated."""
    return MigrationContext.configure(conn).get_current_revision()


def upgrade_to_head(conn: sa.Connection) -> None:
    """Run every pending migration on ``conn`` (inside the caller's transaction)."""
    command.upgrade(alembic_config(conn), "head")


def differences(conn: sa.Connection) -> list[str]:
    """One line per difference between the database and :data:`metadata`."""
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return [describe_diff(diff) for diff in compare_metadata(context, metadata)]


# ---------------------------------------------------------------- plumbing and loading


def mask_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)


def one_line(text: str, secret: str | None = None) -> str:
    """Collapse a (driver) error message to one line, hiding ``secret``."""
    line = " ".join(text.split())
    if secret:
        line = line.replace(secret, "***")
    return line[:400]


def sqlite_file(url: sa.URL) -> Path | None:
    """The database file of a SQLite URL; None for other databases and in-memory ones."""
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    if database.startswith("file:"):
        return None
    return Path(database)


def install_sqlite_hooks(engine: sa.Engine) -> None:
    """WAL, foreign keys, busy timeout, and SQLAlchemy-controlled BEGIN on SQLite."""

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    def on_begin(connection: sa.Connection) -> None:
        write = connection.get_execution_options().get(WRITE_OPTION)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    sa.event.listen(engine, "connect", on_connect)
    sa.event.listen(engine, "begin", on_begin)


def subscription_query() -> sa.Select[Any]:
    """SELECT subscriptions joined with their subscriber (``person_id``, email, name)."""
    person = (subscribers.c.id.label("person_id"), subscribers.c.email, subscribers.c.name)
    joined = subscriptions.join(subscribers, subscriptions.c.subscriber_id == subscribers.c.id)
    return sa.select(subscriptions, *person).select_from(joined)


def joined_subscription(row: sa.Row[Any]) -> Subscription:
    """A row of :func:`subscription_query` as a :class:`Subscription`."""
    person = Subscriber(id=int(row.person_id), email=row.email, name=row.name)
    return row_subscription(row, person)


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
