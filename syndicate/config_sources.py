"""The config models of sources: one per kind, a discriminated union on ``kind``.

Adding a source kind means adding its model here (and to :data:`SourceConfig`)
and its entry in :data:`syndicate.sources.SOURCE_KINDS`. Where a source's
``location`` points is decided here, by the checks of its ``location`` field at
validation (:data:`~syndicate.config_fields.Location`; a kind whose location is
something else declares its own) and :attr:`SourceBase.local_path` after: the
registry sits in the stages layer, above the config, so the config cannot ask it.
"""

import re
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from syndicate import WEB_SCHEMES
from syndicate.config_checks import Invalid, Range, Tagged
from syndicate.config_fields import DurationField, Flag, Ident, Line, Location, ZoneField
from syndicate.config_model import ConfigModel, model, nested


def _url_path(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"{value!r} is not a URL path: it must start with '/'")
    return value


def _css(value: str) -> str:
    from cssselect import HTMLTranslator, SelectorError

    try:
        HTMLTranslator().css_to_xpath(value)
    except SelectorError as exc:
        raise ValueError(f"invalid CSS selector {value!r}: {exc}") from None
    return value


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
    return value


@model
class RuleConfig(ConfigModel):
    """Map articles to a section by feed category or by URL path prefix."""

    section: Line
    category: Line | None = None
    path: Annotated[Line, _url_path] | None = None

    def cross_check(self, given: AbstractSet[str]) -> None:
        """A rule matches by exactly one of category and path."""
        if (self.category is None) == (self.path is None):
            raise ValueError("a rule needs exactly one of 'category' or 'path'")


@model
class PagesConfig(ConfigModel):
    """Article pages to fetch (``page``/``sitemap`` sources, ``fulltext`` feeds) and how fast.

    ``urls`` lists article pages; ``select`` (CSS) or ``pattern`` (regular
    expression) picks article links on the listing page at ``location``;
    ``limit`` caps pages per run; ``delay`` (seconds) spaces requests to one
    host and ``concurrency`` caps requests in flight per host; ``max_age`` skips
    sitemap entries older than that.
    """

    urls: tuple[Location, ...] = ()
    select: Annotated[Line, _css] | None = None
    pattern: Annotated[Line, _regex] | None = None
    limit: Annotated[int, Range(ge=1, le=5000)] = 30
    delay: Annotated[float, Range(ge=0, le=300)] = 1.0
    concurrency: Annotated[int, Range(ge=1, le=32)] = 2
    max_age: DurationField | None = None


@model
class SourceBase(ConfigModel):
    """What every source kind has: an id, a location, a section, rules."""

    id: Ident
    location: Location
    section: Line
    timezone: ZoneField | None = None
    rules: tuple[RuleConfig, ...] = ()
    enabled: Flag = True

    @property
    def is_url(self) -> bool:
        """True when ``location`` is an http(s) URL rather than a path."""
        return urlsplit(self.location).scheme in WEB_SCHEMES

    @property
    def local_path(self) -> Path | None:
        """The local file or folder this source reads; None for a URL or no location."""
        if not self.location or self.is_url:
            return None
        return Path(self.location.removeprefix("file://"))


@model
class PagedSource(SourceBase):
    """A source that fetches article pages, paced by ``pages``."""

    pages: PagesConfig = nested(PagesConfig)


@model
class FeedSource(PagedSource):
    """An RSS/Atom feed; with ``fulltext`` its summary-only items are completed from their pages."""

    kind: Literal["feed"]
    fulltext: Flag = False


@model
class FolderSource(SourceBase):
    """A folder of Markdown/HTML files with YAML front matter."""

    kind: Literal["folder"]


@model
class PageSource(PagedSource):
    """Article pages: ``pages.urls`` and/or the links ``pages.select`` finds at ``location``."""

    kind: Literal["page"]
    location: Location = ""

    def cross_check(self, given: AbstractSet[str]) -> None:
        """A page source has a listing page at ``location``, or ``pages.urls``, or both."""
        if not self.location and not self.pages.urls:
            raise Invalid.at(
                "location", "required key is missing (a page source may list pages.urls)"
            )


@model
class SitemapSource(PagedSource):
    """A sitemap (news, plain or index) whose newest article pages are fetched."""

    kind: Literal["sitemap"]


SOURCE_MODELS: tuple[type[SourceBase], ...] = (FeedSource, FolderSource, PageSource, SitemapSource)
SourceConfig = FeedSource | FolderSource | PageSource | SitemapSource
Source = Annotated[SourceConfig, Tagged("source")]
