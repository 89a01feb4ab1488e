"""The audience: subscribers and their subscriptions to digests.

:class:`AudienceMixin` gives :class:`syndicate.store.Store` its subscriber and
subscription methods.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa

from syndicate.addresses import normalize_address
from syndicate.errors import StoreError
from syndicate.model import Subscriber, Subscription, SubscriptionState, as_utc, utcnow
from syndicate.store.base import StoreBase, now_or
from syndicate.store.tables import subscribers, subscriptions


class SubscriptionEntry(NamedTuple):
    """One subscriber and their subscription to one digest, for :meth:`Store.save_subscriptions`."""

    email: str
    name: str
    digest_id: str
    sections: Sequence[str]
    status: SubscriptionState
    consent_at: datetime | None


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


def subscription_query() -> sa.Select[Any]:
    """SELECT subscriptions joined with their subscriber (``person_id``, email, name)."""
    person = (subscribers.c.id.label("person_id"), subscribers.c.email, subscribers.c.name)
    joined = subscriptions.join(subscribers, subscriptions.c.subscriber_id == subscribers.c.id)
    return sa.select(subscriptions, *person).select_from(joined)


def joined_subscription(row: sa.Row[Any]) -> Subscription:
    """A row of :func:`subscription_query` as a :class:`Subscription`."""
    person = Subscriber(id=int(row.person_id), email=row.email, name=row.name)
    return row_subscription(row, person)


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


class AudienceMixin(StoreBase):
    """Subscribers (one per normalised address) and their subscriptions."""

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
        when = now_or(now)
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
        query = subscription_query().where(subscriptions.c.digest_id == digest_id)
        if status is not None:
            query = query.where(subscriptions.c.status == status)
        query = query.order_by(subscriptions.c.subscriber_id)
        with self._tx() as conn:
            return [joined_subscription(row) for row in conn.execute(query)]

    def list_subscribers(self) -> list[tuple[Subscriber, list[Subscription]]]:
        """Every subscriber (by id) with all their subscriptions (by digest id)."""
        order = (subscriptions.c.subscriber_id, subscriptions.c.digest_id)
        with self._tx() as conn:
            people = conn.execute(sa.select(subscribers).order_by(subscribers.c.id)).all()
            subs = conn.execute(subscription_query().order_by(*order)).all()
        grouped: dict[int, list[Subscription]] = {int(row.id): [] for row in people}
        for row in subs:  # a subscriber committed between the two queries is left out
            if (bucket := grouped.get(int(row.person_id))) is not None:
                bucket.append(joined_subscription(row))
        return [(row_subscriber(row), grouped[int(row.id)]) for row in people]

    def subscription_by_token(self, token: str) -> Subscription | None:
        """The subscription whose unsubscribe token is ``token``, if any."""
        query = subscription_query().where(subscriptions.c.token == token)
        with self._tx() as conn:
            row = conn.execute(query).first()
        return None if row is None else joined_subscription(row)
