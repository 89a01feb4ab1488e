"""The audience: subscribers and their subscriptions to digests.

:class:`AudienceMixin` gives :class:`syndicate.store.Store` its subscriber and
subscription methods.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from syndicate.addresses import normalize_address
from syndicate.errors import StoreError
from syndicate.model import (
    ConsentMethod,
    Subscriber,
    Subscription,
    SubscriptionChange,
    SubscriptionState,
    as_utc,
    subscription_after,
    utcnow,
)
from syndicate.store.base import StoreBase, now_or, opt_utc
from syndicate.store.tables import subscribers, subscriptions


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
        consent_method=row.consent_method or "",
        paused_until=row.paused_until,
    )


# what a Subscription holds (no created_at/updated_at: every time column costs a parse per row)
_SUBSCRIPTION_COLUMNS = tuple(
    subscriptions.c[name]
    for name in (
        "subscriber_id", "digest_id", "sections", "status", "token",
        "consent_at", "consent_method", "paused_until",
    )
)  # fmt: skip


def subscription_query() -> sa.Select[Any]:
    """SELECT subscriptions joined with their subscriber (``person_id``, email, name)."""
    person = (subscribers.c.id.label("person_id"), subscribers.c.email, subscribers.c.name)
    joined = subscriptions.join(subscribers, subscriptions.c.subscriber_id == subscribers.c.id)
    return sa.select(*_SUBSCRIPTION_COLUMNS, *person).select_from(joined)


def joined_subscription(row: sa.Row[Any]) -> Subscription:
    """A row of :func:`subscription_query` as a :class:`Subscription`."""
    person = Subscriber(id=int(row.person_id), email=row.email, name=row.name)
    return row_subscription(row, person)


def subscription_values(
    sections: Sequence[str],
    status: SubscriptionState,
    consent_at: datetime | None,
    when: datetime,
    method: ConsentMethod | None = None,
) -> dict[str, Any]:
    """The column values of a subscription change; consent and its method only when given."""
    state = SubscriptionState.parse(status).value  # ValueError naming the known states
    values: dict[str, Any] = {"sections": list(sections), "status": state, "updated_at": when}
    if consent_at is not None:
        values["consent_at"] = as_utc(consent_at)
    if method is not None:
        values["consent_method"] = method.value
    return values


def upsert_subscriber(
    conn: sa.Connection, address: str, name: str, *, rename: bool = True
) -> Subscriber:
    """The subscriber with the normalised ``address``, created if new.

    A non-empty ``name`` replaces the stored one when ``rename``.
    """
    row = conn.execute(sa.select(subscribers).where(subscribers.c.email == address)).first()
    if row is None:
        values = {"email": address, "name": name, "created_at": utcnow()}
        insert = subscribers.insert().values(values).returning(subscribers.c.id)
        return Subscriber(id=int(conn.execute(insert).scalar_one()), email=address, name=name)
    if rename and name and name != row.name:
        conn.execute(subscribers.update().where(subscribers.c.id == row.id).values(name=name))
        return Subscriber(id=int(row.id), email=address, name=name)
    return row_subscriber(row)


def save_subscription(
    conn: sa.Connection,
    url: str,
    subscriber_id: int,
    digest_id: str,
    values: dict[str, Any],
    *,
    when: datetime,
) -> Subscription:
    """Update (or create, minting its token) one subscription with ``values``; return it."""
    person = conn.execute(sa.select(subscribers).where(subscribers.c.id == subscriber_id)).first()
    if person is None:
        raise StoreError(f"database {url}: no subscriber with id {subscriber_id}")
    key = (subscriptions.c.subscriber_id == subscriber_id) & (
        subscriptions.c.digest_id == digest_id
    )
    if not conn.execute(subscriptions.update().where(key).values(values)).rowcount:
        conn.execute(
            subscriptions.insert().values(
                subscriber_id=subscriber_id,
                digest_id=digest_id,
                token=secrets.token_urlsafe(24),
                created_at=when,
                **values,
            )
        )
    row = conn.execute(sa.select(subscriptions).where(key)).one()
    return row_subscription(row, row_subscriber(person))


def subscriptions_of(conn: sa.Connection, subscriber_id: int) -> list[Subscription]:
    """Every subscription of one subscriber, by digest id."""
    query = subscription_query().where(subscriptions.c.subscriber_id == subscriber_id)
    rows = conn.execute(query.order_by(subscriptions.c.digest_id))
    return [joined_subscription(row) for row in rows]


def _leave(
    conn: sa.Connection, url: str, subscription: Subscription, when: datetime
) -> Subscription:
    """Unsubscribe one subscription (kept as it is when already unsubscribed)."""
    state = subscription_after(subscription.status, SubscriptionChange.UNSUBSCRIBE)
    if state is subscription.status:
        return subscription
    values = {"status": state.value, "updated_at": when}
    return save_subscription(
        conn, url, subscription.subscriber.id, subscription.digest_id, values, when=when
    )


class AudienceMixin(StoreBase):
    """Subscribers (one per normalised address) and their subscriptions."""

    def upsert_subscriber(self, email: str, name: str = "") -> Subscriber:
        """The subscriber with this (normalised) address, created if new.

        A non-empty ``name`` replaces the stored one. Invalid addresses raise ValueError.
        """
        address = normalize_address(email)

        def upsert() -> Subscriber:
            with self._tx(write=True) as conn:
                return upsert_subscriber(conn, address, name.strip())

        return self._retry_on_conflict(upsert)

    def set_subscription(
        self,
        subscriber_id: int,
        digest_id: str,
        sections: Sequence[str],
        *,
        status: SubscriptionState = SubscriptionState.ACTIVE,
        consent_at: datetime | None = None,
        consent_method: ConsentMethod | None = None,
        now: datetime | None = None,
    ) -> Subscription:
        """Create or change a subscriber's subscription to one digest.

        The unsubscribe token is minted on creation and never changes;
        ``consent_at`` and ``consent_method`` are kept when not given.
        """
        when = now_or(now)
        values = subscription_values(sections, status, consent_at, when, consent_method)

        def save() -> Subscription:
            with self._tx(write=True) as conn:
                return save_subscription(
                    conn, self.url, subscriber_id, digest_id, values, when=when
                )

        return self._retry_on_conflict(save)

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

    def subscription_page(
        self, digest_id: str, *, after: int = 0, limit: int = 500
    ) -> list[Subscription]:
        """Active subscriptions to ``digest_id`` of the subscribers after id ``after``, at
        most ``limit``, by subscriber id: a keyset page (memory stays flat on any list)."""
        query = (
            subscription_query()
            .where(
                subscriptions.c.digest_id == digest_id,
                subscriptions.c.status == SubscriptionState.ACTIVE,
                subscriptions.c.subscriber_id > after,
            )
            .order_by(subscriptions.c.subscriber_id)
            .limit(limit)
        )
        with self._tx() as conn:
            return [joined_subscription(row) for row in conn.execute(query)]

    def list_subscribers(
        self, digest_id: str | None = None
    ) -> list[tuple[Subscriber, list[Subscription]]]:
        """Every subscriber (by id) with their subscriptions (by digest id).

        With ``digest_id``: only that digest's subscriptions, and only the
        subscribers who have one.
        """
        order = (subscriptions.c.subscriber_id, subscriptions.c.digest_id)
        people_query = sa.select(subscribers).order_by(subscribers.c.id)
        subs_query = subscription_query().order_by(*order)
        if digest_id is not None:
            subs_query = subs_query.where(subscriptions.c.digest_id == digest_id)
            of_digest = sa.select(subscriptions.c.subscriber_id).where(
                subscriptions.c.digest_id == digest_id
            )
            people_query = people_query.where(subscribers.c.id.in_(of_digest))
        with self._tx() as conn:
            people = conn.execute(people_query).all()
            subs = conn.execute(subs_query).all()
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

    def subscriptions_of(self, subscriber_id: int) -> list[Subscription]:
        """Every subscription of one subscriber, by digest id."""
        with self._tx() as conn:
            return subscriptions_of(conn, subscriber_id)

    def unsubscribe_token(self, token: str, *, now: datetime | None = None) -> Subscription | None:
        """Unsubscribe the subscription with ``token``; None when no subscription has it.

        Idempotent: an unsubscribed subscription is returned unchanged.
        """
        when = now_or(now)

        def leave() -> Subscription | None:
            with self._tx(write=True) as conn:
                row = conn.execute(
                    subscription_query().where(subscriptions.c.token == token)
                ).first()
                if row is None:
                    return None
                return _leave(conn, self.url, joined_subscription(row), when)

        return self._retry_on_conflict(leave)

    def unsubscribe_subscriber(
        self, subscriber_id: int, *, now: datetime | None = None
    ) -> list[Subscription]:
        """Unsubscribe every subscription of one subscriber (idempotent); return them all."""
        when = now_or(now)
        with self._tx(write=True) as conn:
            return [_leave(conn, self.url, s, when) for s in subscriptions_of(conn, subscriber_id)]

    def set_preferences(
        self,
        subscriber_id: int,
        choices: Mapping[str, Sequence[str] | None],
        *,
        paused_until: datetime | None,
        now: datetime | None = None,
    ) -> list[Subscription]:
        """Apply a subscriber's own choices in one transaction; return every subscription.

        ``choices`` maps a digest id to its chosen sections (empty: every offered
        section) or None to leave it; digests not named are left alone. Joining a
        digest is the address owner's act (proven by the token the page was opened
        with), so it is active at once with consent recorded as ``preferences``.
        ``paused_until`` (None: not paused) applies to every subscription.
        """
        when = now_or(now)
        pause = opt_utc(paused_until)

        def save() -> list[Subscription]:
            with self._tx(write=True) as conn:
                current = {s.digest_id: s for s in subscriptions_of(conn, subscriber_id)}
                for digest_id, sections in choices.items():
                    values = _preference_values(current.get(digest_id), sections, when)
                    if values is not None:
                        save_subscription(
                            conn, self.url, subscriber_id, digest_id, values, when=when
                        )
                conn.execute(
                    subscriptions.update()
                    .where(subscriptions.c.subscriber_id == subscriber_id)
                    .values(paused_until=pause)
                )
                return subscriptions_of(conn, subscriber_id)

        return self._retry_on_conflict(save)


def _preference_values(
    current: Subscription | None, sections: Sequence[str] | None, when: datetime
) -> dict[str, Any] | None:
    """The column values one preference choice writes; None when nothing changes."""
    was = current.status if current is not None else None
    if sections is None:
        if was is None or was is SubscriptionState.UNSUBSCRIBED:
            return None
        state = subscription_after(was, SubscriptionChange.UNSUBSCRIBE)
        return {"status": state.value, "updated_at": when}
    if was is SubscriptionState.ACTIVE:
        return {"sections": list(sections), "updated_at": when}
    state = subscription_after(was, SubscriptionChange.CONFIRM)
    return subscription_values(sections, state, when, when, ConsentMethod.PREFERENCES)
