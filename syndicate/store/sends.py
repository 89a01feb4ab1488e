"""Sends: one per edition and subscriber, claimed in batches under a lease, then recorded.

:class:`SendsMixin` gives :class:`syndicate.store.Store` its send methods; send
states follow the transition table of :mod:`syndicate.model`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from syndicate.errors import StoreError
from syndicate.lease import Lease, lease_for
from syndicate.model import (
    SendRecord,
    SendState,
    as_utc,
    may_claim,
)
from syndicate.store.base import StoreBase, now_or
from syndicate.store.tables import sends

_INTERRUPTED = "interrupted: the run sending it ended without an answer from the server"


@dataclass(frozen=True)
class SendOutcome:
    """How one claimed send ended: its state, the reason, and when a deferred one is retried.

    ``state`` None: the send was claimed but never attempted (see ``release_sends``).
    """

    subscriber_id: int
    state: SendState | None
    error: str | None = None
    next_attempt_at: datetime | None = None


def claim_row(
    edition_id: int, subscriber_id: int, message_id: str, lease: Lease, when: datetime
) -> dict[str, Any]:
    """The row of a send's first claim: state ``sending``, attempt 1, held under ``lease``."""
    return {
        "edition_id": edition_id,
        "subscriber_id": subscriber_id,
        "status": SendState.SENDING.value,
        "attempts": 1,
        "message_id": message_id,
        "created_at": when,
        "updated_at": when,
        "lease_owner": lease.owner,
        "lease_until": as_utc(lease.until),
    }


def reclaim_values(lease: Lease, when: datetime) -> dict[str, Any]:
    """The changes of a stored send claimed again: ``sending``, one more attempt, held
    under ``lease`` (its Message-ID stays)."""
    return {
        "status": SendState.SENDING.value,
        "attempts": sends.c.attempts + 1,
        "next_attempt_at": None,
        "lease_owner": lease.owner,
        "lease_until": as_utc(lease.until),
        "updated_at": when,
    }


def _claimable(resend_uncertain: bool) -> list[str]:
    """Stored states a send may be claimed again from."""
    return [s.value for s in SendState if may_claim(s, resend_uncertain=resend_uncertain)]


class SendsMixin(StoreBase):
    """The sends of each edition: claims with leases, outcomes, expiry, retries."""

    def _send_key(self, edition_id: int, subscriber_id: int) -> sa.ColumnElement[bool]:
        return (sends.c.edition_id == edition_id) & (sends.c.subscriber_id == subscriber_id)

    def claim_send(
        self,
        edition_id: int,
        subscriber_id: int,
        message_id: str,
        *,
        now: datetime | None = None,
        resend_uncertain: bool = True,
        lease: Lease | None = None,
    ) -> int:
        """Claim the right to send ``edition_id`` to ``subscriber_id`` now (see
        :meth:`claim_sends`); the attempt number (1 for the first), 0 when it may not be sent.

        ``lease`` defaults to this process for :data:`~syndicate.lease.LEASE_TIME`.
        """
        held = lease or lease_for(now_or(now))
        claimed = self.claim_sends(
            edition_id, [(subscriber_id, message_id)], held,
            now=now, resend_uncertain=resend_uncertain,
        )  # fmt: skip
        return claimed.get(subscriber_id, 0)

    def claim_sends(
        self,
        edition_id: int,
        wanted: Sequence[tuple[int, str]],
        lease: Lease,
        *,
        now: datetime | None = None,
        resend_uncertain: bool = True,
    ) -> dict[int, int]:
        """Claim a batch of sends of ``edition_id`` under ``lease``, in one transaction.

        ``wanted`` holds (subscriber id, Message-ID) pairs. A send is claimed when
        :func:`~syndicate.model.may_claim` allows it and a deferred send's next
        attempt is due; its row becomes ``sending``. Three statements whatever the
        batch size: read the existing rows, insert the new ones, move the retried
        ones. Returns subscriber id -> attempt number (1 for the first) of the
        claimed sends. A resent message keeps the Message-ID of its first claim.
        """
        when = now_or(now)
        ids = list(dict.fromkeys(subscriber_id for subscriber_id, _ in wanted))
        if not ids:
            return {}

        def claim() -> dict[int, int]:
            with self._tx(write=True) as conn:
                found = self._claim_states(conn, edition_id, ids)
                fresh = [
                    claim_row(edition_id, sid, mid, lease, when)
                    for sid, mid in dict(wanted).items()
                    if sid not in found
                ]
                if fresh:
                    conn.execute(sends.insert(), fresh)
                again = {
                    sid: record.attempts + 1
                    for sid, record in found.items()
                    if may_claim(record.state, resend_uncertain=resend_uncertain)
                    and record.due(when)
                }
                self._reclaim(
                    conn, edition_id, list(again), lease,
                    when=when, resend_uncertain=resend_uncertain,
                )  # fmt: skip
                return {**{row["subscriber_id"]: 1 for row in fresh}, **again}

        return self._retry_on_conflict(claim)

    def _claim_states(
        self, conn: sa.Connection, edition_id: int, ids: Sequence[int]
    ) -> dict[int, SendRecord]:
        """The existing sends of ``ids``, locked until the claim commits."""
        query = (
            sa.select(sends)
            .where(sends.c.edition_id == edition_id, sends.c.subscriber_id.in_(ids))
            .with_for_update()
        )
        return {int(row.subscriber_id): self._record(row) for row in conn.execute(query)}

    def _reclaim(
        self,
        conn: sa.Connection,
        edition_id: int,
        ids: Sequence[int],
        lease: Lease,
        *,
        when: datetime,
        resend_uncertain: bool,
    ) -> None:
        """Move deferred (and uncertain) sends back to ``sending`` in one statement."""
        if not ids:
            return
        retry = sends.update().where(
            sends.c.edition_id == edition_id,
            sends.c.subscriber_id.in_(ids),
            sends.c.status.in_(_claimable(resend_uncertain)),
        )
        conn.execute(retry.values(reclaim_values(lease, when)))

    def lease_owners(self, edition_id: int) -> list[str]:
        """The owners holding claims (``sending``) of ``edition_id``."""
        query = (
            sa.select(sends.c.lease_owner)
            .where(sends.c.edition_id == edition_id, sends.c.status == SendState.SENDING.value)
            .where(sends.c.lease_owner.is_not(None))
            .distinct()
        )
        with self._tx() as conn:
            return [str(owner) for owner in conn.execute(query).scalars()]

    def leased_sends(self, edition_id: int, owner: str) -> list[int]:
        """Subscriber ids of the sends of ``edition_id`` that ``owner`` holds (``sending``)."""
        query = sa.select(sends.c.subscriber_id).where(
            sends.c.edition_id == edition_id,
            sends.c.status == SendState.SENDING.value,
            sends.c.lease_owner == owner,
        )
        with self._tx() as conn:
            return [int(sid) for sid in conn.execute(query).scalars()]

    def send_records_of(
        self, edition_id: int, subscriber_ids: Sequence[int]
    ) -> dict[int, SendRecord]:
        """subscriber_id -> :class:`~syndicate.model.SendRecord` for a batch of subscribers."""
        if not subscriber_ids:
            return {}
        query = sa.select(sends).where(
            sends.c.edition_id == edition_id, sends.c.subscriber_id.in_(list(subscriber_ids))
        )
        with self._tx() as conn:
            rows = conn.execute(query).all()
        return {int(row.subscriber_id): self._record(row) for row in rows}

    def send_records(self, edition_id: int) -> dict[int, SendRecord]:
        """subscriber_id -> :class:`~syndicate.model.SendRecord` of each send of ``edition_id``."""
        query = sa.select(sends).where(sends.c.edition_id == edition_id)
        with self._tx() as conn:
            rows = conn.execute(query).all()
        return {int(row.subscriber_id): self._record(row) for row in rows}

    def _record(self, row: sa.Row[Any]) -> SendRecord:
        return SendRecord(
            subscriber_id=int(row.subscriber_id),
            state=self._known_state(row.status),
            attempts=int(row.attempts),
            next_attempt_at=row.next_attempt_at,
            error=row.error,
            message_id=row.message_id,
        )

    def next_attempt(self, edition_ids: Sequence[int]) -> datetime | None:
        """The earliest time a deferred send of these editions may be tried again."""
        if not edition_ids:
            return None
        query = sa.select(sa.func.min(sends.c.next_attempt_at)).where(
            sends.c.edition_id.in_(list(edition_ids)),
            sends.c.status == SendState.DEFERRED.value,
        )
        with self._tx() as conn:
            value: datetime | None = conn.execute(query).scalar()
        if value is None:
            return None
        return value if value.tzinfo else value.replace(tzinfo=UTC)

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
