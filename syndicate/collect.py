"""Collect sources into the store: read, normalise, assign sections, upsert.

Reading (network, parsing) may run in worker threads; every store write happens
in the calling thread. A failing source never raises: its error is logged,
saved in its :class:`~syndicate.model.SourceState` and returned in its
:class:`SourceOutcome`, and nothing stored earlier is touched.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import httpx

from syndicate.config import Config, RuleConfig, SourceConfig
from syndicate.errors import SchemaOutOfDate, SourceError, StoreError
from syndicate.model import Article, SourceState, utcnow
from syndicate.sanitize import clean_html, html_to_text, plain_title, truncate
from syndicate.sources import SourceContext, SourceResult, read_source
from syndicate.sources.retrieve import make_client

if TYPE_CHECKING:
    from syndicate.store import Store

logger = logging.getLogger(__name__)

MAX_WORKERS = 4
SUMMARY_CHARS = 300
TITLE_CHARS = 80


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

    @property
    def ok(self) -> bool:
        """True when the source was collected without error."""
        return self.error is None


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


def _title_from(summary_html: str, content_html: str) -> str:
    text = " ".join(html_to_text(summary_html or content_html).split())
    return truncate(text, TITLE_CHARS) if text else ""


def normalize_article(article: Article, source: SourceConfig) -> Article | None:
    """Sanitize, title, section and summarise one article; None when it must be dropped."""
    url = article.url.strip()
    guid = article.guid.strip() or url
    if not guid:
        return None
    base = url if url.startswith(("http://", "https://")) else None
    summary = clean_html(article.summary_html, base)
    content = clean_html(article.content_html, base)
    if not html_to_text(summary):
        summary = _summary_from(content)
    title = plain_title(article.title) or _title_from(summary, content)
    if not title:
        return None
    categories = tuple(dict.fromkeys(c.strip() for c in article.categories if c.strip()))
    normalized = replace(
        article, guid=guid, url=url, title=title, summary_html=summary,
        content_html=content, categories=categories, author=plain_title(article.author),
    )  # fmt: skip
    section = match_rules(source.rules, normalized) or article.section_id or source.section
    return replace(normalized, section_id=section)


def normalize_batch(articles: Sequence[Article], source: SourceConfig) -> tuple[list[Article], int]:
    """Normalise a batch and drop unusable articles and duplicate GUIDs; return (kept, skipped)."""
    kept: dict[str, Article] = {}
    for article in articles:
        normalized = normalize_article(article, source)
        if normalized is None:
            logger.info("source %s: dropping an article without title, URL or GUID", source.id)
        elif normalized.guid not in kept:
            kept[normalized.guid] = normalized
    return list(kept.values()), len(articles) - len(kept)


# --- reading and storing -----------------------------------------------------------


def _read(
    config: Config, source: SourceConfig, state: SourceState, client: httpx.Client | None
) -> SourceResult | str:
    """Read a source; return its result or a one-line error (never raises)."""
    try:
        return read_source(source, SourceContext(config, state, client))
    except SourceError as exc:
        return str(exc)
    except Exception as exc:
        logger.debug("source %s: unexpected error", source.id, exc_info=True)
        return f"source {source.id!r}: unexpected {type(exc).__name__}: {exc}"


def _failed_state(state: SourceState, error: str, now: datetime) -> SourceState:
    return replace(state, last_checked_at=now, last_error=error, error_count=state.error_count + 1)


def _save_state(store: Store, state: SourceState) -> None:
    try:
        store.save_source_state(state)
    except SchemaOutOfDate:
        raise
    except StoreError as exc:
        logger.warning("source %s: cannot save its state: %s", state.source_id, exc)


def _fail(store: Store, state: SourceState, error: str, now: datetime) -> SourceOutcome:
    logger.warning("source %s failed: %s", state.source_id, error)
    _save_state(store, _failed_state(state, error, now))
    return SourceOutcome(state.source_id, error=error)


def _store_result(
    config: Config,
    store: Store,
    source: SourceConfig,
    state: SourceState,
    *,
    result: SourceResult | str,
    now: datetime,
) -> SourceOutcome:
    """Write one source's result (or record its failure) in the calling thread."""
    if isinstance(result, str):
        return _fail(store, state, result, now)
    articles, skipped = normalize_batch(result.articles, source)
    try:
        counts = store.upsert_articles(articles, tag_authority=config.host, now=now)
    except SchemaOutOfDate:
        raise
    except StoreError as exc:
        return _fail(store, state, f"source {source.id!r}: cannot store articles: {exc}", now)
    except Exception as exc:
        logger.debug("source %s: unexpected error while storing", source.id, exc_info=True)
        error = f"source {source.id!r}: unexpected {type(exc).__name__} while storing: {exc}"
        return _fail(store, state, error, now)
    success = replace(
        result.state, source_id=source.id, last_checked_at=now, last_success_at=now,
        last_error=None, error_count=0,
    )  # fmt: skip
    _save_state(store, success)
    outcome = SourceOutcome(
        source.id, counts.new, counts.updated, counts.unchanged, result.not_modified,
        skipped=skipped,
    )  # fmt: skip
    logger.info(
        "source %s: %d new, %d updated, %d unchanged%s",
        source.id, outcome.new, outcome.updated, outcome.unchanged,
        " (not modified)" if outcome.not_modified else "",
    )  # fmt: skip
    return outcome


def collect_source(
    config: Config,
    store: Store,
    source: SourceConfig,
    *,
    client: httpx.Client | None = None,
    now: datetime | None = None,
) -> SourceOutcome:
    """Collect one source into ``store``; failures are returned in ``outcome.error``."""
    now = now or utcnow()
    state = store.get_source_state(source.id)
    result = _read(config, source, state, client)
    return _store_result(config, store, source, state, result=result, now=now)


def _selected(config: Config, source_ids: Sequence[str] | None) -> list[SourceConfig]:
    if source_ids is None:
        return [s for s in config.sources if s.enabled]
    return [config.source(source_id) for source_id in dict.fromkeys(source_ids)]


def collect_all(
    config: Config,
    store: Store,
    *,
    source_ids: Sequence[str] | None = None,
    progress: Callable[[SourceOutcome], None] | None = None,
    now: datetime | None = None,
) -> list[SourceOutcome]:
    """Collect enabled sources (or ``source_ids``) concurrently; return outcomes in config order.

    Sources are read in up to four worker threads sharing one HTTP client; each
    result is stored in the calling thread as it arrives.
    """
    sources = _selected(config, source_ids)
    if not sources:
        return []
    now = now or utcnow()
    states = {s.id: store.get_source_state(s.id) for s in sources}
    outcomes: dict[str, SourceOutcome] = {}
    collect = config.collect
    with (
        make_client(timeout=collect.timeout, user_agent=collect.user_agent) as client,
        ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(sources))) as pool,
    ):
        futures: dict[Future[SourceResult | str], SourceConfig] = {
            pool.submit(_read, config, s, states[s.id], client): s for s in sources
        }
        for future in as_completed(futures):
            source = futures[future]
            state = states[source.id]
            outcome = _store_result(config, store, source, state, result=future.result(), now=now)
            outcomes[source.id] = outcome
            if progress is not None:
                progress(outcome)
    return [outcomes[s.id] for s in sources]
