"""Extract one article (text and exact metadata) from a news page.

:func:`extract_article` decodes and parses the page once, then reads each field
from the most reliable place the page offers; the order per field is written in
:mod:`syndicate.extract.metadata` (title, dates, section, summary, image),
:mod:`syndicate.extract.authors` (reporters), :mod:`syndicate.extract.container`
(where the body is) and :mod:`syndicate.extract.body` (the body cleaned, and its
captions). A body the server ships only inside a script (Next.js
flight data) is first put back into the tree by :mod:`syndicate.extract.embedded`.
trafilatura is consulted when no known body selector matched (its body wins
when it found one of real size: our own guess, the block with the most text of
its own, misses bodies spread over many blocks) and when our body is short (it
wins only when much longer and holding our opening words). A page without an article raises
:class:`~syndicate.errors.ExtractError` naming the page.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from lxml import etree
from lxml import html as lxml_html

from syndicate.errors import ExtractError
from syndicate.extract.authors import find_authors
from syndicate.extract.body import Body, clean_body
from syndicate.extract.container import find_container
from syndicate.extract.context import Page, node_text
from syndicate.extract.document import decode_page, parse_page
from syndicate.extract.embedded import inject_embedded_body
from syndicate.extract.metadata import (
    find_image,
    find_section,
    find_summary,
    find_times,
    find_title,
)
from syndicate.sanitize import clean_html, html_to_text

logger = logging.getLogger(__name__)
# trafilatura warns "discarding data" whenever it finds no body; here that is an
# expected answer (we report the page once, ourselves), so only its errors pass.
for _chatty in ("trafilatura", "htmldate", "courlan"):
    logging.getLogger(_chatty).setLevel(logging.ERROR)

__all__ = ["Extracted", "extract_article", "extract_html"]

MIN_TEXT = 60
SHORT_TEXT = 250  # below this, trafilatura is asked too, in case our container was partial


@dataclass
class Extracted:
    """One extracted article; datetimes are aware, in the source's timezone."""

    url: str
    title: str
    authors: list[str] = field(default_factory=list)
    published: datetime | None = None
    updated: datetime | None = None
    section: str = ""
    summary: str = ""
    text: str = ""
    html: str = ""
    image: str = ""
    captions: list[str] = field(default_factory=list)

    @property
    def author(self) -> str:
        """The reporters as one string (``홍길동, 김철수``)."""
        return ", ".join(self.authors)

    def as_json(self) -> dict[str, Any]:
        """The article as the JSON object ``syndicate extract`` prints."""
        return {
            "title": self.title,
            "author": self.author,
            "authors": list(self.authors),
            "published": self.published.isoformat() if self.published else None,
            "updated": self.updated.isoformat() if self.updated else None,
            "section": self.section,
            "summary": self.summary,
            "text": self.text,
            "html": self.html,
            "image": self.image,
            "captions": list(self.captions),
            "url": self.url,
        }


def _trafilatura_body(source: str, url: str, wider: bool) -> Body | None:
    """trafilatura's body as HTML, cleaned like ours; None when it finds nothing.

    Its precise mode first; where that keeps less than a short body (it drops whole
    bodies on some blog and club pages) and ``wider`` is set, its default mode.
    """
    body = _trafilatura_run(source, url, precise=True)
    if wider and (body is None or body.text_size < MIN_TEXT * 2):
        default = _trafilatura_run(source, url, precise=False)
        if default is not None and default.text_size > (body.text_size if body else 0):
            return default
    return body


def _trafilatura_run(source: str, url: str, precise: bool) -> Body | None:
    import trafilatura

    try:
        html = trafilatura.extract(
            source, url=url or None, output_format="html", include_images=True,
            include_comments=False, include_tables=True, favor_precision=precise,
        )  # fmt: skip
    except Exception as exc:  # trafilatura has no exception tree; any failure means "no body"
        logger.debug("trafilatura failed on %s: %s", url, exc)
        return None
    if not html:
        return None
    tree = lxml_html.document_fromstring(html)
    body = tree.find("body")
    return None if body is None else clean_body(body, Page.build(tree, url, UTC), "")


def _body(page: Page, source: str, title: str) -> tuple[Body | None, str]:
    """The cleaned body and the page text before it (where header bylines sit)."""
    container, known = find_container(page)
    body = clean_body(container, page, title) if container is not None else None
    header = _text_before(page, container)
    size = body.text_size if body is not None else 0
    if size < SHORT_TEXT or not known:
        # its default mode only where no known selector found ours (where it would win)
        fallback = _trafilatura_body(source, page.url, wider=not known)
        if fallback is not None and _better(fallback, body, known):
            fallback.byline_names = fallback.byline_names or (body.byline_names if body else [])
            return fallback, header
    return body, header


def _better(fallback: Body, body: Body | None, known: bool) -> bool:
    """Whether trafilatura's body should replace ours.

    Where no known selector found our body, ours is only the block with the most
    text of its own, which misses bodies spread over many blocks: trafilatura's wins
    when it found a body of real size (or a much longer one). Where a selector found
    ours, trafilatura's must be much longer and hold our opening words (the same
    article).
    """
    size = body.text_size if body is not None else 0
    if not known:
        return fallback.text_size >= MIN_TEXT * 2 or fallback.text_size > max(size * 1.5, MIN_TEXT)
    if fallback.text_size <= max(size * 1.5, MIN_TEXT):
        return False
    if body is None or size < MIN_TEXT:
        return True
    opening = " ".join(html_to_text(body.html).split())[:30]
    return opening in " ".join(html_to_text(fallback.html).split())


def _text_before(page: Page, container: lxml_html.HtmlElement | None) -> str:
    if container is None:
        return page.full_text[:3000]
    start = node_text(container)[:40]
    index = page.full_text.find(start) if start else -1
    return page.full_text[max(0, index - 3000) : index] if index > 0 else ""


def _looks_like_article(page: Page, body: Body, text: str, dated: bool) -> bool:
    """Article pages say so (JSON-LD, ``og:type``) or have a date and a body not made of links."""
    kind = " ".join(page.meta_all("og:type")).lower()
    if page.linked.article:
        return len(text) >= MIN_TEXT // 2
    if body.link_share > (0.7 if "article" in kind else 0.5):
        return False
    if "article" in kind:
        return len(text) >= MIN_TEXT // 2
    return len(text) >= MIN_TEXT * 10 or (dated and len(text) >= MIN_TEXT * 2)


def extract_html(source: str, url: str, zone: tzinfo) -> Extracted:
    """Extract the article from page text ``source`` found at ``url`` (dates read in ``zone``)."""
    where = url or "the page"
    tree = parse_page(source, where)
    etree.strip_elements(tree, etree.Comment, with_tail=False)
    inject_embedded_body(tree)
    page = Page.build(tree, url, zone)
    title = find_title(page)
    body, header = _body(page, source, title)
    base = url if url.startswith(("http://", "https://")) else _canonical(page)
    html = clean_html(body.html, base or None) if body else ""
    text = html_to_text(html)
    published, updated = find_times(page)
    if body is None or not title or not _looks_like_article(page, body, text, bool(published)):
        raise ExtractError(f"{where}: no article found on this page")
    return Extracted(
        url=url if url.startswith(("http://", "https://")) else base or url,
        title=title,
        authors=find_authors(page, body.byline_names, header),
        published=published,
        updated=updated,
        section=find_section(page, title),
        summary=find_summary(page),
        text=text,
        html=html,
        image=find_image(page) or body.image,
        captions=body.captions,
    )


def _canonical(page: Page) -> str:
    """The page's own http(s) address (canonical link or ``og:url``) for a page read from a file."""
    values = [str(v) for v in page.tree.xpath("//link[@rel='canonical']/@href")]
    values += page.meta_all("og:url")
    return next((v for v in values if v.startswith(("http://", "https://"))), "")


def extract_article(
    content: bytes, url: str, zone: tzinfo, content_type: str | None = None
) -> Extracted:
    """Decode page bytes (HTTP charset, ``<meta charset>``, UTF-8, CP949) and extract them."""
    return extract_html(decode_page(content, content_type), url, zone)
