"""``/static/site.css``: the one stylesheet of the pages, read once, cached for a year.

Page links carry ``?v=<hash>`` of the file, so a changed stylesheet is a new URL.
"""

from __future__ import annotations

import hashlib

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from syndicate.web.conditional import none_match
from syndicate.web.context import WebContext
from syndicate.web.pages import STYLESHEET, stylesheet

CSS_TYPE = "text/css; charset=utf-8"
IMMUTABLE = "public, max-age=31536000, immutable"


def routes(ctx: WebContext) -> list[BaseRoute]:
    """The stylesheet route, answering 304 to a matching ``If-None-Match``."""
    css = stylesheet(ctx.templates)
    etag = '"' + hashlib.sha256(css).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": IMMUTABLE}

    async def serve_css(request: Request) -> Response:
        if none_match(request.headers.get("if-none-match", ""), etag):
            return Response(status_code=304, headers=headers)
        return Response(css, media_type=CSS_TYPE, headers=headers)

    return [Route(f"/static/{STYLESHEET}", serve_css, methods=["GET"])]
