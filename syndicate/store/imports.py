"""Subscriptions in bulk: a subscribers file read and written a batch at a time.

:class:`ImportsMixin` gives :class:`syndicate.store.Store` the bulk reads and
writes of ``subscribers import``: a few statements per :data:`BATCH` rows, in
one transaction, instead of several per row.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa

from syndicate.addresses import normalize_address
from syndicate.model import ConsentMethod, Subscription, SubscriptionState, utcnow
from syndicate.store.audience import joined_subscription, subscription_query, subscription_values
from syndicate.store.base import StoreBase
from syndicate.store.tables import subscribers, subscriptions

BATCH = 500
"""Rows per statement when subscriptions are saved or read in bulk."""


class SubscriptionEntry(NamedTuple):
    """One subscriber and their subscription to one digest, for :meth:`Store.save_subscriptions`."""

    email: str
    name: str
    digest_id: str
    sections: Sequence[str]
    status: SubscriptionState
    consent_at: datetime | None
    consent_method: ConsentMethod | None = None


class _BatchRow(NamedTuple):
    """One entry of :meth:`AudienceMixin.save_subscriptions` and its normalised address."""

    entry: SubscriptionEntry
    address: str


def _save_batch(
    conn: sa.Connection, rows: Sequence[_BatchRow], when: datetime, kept: Sequence[str]
) -> None:
    """Upsert the subscribers, then the subscriptions, of one batch of rows."""
    people = _upsert_people(conn, rows, when)
    ids = list(people.values())
    query = sa.select(subscriptions.c.subscriber_id, subscriptions.c.digest_id)
    stored = conn.execute(query.where(subscriptions.c.subscriber_id.in_(ids)))
    existing = {(int(row.subscriber_id), row.digest_id) for row in stored}
    new: list[dict[str, Any]] = []
    changed: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for entry, address in rows:
        key = (people[address], entry.digest_id)
        values = subscription_values(
            entry.sections, entry.status, entry.consent_at, when, entry.consent_method
        )
        if key in existing:
            changed.setdefault(tuple(sorted(values)), []).append(
                {"b_subscriber": key[0], "b_digest": key[1], **values}
            )
        else:
            new.append(_new_subscription(key, values, when))
    if new:
        conn.execute(subscriptions.insert(), new)
    for params in changed.values():
        conn.execute(_update_subscription(kept), params)


def _new_subscription(
    key: tuple[int, str], values: dict[str, Any], when: datetime
) -> dict[str, Any]:
    """The column values of a new subscription (every column named, for a multi-row insert)."""
    return {
        "subscriber_id": key[0],
        "digest_id": key[1],
        "token": secrets.token_urlsafe(24),
        "created_at": when,
        "consent_at": None,
        "consent_method": None,
        **values,
    }


def _update_subscription(kept: Sequence[str]) -> sa.Update:
    """UPDATE one subscription by ``b_subscriber`` and ``b_digest``, unless in a ``kept`` state."""
    update = subscriptions.update().where(
        subscriptions.c.subscriber_id == sa.bindparam("b_subscriber"),
        subscriptions.c.digest_id == sa.bindparam("b_digest"),
    )
    return update.where(subscriptions.c.status.not_in(kept)) if kept else update


def _upsert_people(
    conn: sa.Connection, rows: Sequence[_BatchRow], when: datetime
) -> dict[str, int]:
    """Address -> subscriber id for one batch; new ones inserted, changed names updated.

    A non-empty name replaces the stored one (the last one given wins).
    """
    names: dict[str, str] = {}
    for entry, address in rows:
        name = entry.name.strip()
        if name or address not in names:
            names[address] = name
    query = sa.select(subscribers.c.id, subscribers.c.email, subscribers.c.name)
    stored = conn.execute(query.where(subscribers.c.email.in_(list(names)))).all()
    people = {row.email: int(row.id) for row in stored}
    renamed = [
        {"b_id": int(row.id), "name": names[row.email]}
        for row in stored
        if names[row.email] and names[row.email] != row.name
    ]
    if renamed:
        rename = subscribers.update().where(subscribers.c.id == sa.bindparam("b_id"))
        conn.execute(rename, renamed)
    fresh = [
        {"email": a, "name": n, "created_at": when} for a, n in names.items() if a not in people
    ]
    if fresh:
        conn.execute(subscribers.insert(), fresh)
        added = sa.select(subscribers.c.id, subscribers.c.email).where(
            subscribers.c.email.in_([row["email"] for row in fresh])
        )
        people.update({row.email: int(row.id) for row in conn.execute(added)})
    return people


class ImportsMixin(StoreBase):
    """Subscribers and subscriptions saved and read a batch at a time."""

    def save_subscriptions(
        self, entries: Sequence[SubscriptionEntry], *, keep: Collection[SubscriptionState] = ()
    ) -> None:
        """Upsert every entry's subscriber and subscription in one transaction: all or nothing.

        Written in batches of :data:`BATCH` rows (a few statements per batch). An
        existing subscription in a state of ``keep`` is left as it is, even when
        it got there after the caller looked.
        """
        rows = [_BatchRow(entry, normalize_address(entry.email)) for entry in entries]
        when = utcnow()
        kept = [state.value for state in keep]

        def save() -> None:
            with self._tx(write=True) as conn:
                for start in range(0, len(rows), BATCH):
                    _save_batch(conn, rows[start : start + BATCH], when, kept)

        self._retry_on_conflict(save)

    def subscriptions_for(self, addresses: Sequence[str]) -> list[Subscription]:
        """Every subscription of the subscribers with these (normalised) addresses.

        Read in batches of :data:`BATCH` addresses.
        """
        found: list[Subscription] = []
        unique = list(dict.fromkeys(addresses))
        with self._tx() as conn:
            for start in range(0, len(unique), BATCH):
                people = sa.select(subscribers.c.id).where(
                    subscribers.c.email.in_(unique[start : start + BATCH])
                )
                ids = [int(row.id) for row in conn.execute(people)]
                chosen = subscriptions.c.subscriber_id.in_(ids)
                rows = conn.execute(subscription_query().where(chosen))
                found.extend(joined_subscription(row) for row in rows)
        return found
