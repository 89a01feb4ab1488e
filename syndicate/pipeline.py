"""Put the stages in order: collect -> feeds, and digest -> render -> delivery.

Each function here takes one unit of work, leaves its state in the store and can
be run again safely; the CLI and the scheduler only call these.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from syndicate import digest
from syndicate.config import CollectConfig, Config, DigestConfig
from syndicate.errors import EditionNotDue, SyndicateError
from syndicate.model import Edition, SendState, Subscription, may_claim, utcnow
from syndicate.retry import Brakes

# Each stage is imported where it runs, so a command loads only its own stage.
if TYPE_CHECKING:
    from syndicate.assemble import Bodies
    from syndicate.collect import SourceOutcome
    from syndicate.delivery import DeliveryReport
    from syndicate.extract import Extracted
    from syndicate.feeds import FeedsReport
    from syndicate.lease import Journal
    from syndicate.senders import Senders
    from syndicate.store import Store

logger = logging.getLogger(__name__)


@dataclass
class DigestRun:
    """What one pass over an edition did, one count per active subscription.

    This pass's outcomes: ``sent``, ``deferred`` (answered 4xx, server
    unreachable, or held back when the pass stopped or a domain was paused),
    ``bounced`` and ``failed`` (address -> reason), ``uncertain`` (the answer
    was lost after the message went out). What earlier passes left:
    ``already_sent``, ``failed_earlier`` (failed or bounced), ``waiting``
    (deferred, next try not yet due), ``uncertain_earlier`` (left alone under
    ``uncertain: skip``); ``claimed_elsewhere`` counts sends another run held.
    ``stopped`` is the one line saying why the pass stopped early; ``closed``
    counts deferred sends that failed because the retry window ended.
    ``paused`` counts subscriptions paused at the edition's slot (nothing sent).
    """

    digest_id: str
    edition: Edition
    created: bool
    paused: int = 0
    empty: int = 0
    already_sent: int = 0
    failed_earlier: int = 0
    waiting: int = 0
    uncertain_earlier: int = 0
    claimed_elsewhere: int = 0
    sent: int = 0
    deferred: int = 0
    uncertain: int = 0
    bounced: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    stopped: str | None = None
    closed: int = 0
    bodies: Bodies | None = field(default=None, repr=False, compare=False)

    @property
    def unfinished(self) -> bool:
        """True when sends remain failed, deferred or uncertain (bounces alone are normal)."""
        return bool(
            self.failed
            or self.deferred
            or self.waiting
            or self.uncertain
            or self.closed
            or self.stopped
        )

    def add(self, report: DeliveryReport) -> None:
        """Count one delivered batch."""
        self.sent += report.sent
        self.deferred += report.deferred + report.held
        self.uncertain += report.uncertain
        self.claimed_elsewhere += report.already_claimed
        self.bounced.update(report.bounced)
        self.failed.update(report.failed)
        self.stopped = self.stopped or report.stopped


@dataclass
class CycleReport:
    """What one full cycle (collect, feeds, every digest) did."""

    sources: list[SourceOutcome] = field(default_factory=list)
    feeds: FeedsReport | None = None
    digests: list[DigestRun] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def has_failures(self) -> bool:
        """True when any source or digest failed, or sends remain failed, deferred or uncertain."""
        return bool(
            self.errors
            or any(o.error for o in self.sources)
            or any(run.unfinished for run in self.digests)
        )


def open_store(config: Config) -> Store:
    """Open the configured store, creating a fresh database or refusing an outdated one."""
    from syndicate.store import Store

    store = Store(config.store, config.database.limits())
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


def _batch_size(config: DigestConfig) -> int:
    from syndicate.deliveries import delivery_kind

    return delivery_kind(config.delivery).batch_size(config.delivery)


_STOP = threading.Event()


def request_stop() -> None:
    """Ask every pass over an edition in this process to stop at its next batch boundary
    (a signal handler calls this: SIGTERM stops within one batch, not one edition)."""
    _STOP.set()


def stop_requested() -> bool:
    """True once :func:`request_stop` was called."""
    return _STOP.is_set()


def run_digest(
    config: Config,
    store: Store,
    digest_id: str,
    *,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> DigestRun:
    """Build (or reuse) the edition of the digest's latest due slot and send what is owed."""
    edition, created = digest.build_edition(config, store, digest_id, now=now or utcnow())
    return send_edition(config, store, edition, created=created, now=now, progress=progress)


def send_edition(
    config: Config,
    store: Store,
    edition: Edition,
    *,
    created: bool = False,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> DigestRun:
    """Send what ``edition`` owes now: never attempted, deferred whose next try is due,
    and uncertain under ``uncertain: resend``; stop early when the server is down
    or a stop was requested (SIGTERM), at a batch boundary.

    Subscribers are read in keyset pages of one batch, each batch claimed and
    recorded in a few statements; bodies are rendered once per section set and
    stored with the edition. Claims left by a dead run are recovered first
    (:func:`_recover`). ``now`` (default: the current time) decides what is due;
    the sends themselves are stamped with it only when given. Once the retry
    window has ended, deferred sends fail for good and nothing more is sent.
    """
    from syndicate import delivery
    from syndicate.lease import Journal, this_process
    from syndicate.senders import senders_for

    digest_config = digest.digest_config(config, edition.digest_id)
    moment = now or utcnow()
    run = DigestRun(edition.digest_id, edition, created)
    if _window_over(digest_config, edition, moment):
        _close(store, run, digest_config, now=now)
        return run
    _recover(store, digest_config, edition, moment, now)
    if quiet := _quiet(config, digest_config, now):
        run.stopped = quiet
        slot = edition.slot.isoformat(timespec="minutes")
        logger.info("digest %s edition %s: %s", run.digest_id, slot, quiet)
        return run
    journal = Journal(this_process())
    finished = False
    try:
        with senders_for(config, digest_config) as senders:
            sending = _Sending(delivery.brakes_for(digest_config), journal, senders)
            _send_pages(config, store, run, sending, progress=progress, now=now)
        finished = True
    finally:
        journal.close(remove=finished)
    _log_run(run)
    return run


def _send_pages(
    config: Config,
    store: Store,
    run: DigestRun,
    sending: _Sending,
    *,
    progress: Callable[[str], None] | None,
    now: datetime | None,
) -> None:
    """Send the edition page by page until it is done, a stop is asked or quiet hours begin."""
    digest_config = digest.digest_config(config, run.digest_id)
    for page in _pages(store, run.edition, _batch_size(digest_config)):
        if stop_requested():
            run.stopped = run.stopped or "stopped on request (signal); the rest waits"
            return
        if quiet := _quiet(config, digest_config, now):
            run.stopped = run.stopped or quiet
            return
        _send_page(config, store, run, page, sending, progress=progress, now=now)


def _quiet(config: Config, digest_config: DigestConfig, now: datetime | None) -> str | None:
    """Why nothing may be sent at ``now`` (default: the current time): it is inside the
    digest's quiet hours, which end at the moment named; None outside them."""
    end = digest.quiet_end(digest_config.quiet_hours, now or utcnow(), config.timezone)
    if end is None:
        return None
    local = end.astimezone(config.timezone).isoformat(timespec="minutes")
    return f"quiet hours until {local}; the rest waits"


def _pages(store: Store, edition: Edition, size: int) -> Iterator[list[Subscription]]:
    """The active subscriptions of the edition's digest, one keyset page at a time."""
    after = 0
    while page := store.subscription_page(edition.digest_id, after=after, limit=size):
        yield page
        after = page[-1].subscriber.id


@dataclass(frozen=True)
class _Sending:
    """What the batches of one pass share: its brakes, journal and connections."""

    brakes: Brakes
    journal: Journal
    senders: Senders


def _send_page(
    config: Config,
    store: Store,
    run: DigestRun,
    page: list[Subscription],
    sending: _Sending,
    *,
    progress: Callable[[str], None] | None,
    now: datetime | None,
) -> None:
    """Send one page of subscriptions (one batch); only count it once the pass stopped."""
    from syndicate import delivery

    edition, digest_config = run.edition, digest.digest_config(config, run.digest_id)
    receiving = [s for s in page if s.receives_at(edition.slot)]
    run.paused += len(page) - len(receiving)
    pending = _owed(store, run, receiving, digest_config, now or utcnow())
    digests = digest.digests_for(config, edition, pending)
    run.empty += len(pending) - len(digests)
    if sending.brakes.stopped is not None:
        run.deferred += len(digests)  # never reached: the pass stopped
        return
    bodies = _bodies(config, store, run)
    items = [delivery.Pending(d, functools.partial(bodies.message, d, now=now)) for d in digests]
    report = delivery.deliver_pending(
        config, store, digest_config, items, progress=progress, now=now,
        brakes=sending.brakes, journal=sending.journal, senders=sending.senders,
    )  # fmt: skip
    run.add(report)


def _bodies(config: Config, store: Store, run: DigestRun) -> Bodies:
    """The message templates of the run's edition (made on first use, kept for the pass)."""
    from syndicate import render
    from syndicate.assemble import Bodies

    if run.bodies is None:
        run.bodies = Bodies(store, lambda: render.Renderer.for_config(config))
    return run.bodies


def _recover(
    store: Store,
    digest_config: DigestConfig,
    edition: Edition,
    moment: datetime,
    now: datetime | None,
) -> None:
    """Settle the claims of runs that died: what their journal says ended is recorded,
    what never went out is owed again, what was in flight becomes ``uncertain``;
    claims whose lease ran out become ``uncertain`` too."""
    from syndicate.lease import JOURNAL_FOLDER, dead_owners, journal_path, read_journal
    from syndicate.store.sends import SendOutcome

    dead = dead_owners(store.lease_owners(edition.id))
    for owner in dead:
        journal = read_journal(journal_path(JOURNAL_FOLDER, owner), edition.id)
        outcomes = []
        for subscriber_id in store.leased_sends(edition.id, owner):
            state, error = journal.get(subscriber_id, ("", None))
            if state == "":  # never handed to the server: owed again, now
                outcomes.append(SendOutcome(subscriber_id, SendState.DEFERRED, _NOT_SENT))
            elif state is not None:
                retry = moment + digest_config.retry.first_delay
                later = retry if state == SendState.DEFERRED.value else None
                outcomes.append(SendOutcome(subscriber_id, SendState(state), error, later))
        store.finish_sends(edition.id, outcomes, owner=owner, now=now)
    store.expire_claims(edition.id, now=moment, dead=dead)


_NOT_SENT = "interrupted before it was sent"


def _window_over(digest_config: DigestConfig, edition: Edition, now: datetime) -> bool:
    """True when the edition's retry window (from its creation) has ended."""
    return now >= edition.created_at + digest_config.retry.window


def _close(
    store: Store, run: DigestRun, digest_config: DigestConfig, *, now: datetime | None
) -> None:
    """Fail the deferred sends of an edition whose retry window ended (logged once)."""
    window = digest_config.retry.window
    run.closed = store.close_deferred(run.edition.id, f"retry window of {window} ended", now=now)
    if run.closed:
        logger.warning(
            "digest %s edition %s: retry window of %s ended; %d deferred sends failed",
            run.digest_id,
            run.edition.slot.isoformat(timespec="minutes"),
            window,
            run.closed,
            extra={"digest": run.digest_id, "edition": run.edition.id},
        )


def _log_run(run: DigestRun) -> None:
    """The one summary line of a pass over an edition."""
    logger.info(
        "digest %s edition %s: %d articles, %d sent, %d deferred, %d bounced, %d failed, "
        "%d uncertain; %d empty, %d paused, %d already sent, %d failed earlier, %d waiting",
        run.digest_id,
        run.edition.slot.isoformat(timespec="minutes"),
        len(run.edition.articles),
        run.sent,
        run.deferred,
        len(run.bounced),
        len(run.failed),
        run.uncertain,
        run.empty,
        run.paused,
        run.already_sent,
        run.failed_earlier,
        run.waiting,
        extra={"digest": run.digest_id, "edition": run.edition.id},
    )


def _owed(
    store: Store,
    run: DigestRun,
    subscriptions: list[Subscription],
    digest_config: DigestConfig,
    now: datetime,
) -> list[Subscription]:
    """The subscriptions whose send may be (re)tried now; count the others in ``run``."""
    ids = [subscription.subscriber.id for subscription in subscriptions]
    records = store.send_records_of(run.edition.id, ids)
    resend = digest_config.uncertain == "resend"
    owed: list[Subscription] = []
    for subscription in subscriptions:
        record = records.get(subscription.subscriber.id)
        state = None if record is None else record.state
        if may_claim(state, resend_uncertain=resend) and (record is None or record.due(now)):
            owed.append(subscription)
        elif state is SendState.SENT:
            run.already_sent += 1
        elif state in (SendState.FAILED, SendState.BOUNCED):
            run.failed_earlier += 1
        elif state is SendState.DEFERRED:
            run.waiting += 1
        elif state is SendState.UNCERTAIN:
            run.uncertain_earlier += 1
        else:
            run.claimed_elsewhere += 1  # sending now, in another run
    return owed


def resume_editions(
    config: Config,
    store: Store,
    *,
    now: datetime | None = None,
    exclude: Collection[int] = (),
) -> list[DigestRun]:
    """Send what every unfinished edition (but those in ``exclude``) owes now.

    The scheduler calls this at start and after each collect; ``syndicate digest
    ID --resume`` calls :func:`resume_digest` for one digest. Editions whose
    window just ended have their deferred sends failed. Only passes that did
    something are returned.
    """
    runs = []
    for digest_config in config.digests:
        runs += resume_digest(config, store, digest_config.id, now=now, exclude=exclude)
    return runs


def resume_digest(
    config: Config,
    store: Store,
    digest_id: str,
    *,
    now: datetime | None = None,
    exclude: Collection[int] = (),
    progress: Callable[[str], None] | None = None,
) -> list[DigestRun]:
    """Send what the unfinished editions of one digest owe now (see :func:`resume_editions`)."""
    digest_config = digest.digest_config(config, digest_id)
    # one window back, and a margin to close the editions whose window just ended
    since = (now or utcnow()) - digest_config.retry.window - _RESUME_MARGIN
    runs = []
    for edition in store.open_editions(digest_id, since):
        if edition.id in exclude:
            continue
        run = send_edition(config, store, edition, now=now, progress=progress)
        if run.sent or run.deferred or run.uncertain or run.bounced or run.failed or run.closed:
            runs.append(run)
    return runs


_RESUME_MARGIN = timedelta(days=2)


def next_resume(config: Config, store: Store, *, now: datetime | None = None) -> datetime | None:
    """When the earliest deferred send of an unfinished edition may be tried again
    (a try due inside its digest's quiet hours waits for their end)."""
    moment = now or utcnow()
    attempts = []
    for digest_config in config.digests:
        since = moment - digest_config.retry.window
        ids = [e.id for e in store.open_editions(digest_config.id, since)]
        attempt = store.next_attempt(ids) if ids else None
        if attempt is not None:
            zone, quiet = config.timezone, digest_config.quiet_hours
            attempts.append(digest.quiet_end(quiet, max(attempt, moment), zone) or attempt)
    return min(attempts, default=None)


def run_once(
    config: Config,
    store: Store,
    *,
    now: datetime | None = None,
    progress: Callable[[SourceOutcome], None] | None = None,
) -> CycleReport:
    """One full cycle: collect every source, write feeds, run every digest, then resume
    the earlier editions that still owe sends.

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
        except EditionNotDue:
            pass  # logged where it was decided; quiet hours and late slots are normal
        except SyndicateError as exc:
            logger.error("digest %s: %s", digest_config.id, exc)
            report.errors.append(f"digest {digest_config.id}: {exc}")
    done = {run.edition.id for run in report.digests}
    try:
        report.digests += resume_editions(config, store, now=now, exclude=done)
    except SyndicateError as exc:
        logger.error("resume: %s", exc)
        report.errors.append(f"resume: {exc}")
    return report
