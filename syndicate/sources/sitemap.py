"""The ``sitemap`` source kind: news sitemaps, plain sitemaps and sitemap indexes.

A news sitemap (``<news:news>`` with ``publication_date`` and ``title``) and a
plain one (``<url><loc>`` with ``lastmod``) both give article links, newest
first, at most ``pages.limit``, none older than ``pages.max_age``. A sitemap
index is followed (its newest children first, :data:`MAX_CHILDREN` at most,
one level deep). Gzipped sitemaps are read up to the size cap. XML is parsed
without entities, DTDs or network access. The pages themselves are fetched by
:mod:`syndicate.sources.page`, so unchanged pages (same ``lastmod``, ETag or
content hash) are not extracted again.
"""

from __future__ import annotations

import gzip
import io
import logging
import zlib
from dataclasses import replace
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from lxml import etree

from syndicate.config_sources import PagesConfig, SitemapSource
from syndicate.errors import SourceError
from syndicate.extract.dates import parse_machine_date
from syndicate.model import utcnow
from syndicate.sources.page import (
    PageJob,
    PageLink,
    fetch_page,
    fetch_pages,
    may_follow,
    merged_state,
)

if TYPE_CHECKING:
    from syndicate.sources import SourceContext, SourceResult

logger = logging.getLogger(__name__)

__all__ = ["MAX_CHILDREN", "parse_sitemap", "read_sitemap_source"]

MAX_CHILDREN = 20
_OLDEST = datetime.min.replace(tzinfo=UTC)


def _inflate(content: bytes, max_bytes: int, where: str) -> bytes:
    if not content.startswith(b"\x1f\x8b"):
        return content
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(content)) as stream:
            data = stream.read(max_bytes + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise SourceError("?", f"cannot decompress sitemap {where}: {exc}") from exc
    if len(data) > max_bytes:
        raise SourceError("?", f"sitemap {where} is larger than {max_bytes} bytes unpacked")
    return data


def _root(content: bytes, where: str) -> etree._Element:
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, recover=True, huge_tree=False
    )
    try:
        root = etree.fromstring(content, parser)
    except etree.XMLSyntaxError as exc:
        raise SourceError("?", f"{where} is not a sitemap: {exc}") from exc
    if root is None or etree.QName(root).localname not in ("urlset", "sitemapindex"):
        raise SourceError("?", f"{where} is not a sitemap (no <urlset> or <sitemapindex>)")
    return root


def _child_text(node: etree._Element, name: str) -> str:
    for child in node.iter():
        if isinstance(child.tag, str) and etree.QName(child).localname == name:
            return " ".join((child.text or "").split())
    return ""


def _when(raw: str, zone: tzinfo) -> datetime | None:
    stamp = parse_machine_date(raw, zone) if raw else None
    return stamp.value if stamp else None


def parse_sitemap(
    content: bytes, where: str, zone: tzinfo, max_bytes: int
) -> tuple[list[PageLink], list[tuple[str, datetime | None]]]:
    """(article links, child sitemaps with their lastmod) of one sitemap document."""
    root = _root(_inflate(content, max_bytes, where), where)
    links: list[PageLink] = []
    children: list[tuple[str, datetime | None]] = []
    for node in root:
        if not isinstance(node.tag, str):
            continue
        loc = urljoin(where, _child_text(node, "loc"))
        if not _child_text(node, "loc") or not may_follow(loc, where):
            continue
        lastmod = _child_text(node, "lastmod")
        if etree.QName(node).localname == "sitemap":
            children.append((loc, _when(lastmod, zone)))
            continue
        published = _when(_child_text(node, "publication_date"), zone)
        links.append(
            PageLink(
                loc,
                title=_child_text(node, "title"),
                lastmod=lastmod,
                published=published or _when(lastmod, zone),
            )
        )
    return links, children


def _newest(links: list[PageLink], pages: PagesConfig) -> list[PageLink]:
    cutoff = utcnow() - pages.max_age if pages.max_age else None
    fresh = [
        link for link in links
        if cutoff is None or link.published is None or link.published >= cutoff
    ]  # fmt: skip
    unique = list({link.url: link for link in reversed(fresh)}.values())[::-1]
    ordered = sorted(unique, key=lambda link: link.published or _OLDEST, reverse=True)
    return ordered[: pages.limit]


def _read_children(
    children: list[tuple[str, datetime | None]], job: PageJob, ctx: SourceContext
) -> list[PageLink]:
    links: list[PageLink] = []
    newest = sorted(children, key=lambda child: child[1] or _OLDEST, reverse=True)
    for url, _ in newest[:MAX_CHILDREN]:
        try:
            got = fetch_page(url, job, ctx, {})
            if got.content is not None:
                found, _nested = parse_sitemap(
                    got.content, url, job.zone, ctx.config.collect.max_bytes
                )
                links += found
        except SourceError as exc:
            logger.warning(
                "source %s: child sitemap %s skipped: %s", job.source_id, url, exc.message
            )
        if len(links) >= job.pages.limit * 4:
            break
    return links


def read_sitemap_source(source: SitemapSource, ctx: SourceContext) -> SourceResult:
    """Read a sitemap (or sitemap index) and fetch the newest article pages it lists."""
    from syndicate.sources import SourceResult

    state = ctx.state
    job = PageJob.of(source, ctx)
    mark = {"etag": state.etag or "", "last_modified": state.last_modified or ""}
    got = fetch_page(source.location, job, ctx, mark)
    state = replace(state, etag=got.etag, last_modified=got.last_modified)
    if got.not_modified or got.content is None:
        return SourceResult([], state, not_modified=True)
    try:
        links, children = parse_sitemap(
            got.content, got.final_url, job.zone, ctx.config.collect.max_bytes
        )
    except SourceError as exc:
        raise SourceError(source.id, exc.message) from exc
    links += _read_children(children, job, ctx)
    batch = fetch_pages(job, ctx, _newest(links, source.pages))
    return SourceResult(batch.articles, merged_state(state, batch))
