"""The store: every SQL statement of syndicate, on SQLite (default) or PostgreSQL.

:class:`Store` wraps one SQLAlchemy engine. Schema changes go through the
Alembic migrations in ``syndicate/migrations``; every method runs in its own
transaction and returns the plain objects of :mod:`syndicate.model`.
SQLAlchemy and Alembic errors leave this module as :class:`StoreError`.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

import sqlalchemy as sa
from alembic.util import CommandError

from syndicate import store_schema as schema
from syndicate.addresses import normalize_address
from syndicate.errors import SchemaOutOfDate, StoreError
from syndicate.model import (
    Article,
    Edition,
    SendState,
    SourceState,
    Subscriber,
    Subscription,
    SubscriptionState,
    UpsertResult,
    as_utc,
    may_claim,
    send_predecessors,
    send_transition,
    utcnow,
)
from syndicate.store_schema import (
    article_values,
    articles,
    content_hash,
    edition_articles,
    editions,
    key_hash,
    newest_first,
    row_article,
    row_subscriber,
    row_subscription,
    sends,
    source_states,
    subscribers,
    subscriptions,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")


class _Conflict(StoreError):
    """A unique or foreign-key constraint refused a write (caught to resolve races)."""


def _now(now: datetime | None) -> datetime:
    return utcnow() if now is None else as_utc(now)


def _opt_utc(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


class SubscriptionEntry(NamedTuple):
    """One subscriber and their subscription to one digest, for :meth:`Store.save_subscriptions`."""

    email: str
    name: str
    digest_id: str
    sections: Sequence[str]
    status: SubscriptionState
    consent_at: datetime | None


def _subscription_values(
    sections: Sequence[str], status: SubscriptionState, consent_at: datetime | None, when: datetime
) -> dict[str, Any]:
    state = SubscriptionState.parse(status).value  # ValueError naming the known states
    values: dict[str, Any] = {"sections": list(sections), "status": state, "updated_at": when}
    if consent_at is not None:
        values["consent_at"] = as_utc(consent_at)
    return values


def _upsert_subscriber(conn: sa.Connection, address: str, name: str) -> Subscriber:
    row = conn.execute(sa.select(subscribers).where(subscribers.c.email == address)).first()
    if row is None:
        values = {"email": address, "name": name, "created_at": utcnow()}
        insert = subscribers.insert().values(values).returning(subscribers.c.id)
        return Subscriber(id=int(conn.execute(insert).scalar_one()), email=address, name=name)
    if name and name != row.name:
        conn.execute(subscribers.update().where(subscribers.c.id == row.id).values(name=name))
        return Subscriber(id=int(row.id), email=address, name=name)
    return row_subscriber(row)


class Store:
    """The database of syndicate: articles, source states, subscribers, editions, sends.

    ``url`` is the SQLAlchemy URL with its password hidden (safe to print).
    """

    def __init__(self, url: str) -> None:
        """Create the engine for ``url``; an unusable URL raises :class:`StoreError`."""
        self.url = schema.mask_url(url)
        try:
            parsed = sa.make_url(url)
            self._engine = sa.create_engine(parsed, pool_pre_ping=True)
        except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
            raise StoreError(f"database {self.url}: {schema.one_line(str(exc))}") from exc
        self._password = parsed.password if isinstance(parsed.password, str) else None
        self._sqlite_path = schema.sqlite_file(parsed)
        if self._engine.dialect.name == "sqlite":
            schema.install_sqlite_hooks(self._engine)

    def __repr__(self) -> str:
        """``Store('<url with password hidden>')``."""
        return f"Store({self.url!r})"

    __str__ = __repr__

    def __enter__(self) -> Store:
        """Use the store as a context manager that closes it on exit."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the store."""
        self.close()

    def close(self) -> None:
        """Release every pooled connection."""
        self._engine.dispose()

    # ---------------------------------------------------------------- plumbing

    def _error(self, exc: Exception) -> str:
        detail = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
        return f"database {self.url}: {schema.one_line(str(detail), self._password)}"

    @contextmanager
    def _tx(self, *, write: bool = False) -> Iterator[sa.Connection]:
        """One transaction; SQLAlchemy errors become :class:`StoreError`."""
        try:
            with self._engine.connect() as conn:
                if write:
                    conn.execution_options(**{schema.WRITE_OPTION: True})
                with conn.begin():
                    yield conn
        except sa.exc.IntegrityError as exc:
            raise _Conflict(self._error(exc)) from exc
        except sa.exc.DBAPIError as exc:
            raise StoreError(self._error(exc)) from exc
        except sa.exc.StatementError as exc:
            if isinstance(exc.orig, ValueError):
                raise ValueError(str(exc.orig)) from exc
            raise StoreError(self._error(exc)) from exc
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(self._error(exc)) from exc

    @staticmethod
    def _retry_on_conflict(action: Callable[[], T]) -> T:
        """Run ``action``; once more if a concurrent writer won a unique constraint."""
        try:
            return action()
        except _Conflict as exc:
            logger.info("retrying after a concurrent write: %s", exc)
            return action()

    # ---------------------------------------------------------------- schema

    def _make_folder(self) -> None:
        if self._sqlite_path is None:
            return
        try:
            self._sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"database {self.url}: cannot create folder: {exc}") from exc

    def upgrade(self) -> None:
        """Bring the schema to the newest migration (``alembic upgrade head``)."""
        self._make_folder()
        with self._tx(write=True) as conn:
            before = schema.current_revision(conn)
            try:
                schema.upgrade_to_head(conn)
            except CommandError as exc:
                raise StoreError(f"database {self.url}: {schema.one_line(str(exc))}") from exc
        head = self.head_revision()
        if before != head:
            logger.info("upgraded %s from revision %s to %s", self.url, before, head)

    def current_revision(self) -> str | None:
        """The migration revision the database is at; ``None`` when never migrated."""
        if self._sqlite_path is not None and not self._sqlite_path.exists():
            return None  # not created yet: do not create the file (or fail on its folder)
        with self._tx() as conn:
            return schema.current_revision(conn)

    def head_revision(self) -> str:
        """The newest migration revision this version of syndicate knows."""
        head = schema.head_revision()
        if head is None:
            raise StoreError(f"no migrations found in {schema.MIGRATIONS}")
        return head

    def _has_tables(self) -> bool:
        with self._tx() as conn:
            existing = set(sa.inspect(conn).get_table_names())
        return bool(existing & set(schema.metadata.tables))

    def ensure_current(self) -> None:
        """Create the schema in an empty database, else insist it is at the head revision."""
        self._make_folder()
        current, head = self.current_revision(), self.head_revision()
        if current == head:
            return
        if current is None:
            if self._has_tables():
                raise StoreError(
                    f"database {self.url} has syndicate tables but no schema revision: "
                    "restore it or start from an empty database"
                )
            self.upgrade()
            return
        if current not in schema.known_revisions():
            raise SchemaOutOfDate(
                f"database {self.url} is at revision {current}, unknown to this syndicate "
                f"(which needs {head}): use the syndicate version that migrated it"
            )
        raise SchemaOutOfDate(
            f"database {self.url} is at revision {current}, this syndicate needs {head}: "
            "run `syndicate db upgrade`"
        )

    def schema_differences(self) -> list[str]:
        """Differences between the database and the table definitions (``alembic check``)."""
        head = self.head_revision()
        with self._tx() as conn:
            current = schema.current_revision(conn)
            lines = schema.differences(conn)
        if current != head:
            lines.insert(0, f"database is at revision {current}, head is {head}")
        return lines

    # ---------------------------------------------------------------- sources

    def get_source_state(self, source_id: str) -> SourceState:
        """What is remembered about ``source_id``; a fresh state when nothing is."""
        query = sa.select(source_states).where(source_states.c.source_id == source_id)
        with self._tx() as conn:
            row = conn.execute(query).first()
        return SourceState(source_id) if row is None else schema.row_source_state(row)

    def save_source_state(self, state: SourceState) -> None:
        """Insert or replace the stored state of ``state.source_id``."""
        values = {
            "etag": state.etag,
            "last_modified": state.last_modified,
            "last_checked_at": _opt_utc(state.last_checked_at),
            "last_success_at": _opt_utc(state.last_success_at),
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

    # ---------------------------------------------------------------- articles

    def upsert_articles(
        self, articles: Sequence[Article], *, tag_authority: str, now: datetime | None = None
    ) -> UpsertResult:
        """Store a batch of collected articles in one transaction; count new/updated/unchanged.

        Articles match on (source_id, guid). New ones get their ingest sequence,
        ``first_seen_at`` and ``public_id`` (never changed later); known ones are
        updated only when their content hash changed.
        """
        when = _now(now)
        prepared: list[tuple[Article, str, str]] = []
        for article in schema.dedupe_batch(articles):
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
        existing = schema.stored_article_hashes(conn, prepared)
        new_rows: list[dict[str, Any]] = []
        updated = unchanged = 0
        for article, key, digest in prepared:
            stored = existing.get((article.source_id, key))
            if stored is None:
                new_rows.append(schema.new_article_row(article, key, digest, tag_authority, when))
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

    # ---------------------------------------------------------------- subscribers

    def upsert_subscriber(self, email: str, name: str = "") -> Subscriber:
        """The subscriber with this (normalised) address, created if new.

        A non-empty ``name`` replaces the stored one. Invalid addresses raise ValueError.
        """
        address = normalize_address(email)

        def upsert() -> Subscriber:
            with self._tx(write=True) as conn:
                return _upsert_subscriber(conn, address, name.strip())

        return self._retry_on_conflict(upsert)

    def set_subscription(
        self,
        subscriber_id: int,
        digest_id: str,
        sections: Sequence[str],
        *,
        status: SubscriptionState = SubscriptionState.ACTIVE,
        consent_at: datetime | None = None,
        now: datetime | None = None,
    ) -> Subscription:
        """Create or change a subscriber's subscription to one digest.

        The unsubscribe token is minted on creation and never changes;
        ``consent_at`` is kept when not given.
        """
        when = _now(now)
        values = _subscription_values(sections, status, consent_at, when)

        def save() -> Subscription:
            with self._tx(write=True) as conn:
                return self._save_subscription(conn, subscriber_id, digest_id, values, when)

        return self._retry_on_conflict(save)

    def save_subscriptions(self, entries: Sequence[SubscriptionEntry]) -> None:
        """Upsert every entry's subscriber and subscription in one transaction: all or nothing."""
        addresses = [normalize_address(entry.email) for entry in entries]
        when = utcnow()
        changes = [_subscription_values(e.sections, e.status, e.consent_at, when) for e in entries]

        def save() -> None:
            with self._tx(write=True) as conn:
                for entry, address, values in zip(entries, addresses, changes, strict=True):
                    person = _upsert_subscriber(conn, address, entry.name.strip())
                    self._save_subscription(conn, person.id, entry.digest_id, values, when)

        self._retry_on_conflict(save)

    def _save_subscription(
        self,
        conn: sa.Connection,
        subscriber_id: int,
        digest_id: str,
        values: dict[str, Any],
        when: datetime,
    ) -> Subscription:
        person = conn.execute(
            sa.select(subscribers).where(subscribers.c.id == subscriber_id)
        ).first()
        if person is None:
            raise StoreError(f"database {self.url}: no subscriber with id {subscriber_id}")
        key = (subscriptions.c.subscriber_id == subscriber_id) & (
            subscriptions.c.digest_id == digest_id
        )
        if not conn.execute(subscriptions.update().where(key).values(values)).rowcount:
            token = secrets.token_urlsafe(24)
            conn.execute(
                subscriptions.insert().values(
                    subscriber_id=subscriber_id,
                    digest_id=digest_id,
                    token=token,
                    created_at=when,
                    **values,
                )
            )
        row = conn.execute(sa.select(subscriptions).where(key)).one()
        return row_subscription(row, row_subscriber(person))

    def subscriptions(
        self, digest_id: str, *, status: SubscriptionState | None = SubscriptionState.ACTIVE
    ) -> list[Subscription]:
        """Subscriptions to ``digest_id`` (only those in ``status`` unless None), by subscriber."""
        query = schema.subscription_query().where(subscriptions.c.digest_id == digest_id)
        if status is not None:
            query = query.where(subscriptions.c.status == status)
        query = query.order_by(subscriptions.c.subscriber_id)
        with self._tx() as conn:
            return [schema.joined_subscription(row) for row in conn.execute(query)]

    def list_subscribers(self) -> list[tuple[Subscriber, list[Subscription]]]:
        """Every subscriber (by id) with all their subscriptions (by digest id)."""
        order = (subscriptions.c.subscriber_id, subscriptions.c.digest_id)
        with self._tx() as conn:
            people = conn.execute(sa.select(subscribers).order_by(subscribers.c.id)).all()
            subs = conn.execute(schema.subscription_query().order_by(*order)).all()
        grouped: dict[int, list[Subscription]] = {int(row.id): [] for row in people}
        for row in subs:  # a subscriber committed between the two queries is left out
            if (bucket := grouped.get(int(row.person_id))) is not None:
                bucket.append(schema.joined_subscription(row))
        return [(row_subscriber(row), grouped[int(row.id)]) for row in people]

    def subscription_by_token(self, token: str) -> Subscription | None:
        """The subscription whose unsubscribe token is ``token``, if any."""
        query = schema.subscription_query().where(subscriptions.c.token == token)
        with self._tx() as conn:
            row = conn.execute(query).first()
        return None if row is None else schema.joined_subscription(row)

    # ---------------------------------------------------------------- editions

    def _find_edition(self, conn: sa.Connection, digest_id: str, slot: datetime) -> Edition | None:
        query = sa.select(editions).where(
            editions.c.digest_id == digest_id, editions.c.slot == as_utc(slot)
        )
        row = conn.execute(query).first()
        return None if row is None else schema.load_edition(conn, row)

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
            return None if row is None else schema.load_edition(conn, row)

    def get_edition(self, digest_id: str, slot: datetime) -> Edition | None:
        """The edition of ``digest_id`` for ``slot``, with its frozen articles."""
        with self._tx() as conn:
            return self._find_edition(conn, digest_id, slot)

    def create_edition(
        self,
        digest_id: str,
        slot: datetime,
        cutoff_seq: int,
        article_ids: Sequence[int],
        *,
        now: datetime | None = None,
    ) -> tuple[Edition, bool]:
        """Freeze an edition atomically; ``(existing, False)`` if the slot already has one."""
        slot, when = as_utc(slot), _now(now)
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
                ids = list(dict.fromkeys(article_ids))
                if ids:
                    rows = [
                        {"edition_id": row.id, "article_id": article_id, "position": position}
                        for position, article_id in enumerate(ids)
                    ]
                    conn.execute(edition_articles.insert(), rows)
                return schema.load_edition(conn, row), True
        except _Conflict:
            found = self.get_edition(digest_id, slot)
            if found is None:
                raise
            return found, False

    # ---------------------------------------------------------------- sends

    def _send_key(self, edition_id: int, subscriber_id: int) -> sa.ColumnElement[bool]:
        return (sends.c.edition_id == edition_id) & (sends.c.subscriber_id == subscriber_id)

    def claim_send(
        self, edition_id: int, subscriber_id: int, message_id: str, *, now: datetime | None = None
    ) -> bool:
        """Claim the right to send ``edition_id`` to ``subscriber_id`` now.

        True when :func:`~syndicate.model.may_claim` allows it (a first attempt or
        a retry after a temporary failure; the row becomes ``sending``), else False.
        """
        when, key = _now(now), self._send_key(edition_id, subscriber_id)
        try:
            with self._tx(write=True) as conn:
                query = sa.select(sends.c.status).where(key).with_for_update()
                state = self._send_state(conn.execute(query).scalar())
                if not may_claim(state):
                    return False
                if state is None:
                    values = {
                        "status": SendState.SENDING.value,
                        "attempts": 1,
                        "message_id": message_id,
                    }
                    stamps = {"created_at": when, "updated_at": when}
                    insert = sends.insert().values(
                        edition_id=edition_id, subscriber_id=subscriber_id
                    )
                    conn.execute(insert.values(**values, **stamps))
                    return True
                retry = sends.update().where(key, sends.c.status == state.value)
                values = {
                    "status": SendState.SENDING.value,
                    "attempts": sends.c.attempts + 1,
                    "error": None,
                }
                result = conn.execute(
                    retry.values(message_id=message_id, updated_at=when, **values)
                )
                return result.rowcount == 1
        except _Conflict:
            if self.send_states(edition_id).get(subscriber_id) is None:
                raise
            return False

    def finish_send(
        self,
        edition_id: int,
        subscriber_id: int,
        status: SendState,
        *,
        error: str | None = None,
        now: datetime | None = None,
    ) -> None:
        """Record the outcome of a claimed send (a state that may follow ``sending``).

        ValueError when ``status`` may not follow a claim; StoreError when the
        send is not in a state ``status`` may follow (it was never claimed).
        """
        send_transition(SendState.SENDING, SendState(status))
        when, key = _now(now), self._send_key(edition_id, subscriber_id)
        values: dict[str, Any] = {"status": status.value, "error": error, "updated_at": when}
        if status.delivered:
            values["sent_at"] = when
        before = [state.value for state in send_predecessors(status) if state is not None]
        with self._tx(write=True) as conn:
            update = sends.update().where(key, sends.c.status.in_(before)).values(values)
            if not conn.execute(update).rowcount:
                raise StoreError(
                    f"database {self.url}: send of edition {edition_id} to subscriber "
                    f"{subscriber_id} is not claimed; cannot record {status.value!r}"
                )

    def send_states(self, edition_id: int) -> dict[int, SendState]:
        """subscriber_id -> send state for every send row of ``edition_id``."""
        query = sa.select(sends.c.subscriber_id, sends.c.status).where(
            sends.c.edition_id == edition_id
        )
        with self._tx() as conn:
            rows = conn.execute(query).all()
        return {int(row.subscriber_id): self._known_state(row.status) for row in rows}

    def _send_state(self, value: str | None) -> SendState | None:
        """The stored send state ``value`` (None: no send row)."""
        return None if value is None else self._known_state(value)

    def _known_state(self, value: str) -> SendState:
        try:
            return SendState(value)
        except ValueError:
            raise StoreError(f"database {self.url}: unknown send state {value!r}") from None
