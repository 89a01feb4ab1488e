"""Sources: one registry entry per kind and :func:`read_source` to call the right reader.

A reader takes a source config and a :class:`SourceContext` and returns a
:class:`SourceResult`: the articles found (with ``section_id`` set to the
source's section and raw, unsanitized HTML), the updated
:class:`~syndicate.model.SourceState` and whether the source said "not
modified". Readers raise :class:`~syndicate.errors.SourceError` on failure.

Adding a source kind means adding its model to the ``SourceConfig`` union in
:mod:`syndicate.config_sources` and one :class:`SourceKind` in :data:`SOURCE_KINDS`
here. Readers are imported on first use, so ``check`` loads no HTTP or feed
library.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo
from typing import TYPE_CHECKING, Any

from syndicate.config import Config
from syndicate.config_sources import SourceBase as SourceLike
from syndicate.config_sources import SourceConfig
from syndicate.errors import SourceError

if TYPE_CHECKING:
    import httpx

    from syndicate.model import Article, SourceState

__all__ = [
    "SOURCE_KINDS",
    "SourceContext",
    "SourceKind",
    "SourceResult",
    "read_source",
]


@dataclass(frozen=True)
class SourceContext:
    """What a reader needs besides its source: the config, the saved state, an HTTP client."""

    config: Config
    state: SourceState
    client: httpx.Client | None = None

    def zone(self, source: SourceLike) -> tzinfo:
        """The timezone for dates without an offset: the source's, else the config's."""
        return source.timezone or self.config.timezone


@dataclass(frozen=True)
class SourceResult:
    """What a reader found: articles, the state to save, and whether nothing changed."""

    articles: list[Article]
    state: SourceState
    not_modified: bool = False


Reader = Callable[[Any, SourceContext], SourceResult]


def _lazy(module: str, name: str) -> Reader:
    """A reader that imports ``module`` only when it is first called."""

    def read(source: Any, ctx: SourceContext) -> SourceResult:
        reader: Reader = getattr(importlib.import_module(module), name)
        return reader(source, ctx)

    read.__doc__ = f"Read a source with {module}.{name}."
    return read


def _location_problems(source: SourceConfig, *, folder: bool = False) -> list[tuple[str, str]]:
    """A local location that does not exist (or is not a folder when one is needed)."""
    location = source.local_path if source.enabled else None
    if location is None:
        return []
    try:
        if not location.exists():
            return [("location", f"{location} does not exist")]
        if folder and not location.is_dir():
            return [("location", f"{location} is not a folder")]
    except (OSError, ValueError) as exc:
        return [("location", f"cannot use {str(location)!r}: {exc}")]
    return []


@dataclass(frozen=True)
class SourceKind:
    """What one source kind provides: its reader and its environment checks.

    ``environment`` lists ``(key, problem)`` pairs the config file alone cannot
    show (a missing local file or folder), keys relative to the source.
    """

    reader: Reader
    environment: Callable[[Any], list[tuple[str, str]]] = _location_problems


SOURCE_KINDS: dict[str, SourceKind] = {
    "feed": SourceKind(_lazy("syndicate.sources.feed", "read_feed_source")),
    "folder": SourceKind(
        _lazy("syndicate.sources.folder", "read_folder_source"),
        environment=lambda source: _location_problems(source, folder=True),
    ),
    "page": SourceKind(_lazy("syndicate.sources.page", "read_page_source")),
    "sitemap": SourceKind(_lazy("syndicate.sources.sitemap", "read_sitemap_source")),
}


def read_source(source: SourceConfig, ctx: SourceContext) -> SourceResult:
    """Read ``source`` with the reader registered for its kind."""
    kind = SOURCE_KINDS.get(source.kind)
    if kind is None:
        raise SourceError(source.id, f"no reader for source kind {source.kind!r}")
    return kind.reader(source, ctx)
