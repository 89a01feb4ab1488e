"""``/``: the index page of digests and feeds, with feed autodiscovery links.

Feeds are listed from the config (per section, then the combined feed) when
their file exists in ``feeds.output``; each gets a ``<link rel="alternate">``.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute, Route

from syndicate.feeds import OPML_FILE, FeedSpec, feed_specs
from syndicate.web.context import WebContext
from syndicate.web.pages import context_of, render_page

FORMAT_NAMES = {"rss": "RSS", "atom": "Atom", "json": "JSON Feed"}


@dataclass(frozen=True)
class FeedLink:
    """One feed file as the index shows it."""

    title: str
    format: str
    media_type: str
    href: str


@dataclass(frozen=True)
class FeedRow:
    """A feed (a section's or the combined one) with a link per format."""

    title: str
    links: tuple[FeedLink, ...]


def feed_rows(ctx: WebContext) -> list[FeedRow]:
    """The configured feeds whose files exist, one row per section (combined last)."""
    folder = ctx.config.resolve(ctx.config.feeds.output)
    rows: dict[str, list[FeedSpec]] = {}
    for spec in feed_specs(ctx.config):
        if (folder / spec.file_name).is_file():
            rows.setdefault(spec.key, []).append(spec)
    return [
        FeedRow(specs[0].title, tuple(feed_link(ctx, spec) for spec in specs))
        for specs in rows.values()
    ]


def feed_link(ctx: WebContext, spec: FeedSpec) -> FeedLink:
    """The index's link to one feed file (site-relative, so it works behind any host)."""
    return FeedLink(
        spec.title,
        FORMAT_NAMES[spec.fmt],
        spec.media_type,
        ctx.href(ctx.config.feeds.url_path + spec.file_name),
    )


def index(request: Request) -> HTMLResponse:
    """The digests one can subscribe to and the feeds one can follow."""
    ctx = context_of(request)
    folder = ctx.config.resolve(ctx.config.feeds.output)
    opml_href = ctx.href(ctx.config.feeds.url_path + OPML_FILE)
    opml = opml_href if (folder / OPML_FILE).is_file() else None
    context = {
        "digests": [{"id": d.id, "title": d.title} for d in ctx.config.digests],
        "feeds": feed_rows(ctx),
        "opml": opml,
        "description": ctx.config.feeds.description,
    }
    return render_page(request, "index.html.j2", context)


def routes(ctx: WebContext) -> list[BaseRoute]:
    """The index route."""
    return [Route("/", index, methods=["GET"])]
