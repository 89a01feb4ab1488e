"""What ``/metrics`` reports, read from the database at scrape time.

:class:`MetricsMixin` gives :class:`syndicate.store.Store` grouped counts only (one
short query each), so every process that serves metrics reports the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from syndicate.store.base import StoreBase
from syndicate.store.tables import articles, editions, sends, source_states, subscriptions


@dataclass(frozen=True)
class SourceHealth:
    """One source's standing: consecutive failures and the last success and check."""

    source_id: str
    error_count: int
    last_success_at: datetime | None
    last_checked_at: datetime | None


@dataclass(frozen=True)
class EditionTally:
    """A digest's editions: how many and the newest slot."""

    digest_id: str
    count: int
    last_slot: datetime | None


class MetricsMixin(StoreBase):
    """Grouped counts for metrics: articles, sources, editions, sends, subscriptions."""

    def articles_by_source(self) -> dict[str, int]:
        """Stored articles per source."""
        query = sa.select(articles.c.source_id, sa.func.count()).group_by(articles.c.source_id)
        with self._tx() as conn:
            return {str(source): int(count) for source, count in conn.execute(query)}

    def source_health(self) -> list[SourceHealth]:
        """Every recorded source's failures in a row and its last success, by source id."""
        table = source_states.c
        query = sa.select(
            table.source_id, table.error_count, table.last_success_at, table.last_checked_at
        ).order_by(table.source_id)
        with self._tx() as conn:
            return [SourceHealth(*row) for row in conn.execute(query)]

    def edition_tallies(self) -> list[EditionTally]:
        """Per digest: the number of editions and the newest slot."""
        table = editions.c
        query = (
            sa.select(table.digest_id, sa.func.count(), sa.func.max(table.slot))
            .group_by(table.digest_id)
            .order_by(table.digest_id)
        )
        with self._tx() as conn:
            return [EditionTally(*row) for row in conn.execute(query)]

    def sends_by_digest(self) -> dict[tuple[str, str], int]:
        """Send records per (digest, state)."""
        query = (
            sa.select(editions.c.digest_id, sends.c.status, sa.func.count())
            .select_from(sends.join(editions, sends.c.edition_id == editions.c.id))
            .group_by(editions.c.digest_id, sends.c.status)
        )
        with self._tx() as conn:
            return {(str(d), str(s)): int(n) for d, s, n in conn.execute(query)}

    def subscriptions_by_digest(self) -> dict[tuple[str, str], int]:
        """Subscriptions per (digest, status)."""
        table = subscriptions.c
        query = sa.select(table.digest_id, table.status, sa.func.count()).group_by(
            table.digest_id, table.status
        )
        with self._tx() as conn:
            return {(str(d), str(s)): int(n) for d, s, n in conn.execute(query)}
