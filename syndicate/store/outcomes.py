"""Outcomes of claimed sends: recorded in batches, expired, given back, closed.

:class:`OutcomesMixin` gives :class:`syndicate.store.Store` the methods that
move a send out of ``sending`` (and the subscription of a bounced one).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from syndicate.errors import StoreError
from syndicate.model import (
    SendState,
    SubscriptionState,
    as_utc,
    bounced_subscription,
    expired_claim,
    send_transition,
)
from syndicate.store.base import now_or
from syndicate.store.sends import SendOutcome, SendsMixin
from syndicate.store.tables import editions, sends, subscriptions

_INTERRUPTED = "interrupted: the run sending it ended without an answer from the server"


class OutcomesMixin(SendsMixin):
    """How claimed sends end: sent, deferred, failed, bounced, uncertain, or given back."""

    def finish_send(
        self,
        edition_id: int,
        subscriber_id: int,
        status: SendState,
        *,
        error: str | None = None,
        now: datetime | None = None,
        next_attempt_at: datetime | None = None,
    ) -> None:
        """Record the outcome of a claimed send (a state that may follow ``sending``).

        ``next_attempt_at`` is when a deferred send may be claimed again. A bounced
        send makes the subscriber's subscription to the edition's digest bounced,
        in the same transaction. ValueError when ``status`` may not follow a
        claim; StoreError when the send is not claimed.
        """
        send_transition(SendState.SENDING, SendState(status))
        when, key = now_or(now), self._send_key(edition_id, subscriber_id)
        values: dict[str, Any] = {"status": status.value, "error": error, "updated_at": when}
        values |= {"lease_owner": None, "lease_until": None}
        values["next_attempt_at"] = None if next_attempt_at is None else as_utc(next_attempt_at)
        if status.delivered:
            values["sent_at"] = when
        with self._tx(write=True) as conn:
            update = sends.update().where(key, sends.c.status == SendState.SENDING.value)
            if not conn.execute(update.values(values)).rowcount:
                raise StoreError(
                    f"database {self.url}: send of edition {edition_id} to subscriber "
                    f"{subscriber_id} is not claimed; cannot record {status.value!r}"
                )
            if status is SendState.BOUNCED:
                self._bounce(conn, edition_id, [subscriber_id], when)

    def _bounce(
        self, conn: sa.Connection, edition_id: int, subscriber_ids: Sequence[int], when: datetime
    ) -> None:
        """Make the subscriptions the bounced sends belonged to bounced (if they receive)."""
        digest = sa.select(editions.c.digest_id).where(editions.c.id == edition_id)
        receiving = [
            s.value
            for s in SubscriptionState
            if s is not SubscriptionState.BOUNCED
            and bounced_subscription(s) is SubscriptionState.BOUNCED
        ]
        update = subscriptions.update().where(
            subscriptions.c.subscriber_id.in_(list(subscriber_ids)),
            subscriptions.c.digest_id == digest.scalar_subquery(),
            subscriptions.c.status.in_(receiving),
        )
        conn.execute(update.values(status=SubscriptionState.BOUNCED.value, updated_at=when))

    def finish_sends(
        self,
        edition_id: int,
        outcomes: Sequence[SendOutcome],
        *,
        owner: str | None = None,
        now: datetime | None = None,
    ) -> int:
        """Record the outcomes of a batch of claimed sends in one transaction.

        Sent ones in one statement, the others in one executemany, bounced
        subscriptions in one more. Only sends still ``sending`` (and, with
        ``owner``, still held by it) change; returns how many did.
        """
        outcomes = [o for o in outcomes if o.state is not None]
        for outcome in outcomes:
            send_transition(SendState.SENDING, SendState(str(outcome.state)))
        when = now_or(now)
        sent = [o.subscriber_id for o in outcomes if o.state is SendState.SENT]
        others = [o for o in outcomes if o.state is not SendState.SENT]
        bounced = [o.subscriber_id for o in outcomes if o.state is SendState.BOUNCED]
        held = [sends.c.edition_id == edition_id, sends.c.status == SendState.SENDING.value]
        if owner is not None:
            held.append(sends.c.lease_owner == owner)
        with self._tx(write=True) as conn:
            changed = self._finish_sent(conn, held, sent, when)
            changed += self._finish_others(conn, held, others, when)
            if bounced:
                self._bounce(conn, edition_id, bounced, when)
        return changed

    def _finish_sent(
        self,
        conn: sa.Connection,
        held: list[sa.ColumnElement[bool]],
        ids: Sequence[int],
        when: datetime,
    ) -> int:
        if not ids:
            return 0
        update = sends.update().where(*held, sends.c.subscriber_id.in_(ids))
        values = {
            "status": SendState.SENT.value,
            "error": None,
            "sent_at": when,
            "updated_at": when,
            "next_attempt_at": None,
            "lease_owner": None,
            "lease_until": None,
        }
        return int(conn.execute(update.values(values)).rowcount)

    def _finish_others(
        self,
        conn: sa.Connection,
        held: list[sa.ColumnElement[bool]],
        outcomes: Sequence[SendOutcome],
        when: datetime,
    ) -> int:
        if not outcomes:
            return 0
        update = sends.update().where(*held, sends.c.subscriber_id == sa.bindparam("sid"))
        update = update.values(
            status=sa.bindparam("new_status"),
            error=sa.bindparam("new_error"),
            next_attempt_at=sa.bindparam("retry_at", type_=sends.c.next_attempt_at.type),
            sent_at=sa.bindparam("sent_when", type_=sends.c.sent_at.type),
            updated_at=when,
            lease_owner=None,
            lease_until=None,
        )
        rows = [
            {
                "sid": o.subscriber_id,
                "new_status": str(o.state),
                "new_error": o.error,
                "retry_at": None if o.next_attempt_at is None else as_utc(o.next_attempt_at),
                "sent_when": when if o.state is not None and o.state.delivered else None,
            }
            for o in outcomes
        ]
        result = conn.execute(update, rows)
        return max(int(result.rowcount), 0)

    def release_sends(
        self,
        edition_id: int,
        subscriber_ids: Sequence[int],
        owner: str,
        *,
        now: datetime | None = None,
    ) -> None:
        """Give back claims that were never attempted (the pass stopped first): a first
        claim is removed, a retry is deferred again as it was, due now."""
        if not subscriber_ids:
            return
        held = [
            sends.c.edition_id == edition_id,
            sends.c.subscriber_id.in_(list(subscriber_ids)),
            sends.c.status == SendState.SENDING.value,
            sends.c.lease_owner == owner,
        ]
        back = {
            "status": SendState.DEFERRED.value,
            "attempts": sends.c.attempts - 1,
            "next_attempt_at": now_or(now),
            "lease_owner": None,
            "lease_until": None,
        }
        with self._tx(write=True) as conn:
            conn.execute(sends.delete().where(*held, sends.c.attempts == 1))
            conn.execute(sends.update().where(*held).values(back))

    def expire_claims(
        self, edition_id: int, *, now: datetime | None = None, dead: Sequence[str] = ()
    ) -> int:
        """Sends of ``edition_id`` still ``sending`` whose lease ended (at ``now``), whose
        owner is among ``dead``, or which have no lease become what
        :func:`~syndicate.model.expired_claim` says (``uncertain``); returns how many."""
        target = expired_claim(SendState.SENDING) or SendState.UNCERTAIN
        when = now_or(now)
        ended = sa.or_(
            sends.c.lease_until.is_(None),
            sends.c.lease_until < when,
            sends.c.lease_owner.in_(list(dead)),
        )
        update = sends.update().where(
            sends.c.edition_id == edition_id, sends.c.status == SendState.SENDING.value, ended
        )
        values = {
            "status": target.value,
            "error": _INTERRUPTED,
            "updated_at": when,
            "lease_owner": None,
            "lease_until": None,
        }
        with self._tx(write=True) as conn:
            return int(conn.execute(update.values(values)).rowcount)

    def close_deferred(self, edition_id: int, reason: str, *, now: datetime | None = None) -> int:
        """Deferred sends of ``edition_id`` fail for good (its retry window ended); how many."""
        send_transition(SendState.DEFERRED, SendState.FAILED)
        update = sends.update().where(
            sends.c.edition_id == edition_id, sends.c.status == SendState.DEFERRED.value
        )
        last = sa.func.coalesce(sends.c.error, "")
        values = {
            "status": SendState.FAILED.value,
            "error": sa.literal(f"{reason}; last: ") + last,
            "next_attempt_at": None,
            "updated_at": now_or(now),
        }
        with self._tx(write=True) as conn:
            return int(conn.execute(update.values(values)).rowcount)
