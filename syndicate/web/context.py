"""What every web feature shares: config, store, page templates, clock and URL helpers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from syndicate.model import utcnow

if TYPE_CHECKING:
    import jinja2

    from syndicate.config import Config
    from syndicate.store import Store


def base_path(public_base_url: str) -> str:
    """The path part of ``public_base_url``, with a leading and a trailing slash."""
    path = urlsplit(public_base_url).path.strip("/")
    return f"/{path}/" if path else "/"


@dataclass
class WebContext:
    """The state of one web application, handed to every feature's ``routes(ctx)``.

    ``now`` is the clock (tests pin it); ``extras`` is where a feature may keep
    its own shared state (e.g. a rate limiter), under a key named after it.
    """

    config: Config
    store: Store
    templates: jinja2.Environment
    now: Callable[[], datetime] = utcnow
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        """The URL path every route lives under: ``/`` or e.g. ``/letters/``."""
        return base_path(self.config.public_base_url)

    def href(self, relative: str = "") -> str:
        """A site-relative link to ``relative`` (no leading slash): ``/letters/archive``."""
        return self.prefix + relative.lstrip("/")

    def public_url(self, relative: str = "") -> str:
        """The absolute public URL of ``relative``, as readers and mails see it."""
        return self.config.public_base_url + relative.lstrip("/")
