"""Prometheus metrics computed from the database at scrape time (the one prometheus-client user).

Every number is read from the store when ``/metrics`` is asked, so ``syndicate
serve`` and each ``syndicate run --metrics-port`` report the same values. Each
metric family comes from one small function in :data:`FAMILIES` taking the store
and the configured ids; a new family (job durations, the last success of each
job, the lease holder) is one more such function.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from syndicate.errors import StoreError, WebError
from syndicate.model import SendState

if TYPE_CHECKING:
    from syndicate.config import Config
    from syndicate.store import Store

logger = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST
FINAL_STATES = tuple(state for state in SendState if state.is_final)
OPEN_STATES = tuple(state for state in SendState if not state.is_final)


@dataclass(frozen=True)
class Known:
    """What the config names: families list these even before the database has rows."""

    source_ids: tuple[str, ...] = ()
    digest_ids: tuple[str, ...] = ()

    @classmethod
    def of(cls, config: Config) -> Known:
        """The sources and digests of ``config``."""
        return cls(tuple(s.id for s in config.sources), tuple(d.id for d in config.digests))


Family = Callable[["Store", Known], Iterable[Metric]]


def article_families(store: Store, known: Known) -> Iterator[Metric]:
    """``syndicate_articles_total{source}``: articles stored per source."""
    counts = dict.fromkeys(known.source_ids, 0) | store.articles_by_source()
    family = CounterMetricFamily(
        "syndicate_articles", "Articles collected and stored, by source.", labels=["source"]
    )
    for source, count in sorted(counts.items()):
        family.add_metric([source], count)
    yield family


def source_families(store: Store, known: Known) -> Iterator[Metric]:
    """Failures in a row and the time of the last success, by source."""
    failing = GaugeMetricFamily(
        "syndicate_source_failures_in_a_row",
        "Consecutive failed collections of a source (0: its last collection worked).",
        labels=["source"],
    )
    success = GaugeMetricFamily(
        "syndicate_source_last_success_timestamp_seconds",
        "When a source was last collected without error (Unix time).",
        labels=["source"],
    )
    for health in store.source_health():
        failing.add_metric([health.source_id], health.error_count)
        if health.last_success_at is not None:
            success.add_metric([health.source_id], health.last_success_at.timestamp())
    yield failing
    yield success


def edition_families(store: Store, known: Known) -> Iterator[Metric]:
    """Editions per digest and the slot of the newest one."""
    count = CounterMetricFamily(
        "syndicate_editions", "Editions built, by digest.", labels=["digest"]
    )
    newest = GaugeMetricFamily(
        "syndicate_edition_last_slot_timestamp_seconds",
        "The slot of a digest's newest edition (Unix time).",
        labels=["digest"],
    )
    tallies = {t.digest_id: t for t in store.edition_tallies()}
    for digest_id in sorted(set(known.digest_ids) | set(tallies)):
        tally = tallies.get(digest_id)
        count.add_metric([digest_id], tally.count if tally else 0)
        if tally is not None and tally.last_slot is not None:
            newest.add_metric([digest_id], tally.last_slot.timestamp())
    yield count
    yield newest


def message_families(store: Store, known: Known) -> Iterator[Metric]:
    """Messages by digest: final states as counters, open ones as gauges."""
    counts = store.sends_by_digest()
    digests = sorted(set(known.digest_ids) | {digest for digest, _state in counts})
    final = CounterMetricFamily(
        "syndicate_messages",
        "Messages that reached a final state (sent, bounced, failed), by digest.",
        labels=["digest", "state"],
    )
    waiting = GaugeMetricFamily(
        "syndicate_messages_open",
        "Messages not final yet (sending, deferred, uncertain), by digest.",
        labels=["digest", "state"],
    )
    for digest_id in digests:
        for state in FINAL_STATES:
            final.add_metric([digest_id, state.value], counts.get((digest_id, state.value), 0))
        for state in OPEN_STATES:
            waiting.add_metric([digest_id, state.value], counts.get((digest_id, state.value), 0))
    yield final
    yield waiting


def subscription_families(store: Store, known: Known) -> Iterator[Metric]:
    """``syndicate_subscriptions{digest,status}``: subscriptions in each status."""
    family = GaugeMetricFamily(
        "syndicate_subscriptions",
        "Subscriptions by digest and status.",
        labels=["digest", "status"],
    )
    for (digest_id, status), count in sorted(store.subscriptions_by_digest().items()):
        family.add_metric([digest_id, status], count)
    yield family


def _job_ids(known: Known, outcomes: dict[tuple[str, str], int]) -> list[str]:
    """Jobs the config names (collect, each digest) and every job in the history."""
    configured = {"collect", *(f"digest:{d}" for d in known.digest_ids)}
    return sorted(configured | {job_id for job_id, _outcome in outcomes})


def job_families(store: Store, known: Known) -> Iterator[Metric]:
    """Runs by job and outcome, the last run's duration and the last success, by job."""
    from syndicate.store.runs import OUTCOMES

    outcomes = store.run_outcomes()
    runs = CounterMetricFamily(
        "syndicate_job_runs",
        "Finished job runs in the run history (pruned by retention), by job and outcome.",
        labels=["job", "outcome"],
    )
    for job_id in _job_ids(known, outcomes):
        for outcome in OUTCOMES:
            runs.add_metric([job_id, outcome], outcomes.get((job_id, outcome), 0))
    yield runs
    yield from _job_timings(store)


def _job_timings(store: Store) -> Iterator[Metric]:
    duration = GaugeMetricFamily(
        "syndicate_job_last_duration_seconds",
        "How long the last finished run of a job took (ok, failed or lost).",
        labels=["job"],
    )
    for job_id, run in sorted(store.last_runs("ok", "failed", "lost").items()):
        if run.finished_at is not None:
            duration.add_metric([job_id], (run.finished_at - run.started_at).total_seconds())
    success = GaugeMetricFamily(
        "syndicate_job_last_success_timestamp_seconds",
        "When the last successful run of a job ended (Unix time).",
        labels=["job"],
    )
    for job_id, run in sorted(store.last_runs("ok").items()):
        if run.finished_at is not None:
            success.add_metric([job_id], run.finished_at.timestamp())
    yield duration
    yield success


def lease_families(store: Store, known: Known) -> Iterator[Metric]:
    """The scheduler lease: who holds it, its last heartbeat and its expiry.

    Times, not ages, so every process reports the same numbers; the age of the
    heartbeat is ``time() - syndicate_lease_heartbeat_timestamp_seconds``.
    """
    from syndicate.leader import LEASE_NAME

    state = store.lease_state(LEASE_NAME)
    holder = GaugeMetricFamily(
        "syndicate_lease_holder",
        "The daemon holding the scheduler lease (host:pid); absent when none does.",
        labels=["holder"],
    )
    times = {
        "heartbeat": "When the holder last renewed the scheduler lease (Unix time).",
        "expires": "When the scheduler lease runs out unless renewed (Unix time).",
    }
    beat, expires = (
        GaugeMetricFamily(f"syndicate_lease_{name}_timestamp_seconds", text)
        for name, text in times.items()
    )
    if state is not None and state.holder is not None:
        holder.add_metric([state.holder], 1)
        expires.add_metric([], state.expires_at.timestamp())
        if state.heartbeat_at is not None:
            beat.add_metric([], state.heartbeat_at.timestamp())
    yield from (holder, beat, expires)


FAMILIES: tuple[Family, ...] = (
    article_families,
    source_families,
    edition_families,
    message_families,
    subscription_families,
    job_families,
    lease_families,
)


class StoreCollector(Collector):
    """Reads every family from the store at each scrape; ``syndicate_store_up`` says if it could."""

    def __init__(self, store: Store, known: Known, families: tuple[Family, ...] = FAMILIES):
        self.store = store
        self.known = known
        self.families = families

    def collect(self) -> Iterator[Metric]:
        """Every family, or only ``syndicate_store_up 0`` when the database fails."""
        try:
            metrics = [m for family in self.families for m in family(self.store, self.known)]
        except StoreError as exc:
            logger.warning("metrics: %s", exc)
            metrics = []
            up = 0
        else:
            up = 1
        yield GaugeMetricFamily(
            "syndicate_store_up", "1 when the database answered this scrape.", value=up
        )
        yield from metrics


def registry_for(store: Store, config: Config) -> CollectorRegistry:
    """A registry holding only the store's metrics (no per-process ones)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store, Known.of(config)))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The registry in the Prometheus text format."""
    return generate_latest(registry)


def serve_metrics(store: Store, config: Config, host: str, port: int) -> Callable[[], None]:
    """Serve ``/metrics`` on ``host:port`` in a background thread; returns how to stop it."""
    from prometheus_client import start_http_server

    try:
        server, thread = start_http_server(port, host, registry=registry_for(store, config))
    except OSError as exc:
        raise WebError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}") from None
    logger.info("metrics at http://%s:%d/metrics", host, server.server_port)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop
