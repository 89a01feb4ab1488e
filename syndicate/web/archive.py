"""``/archive``: past editions of the digests marked ``archive: true``, and each one's web page.

* ``/archive?page=N`` — every archived digest's editions, newest first, paged;
* ``/archive/{digest_id}?page=N`` — one digest's editions;
* ``/archive/{digest_id}/{key}`` — an edition's web version, ``key`` being its slot
  in the configured timezone (``2026-11-29-0700``, see :func:`syndicate.digest.edition_key`).

The web version is the digest template rendered for the public digest of
:func:`syndicate.digest.web_digest` (every section, no subscriber), its CSS
linked rather than inlined. Rendered pages are kept for :data:`PAGE_TTL` seconds,
unless an article is hidden (or shown again) meanwhile.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute, Route

from syndicate.config import DigestConfig
from syndicate.digest import ARCHIVE_PATH, edition_key, parse_edition_key, web_digest
from syndicate.model import Edition
from syndicate.render import Renderer
from syndicate.render_views import WebLinks, korean_date
from syndicate.store import EditionEntry
from syndicate.web.context import WebContext
from syndicate.web.inputs import query_int
from syndicate.web.pages import HTML_TYPE, context_of, render_page
from syndicate.web.static import css_route, versioned

PAGE_SIZE = 20
MAX_PAGE = 100_000
PAGE_TTL = 60.0
MAX_CACHED_PAGES = 256
ARCHIVE_CACHE = "public, max-age=60"
DIGEST_CSS = "/static/digest.css"


@dataclass(frozen=True)
class EditionRow:
    """One line of an archive list."""

    digest_title: str
    date_label: str
    time_label: str
    article_count: int
    href: str


def archived_digests(ctx: WebContext) -> list[DigestConfig]:
    """The digests whose editions are shown on the web."""
    return [digest for digest in ctx.config.digests if digest.archive]


def archived_digest(ctx: WebContext, digest_id: str) -> DigestConfig:
    """The archived digest ``digest_id``; 404 when unknown or not archived."""
    for digest in archived_digests(ctx):
        if digest.id == digest_id:
            return digest
    raise HTTPException(404)


def edition_row(ctx: WebContext, entry: EditionEntry) -> EditionRow:
    """How an archive list shows one edition."""
    local = entry.slot.astimezone(ctx.config.timezone)
    key = edition_key(entry.slot, ctx.config.timezone)
    return EditionRow(
        digest_title=ctx.config.digest(entry.digest_id).title,
        date_label=korean_date(local, year=True),
        time_label=local.strftime("%H:%M"),
        article_count=entry.article_count,
        href=ctx.href(f"{ARCHIVE_PATH}{entry.digest_id}/{key}"),
    )


class EditionPages:
    """Rendered edition pages, kept a short while (editions are frozen; articles rarely change)."""

    def __init__(self, ctx: WebContext) -> None:
        """Render with the configured digest templates."""
        self.ctx = ctx
        self.renderer = Renderer.for_config(ctx.config)
        self.css = self.renderer.css().encode("utf-8")
        self.pages: dict[tuple[str, str], tuple[float, str, int]] = {}
        self.lock = threading.Lock()

    def page(self, digest_id: str, key: str) -> str:
        """The HTML of edition ``key`` of ``digest_id``; 404 when there is none to show.

        A kept page is shown only while no article was hidden or shown again since
        it was rendered (a takedown leaves the archive at once, in every process).
        """
        now, version = time.monotonic(), self.ctx.store.takedowns_version()
        cached = self.pages.get((digest_id, key))
        if cached is not None and cached[0] > now and cached[2] == version:
            return cached[1]
        html = self.render(self.find(digest_id, key))
        with self.lock:
            if len(self.pages) >= MAX_CACHED_PAGES:
                self.pages.clear()
            self.pages[(digest_id, key)] = (now + PAGE_TTL, html, version)
        return html

    def find(self, digest_id: str, key: str) -> Edition:
        """The stored edition ``key`` names, with its articles; 404 when none."""
        for slot in parse_edition_key(key, self.ctx.config.timezone):
            edition = self.ctx.store.get_edition(digest_id, slot)
            if edition is not None and edition.articles:
                return edition
        raise HTTPException(404)

    def render(self, edition: Edition) -> str:
        """The web version of ``edition``."""
        digest = web_digest(self.ctx.config, edition)
        links = WebLinks(
            stylesheet_url=versioned(self.ctx.href(DIGEST_CSS[1:]), self.css),
            archive_url=self.ctx.href(f"{ARCHIVE_PATH}{edition.digest_id}"),
            subscribe_url=self.ctx.href(f"subscribe/{edition.digest_id}"),
            home_url=self.ctx.href(),
        )
        return self.renderer.render_web(digest, links)


def list_page(request: Request, digests: list[DigestConfig], heading: str) -> HTMLResponse:
    """A page of editions of ``digests``; 404 past the last page."""
    ctx = context_of(request)
    page = query_int(request, "page", default=1, minimum=1, maximum=MAX_PAGE)
    ids = [digest.id for digest in digests]
    total = ctx.store.count_editions(ids) if ids else 0
    pages = max(1, math.ceil(total / PAGE_SIZE))
    if page > pages:
        raise HTTPException(404)
    entries = ctx.store.list_editions(ids, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    context = {
        "heading": heading,
        "rows": [edition_row(ctx, entry) for entry in entries],
        "page": page,
        "pages": pages,
        "digests": [(d.title, ctx.href(f"{ARCHIVE_PATH}{d.id}")) for d in archived_digests(ctx)],
        "here": request.url.path,
    }
    headers = {"Cache-Control": ARCHIVE_CACHE}
    return render_page(request, "archive.html.j2", context, headers=headers)


def routes(ctx: WebContext) -> list[BaseRoute]:
    """The archive routes."""
    editions = EditionPages(ctx)

    def archive(request: Request) -> HTMLResponse:
        return list_page(request, archived_digests(ctx), "지난 호")

    def digest_archive(request: Request) -> HTMLResponse:
        digest = archived_digest(ctx, request.path_params["digest_id"])
        return list_page(request, [digest], f"{digest.title} 지난 호")

    def edition(request: Request) -> HTMLResponse:
        digest = archived_digest(ctx, request.path_params["digest_id"])
        html = editions.page(digest.id, request.path_params["key"])
        headers = {"Cache-Control": ARCHIVE_CACHE}
        return HTMLResponse(html, headers=headers, media_type=HTML_TYPE)

    return [
        css_route(DIGEST_CSS, editions.css),
        Route("/archive", archive, methods=["GET"]),
        Route("/archive/{digest_id}", digest_archive, methods=["GET"]),
        Route("/archive/{digest_id}/{key}", edition, methods=["GET"]),
    ]
