"""The reader-facing web side of syndicate, served by ``syndicate serve``.

:func:`syndicate.web.app.create_app` builds a Starlette application whose URLs
live under the path of ``public_base_url``. Each feature is one module with a
``routes(ctx) -> list[BaseRoute]`` function (:data:`syndicate.web.app.FEATURES`);
they share one :class:`~syndicate.web.context.WebContext` (config, store,
templates, clock). Pages are Jinja2 templates under ``templates/web/``, rendered
with :func:`syndicate.web.pages.render_page`; every response carries the
security headers of :mod:`syndicate.web.middleware`.
"""
