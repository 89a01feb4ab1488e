"""Collect sources into the store: read, normalise, assign sections, upsert.

Reading (network, parsing) may run in worker threads; every store write happens
in the calling thread. A failing source never raises: its error is logged,
saved in its :class:`~syndicate.model.SourceState` and returned in its
:class:`SourceOutcome`, and nothing stored earlier is touched.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import httpx

from syndicate import __version__
from syndicate.config import Config
from syndicate.config_sources import RuleConfig, SourceConfig
from syndicate.decide import entry_salt, split_known
from syndicate.errors import SchemaOutOfDate, SourceError, StoreError, StoreUnavailable
from syndicate.model import Article, SourceState, UpsertResult, utcnow
from syndicate.sanitize import (
    clean_html,
    html_to_text,
    plain_title,
    safe_link,
    truncate,
    xml_text,
)
from syndicate.sources import SourceContext, SourceResult, read_source
from syndicate.sources.health import Failure, failed, location_of, succeeded, waiting
from syndicate.sources.retrieve import FetchRefused, make_client
from syndicate.store.sources import Collected

if TYPE_CHECKING:
    from syndicate.store import Store

logger = logging.getLogger(__name__)

MAX_WORKERS = 4
BATCH_SOURCES = 50  # sources stored per transaction
SUMMARY_CHARS = 300
TITLE_CHARS = 80
# Bounds on what one article may store (characters; HTML is counted sanitized).
MAX_TITLE_CHARS = 500
MAX_AUTHOR_CHARS = 200
MAX_CATEGORY_CHARS = 100
MAX_CATEGORIES = 50
MAX_SUMMARY_CHARS = 20_000
MAX_CONTENT_CHARS = 500_000
MAX_GUID_CHARS = 1_000
MAX_URL_CHARS = 2_000
# Room left for the end tags sanitizing adds back after a cut.
_HTML_SLACK = 2_000
# Raw HTML longer than this many times its limit is cut before sanitizing.
_RAW_FACTOR = 4


@dataclass
class SourceOutcome:
    """What collecting one source did (``error`` is None on success)."""

    source_id: str
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    not_modified: bool = False
    error: str | None = None
    skipped: int = 0
    waiting: str | None = None

    def describe(self) -> str:
        """One line for the operator: counts, "not modified", skipped, or the failure."""
        if self.error:
            return f"{self.source_id}: FAILED: {self.error}"
        if self.waiting:
            return f"{self.source_id}: skipped: {self.waiting}"
        if self.not_modified:
            return f"{self.source_id}: not modified"
        return (
            f"{self.source_id}: {self.new} new, {self.updated} updated, {self.unchanged} unchanged"
        )


# --- normalisation --------------------------------------------------------------


def match_rules(rules: Iterable[RuleConfig], article: Article) -> str | None:
    """Return the section of the first rule matching ``article``, or None."""
    categories = {c.strip().casefold() for c in article.categories}
    path = unquote(urlsplit(article.url).path) if article.url else ""
    for rule in rules:
        if rule.category is not None and rule.category.strip().casefold() in categories:
            return rule.section
        if rule.path is not None and path and path.startswith(unquote(rule.path)):
            return rule.section
    return None


def _summary_from(content_html: str) -> str:
    text = html_to_text(content_html)
    if not text:
        return ""
    return f"<p>{html.escape(truncate(' '.join(text.split()), SUMMARY_CHARS))}</p>"


_TAG_RE = re.compile(r"<[^>]*>|&[^;\s]*;")
_WORD_RE = re.compile(r"\w")


def _has_text(sanitized_html: str) -> bool:
    """Whether sanitized HTML shows any text (plain text between tags answers at once)."""
    if _WORD_RE.search(_TAG_RE.sub("", sanitized_html)):
        return True  # a letter or digit outside tags and entities: text html_to_text keeps
    return bool(html_to_text(sanitized_html))


def _title_from(summary_html: str, content_html: str) -> str:
    text = " ".join(html_to_text(summary_html or content_html).split())
    return truncate(text, TITLE_CHARS) if text else ""


def _label(article: Article) -> str:
    """How an article is named in log lines: its GUID (else URL), on one line, shortened."""
    key = article.guid if isinstance(article.guid, str) and article.guid else article.url
    return truncate(" ".join(xml_text(str(key or "")).split()), 100)


@dataclass(frozen=True)
class ArticleOrigin:
    """What normalising an article needs of its source.

    ``source_id`` names it in log lines; ``section`` is the default section and
    ``rules`` may choose another; ``location`` (a feed's or listing's URL) gives
    the site an article without a link of its own links to.
    """

    source_id: str
    section: str
    rules: tuple[RuleConfig, ...] = ()
    location: str = ""

    @classmethod
    def of(cls, source: SourceConfig) -> ArticleOrigin:
        """The origin of the articles ``source`` gives."""
        return cls(source.id, source.section, source.rules, source.location)


class _Notes:
    """What normalising one article changed, logged as one line naming source and article."""

    def __init__(self, source_id: str, article: Article) -> None:
        self.source_id = source_id
        self.label = _label(article)
        self.reasons: list[str] = []

    def cut(self, field_name: str, before: int, after: int) -> None:
        """Record that ``field_name`` was cut from ``before`` to ``after`` characters."""
        self.reasons.append(f"{field_name} cut from {before:,} to {after:,} characters")

    def log(self) -> None:
        """Log the reasons, if any."""
        if self.reasons:
            logger.warning(
                "source %s: article %r: %s", self.source_id, self.label, "; ".join(self.reasons)
            )


def _bounded_text(text: str, limit: int, field_name: str, notes: _Notes) -> str:
    """``text`` shortened to ``limit`` characters (on a character boundary), noted if cut."""
    if len(text) <= limit:
        return text
    cut = truncate(text, limit)
    notes.cut(field_name, len(text), len(cut))
    return cut


def _bounded_html(raw: str, limit: int, base: str | None, field_name: str, notes: _Notes) -> str:
    """Sanitized HTML of at most about ``limit`` characters; raw input is cut first."""
    before, cut = len(raw), len(raw) > _RAW_FACTOR * limit
    if cut:  # bounds the work sanitizing does
        raw = truncate(raw, _RAW_FACTOR * limit, ellipsis="")
    cleaned = clean_html(raw, base)
    if len(cleaned) > limit:
        cleaned = clean_html(truncate(cleaned, limit - _HTML_SLACK, ellipsis=""), base)
        cut = True
    if cut:
        notes.cut(field_name, before, len(cleaned))
    return cleaned


def _categories(raw: Sequence[str], notes: _Notes) -> tuple[str, ...]:
    """Distinct one-line categories, at most MAX_CATEGORIES of at most MAX_CATEGORY_CHARS."""
    names = dict.fromkeys(plain_title(xml_text(c)) for c in raw if isinstance(c, str))
    names.pop("", None)
    long = sum(1 for name in names if len(name) > MAX_CATEGORY_CHARS)
    if long:
        notes.reasons.append(f"{long:,} categories cut to {MAX_CATEGORY_CHARS} characters")
    if len(names) > MAX_CATEGORIES:
        notes.reasons.append(f"{len(names) - MAX_CATEGORIES:,} categories past the first "
                             f"{MAX_CATEGORIES} dropped")  # fmt: skip
    kept = (truncate(name, MAX_CATEGORY_CHARS) for name in list(names)[:MAX_CATEGORIES])
    return tuple(dict.fromkeys(kept))


def _guid(raw: str, url: str, notes: _Notes) -> str:
    """The article's key: its GUID (a hash of it when over-long), else its URL."""
    guid = xml_text(raw).strip() or url
    if len(guid) <= MAX_GUID_CHARS:
        return guid
    notes.reasons.append(f"GUID of {len(guid):,} characters replaced by its SHA-256")
    return "sha256:" + hashlib.sha256(guid.encode("utf-8")).hexdigest()


def _link(raw: str, notes: _Notes) -> str:
    """The article's own http(s) link, or "" (refused links are noted)."""
    url = safe_link(raw)
    if len(url) > MAX_URL_CHARS:
        url = ""
    if raw.strip() and not url:
        shown = truncate(" ".join(xml_text(raw).split()), 60)
        notes.reasons.append(f"link {shown!r} refused (not a usable http/https URL)")
    return url


def _fallback_link(guid: str, location: str) -> str:
    """A link for an article without one: its GUID if http(s), else the site of ``location``."""
    if safe_link(guid) == guid and len(guid) <= MAX_URL_CHARS:
        return guid
    home = safe_link(location)
    if not home:
        return ""
    parts = urlsplit(home)
    return f"{parts.scheme.lower()}://{parts.netloc}/"


def _content_key(title: str, summary: str, content: str) -> str:
    """A stable key for an article that has text but neither GUID nor link ("" if no text)."""
    if not (summary or content):
        return ""
    text = "\n".join((title, summary, content))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def normalize_article(article: Article, origin: ArticleOrigin) -> Article | None:
    """Sanitize, bound, title, section and summarise one article; None when it must be dropped.

    Every text field loses what XML cannot carry; lengths and the number of
    categories are capped (logged with the source and the article); a link
    that is not http(s) is dropped and an article without one links to its GUID
    (if that is an http(s) URL) or to the source's site. An article without a
    title is titled from its text (else its link); one without a GUID or link
    is keyed by a hash of its text.
    """
    notes = _Notes(origin.source_id, article)
    own_url = _link(article.url, notes)
    guid = _guid(article.guid, own_url, notes)
    url = own_url or _fallback_link(guid, origin.location)
    summary = _bounded_html(article.summary_html, MAX_SUMMARY_CHARS, url, "summary", notes)
    content = _bounded_html(article.content_html, MAX_CONTENT_CHARS, url, "content", notes)
    if not _has_text(summary):
        summary = _summary_from(content)
    title = plain_title(xml_text(article.title)) or _title_from(summary, content) or own_url
    guid = guid or _content_key(title, summary, content)
    if not title or not guid:
        return None
    normalized = replace(
        article, guid=guid, url=url, summary_html=summary, content_html=content,
        title=_bounded_text(title, MAX_TITLE_CHARS, "title", notes),
        author=_bounded_text(plain_title(xml_text(article.author)), MAX_AUTHOR_CHARS,
                             "author", notes),
        categories=_categories(article.categories, notes), image_url=safe_link(article.image_url),
    )  # fmt: skip
    notes.log()
    section = match_rules(origin.rules, normalized) or article.section_id or origin.section
    return replace(normalized, section_id=section)


def newest(articles: Sequence[Article], limit: int) -> list[Article]:
    """The ``limit`` newest articles (published, else updated; undated count as oldest, in
    document order), kept in document order."""
    if len(articles) <= limit:
        return list(articles)

    def age(index: int) -> tuple[datetime, int]:
        article = articles[index]
        when = article.published_at or article.updated_at
        return (when or datetime.min.replace(tzinfo=UTC), -index)

    chosen = sorted(sorted(range(len(articles)), key=age, reverse=True)[:limit])
    return [articles[index] for index in chosen]


def _within_limit(articles: Sequence[Article], origin: ArticleOrigin, limit: int) -> list[Article]:
    """The ``limit`` newest of ``articles`` (all when they are fewer), with one warning."""
    if len(articles) <= limit:
        return list(articles)
    logger.warning(
        "source %s: %d entries; only the newest %d are read (collect.max_entries)",
        origin.source_id, len(articles), limit,
    )  # fmt: skip
    return newest(articles, limit)


def normalize_batch(
    articles: Sequence[Article], origin: ArticleOrigin, *, limit: int | None = None
) -> tuple[list[Article], int]:
    """Normalise a batch and drop unusable articles and duplicate GUIDs; return (kept, skipped).

    With ``limit``, only that many of the newest articles are read; the rest are
    skipped with one warning, so one enormous feed cannot flood the store.
    """
    kept: dict[str, Article] = {}
    for article in articles if limit is None else _within_limit(articles, origin, limit):
        try:
            normalized = normalize_article(article, origin)
        except Exception as exc:  # one malformed article never stops its source
            logger.debug("source %s: cannot normalise an article", origin.source_id, exc_info=True)
            logger.warning(
                "source %s: dropping article %r: %s: %s",
                origin.source_id, _label(article), type(exc).__name__, str(exc)[:200],
            )  # fmt: skip
            continue
        if normalized is None:
            logger.warning(
                "source %s: dropping article %r: no title, URL or GUID",
                origin.source_id,
                _label(article),
            )
        elif normalized.guid not in kept:
            kept[normalized.guid] = normalized
    return list(kept.values()), len(articles) - len(kept)


# --- reading and storing -----------------------------------------------------------


@dataclass(frozen=True)
class _Fetched:
    """A worker's product for one source: its read and normalised articles, or its failure."""

    result: SourceResult | Failure
    articles: list[Article] = field(default_factory=list)
    skipped: int = 0
    known: int = 0
    """Entries the previous read gave unchanged (not normalised again)."""
    fingerprints: tuple[str, ...] = ()


def _read(
    config: Config, source: SourceConfig, state: SourceState, client: httpx.Client | None
) -> SourceResult | Failure:
    """Read a source at its current location; return its result or its failure (never raises)."""
    location = location_of(source, state)
    if location != source.location:
        source = replace(source, location=location)
    try:
        return read_source(source, SourceContext(config, replace(state, location=None), client))
    except FetchRefused as exc:
        return Failure(str(exc), exc.status, exc.url, exc.retry_after)
    except SourceError as exc:
        return Failure(str(exc))
    except Exception as exc:
        logger.debug("source %s: unexpected error", source.id, exc_info=True)
        return Failure(f"source {source.id!r}: unexpected {type(exc).__name__}: {exc}")


def _fetch(
    config: Config, source: SourceConfig, state: SourceState, client: httpx.Client | None
) -> _Fetched:
    """Read and normalise one source (in a worker thread)."""
    result = _read(config, source, state, client)
    if isinstance(result, Failure):
        return _Fetched(result)
    origin = ArticleOrigin.of(source)
    chosen = _within_limit(result.articles, origin, config.collect.max_entries)
    split = split_known(chosen, state.entries, entry_salt(__version__, origin))
    articles, dropped = normalize_batch(split.fresh, origin)
    skipped = dropped + len(result.articles) - len(chosen)
    return _Fetched(result, articles, skipped, split.known, split.fingerprints)


@dataclass
class _Pending:
    """One source waiting in a batch: what to store and the outcome so far."""

    source: SourceConfig
    previous: SourceState
    item: Collected
    outcome: SourceOutcome


def _pending(config: Config, source: SourceConfig, state: SourceState, fetched: _Fetched,
             now: datetime) -> _Pending:  # fmt: skip
    """What to store for ``source`` after ``fetched``: its articles and its next state."""
    result = fetched.result
    if isinstance(result, Failure):
        logger.warning(
            "source %s failed: %s", source.id, result.message, extra={"source": source.id}
        )
        cap, where = config.collect.backoff_max, location_of(source, state)
        after = failed(state, result, location=where, now=now, cap=cap)
        return _Pending(
            source, state, Collected(after), SourceOutcome(source.id, error=result.message)
        )
    after = succeeded(state, result.state, source=source, now=now)
    after = replace(after, entries=state.entries if result.not_modified else fetched.fingerprints)
    outcome = SourceOutcome(source.id, not_modified=result.not_modified, skipped=fetched.skipped,
                            unchanged=fetched.known)  # fmt: skip
    return _Pending(source, state, Collected(after, fetched.articles), outcome)


def _counted(pending: _Pending, counts: UpsertResult) -> SourceOutcome:
    outcome = replace(pending.outcome, new=counts.new, updated=counts.updated,
                      unchanged=pending.outcome.unchanged + counts.unchanged)  # fmt: skip
    if outcome.error is None:
        logger.info(
            "source %s: %s", outcome.source_id, outcome.describe().partition(": ")[2],
            extra={"source": outcome.source_id},
        )  # fmt: skip
    return outcome


def _store_one(config: Config, store: Store, pending: _Pending, now: datetime) -> SourceOutcome:
    """Store one source alone; a store failure becomes that source's failure."""
    try:
        counts = store.store_collected(
            [pending.item], tag_authority=config.host, id_date=config.id_date,
            matching=config.duplicates.matching(), now=now,
        )  # fmt: skip
        return _counted(pending, counts[0])
    except (SchemaOutOfDate, StoreUnavailable):  # the whole job is retried or ends
        raise
    except Exception as exc:
        if not isinstance(exc, StoreError):
            logger.debug("source %s: unexpected error while storing", pending.source.id,
                         exc_info=True)  # fmt: skip
        what = "cannot store" if isinstance(exc, StoreError) else f"unexpected {type(exc).__name__}"
        error = f"source {pending.source.id!r}: {what} articles: {exc}"
        return _store_failure(config, store, pending, Failure(error), now)


def _store_failure(config: Config, store: Store, pending: _Pending, failure: Failure,
                   now: datetime) -> SourceOutcome:  # fmt: skip
    logger.warning(
        "source %s failed: %s", pending.source.id, failure.message,
        extra={"source": pending.source.id},
    )  # fmt: skip
    where, cap = location_of(pending.source, pending.previous), config.collect.backoff_max
    state = failed(pending.previous, failure, location=where, now=now, cap=cap)
    try:
        store.save_source_state(state)
    except (SchemaOutOfDate, StoreUnavailable):  # the whole job is retried or ends
        raise
    except StoreError as exc:
        logger.warning("source %s: cannot save its state: %s", state.source_id, exc)
    return SourceOutcome(pending.source.id, error=failure.message)


def _flush(
    config: Config, store: Store, batch: list[_Pending], now: datetime
) -> list[SourceOutcome]:
    """Store a batch in one transaction; when that fails, each source alone."""
    if not batch:
        return []
    try:
        counts = store.store_collected(
            [p.item for p in batch], tag_authority=config.host, id_date=config.id_date,
            matching=config.duplicates.matching(), now=now,
        )  # fmt: skip
    except (SchemaOutOfDate, StoreUnavailable):  # the whole job is retried or ends
        raise
    except Exception as exc:
        logger.info("storing %d sources together failed (%s); storing each alone", len(batch), exc)
        return [_store_one(config, store, pending, now) for pending in batch]
    return [_counted(pending, count) for pending, count in zip(batch, counts, strict=True)]


def collect_source(
    config: Config,
    store: Store,
    source: SourceConfig,
    *,
    client: httpx.Client | None = None,
    now: datetime | None = None,
) -> SourceOutcome:
    """Collect one source into ``store`` (even while it backs off; not when retired)."""
    now = now or utcnow()
    state = store.get_source_state(source.id)
    if state.retired_at is not None:
        return SourceOutcome(source.id, error=f"source {source.id!r}: {waiting(state, now)}")
    pending = _pending(config, source, state, _fetch(config, source, state, client), now)
    return _store_one(config, store, pending, now)


def _selected(config: Config, source_ids: Sequence[str] | None) -> list[SourceConfig]:
    if source_ids is None:
        return [s for s in config.sources if s.enabled]
    return [config.source(source_id) for source_id in dict.fromkeys(source_ids)]


def _skip(
    source: SourceConfig, state: SourceState, now: datetime, named: bool
) -> SourceOutcome | None:
    """The outcome of a source not read this run (retired, or backing off unless named)."""
    reason = waiting(state, now)
    if reason is None or (named and state.retired_at is None):
        return None
    logger.info("source %s: skipped: %s", source.id, reason)
    if named:
        return SourceOutcome(source.id, error=f"source {source.id!r}: {reason}")
    return SourceOutcome(source.id, waiting=reason)


def collect_all(
    config: Config,
    store: Store,
    *,
    source_ids: Sequence[str] | None = None,
    progress: Callable[[SourceOutcome], None] | None = None,
    now: datetime | None = None,
) -> list[SourceOutcome]:
    """Collect enabled sources (or ``source_ids``) concurrently; return outcomes in config order.

    Retired sources are skipped, and so are sources backing off unless named.
    Sources are read and normalised in worker threads sharing one HTTP client
    (connections kept alive per host); results are stored from the calling
    thread, up to BATCH_SOURCES sources per transaction.
    """
    sources = _selected(config, source_ids)
    now = now or utcnow()
    states = store.get_source_states([s.id for s in sources]) if sources else {}
    outcomes: dict[str, SourceOutcome] = {}
    for source in sources:
        skipped = _skip(source, states[source.id], now, source_ids is not None)
        if skipped is not None:
            outcomes[source.id] = skipped
            if progress is not None:
                progress(skipped)
    due = [s for s in sources if s.id not in outcomes]
    if due:
        outcomes |= _collect_due(config, store, due, states, progress=progress, now=now)
    return [outcomes[s.id] for s in sources]


def _collect_due(
    config: Config,
    store: Store,
    sources: list[SourceConfig],
    states: dict[str, SourceState],
    *,
    progress: Callable[[SourceOutcome], None] | None,
    now: datetime,
) -> dict[str, SourceOutcome]:
    outcomes: dict[str, SourceOutcome] = {}
    batch: list[_Pending] = []
    order = {source.id: index for index, source in enumerate(sources)}

    def flush() -> None:
        batch.sort(key=lambda pending: order[pending.source.id])  # the first listed source wins
        for outcome in _flush(config, store, batch, now):
            outcomes[outcome.source_id] = outcome
            if progress is not None:
                progress(outcome)
        batch.clear()

    collect, workers = config.collect, min(MAX_WORKERS, len(sources))
    with (
        make_client(timeout=collect.timeout, user_agent=collect.user_agent,
                    keepalive=2 * MAX_WORKERS) as client,
        ThreadPoolExecutor(max_workers=workers) as pool,
    ):  # fmt: skip
        futures: dict[Future[_Fetched], SourceConfig] = {
            pool.submit(_fetch, config, s, states[s.id], client): s for s in sources
        }
        for future in as_completed(futures):
            source = futures[future]
            batch.append(_pending(config, source, states[source.id], future.result(), now))
            if len(batch) >= BATCH_SOURCES:
                flush()
        flush()
    return outcomes
