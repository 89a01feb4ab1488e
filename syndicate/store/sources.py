"""Source states: what is remembered about each source between runs, saved in batches.

:class:`SourcesMixin` gives :class:`syndicate.store.Store` the source-state
methods: conditional-GET validators, the last success and error, backoff (the
next due time), a permanent move and retirement after 410 Gone. A collect run
stores a batch of sources (their articles and states) in one transaction with
:meth:`SourcesMixin.store_collected`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from syndicate import DEFAULT_ID_DATE
from syndicate.decide import results_by_source
from syndicate.matching import DEFAULT_MATCHING, Matching
from syndicate.model import Article, SourceState, UpsertResult
from syndicate.store.articles import ArticlesMixin
from syndicate.store.base import now_or, opt_utc
from syndicate.store.tables import source_states

KEY = "key_source_id"  # bind name of the row key in batched updates


@dataclass(frozen=True)
class Collected:
    """One source's share of a batch: its articles (none when it failed) and its new state."""

    state: SourceState
    articles: Sequence[Article] = ()


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
        location=row.location,
        moved_from=row.moved_from,
        next_due_at=row.next_due_at,
        backoff_seconds=int(row.backoff_seconds or 0),
        retired_at=row.retired_at,
        entries=_fingerprints(row.entries),
    )


def _fingerprints(value: Any) -> tuple[str, ...]:
    """The stored fingerprints; anything but a list of text (an edited import) is none."""
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def state_values(state: SourceState) -> dict[str, Any]:
    """The column values of ``state`` (all but the key)."""
    return {
        "etag": state.etag,
        "last_modified": state.last_modified,
        "last_checked_at": opt_utc(state.last_checked_at),
        "last_success_at": opt_utc(state.last_success_at),
        "last_error": state.last_error,
        "error_count": state.error_count,
        "pages": state.pages or None,
        "location": state.location,
        "moved_from": state.moved_from,
        "next_due_at": opt_utc(state.next_due_at),
        "backoff_seconds": state.backoff_seconds,
        "retired_at": opt_utc(state.retired_at),
        "entries": list(state.entries) or None,
    }


def _known_ids(conn: sa.Connection, ids: Sequence[str]) -> set[str]:
    query = sa.select(source_states.c.source_id).where(source_states.c.source_id.in_(ids))
    return {row.source_id for row in conn.execute(query)}


def write_states(conn: sa.Connection, states: Sequence[SourceState]) -> None:
    """Insert or replace ``states`` inside ``conn``'s transaction: one UPDATE and one INSERT."""
    latest = {state.source_id: state for state in states}
    if not latest:
        return
    known = _known_ids(conn, list(latest))
    updates = [
        state_values(s) | {KEY: s.source_id} for s in latest.values() if s.source_id in known
    ]
    inserts = [state_values(s) | {"source_id": s.source_id} for s in latest.values()
               if s.source_id not in known]  # fmt: skip
    if updates:
        key = source_states.c.source_id == sa.bindparam(KEY)
        conn.execute(source_states.update().where(key), updates)
    if inserts:
        conn.execute(source_states.insert(), inserts)


class SourcesMixin(ArticlesMixin):
    """Per-source state, alone or in batches with the articles collected."""

    def get_source_state(self, source_id: str) -> SourceState:
        """What is remembered about ``source_id``; a fresh state when nothing is."""
        return self.get_source_states([source_id])[source_id]

    def get_source_states(self, source_ids: Sequence[str]) -> dict[str, SourceState]:
        """The states of ``source_ids`` in one query (a fresh state for an unknown one)."""
        ids = list(dict.fromkeys(source_ids))
        query = sa.select(source_states).where(source_states.c.source_id.in_(ids))
        with self._tx() as conn:
            found = {row.source_id: row_source_state(row) for row in conn.execute(query)}
        return {source_id: found.get(source_id) or SourceState(source_id) for source_id in ids}

    def all_source_states(self) -> list[SourceState]:
        """Every stored source state, by source id."""
        query = sa.select(source_states).order_by(source_states.c.source_id)
        with self._tx() as conn:
            return [row_source_state(row) for row in conn.execute(query)]

    def save_source_state(self, state: SourceState) -> None:
        """Insert or replace the stored state of ``state.source_id``."""
        self.save_source_states([state])

    def save_source_states(self, states: Sequence[SourceState]) -> None:
        """Insert or replace several states in one transaction."""

        def save() -> None:
            with self._tx(write=True) as conn:
                write_states(conn, states)

        self._retry_on_conflict(save)

    def store_collected(
        self,
        batch: Sequence[Collected],
        *,
        tag_authority: str,
        id_date: date = DEFAULT_ID_DATE,
        matching: Matching = DEFAULT_MATCHING,
        now: datetime | None = None,
    ) -> list[UpsertResult]:
        """Store a batch of sources' articles and states in one transaction.

        Returns each source's counts in ``batch`` order. The articles of all
        sources are decided together (a few queries for the batch, and the same
        story from two sources of one batch is stored once); a source without
        articles (not modified, or failed) costs nothing but its state.
        """
        when = now_or(now)
        tagging = (tag_authority, id_date)

        def write() -> list[UpsertResult]:
            everything = [article for item in batch for article in item.articles]
            counts: dict[str, UpsertResult] = {}
            with self._tx(write=True) as conn:
                if everything:
                    prepared, plan = self._upsert_in(conn, everything, tagging, matching, when)
                    counts = results_by_source(prepared, plan)
                write_states(conn, [item.state for item in batch])
            return [counts.get(item.state.source_id, UpsertResult()) for item in batch]

        return self._retry_on_conflict(write)

    def enable_source(self, source_id: str) -> SourceState:
        """Re-enable a retired or backing-off source: it is due at the next run."""
        state = self.get_source_state(source_id)
        enabled = replace(
            state, retired_at=None, next_due_at=None, backoff_seconds=0, error_count=0
        )
        self.save_source_state(enabled)
        return enabled
