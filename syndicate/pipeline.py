"""Put the stages in order: collect -> feeds, and digest -> render -> delivery.

Each function here takes one unit of work, leaves its state in the store and can
be run again safely; the CLI and the scheduler only call these.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from syndicate import digest
from syndicate.config import CollectConfig, Config, DigestConfig
from syndicate.errors import SyndicateError
from syndicate.model import Digest, Edition, SendState, Subscription, may_claim, utcnow

# Each stage is imported where it runs, so a command loads only its own stage.
if TYPE_CHECKING:
    from syndicate import render
    from syndicate.collect import SourceOutcome
    from syndicate.delivery import DeliveryReport
    from syndicate.extract import Extracted
    from syndicate.feeds import FeedsReport
    from syndicate.store import Store

logger = logging.getLogger(__name__)


@dataclass
class DigestRun:
    """What one digest run did, one count per active subscription.

    ``paused`` counts subscriptions paused at the edition's slot (nothing sent).
    Subscriptions whose send an earlier run finished or left are counted as
    ``already_sent``, ``failed_earlier`` (failed for good) or ``interrupted``
    (left ``sending``: it may have gone out, so it is never retried);
    ``claimed_elsewhere`` counts sends another run claimed while this one ran.
    """

    digest_id: str
    edition: Edition
    created: bool
    paused: int = 0
    empty: int = 0
    already_sent: int = 0
    failed_earlier: int = 0
    interrupted: int = 0
    claimed_elsewhere: int = 0
    sent: int = 0
    failed: dict[str, str] = field(default_factory=dict)


@dataclass
class CycleReport:
    """What one full cycle (collect, feeds, every digest) did."""

    sources: list[SourceOutcome] = field(default_factory=list)
    feeds: FeedsReport | None = None
    digests: list[DigestRun] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def has_failures(self) -> bool:
        """True when any source, digest or delivery failed."""
        return bool(
            self.errors
            or any(o.error for o in self.sources)
            or any(run.failed for run in self.digests)
        )


def open_store(config: Config) -> Store:
    """Open the configured store, creating a fresh database or refusing an outdated one."""
    from syndicate.store import Store

    store = Store(config.store)
    store.ensure_current()
    return store


def run_collect(
    config: Config,
    store: Store,
    *,
    source_ids: Sequence[str] | None = None,
    progress: Callable[[SourceOutcome], None] | None = None,
    now: datetime | None = None,
) -> list[SourceOutcome]:
    """Collect the given (or every enabled) source; failures are reported, not raised."""
    from syndicate import collect

    return collect.collect_all(config, store, source_ids=source_ids, progress=progress, now=now)


def extract_page(config: Config | None, location: str, source_id: str | None = None) -> Extracted:
    """Fetch one page and extract its article, in the source's (or config's) timezone.

    Without a config, Asia/Seoul and the default collect settings apply.
    """
    from zoneinfo import ZoneInfo

    from syndicate.sources.page import extract_location

    if config is None:
        return extract_location(location, zone=ZoneInfo("Asia/Seoul"), collect=CollectConfig())
    source = config.source(source_id) if source_id else None
    zone = (source.timezone if source else None) or config.timezone
    return extract_location(
        location, zone=zone, collect=config.collect, source_id=source_id or "extract"
    )


def run_feeds(config: Config, store: Store) -> FeedsReport:
    """Write every configured feed file."""
    from syndicate import feeds

    return feeds.write_feeds(config, store)


def _batches(items: Sequence[Digest], size: int) -> Iterator[Sequence[Digest]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _batch_size(config: DigestConfig) -> int:
    from syndicate.deliveries import delivery_kind

    return delivery_kind(config.delivery).batch_size(config.delivery)


def send_batch(
    config: Config,
    store: Store,
    digest_config: DigestConfig,
    batch: Sequence[Digest],
    *,
    renderer: render.Renderer | None = None,
    progress: Callable[[str], None] | None = None,
) -> DeliveryReport:
    """Render and deliver one batch of per-subscriber digests of one edition."""
    from syndicate import delivery, render

    renderer = renderer or render.Renderer.for_config(config)
    rendered = [renderer.render(item) for item in batch]
    return delivery.deliver_batch(config, store, digest_config, rendered, progress=progress)


def run_digest(
    config: Config,
    store: Store,
    digest_id: str,
    *,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> DigestRun:
    """Build (or reuse) the edition of the digest's latest due slot and send what is owed."""
    from syndicate import render

    digest_config = digest.digest_config(config, digest_id)
    edition, created = digest.build_edition(config, store, digest_id, now=now or utcnow())
    run = DigestRun(digest_id, edition, created)
    active = store.subscriptions(digest_id)
    receiving = [s for s in active if s.receives_at(edition.slot)]
    run.paused = len(active) - len(receiving)
    pending = _owed(store, run, receiving)
    digests = digest.digests_for(config, edition, pending)
    run.empty = len(pending) - len(digests)
    renderer = render.Renderer.for_config(config)
    for batch in _batches(digests, _batch_size(digest_config)):
        report = send_batch(
            config, store, digest_config, batch, renderer=renderer, progress=progress
        )
        run.sent += report.sent
        run.claimed_elsewhere += report.already_claimed
        run.failed.update(report.failed)
    logger.info(
        "digest %s edition %s: %d articles, %d sent, %d empty, %d paused, %d already sent, "
        "%d failed earlier, %d interrupted, %d failed",
        digest_id,
        edition.slot.isoformat(),
        len(edition.articles),
        run.sent,
        run.empty,
        run.paused,
        run.already_sent,
        run.failed_earlier,
        run.interrupted,
        len(run.failed),
    )
    return run


def _owed(store: Store, run: DigestRun, subscriptions: list[Subscription]) -> list[Subscription]:
    """The subscriptions whose send may be (re)tried now; count the others in ``run``."""
    states = store.send_states(run.edition.id)
    owed = [s for s in subscriptions if may_claim(states.get(s.subscriber.id))]
    earlier = Counter(
        state for s in subscriptions if not may_claim(state := states.get(s.subscriber.id))
    )
    run.already_sent = earlier[SendState.SENT]
    run.failed_earlier = earlier[SendState.FAILED_PERMANENT]
    run.interrupted = earlier[SendState.SENDING]
    if run.interrupted:
        logger.warning(
            "digest %s edition %s: %d sends were interrupted in an earlier run and are "
            "not retried (they may have gone out); see the sends table",
            run.digest_id,
            run.edition.slot.isoformat(),
            run.interrupted,
        )
    return owed


def missed_digests(config: Config, store: Store, *, now: datetime, grace: timedelta) -> list[str]:
    """Digests whose latest slot came due within ``grace`` before ``now`` but has no edition.

    A daemon that was down at a digest's time uses this on start to catch up.
    """
    missed = []
    for digest_config in config.digests:
        slot = digest.due_slot(config, digest_config, now)
        if slot is None or now - slot > grace:
            continue
        if store.get_edition(digest_config.id, slot) is None:
            missed.append(digest_config.id)
    return missed


def run_once(
    config: Config,
    store: Store,
    *,
    now: datetime | None = None,
    progress: Callable[[SourceOutcome], None] | None = None,
) -> CycleReport:
    """One full cycle: collect every source, write feeds, then run every digest.

    ``now`` (default: the current time) is the moment of the whole cycle.
    """
    report = CycleReport()
    report.sources = run_collect(config, store, progress=progress, now=now)
    try:
        report.feeds = run_feeds(config, store)
        report.errors.extend(f"feeds: {error}" for error in report.feeds.failed.values())
    except SyndicateError as exc:
        logger.error("feeds: %s", exc)
        report.errors.append(f"feeds: {exc}")
    for digest_config in config.digests:
        try:
            report.digests.append(run_digest(config, store, digest_config.id, now=now))
        except SyndicateError as exc:
            logger.error("digest %s: %s", digest_config.id, exc)
            report.errors.append(f"digest {digest_config.id}: {exc}")
    return report
