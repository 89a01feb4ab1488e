"""``/metrics``: the store's numbers in the Prometheus text format, read at each scrape."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from syndicate import metrics
from syndicate.web.context import WebContext


def routes(ctx: WebContext) -> list[BaseRoute]:
    """The metrics route; its registry reads ``ctx.store`` at every request."""
    registry = metrics.registry_for(ctx.store, ctx.config)

    def scrape(_request: Request) -> Response:
        """Every metric family (a sync endpoint: the queries run in a worker thread)."""
        return Response(
            metrics.exposition(registry),
            media_type=metrics.CONTENT_TYPE,
            headers={"Cache-Control": "no-store"},
        )

    return [Route("/metrics", scrape, methods=["GET"])]
