"""Build the web application: every feature's routes under the path of ``public_base_url``.

A feature is a module with ``routes(ctx: WebContext) -> list[BaseRoute]``; adding
one is one name in :data:`FEATURES`. Routes are written relative to the site
(``/healthz``); when ``public_base_url`` has a path (``https://x.kr/letters/``)
they are mounted under it (``/letters/healthz``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount

from syndicate.model import utcnow
from syndicate.web import (
    archive,
    confirmation,
    feedfiles,
    health,
    home,
    metrics,
    preferences,
    static,
    subscribe,
    unsubscribe,
)
from syndicate.web.context import WebContext
from syndicate.web.errors import EXCEPTION_HANDLERS
from syndicate.web.middleware import CatchErrors, SecurityHeaders
from syndicate.web.pages import page_globals, stylesheet, template_environment

if TYPE_CHECKING:
    from syndicate.config import Config
    from syndicate.store import Store


class Feature(Protocol):
    """A module contributing routes to the application."""

    def routes(self, ctx: WebContext) -> list[BaseRoute]:
        """The routes of this feature, relative to the site's path."""
        ...


FEATURES: tuple[Feature, ...] = (
    health,
    metrics,
    static,
    home,
    feedfiles,
    archive,
    unsubscribe,
    subscribe,
    confirmation,
    preferences,
)


def site_routes(ctx: WebContext, features: tuple[Feature, ...] = FEATURES) -> list[BaseRoute]:
    """Every feature's routes, mounted under the site's path when it has one."""
    routes = [route for feature in features for route in feature.routes(ctx)]
    if ctx.prefix == "/":
        return routes
    return [Mount(ctx.prefix.rstrip("/"), routes=routes)]


def create_app(
    config: Config,
    store: Store | None = None,
    *,
    now: Callable[[], datetime] = utcnow,
    features: tuple[Feature, ...] = FEATURES,
) -> Starlette:
    """The ASGI application for ``config``; ``store`` defaults to one opened on its URL.

    ``now`` is the clock of every feature; ``features`` the route modules (tests add some).
    The store is not contacted here: an unreachable store gives 503 pages and a
    failing ``/healthz``, not a failure to start.
    """
    if store is None:
        from syndicate.store import Store

        store = Store(config.store, config.database.limits(patient=False))
    templates = template_environment(config)
    ctx = WebContext(config=config, store=store, templates=templates, now=now)
    templates.globals.update(page_globals(ctx, stylesheet(templates)))
    app = Starlette(
        routes=site_routes(ctx, features),
        middleware=[Middleware(SecurityHeaders), Middleware(CatchErrors)],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    app.state.ctx = ctx
    return app
