"""``/healthz``: 200 ``ok`` when the store answers, 503 with the reason when it does not."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import BaseRoute, Route

from syndicate.errors import StoreError
from syndicate.web.context import WebContext
from syndicate.web.pages import context_of

NO_STORE = {"Cache-Control": "no-store"}


def healthz(request: Request) -> PlainTextResponse:
    """Ask the store ``SELECT 1`` (in a worker thread: the call blocks)."""
    try:
        context_of(request).store.ping()
    except StoreError as exc:
        return PlainTextResponse(f"store unavailable: {exc}", status_code=503, headers=NO_STORE)
    return PlainTextResponse("ok", headers=NO_STORE)


def routes(ctx: WebContext) -> list[BaseRoute]:
    """The health check route."""
    return [Route("/healthz", healthz, methods=["GET"])]
