"""Editions and per-subscriber digests.

An *edition* is one issue of a digest for one scheduled slot. Building it
freezes its article list in the store: everything first stored after the
previous edition's cutoff (or, for the very first edition, within the
digest's ``first_window``), restricted to the sections the digest offers.
Building the same slot again returns the stored edition unchanged.

A :class:`~syndicate.model.Digest` is what one subscriber receives from an
edition: the articles of the sections they chose, grouped by section in the
configured order, newest first, at most ``max_per_section`` per group.
:func:`web_digest` is the public web version of an edition: every section, no
subscriber. An edition's web address is ``archive/<digest id>/<edition key>``,
the key being its slot in the configured timezone (:func:`edition_key`).

No templates here; rendering is :mod:`syndicate.render`'s job.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING
from urllib.parse import quote

from syndicate.config import Config, DigestConfig
from syndicate.config_digest import QuietHoursConfig
from syndicate.errors import EditionNotDue, SyndicateError
from syndicate.model import (
    Article,
    Digest,
    Edition,
    Logo,
    Masthead,
    Publisher,
    Section,
    SectionGroup,
    Subscription,
    as_utc,
    newest_first,
    public_subscription,
    utcnow,
)

if TYPE_CHECKING:
    from syndicate.schedule import Schedule
    from syndicate.store import Store

logger = logging.getLogger(__name__)

ARCHIVE_PATH = "archive/"
EDITION_KEY_FORMAT = "%Y-%m-%d-%H%M"
_EDITION_KEY_RE = re.compile(r"\d{4}-\d{2}-\d{2}-\d{4}")


def digest_config(config: Config, digest_id: str) -> DigestConfig:
    """Return the configured digest ``digest_id`` or raise a one-line SyndicateError."""
    try:
        return config.digest(digest_id)
    except KeyError:
        known = ", ".join(d.id for d in config.digests) or "none configured"
        raise SyndicateError(f"unknown digest {digest_id!r} (known: {known})") from None


def due_slot(config: Config, digest: DigestConfig, now: datetime) -> datetime | None:
    """Return the latest scheduled slot at or before ``now`` (in UTC), or None.

    The schedule is read in ``config.timezone``, so ``0 7 * * 0`` means 07:00
    Seoul time on Sundays.
    """
    local_now = as_utc(now).astimezone(config.timezone)
    slot = digest.schedule.latest_slot(local_now, config.timezone)
    return None if slot is None else as_utc(slot)


def build_edition(
    config: Config,
    store: Store,
    digest_id: str,
    *,
    now: datetime | None = None,
    slot: datetime | None = None,
) -> tuple[Edition, bool]:
    """Return the edition of the latest due slot (or ``slot``) and whether it was created.

    An existing edition is returned unchanged with ``False``. Otherwise the
    article list is frozen: ``cutoff_seq`` is the store's highest sequence and
    the articles are those stored after the previous edition's cutoff (or within
    ``first_window`` before ``now`` for the first edition), in offered sections.

    Without ``slot``, :func:`check_due` decides whether the latest slot's edition
    may be built now: :class:`EditionNotDue` when ``now`` is in the digest's quiet
    hours (``until`` their end) or the slot is past its grace (skipped, logged).
    """
    digest = digest_config(config, digest_id)
    moment = as_utc(now) if now is not None else utcnow()
    target = as_utc(slot) if slot is not None else due_slot(config, digest, moment)
    if target is None:
        local = moment.astimezone(config.timezone).isoformat(timespec="minutes")
        raise SyndicateError(
            f"digest {digest_id!r}: schedule {digest.schedule} has no slot at or before {local}"
        )
    existing = store.get_edition(digest_id, target)
    if existing is not None:
        logger.debug("digest %s: edition for %s already exists", digest_id, target.isoformat())
        return existing, False
    if slot is None:
        check_due(config, digest, target, moment)
    return _freeze(config, store, digest, target, moment)


def quiet_end(quiet: QuietHoursConfig | None, moment: datetime, zone: tzinfo) -> datetime | None:
    """The end (UTC) of the quiet hours ``moment`` is in, or None when it is not in them."""
    local = as_utc(moment).astimezone(zone)
    if quiet is None or not quiet.contains(local.time()):
        return None
    end = datetime.combine(local.date(), quiet.end, tzinfo=zone)
    if end <= local:
        end = datetime.combine(local.date() + timedelta(days=1), quiet.end, tzinfo=zone)
    return as_utc(end)


def _next_quiet_start(quiet: QuietHoursConfig, moment: datetime, zone: tzinfo) -> datetime:
    """The first start (UTC) of the quiet hours after ``moment`` (which is outside them)."""
    local = as_utc(moment).astimezone(zone)
    start = datetime.combine(local.date(), quiet.start, tzinfo=zone)
    if start <= local:
        start = datetime.combine(local.date() + timedelta(days=1), quiet.start, tzinfo=zone)
    return as_utc(start)


def awake_time(
    quiet: QuietHoursConfig | None, since: datetime, until: datetime, zone: tzinfo
) -> timedelta:
    """How much of ``since``..``until`` lies outside the quiet hours (all of it without them)."""
    if quiet is None:
        return until - since
    awake, moment = timedelta(0), since
    for _ in range(400):  # one quiet period a day: bounded by about a year
        moment = quiet_end(quiet, moment, zone) or moment
        if moment >= until:
            return awake
        start = _next_quiet_start(quiet, moment, zone)
        awake += min(start, until) - moment
        if start >= until:
            return awake
        moment = start
    return awake


def check_due(config: Config, digest: DigestConfig, slot: datetime, now: datetime) -> None:
    """Decide whether the edition of ``slot`` may be built at ``now`` (the one place that does).

    The slot is late when more than ``grace`` of time outside the quiet hours has
    passed since it: it is skipped (logged) rather than sent under an old date.
    Inside quiet hours it waits: :class:`EditionNotDue` with ``until`` their end.
    """
    zone, label = config.timezone, _local_label(slot, config.timezone)
    late = awake_time(digest.quiet_hours, slot, now, zone)
    if late > digest.grace:
        message = (
            f"digest {digest.id}: edition for {label} skipped: built {_hours(late)} after its "
            f"slot, past the grace of {_hours(digest.grace)}"
        )
        logger.warning("%s", message)
        raise EditionNotDue(message)
    end = quiet_end(digest.quiet_hours, now, zone)
    if end is not None:
        message = (
            f"digest {digest.id}: edition for {label} waits for the end of quiet hours "
            f"({_local_label(end, zone)})"
        )
        logger.info("%s", message)
        raise EditionNotDue(message, until=end)


def _local_label(moment: datetime, zone: tzinfo) -> str:
    return as_utc(moment).astimezone(zone).isoformat(timespec="minutes")


def _hours(span: timedelta) -> str:
    """``2h05m`` for a time span (minutes precision)."""
    minutes = int(span.total_seconds() // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m"


@functools.lru_cache(maxsize=64)
def period_start(schedule: Schedule, slot: datetime, zone: tzinfo) -> datetime | None:
    """The first local day an edition of ``slot`` covers when it covers several days.

    A weekly digest at 07:00 on Sunday 29 November covers 23 to 29 November: the
    days from the previous slot to this one. None for a daily (or more often) digest.
    """
    local = as_utc(slot).astimezone(zone)
    previous = schedule.latest_slot(local - timedelta(seconds=1), zone)
    if previous is None or local - previous < timedelta(days=2):
        return None
    return local - timedelta(days=(local - previous).days - 1)


def draft_edition(config: Config, store: Store, digest_id: str, slot: datetime) -> Edition:
    """The edition ``slot`` would get if it were built now, stored nowhere (its id is 0)."""
    digest = digest_config(config, digest_id)
    now = utcnow()
    cutoff, articles = _select(config, store, digest, now)
    return Edition(0, digest.id, as_utc(slot), cutoff, now, tuple(articles))


def _select(
    config: Config, store: Store, digest: DigestConfig, now: datetime
) -> tuple[int, list[Article]]:
    """The cutoff and the articles of a new edition of ``digest`` built at ``now``."""
    cutoff = store.max_seq()
    previous = store.last_edition(digest.id)
    section_ids = [s.id for s in config.digest_sections(digest)]
    if previous is not None:
        articles = store.articles_for_edition(
            upto_seq=cutoff, section_ids=section_ids, after_seq=previous.cutoff_seq
        )
    else:
        articles = store.articles_for_edition(
            upto_seq=cutoff, section_ids=section_ids, since=now - digest.first_window
        )
    return cutoff, articles


def _freeze(
    config: Config, store: Store, digest: DigestConfig, slot: datetime, now: datetime
) -> tuple[Edition, bool]:
    """Select the articles of a new edition and store it."""
    cutoff, articles = _select(config, store, digest, now)
    seqs = [a.seq for a in articles if a.seq is not None]
    edition, created = store.create_edition(digest.id, slot, cutoff, seqs, now=now)
    logger.info(
        "digest %s: edition for %s with %d articles (cutoff %d, created %s)",
        digest.id,
        slot.astimezone(config.timezone).isoformat(timespec="minutes"),
        len(edition.articles),
        edition.cutoff_seq,
        created,
        extra={"digest": digest.id, "edition": edition.id},
    )
    return edition, created


def subscribed_sections(config: Config, subscription: Subscription) -> list[Section]:
    """The sections a subscription receives, in display order.

    An empty choice means every section the digest offers; sections the digest
    no longer offers are ignored.
    """
    offered = config.digest_sections(digest_config(config, subscription.digest_id))
    if not subscription.sections:
        return offered
    chosen = set(subscription.sections)
    return [s for s in offered if s.id in chosen]


def _by_section(edition: Edition, limit: int) -> dict[str, tuple[Article, ...]]:
    """Group an edition's articles by section id: newest first, at most ``limit`` each."""
    grouped: dict[str, list[Article]] = {}
    for article in edition.articles:
        grouped.setdefault(article.section_id, []).append(article)
    return {key: tuple(newest_first(items)[:limit]) for key, items in grouped.items()}


def digests_for(
    config: Config, edition: Edition, subscriptions: Sequence[Subscription]
) -> list[Digest]:
    """Return one Digest per subscription that gets at least one article of ``edition``.

    Subscriptions of another digest, not active, or paused at the edition's slot are skipped.
    """
    digest = digest_config(config, edition.digest_id)
    masthead = masthead_for(config, digest)
    grouped = _by_section(edition, digest.max_per_section)
    result = []
    for subscription in subscriptions:
        if subscription.digest_id != edition.digest_id or not subscription.receives_at(
            edition.slot
        ):
            logger.debug("skipping subscription of %s", subscription.subscriber.email)
            continue
        sections = subscribed_sections(config, subscription)
        groups = tuple(
            SectionGroup(section, grouped[section.id])
            for section in sections
            if grouped.get(section.id)
        )
        if groups:
            result.append(
                digest_for(
                    config, edition, subscription, groups, masthead=masthead, sections=sections
                )
            )
    return result


def masthead_for(config: Config, digest: DigestConfig) -> Masthead:
    """The masthead of ``digest``: its title, sender and the publication's host, zone, URL,
    and its look and footer (logo, brand colour, publisher, images, size budget)."""
    logo, publisher = config.digest_logo(digest), config.digest_publisher(digest)
    images = digest.images
    return Masthead(
        digest_id=digest.id,
        title=digest.title,
        sender=digest.sender,
        reply_to=digest.reply_to,
        host=config.host,
        public_base_url=config.public_base_url,
        timezone=config.timezone,
        logo=None if logo is None else Logo(logo.url, logo.width, logo.height),
        brand_color=config.digest_brand_color(digest) or "",
        publisher=None
        if publisher is None
        else Publisher(publisher.name, publisher.address, publisher.contact),
        advertising=digest.advertising,
        image_size=(images.width, images.height) if images.show else None,
        size_budget=digest.size_budget,
        section_links=_section_links(config, digest),
    )


def _section_links(config: Config, digest: DigestConfig) -> tuple[tuple[str, str], ...]:
    """Where "더 보기" leads per section when the digest has no archive: the section's
    feed, else the public site."""
    from syndicate.feeds import feed_file_name

    feeds, base = config.feeds, config.public_base_url
    first = feeds.formats[0]
    return tuple(
        (s.id, config.feeds_url + feed_file_name(s.id, first) if feeds.per_section else base)
        for s in config.digest_sections(digest)
    )


def digest_for(
    config: Config,
    edition: Edition,
    subscription: Subscription,
    groups: tuple[SectionGroup, ...] = (),
    *,
    masthead: Masthead | None = None,
    sections: Sequence[Section] | None = None,
) -> Digest:
    """The Digest of ``subscription`` with ``groups``, carrying what render and mail need.

    ``masthead`` defaults to the configured one of the edition's digest, ``sections``
    to the subscription's :func:`subscribed_sections`.
    """
    if masthead is None:
        masthead = masthead_for(config, digest_config(config, edition.digest_id))
    if sections is None:
        sections = subscribed_sections(config, subscription)
    return Digest(
        edition,
        subscription,
        groups,
        masthead,
        tuple(sections),
        unsubscribe_url(config, subscription),
        archive_url=archive_url(config, edition),
        preferences_url=preferences_url(config, subscription),
        period_start=_period(config, edition),
    )


def _period(config: Config, edition: Edition) -> datetime | None:
    """The first day ``edition`` covers when it covers several (see :func:`period_start`)."""
    schedule = digest_config(config, edition.digest_id).schedule
    return period_start(schedule, edition.slot, config.timezone)


def web_digest(config: Config, edition: Edition) -> Digest:
    """The public web version of ``edition``: every offered section, nobody's address.

    Grouped and capped like the e-mail (``max_per_section``); its subscription is
    :func:`~syndicate.model.public_subscription`, its unsubscribe and preferences
    URLs are empty.
    """
    digest = digest_config(config, edition.digest_id)
    sections = config.digest_sections(digest)
    grouped = _by_section(edition, digest.max_per_section)
    groups = tuple(SectionGroup(s, grouped[s.id]) for s in sections if grouped.get(s.id))
    masthead = masthead_for(config, digest)
    subscription = public_subscription(digest.id)
    url = archive_url(config, edition)
    return Digest(
        edition,
        subscription,
        groups,
        masthead,
        tuple(sections),
        "",
        archive_url=url,
        period_start=_period(config, edition),
    )


def unsubscribe_url(config: Config, subscription: Subscription) -> str:
    """Return the public one-click unsubscribe URL of a subscription."""
    return f"{config.public_base_url}unsubscribe?token={quote(subscription.token, safe='')}"


def preferences_url(config: Config, subscription: Subscription) -> str:
    """Return the public preferences page URL of a subscription (same token as unsubscribing)."""
    return f"{config.public_base_url}preferences?token={quote(subscription.token, safe='')}"


def edition_key(slot: datetime, zone: tzinfo) -> str:
    """The readable, stable key of an edition in URLs: its slot, local, ``2026-11-29-0700``."""
    return as_utc(slot).astimezone(zone).strftime(EDITION_KEY_FORMAT)


def parse_edition_key(key: str, zone: tzinfo) -> list[datetime]:
    """The UTC slots ``key`` may name (two in a repeated local hour); [] when not a key."""
    if not _EDITION_KEY_RE.fullmatch(key):
        return []
    try:
        local = datetime.strptime(key, EDITION_KEY_FORMAT)
    except ValueError:
        return []
    slots = [as_utc(local.replace(tzinfo=zone, fold=fold)) for fold in (0, 1)]
    return list(dict.fromkeys(slots))


def archive_url(config: Config, edition: Edition) -> str:
    """The public URL of ``edition``'s web version; empty when its digest is not archived."""
    if not digest_config(config, edition.digest_id).archive:
        return ""
    key = edition_key(edition.slot, config.timezone)
    return f"{config.public_base_url}{ARCHIVE_PATH}{edition.digest_id}/{key}"


def stored_sections(config: Config, digest_id: str, chosen: Sequence[str]) -> tuple[str, ...]:
    """The sections to store for a subscriber's choice of ``chosen`` (display order).

    Choosing every offered section stores ``()``, "all", so that sections the digest
    offers later are included. ValueError names a section the digest does not offer;
    an empty choice is refused too (leaving is a separate choice).
    """
    offered = [s.id for s in config.digest_sections(digest_config(config, digest_id))]
    unknown = [section for section in chosen if section not in offered]
    if unknown:
        raise ValueError(f"digest {digest_id!r} does not offer section {unknown[0]!r}")
    picked = tuple(section for section in offered if section in set(chosen))
    if not picked:
        raise ValueError("no section chosen")
    return () if len(picked) == len(offered) else picked
