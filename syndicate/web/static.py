"""Stylesheets: ``/static/site.css`` (the pages) and, from :mod:`.archive`, ``digest.css``.

Each is read once and cached for a year: links carry ``?v=<hash>`` of the file
(:func:`versioned`), so a changed stylesheet is a new URL.
"""

from __future__ import annotations

import hashlib

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from syndicate.web.conditional import none_match
from syndicate.web.context import WebContext
from syndicate.web.pages import STYLESHEET, css_version, stylesheet

CSS_TYPE = "text/css; charset=utf-8"
IMMUTABLE = "public, max-age=31536000, immutable"


def versioned(url: str, css: bytes) -> str:
    """``url?v=<hash>``: the stylesheet's URL that changes when its bytes do."""
    return f"{url}?v={css_version(css)}"


def css_route(path: str, css: bytes) -> Route:
    """A route serving ``css`` at ``path``, answering 304 to a matching ``If-None-Match``."""
    etag = '"' + hashlib.sha256(css).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": IMMUTABLE}

    async def serve_css(request: Request) -> Response:
        if none_match(request.headers.get("if-none-match", ""), etag):
            return Response(status_code=304, headers=headers)
        return Response(css, media_type=CSS_TYPE, headers=headers)

    return Route(path, serve_css, methods=["GET"])


def routes(ctx: WebContext) -> list[BaseRoute]:
    """The pages' stylesheet route."""
    return [css_route(f"/static/{STYLESHEET}", stylesheet(ctx.templates))]
