"""The store: every SQL statement of syndicate, on SQLite (default) or PostgreSQL.

:class:`Store` wraps one SQLAlchemy engine and is composed of one part per
aggregate over a small base (:mod:`.base`: engine, transactions, error mapping):

* :mod:`.migrations` — schema upgrade, revisions, ``alembic check``;
* :mod:`.articles` — articles;
* :mod:`.sources` — source states (validators, backoff, moves, retirement), batch writes;
* :mod:`.duplicates` — the same story from several sources (candidates, further sources);
* :mod:`.takedowns` — hiding and unhiding articles, the article listing of ops;
* :mod:`.transfer` — every row that matters, exported as records and imported back;
* :mod:`.audience` — subscribers and subscriptions (unsubscribing, preferences);
* :mod:`.consent` — confirmation requests, rate counters, generated secrets;
* :mod:`.imports` — subscriptions read and written in bulk (``subscribers import``);
* :mod:`.editions` — editions and their stored bodies;
* :mod:`.sends` — sends, claimed in batches under a lease;
* :mod:`.outcomes` — how claimed sends end (recorded in batches, expired, closed);
* :mod:`.operator` — what operator commands ask of sends (counts, listings, resend);
* :mod:`.lease` — the scheduler lease (one active daemon, fencing) and reload requests;
* :mod:`.runs` — job run history, paused digests and sources, retention pruning;
* :mod:`.metrics` — grouped counts for ``/metrics``;
* :mod:`.engine` — timeouts, the idle-only ping of the pool, the statement watchdog.

The tables Alembic migrates are in :mod:`.tables`. Schema changes go through the
migrations in ``syndicate/migrations``; every method runs in its own transaction
and returns the plain objects of :mod:`syndicate.model`. SQLAlchemy and Alembic
errors leave this package as :class:`~syndicate.errors.StoreError`.
"""

from __future__ import annotations

from syndicate.store.audience import AudienceMixin
from syndicate.store.consent import ConsentMixin
from syndicate.store.editions import EditionEntry
from syndicate.store.imports import ImportsMixin, SubscriptionEntry
from syndicate.store.metrics import MetricsMixin
from syndicate.store.migrations import SchemaMixin
from syndicate.store.operator import EditionCounts, OperatorMixin, SendEntry
from syndicate.store.outcomes import OutcomesMixin
from syndicate.store.runs import RunsMixin
from syndicate.store.sources import Collected, SourcesMixin
from syndicate.store.takedowns import ArticleEntry, ArticleNotFound, Takedown, TakedownsMixin
from syndicate.store.transfer import BadRecord, Record, TransferMixin

__all__ = [
    "ArticleEntry",
    "ArticleNotFound",
    "BadRecord",
    "Collected",
    "EditionCounts",
    "EditionEntry",
    "Record",
    "SendEntry",
    "Store",
    "SubscriptionEntry",
    "Takedown",
]


class Store(
    SchemaMixin,
    SourcesMixin,
    TakedownsMixin,
    AudienceMixin,
    ImportsMixin,
    ConsentMixin,
    OutcomesMixin,
    OperatorMixin,
    TransferMixin,
    RunsMixin,
    MetricsMixin,
):
    """The database of syndicate: articles, sources, subscribers, consent, editions, sends.

    ``url`` is the SQLAlchemy URL with its password hidden (safe to print).
    """

    def __enter__(self) -> Store:
        """Use the store as a context manager that closes it on exit."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the store."""
        self.close()
