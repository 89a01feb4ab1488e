"""Article pages: the ``page`` source kind and the page fetcher shared with sitemaps and feeds.

A ``page`` source lists article URLs (``pages.urls``) or discovers them on the
listing page at ``location`` (a section front) with a CSS selector
(``pages.select``) and/or a URL regular expression (``pages.pattern``); with
neither, links on the listing's host that look like articles are taken.

Every page goes through the shared retriever (conditional GET, size cap) behind
the host's :class:`~syndicate.sources.polite.HostGate`, then through
:func:`syndicate.extract.extract_article`. A page whose ETag answer is 304 or
whose bytes hash as before (or whose sitemap ``lastmod`` is unchanged) is not
extracted again. A page that fails is one warning naming its URL; the others
go on.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING
from urllib.parse import urldefrag, urljoin, urlsplit

from lxml import html as lxml_html

from syndicate import WEB_SCHEMES
from syndicate.config import CollectConfig
from syndicate.config_sources import PagedSource, PagesConfig, PageSource
from syndicate.errors import SourceError, SyndicateError
from syndicate.extract import Extracted, extract_article
from syndicate.extract.document import decode_page, parse_page
from syndicate.model import Article, SourceState
from syndicate.sanitize import html_to_text
from syndicate.sources.polite import host_gate
from syndicate.sources.retrieve import Retrieved, retrieve

if TYPE_CHECKING:
    from syndicate.sources import SourceContext, SourceResult

logger = logging.getLogger(__name__)

__all__ = [
    "PageJob",
    "PageLink",
    "article_from",
    "discover_links",
    "fetch_page",
    "fetch_pages",
    "read_page_source",
]

ARTICLE_URL_RE = re.compile(
    r"/(?:article|articles|view|news|read|story|arti)(?:/|\.)|[?&](?:idxno|aid|article_?id|"
    r"news_?id|no|id|art_id|newsid|arcid)=\w*\d|\d{6,}",
    re.IGNORECASE,
)
MAX_MARKS = 5000


@dataclass(frozen=True)
class PageLink:
    """A page to fetch, with what its finder knew: GUID, title, date, feed article."""

    url: str
    guid: str = ""
    title: str = ""
    published: datetime | None = None
    lastmod: str = ""
    base: Article | None = None


@dataclass(frozen=True)
class PageJob:
    """What fetching one source's pages needs: whose pages they are and how politely to go.

    ``source_id`` and ``section`` go into the articles, ``zone`` dates pages
    without an offset, ``pages`` paces the requests (delay, concurrency).
    """

    source_id: str
    section: str
    zone: tzinfo
    pages: PagesConfig

    @classmethod
    def of(cls, source: PagedSource, ctx: SourceContext) -> PageJob:
        """The job of a ``page``, ``sitemap`` or ``fulltext`` feed source."""
        return cls(source.id, source.section, ctx.zone(source), source.pages)


@dataclass
class PageBatch:
    """What fetching a batch of pages gave: articles and the page validators to keep."""

    articles: list[Article] = field(default_factory=list)
    marks: dict[str, dict[str, str]] = field(default_factory=dict)


# --- building articles -------------------------------------------------------------


def _summary_html(summary: str) -> str:
    lines = [line for line in summary.splitlines() if line.strip()]
    return "".join(f"<p>{html.escape(line)}</p>" for line in lines)


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


def article_from(found: Extracted, link: PageLink, *, source_id: str, section: str) -> Article:
    """The article of ``source_id`` for an extracted page, in ``section``.

    A feed article (``link.base``) keeps its identity.
    """
    categories = (found.section,) if found.section else ()
    extracted = Article(
        source_id=source_id,
        guid=link.guid or link.url,
        url=found.url or link.url,
        title=found.title or link.title,
        section_id=section,
        summary_html=_summary_html(found.summary),
        content_html=found.html,
        author=found.author,
        categories=categories,
        published_at=_utc(found.published) or _utc(link.published),
        updated_at=_utc(found.updated),
        image_url=found.image,
    )
    base = link.base
    if base is None:
        return extracted
    return replace(
        base,
        content_html=found.html,
        title=base.title or extracted.title,
        summary_html=base.summary_html or extracted.summary_html,
        author=base.author or extracted.author,
        categories=tuple(dict.fromkeys(base.categories + categories)),
        published_at=base.published_at or extracted.published_at,
        updated_at=base.updated_at or extracted.updated_at,
        image_url=base.image_url or extracted.image_url,
    )


# --- fetching -------------------------------------------------------------------------


def fetch_page(url: str, job: PageJob, ctx: SourceContext, mark: dict[str, str]) -> Retrieved:
    """Retrieve ``url`` behind its host's gate, conditional on ``mark``'s ETag/Last-Modified."""
    collect = ctx.config.collect
    state = SourceState(
        job.source_id, etag=mark.get("etag"), last_modified=mark.get("last_modified")
    )
    with host_gate(url, job.pages.delay, job.pages.concurrency).slot():
        return retrieve(
            url,
            state=state,
            timeout=collect.timeout,
            user_agent=collect.user_agent,
            max_bytes=collect.max_bytes,
            client=ctx.client,
        )


def _mark(got: Retrieved, sha256: str, link: PageLink) -> dict[str, str]:
    mark = {"sha256": sha256}
    for key, value in (("etag", got.etag), ("last_modified", got.last_modified),
                       ("lastmod", link.lastmod)):  # fmt: skip
        if value:
            mark[key] = value
    return mark


def _one_page(
    link: PageLink, job: PageJob, ctx: SourceContext
) -> tuple[Article | None, dict[str, str] | None]:
    """Fetch and extract one page: (article or None, the page's new validators or None)."""
    old = ctx.state.pages.get(link.url, {})
    if link.lastmod and old.get("lastmod") == link.lastmod:
        return None, old
    got = fetch_page(link.url, job, ctx, old)
    if got.not_modified or got.content is None:
        return None, {**old, "etag": got.etag or old.get("etag", "")}
    sha256 = hashlib.sha256(got.content).hexdigest()
    if old.get("sha256") == sha256:
        return None, _mark(got, sha256, link)
    found = extract_article(got.content, got.final_url, job.zone, got.content_type)
    article = article_from(found, link, source_id=job.source_id, section=job.section)
    return article, _mark(got, sha256, link)


def _guarded(
    link: PageLink, job: PageJob, ctx: SourceContext
) -> tuple[Article | None, dict[str, str] | None]:
    try:
        return _one_page(link, job, ctx)
    except SyndicateError as exc:
        message = exc.message if isinstance(exc, SourceError) else str(exc)
        message = message.removeprefix(f"{link.url}: ")
        logger.warning("source %s: page %s skipped: %s", job.source_id, link.url, message)
    except Exception as exc:
        logger.warning(
            "source %s: page %s skipped: unexpected %s: %s",
            job.source_id, link.url, type(exc).__name__, exc,
        )  # fmt: skip
    known = link.url in ctx.state.pages  # extracted before: keep the stored full text
    return (link.base if link.base is not None and not known else None), None


def fetch_pages(job: PageJob, ctx: SourceContext, links: list[PageLink]) -> PageBatch:
    """Fetch and extract ``links`` politely; failures are warnings, never exceptions."""
    batch = PageBatch()
    if not links:
        return batch
    workers = max(1, min(job.pages.concurrency, len(links)))
    run: Callable[[PageLink], tuple[Article | None, dict[str, str] | None]]
    run = lambda link: _guarded(link, job, ctx)  # noqa: E731
    unchanged = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for link, (article, mark) in zip(links, pool.map(run, links), strict=True):
            if article is not None:
                batch.articles.append(article)
            if mark is not None:
                batch.marks[link.url] = mark
                unchanged += article is None
    if unchanged:
        logger.info("source %s: %d pages unchanged, not extracted again", job.source_id, unchanged)
    return batch


def merged_state(state: SourceState, batch: PageBatch, **changes: str | None) -> SourceState:
    """``state`` with this batch's page validators (bounded to the newest ``MAX_MARKS``)."""
    pages = {url: mark for url, mark in state.pages.items() if url not in batch.marks}
    pages.update(batch.marks)
    trimmed = dict(list(pages.items())[-MAX_MARKS:])
    return replace(state, pages=trimmed, **changes)  # type: ignore[arg-type]


# --- discovery --------------------------------------------------------------------------


def _same_site(url: str, base: str) -> bool:
    host, base_host = urlsplit(url).hostname or "", urlsplit(base).hostname or ""
    return host == base_host or host.endswith("." + base_host.removeprefix("www."))


def _link_of(node: lxml_html.HtmlElement) -> str:
    if node.tag == "a" and node.get("href"):
        return str(node.get("href"))
    inner = node.xpath(".//a[@href]")
    return str(inner[0].get("href")) if inner else ""


def discover_links(
    content: bytes, base: str, options: PagesConfig, content_type: str | None = None
) -> list[str]:
    """Article URLs on a listing page, in page order, each once, at most ``options.limit``."""
    tree = parse_page(decode_page(content, content_type), base)
    nodes = tree.cssselect(options.select) if options.select else tree.xpath("//a[@href]")
    pattern = re.compile(options.pattern) if options.pattern else None
    found: list[str] = []
    for node in nodes:
        href = _link_of(node).strip()
        url = urldefrag(urljoin(base, href)).url if href else ""
        if url and url not in found and _wanted(url, base, pattern, bool(options.select)):
            found.append(url)
    return found[: options.limit]


def may_follow(url: str, origin: str) -> bool:
    """Whether a link found in the document at ``origin`` may be fetched.

    Links from a web page, sitemap or feed must be http(s): a remote document
    must never make us read local files. A local listing (the demo) may link
    local files too.
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme in WEB_SCHEMES:
        return True
    local_origin = urlsplit(origin).scheme.lower() not in WEB_SCHEMES
    return local_origin and scheme == "file"


def _wanted(url: str, base: str, pattern: re.Pattern[str] | None, selected: bool) -> bool:
    """Whether a link from the listing is an article to fetch."""
    if not may_follow(url, base) or url == base:
        return False
    if pattern is not None:
        return bool(pattern.search(url))
    return selected or (_same_site(url, base) and bool(ARTICLE_URL_RE.search(url)))


def read_page_source(source: PageSource, ctx: SourceContext) -> SourceResult:
    """Read a ``page`` source: listed URLs and/or links discovered on its listing page."""
    from syndicate.sources import SourceResult

    urls = list(source.pages.urls)
    state = ctx.state
    job = PageJob.of(source, ctx)
    if source.location:
        mark = {"etag": state.etag or "", "last_modified": state.last_modified or ""}
        got = fetch_page(source.location, job, ctx, mark)
        state = replace(state, etag=got.etag, last_modified=got.last_modified)
        if got.moved_to:
            state = replace(state, location=got.moved_to)
        if got.not_modified or got.content is None:
            if not urls:
                return SourceResult([], state, not_modified=True)
        else:
            urls += discover_links(got.content, got.final_url, source.pages, got.content_type)
            if not urls:
                logger.warning("source %s: no article links found on %s", source.id, got.final_url)
    links = [PageLink(url) for url in dict.fromkeys(urls)][: source.pages.limit]
    batch = fetch_pages(job, ctx, links)
    return SourceResult(batch.articles, merged_state(state, batch))


FULLTEXT_MIN_CHARS = 500


def needs_fulltext(article: Article) -> bool:
    """True when a feed item carries only a summary: under 500 chars of body (else description)."""
    text = html_to_text(article.content_html) or html_to_text(article.summary_html)
    return len(text) < FULLTEXT_MIN_CHARS


__all__ += ["PageBatch", "may_follow", "merged_state", "needs_fulltext"]


def extract_location(
    location: str, *, zone: tzinfo, collect: CollectConfig, source_id: str = "extract"
) -> Extracted:
    """Fetch one page (path, ``file://`` or http(s) URL) and extract its article.

    Raise :class:`~syndicate.errors.SourceError` when it cannot be fetched and
    :class:`~syndicate.errors.ExtractError` when it holds no article.
    """
    got = retrieve(
        location,
        state=SourceState(source_id),
        timeout=collect.timeout,
        user_agent=collect.user_agent,
        max_bytes=collect.max_bytes,
    )
    url = got.final_url if urlsplit(location).scheme in WEB_SCHEMES else ""
    return extract_article(got.content or b"", url or got.final_url, zone, got.content_type)


__all__ += ["extract_location"]
