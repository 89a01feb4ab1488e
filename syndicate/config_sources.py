"""The config models of sources: one per kind, a discriminated union on ``kind``.

Adding a source kind means adding its model here (and to :data:`SourceConfig`)
and its entry in :data:`syndicate.sources.SOURCE_KINDS`. Where a source's
``location`` points is decided here, by :meth:`SourceBase._resolve_location` at
validation and :attr:`SourceBase.local_path` after: the registry sits in the
stages layer, above the config, so the config cannot ask it.
"""

import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, Strict, ValidationInfo, field_validator, model_validator

from syndicate import WEB_SCHEMES
from syndicate.config_fields import (
    ConfigModel,
    DurationField,
    Flag,
    Ident,
    Line,
    Location,
    Url,
    ZoneField,
    nested_defaults,
    resolve_location,
)


class RuleConfig(ConfigModel):
    """Map articles to a section by feed category or by URL path prefix."""

    section: Line
    category: Line | None = None
    path: Line | None = None

    @field_validator("path")
    @classmethod
    def _url_path(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError(f"{value!r} is not a URL path: it must start with '/'")
        return value

    @model_validator(mode="after")
    def _one_matcher(self) -> "RuleConfig":
        if (self.category is None) == (self.path is None):
            raise ValueError("a rule needs exactly one of 'category' or 'path'")
        return self


class PagesConfig(ConfigModel):
    """Article pages to fetch (``page``/``sitemap`` sources, ``fulltext`` feeds) and how fast.

    ``urls`` lists article pages; ``select`` (CSS) or ``pattern`` (regular
    expression) picks article links on the listing page at ``location``;
    ``limit`` caps pages per run; ``delay`` (seconds) spaces requests to one
    host and ``concurrency`` caps requests in flight per host; ``max_age`` skips
    sitemap entries older than that.
    """

    urls: tuple[Location, ...] = ()
    select: Line | None = None
    pattern: Line | None = None
    limit: Annotated[int, Strict(), Field(ge=1, le=5000)] = 30
    delay: Annotated[float, Strict(), Field(ge=0, le=300, allow_inf_nan=False)] = 1.0
    concurrency: Annotated[int, Strict(), Field(ge=1, le=32)] = 2
    max_age: DurationField | None = None

    @field_validator("select")
    @classmethod
    def _css(cls, value: str | None) -> str | None:
        if value is not None:
            from cssselect import HTMLTranslator, SelectorError

            try:
                HTMLTranslator().css_to_xpath(value)
            except SelectorError as exc:
                raise ValueError(f"invalid CSS selector {value!r}: {exc}") from None
        return value

    @field_validator("pattern")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
        return value


class SourceBase(ConfigModel):
    """What every source kind has: an id, a location, a section, rules."""

    id: Ident
    location: Url
    section: Line
    timezone: ZoneField | None = None
    rules: tuple[RuleConfig, ...] = ()
    enabled: Flag = True

    @field_validator("location")
    @classmethod
    def _resolve_location(cls, value: str, info: ValidationInfo) -> str:
        """An http(s) URL, a ``file:`` URL, or a path made absolute against the config folder.

        A kind whose ``location`` is something else overrides this method.
        """
        return resolve_location(value, info)

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


class PagedSource(SourceBase):
    """A source that fetches article pages, paced by ``pages``."""

    pages: PagesConfig = nested_defaults()


class FeedSource(PagedSource):
    """An RSS/Atom feed; with ``fulltext`` its summary-only items are completed from their pages."""

    kind: Literal["feed"]
    fulltext: Flag = False


class FolderSource(SourceBase):
    """A folder of Markdown/HTML files with YAML front matter."""

    kind: Literal["folder"]


class PageSource(PagedSource):
    """Article pages: ``pages.urls`` and/or the links ``pages.select`` finds at ``location``."""

    kind: Literal["page"]
    location: Url = ""

    @model_validator(mode="after")
    def _has_location(self) -> "PageSource":
        if not self.location and not self.pages.urls:
            raise ValueError(
                "location: required key is missing (a page source may list pages.urls)"
            )
        return self


class SitemapSource(PagedSource):
    """A sitemap (news, plain or index) whose newest article pages are fetched."""

    kind: Literal["sitemap"]


SOURCE_MODELS: tuple[type[SourceBase], ...] = (FeedSource, FolderSource, PageSource, SitemapSource)
SourceConfig = FeedSource | FolderSource | PageSource | SitemapSource
Source = Annotated[SourceConfig, Field(discriminator="kind")]
