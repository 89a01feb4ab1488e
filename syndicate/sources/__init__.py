"""Sources: a registry of readers by kind and :func:`read_source` to call the right one.

A reader takes a :class:`~syndicate.config.SourceConfig` and a
:class:`SourceContext` and returns a :class:`SourceResult`: the articles found
(with ``section_id`` set to the source's section and raw, unsanitized HTML),
the updated :class:`~syndicate.model.SourceState` and whether the source said
"not modified". Readers raise :class:`~syndicate.errors.SourceError` on failure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import tzinfo

import httpx

from syndicate.config import Config, SourceConfig
from syndicate.errors import SourceError
from syndicate.model import Article, SourceState
from syndicate.sources.feed import parse_feed
from syndicate.sources.folder import read_folder
from syndicate.sources.page import (
    PageLink,
    fetch_pages,
    may_follow,
    merged_state,
    needs_fulltext,
)
from syndicate.sources.page import read_page_source as read_page_source
from syndicate.sources.retrieve import retrieve
from syndicate.sources.sitemap import read_sitemap_source as read_sitemap_source

__all__ = [
    "READERS",
    "SourceContext",
    "SourceResult",
    "read_feed_source",
    "read_folder_source",
    "read_page_source",
    "read_sitemap_source",
    "read_source",
]


@dataclass(frozen=True)
class SourceContext:
    """What a reader needs besides its source: the config, the saved state, an HTTP client."""

    config: Config
    state: SourceState
    client: httpx.Client | None = None

    def zone(self, source: SourceConfig) -> tzinfo:
        """The timezone for dates without an offset: the source's, else the config's."""
        return source.timezone or self.config.timezone


@dataclass(frozen=True)
class SourceResult:
    """What a reader found: articles, the state to save, and whether nothing changed."""

    articles: list[Article]
    state: SourceState
    not_modified: bool = False


def read_feed_source(source: SourceConfig, ctx: SourceContext) -> SourceResult:
    """Retrieve an RSS/Atom feed (conditionally) and parse it into articles."""
    collect = ctx.config.collect
    got = retrieve(
        source.location,
        state=ctx.state,
        timeout=collect.timeout,
        user_agent=collect.user_agent,
        max_bytes=collect.max_bytes,
        client=ctx.client,
    )
    state = replace(ctx.state, etag=got.etag, last_modified=got.last_modified)
    if got.not_modified or got.content is None:
        return SourceResult([], state, not_modified=True)
    articles = parse_feed(
        got.content,
        source=source,
        zone=ctx.zone(source),
        content_type=got.content_type,
        base_url=got.final_url,
    )
    if source.fulltext:
        return _with_fulltext(source, replace(ctx, state=state), articles)
    return SourceResult(articles, state)


def _with_fulltext(
    source: SourceConfig, ctx: SourceContext, articles: list[Article]
) -> SourceResult:
    """Complete summary-only feed items from their linked pages (GUID and public id kept)."""
    origin = source.location
    wanted = [a for a in articles if may_follow(a.url, origin) and needs_fulltext(a)]
    wanted = wanted[: source.pages.limit]
    links = [PageLink(a.url, guid=a.guid, title=a.title, base=a) for a in wanted]
    batch = fetch_pages(source, ctx, links)
    completed = {a.guid: a for a in batch.articles}
    kept = [completed.get(a.guid, a) for a in articles if a not in wanted or a.guid in completed]
    return SourceResult(kept, merged_state(ctx.state, batch))


def read_folder_source(source: SourceConfig, ctx: SourceContext) -> SourceResult:
    """Read a folder of Markdown/HTML files with YAML front matter into articles."""
    articles = read_folder(
        source,
        zone=ctx.zone(source),
        public_base_url=ctx.config.public_base_url,
        sections={s.id for s in ctx.config.sections},
        max_bytes=ctx.config.collect.max_bytes,
    )
    return SourceResult(articles, ctx.state)


Reader = Callable[[SourceConfig, SourceContext], SourceResult]

READERS: dict[str, Reader] = {
    "feed": read_feed_source,
    "folder": read_folder_source,
    "page": read_page_source,
    "sitemap": read_sitemap_source,
}


def read_source(source: SourceConfig, ctx: SourceContext) -> SourceResult:
    """Read ``source`` with the reader registered for its kind."""
    reader = READERS.get(source.kind)
    if reader is None:
        raise SourceError(source.id, f"no reader for source kind {source.kind!r}")
    return reader(source, ctx)
