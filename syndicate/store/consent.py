"""Consent on the web: confirmation requests, windowed rate counters, generated secrets.

:class:`ConsentMixin` gives :class:`syndicate.store.Store` the methods the subscribe,
confirm and form pages need. A confirmation is kept by the SHA-256 of its token
(the caller hashes, see :mod:`syndicate.tokens`); counters are one row per key and
window, so they hold across processes and on every backend.
"""

from __future__ import annotations

import secrets as random
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from syndicate.model import (
    Confirmation,
    ConsentMethod,
    Subscription,
    SubscriptionChange,
    SubscriptionState,
    subscription_after,
)
from syndicate.store.audience import (
    save_subscription,
    subscription_values,
    subscriptions_of,
    upsert_subscriber,
)
from syndicate.store.base import Conflict, StoreBase, now_or
from syndicate.store.tables import (
    confirmations,
    rate_counts,
    secrets,
    sends,
    subscribers,
    subscriptions,
)

CONFIRMATION_WINDOW = timedelta(days=1)
KEEP_CONFIRMATIONS = timedelta(days=30)
KEEP_COUNTS = timedelta(days=2)


def row_confirmation(row: sa.Row[Any]) -> Confirmation:
    """A ``confirmations`` row as a :class:`Confirmation`."""
    return Confirmation(
        digest_id=row.digest_id,
        email=row.email,
        name=row.name,
        sections=tuple(row.sections or ()),
        created_at=row.created_at,
        expires_at=row.expires_at,
        used_at=row.used_at,
    )


def _recent_requests(conn: sa.Connection, email: str, since: datetime) -> int:
    query = sa.select(sa.func.count()).where(
        (confirmations.c.email == email) & (confirmations.c.created_at > since)
    )
    return int(conn.execute(query).scalar_one())


def _add_pending(conn: sa.Connection, url: str, request: Confirmation) -> None:
    """The requester as a subscriber with a pending subscription, unless they have one."""
    person = upsert_subscriber(conn, request.email, request.name, rename=False)
    current = {s.digest_id: s.status for s in subscriptions_of(conn, person.id)}
    was = current.get(request.digest_id)
    state = subscription_after(was, SubscriptionChange.REQUEST)
    if state is not was:
        values = subscription_values(request.sections, state, None, request.created_at)
        save_subscription(conn, url, person.id, request.digest_id, values, when=request.created_at)


def _activate(conn: sa.Connection, url: str, request: Confirmation, when: datetime) -> Subscription:
    """Make the confirmed subscription active with the chosen sections and record consent."""
    person = upsert_subscriber(conn, request.email, request.name)
    current = {s.digest_id: s.status for s in subscriptions_of(conn, person.id)}
    state = subscription_after(current.get(request.digest_id), SubscriptionChange.CONFIRM)
    values = subscription_values(request.sections, state, when, when, ConsentMethod.DOUBLE_OPT_IN)
    values["paused_until"] = None
    return save_subscription(conn, url, person.id, request.digest_id, values, when=when)


class ConsentMixin(StoreBase):
    """Confirmation requests, rate counters and generated secrets."""

    def request_confirmation(self, token_hash: str, request: Confirmation, *, per_day: int) -> bool:
        """Store a confirmation request unless its address had ``per_day`` in the last day.

        Returns False (nothing stored) past the limit. A new address becomes a
        subscriber with a *pending* subscription; an existing subscription is left
        as it is until the link is opened. Old requests are pruned here.
        """
        since = request.created_at - CONFIRMATION_WINDOW

        def add() -> bool:
            with self._tx(write=True) as conn:
                if _recent_requests(conn, request.email, since) >= per_day:
                    return False
                _add_pending(conn, self.url, request)
                values = {**asdict(request), "sections": list(request.sections)}
                conn.execute(confirmations.insert().values(token_hash=token_hash, **values))
                old = request.created_at - KEEP_CONFIRMATIONS
                conn.execute(confirmations.delete().where(confirmations.c.expires_at < old))
                return True

        return self._retry_on_conflict(add)

    def confirmation(self, token_hash: str) -> Confirmation | None:
        """The confirmation request with this token hash, if any."""
        query = sa.select(confirmations).where(confirmations.c.token_hash == token_hash)
        with self._tx() as conn:
            row = conn.execute(query).first()
        return None if row is None else row_confirmation(row)

    def confirm(self, token_hash: str, *, now: datetime | None = None) -> Subscription | None:
        """Use the confirmation and activate its subscription; None when unknown, used or expired.

        The request is claimed with one conditional UPDATE, so two clicks confirm once.
        """
        when = now_or(now)
        key = confirmations.c.token_hash == token_hash
        usable = key & confirmations.c.used_at.is_(None) & (confirmations.c.expires_at > when)

        def use() -> Subscription | None:
            with self._tx(write=True) as conn:
                if not conn.execute(
                    confirmations.update().where(usable).values(used_at=when)
                ).rowcount:
                    return None
                row = conn.execute(sa.select(confirmations).where(key)).one()
                return _activate(conn, self.url, row_confirmation(row), when)

        return self._retry_on_conflict(use)

    def count_hit(self, key: str, window_start: datetime, *, now: datetime | None = None) -> int:
        """Add one to the counter of ``key`` in the window starting at ``window_start``.

        Returns the window's count including this hit; windows older than two days
        are deleted on the way.
        """
        start = now_or(window_start)
        row_key = (rate_counts.c.key == key) & (rate_counts.c.window_start == start)

        def hit() -> int:
            with self._tx(write=True) as conn:
                bump = rate_counts.update().where(row_key).values(count=rate_counts.c.count + 1)
                if not conn.execute(bump).rowcount:
                    old = now_or(now) - KEEP_COUNTS
                    conn.execute(rate_counts.delete().where(rate_counts.c.window_start < old))
                    conn.execute(rate_counts.insert().values(key=key, window_start=start, count=1))
                query = sa.select(rate_counts.c.count).where(row_key)
                return int(conn.execute(query).scalar_one())

        return self._retry_on_conflict(hit)

    def prune_pending(self, *, now: datetime | None = None) -> int:
        """Forget requests nobody confirmed: delete each pending subscription whose every
        confirmation link has expired, and its subscriber when nothing else is left.

        Returns how many pending subscriptions went.
        """
        stale = _stale_pending(now_or(now))
        with self._tx(write=True) as conn:
            rows = conn.execute(stale).all()
            ids = [int(row.id) for row in rows]
            if ids:
                conn.execute(subscriptions.delete().where(subscriptions.c.id.in_(ids)))
                conn.execute(_orphans_delete({int(row.subscriber_id) for row in rows}))
        return len(ids)

    def secret(self, name: str, *, now: datetime | None = None) -> str:
        """The generated secret ``name``, created (random, 256 bits) on first use."""
        query = sa.select(secrets.c.value).where(secrets.c.name == name)
        with self._tx() as conn:
            value = conn.execute(query).scalar_one_or_none()
        if value is not None:
            return str(value)
        fresh = {"name": name, "value": random.token_urlsafe(32), "created_at": now_or(now)}
        try:
            with self._tx(write=True) as conn:
                conn.execute(secrets.insert().values(fresh))
        except Conflict:  # another process created it first: use theirs
            pass
        with self._tx() as conn:
            return str(conn.execute(query).scalar_one())


def _stale_pending(now: datetime) -> sa.Select[Any]:
    """Pending subscriptions without a confirmation link still valid at ``now``."""
    live = sa.exists().where(
        confirmations.c.email == subscribers.c.email,
        confirmations.c.digest_id == subscriptions.c.digest_id,
        confirmations.c.expires_at >= now,
    )
    return (
        sa.select(subscriptions.c.id, subscriptions.c.subscriber_id)
        .join(subscribers, subscribers.c.id == subscriptions.c.subscriber_id)
        .where(subscriptions.c.status == SubscriptionState.PENDING.value, ~live)
    )


def _orphans_delete(candidates: set[int]) -> sa.Delete:
    """Delete those of ``candidates`` left with no subscription and no send."""
    has_subscription = sa.exists().where(subscriptions.c.subscriber_id == subscribers.c.id)
    has_send = sa.exists().where(sends.c.subscriber_id == subscribers.c.id)
    return subscribers.delete().where(
        subscribers.c.id.in_(candidates), ~has_subscription, ~has_send
    )
