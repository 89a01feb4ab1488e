"""``/``: the index page of digests and feeds, with feed autodiscovery links."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute, Route

from syndicate.web.context import WebContext
from syndicate.web.pages import context_of, render_page


def index(request: Request) -> HTMLResponse:
    """The digests one can subscribe to and the feeds one can follow."""
    ctx = context_of(request)
    digests = [{"id": d.id, "title": d.title} for d in ctx.config.digests]
    return render_page(request, "index.html.j2", {"digests": digests})


def routes(ctx: WebContext) -> list[BaseRoute]:
    """The index route."""
    return [Route("/", index, methods=["GET"])]
