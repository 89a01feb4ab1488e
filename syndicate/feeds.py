"""Publish the stored articles as RSS 2.0 and Atom feeds for feed readers.

This is the only module that imports feedgen. :func:`render_feed` turns a list
of :class:`~syndicate.model.Article` into feed bytes; :func:`write_feeds` reads
the newest articles from the store and writes one file per feed, atomically and
only when its bytes changed (so conditional GETs by feed readers keep working).

Output is deterministic: the feed's ``lastBuildDate`` / ``updated`` is the time
of its newest article, never "now", so rendering the same articles twice gives
the same bytes. Times are written in the configured timezone (+09:00 for
Asia/Seoul).
"""

from __future__ import annotations

import dataclasses
import html
import logging
import mimetypes
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit
from xml.etree import ElementTree

from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from syndicate import __version__
from syndicate.config import Config
from syndicate.errors import FeedWriteError, one_line
from syndicate.files import write_atomic
from syndicate.model import Article, Section, newest_first
from syndicate.sanitize import safe_link, xml_text

if TYPE_CHECKING:
    from feedgen.entry import FeedEntry
    from feedgen.feed import FeedGenerator

logger = logging.getLogger(__name__)

FORMATS = ("rss", "atom")
COMBINED_KEY = "all"
LANGUAGE = "ko"
GENERATOR = "syndicate"
FEEDS_PATH = "feeds/"
OPML_FILE = "feeds.opml"
# The build date of a feed with no articles: fixed, so empty feeds stay byte-stable.
EMPTY_FEED_TIME = datetime(2000, 1, 1, tzinfo=UTC)
ATOM_NS = "http://www.w3.org/2005/Atom"
_LINK_ANCHORS = (f"{{{ATOM_NS}}}link", f"{{{ATOM_NS}}}title")
_MEDIA_TYPES = {"rss": "application/rss+xml", "atom": "application/atom+xml"}
# What rendering one entry or one file may raise (feedgen and lxml raise these).
_RENDER_ERRORS = (ValueError, TypeError, KeyError, NotImplementedError, etree.LxmlError)


class ArticleSource(Protocol):
    """What :func:`write_feeds` needs from the store (``syndicate.store.Store`` fits)."""

    def latest_articles(self, *, section_id: str | None = None, limit: int = 50) -> list[Article]:
        """Return the newest articles, optionally of one section, newest first."""
        ...


@dataclass(frozen=True)
class FeedSpec:
    """One feed file: a section's feed (``section`` set) or the combined feed, in one format."""

    key: str
    title: str
    description: str
    fmt: str
    section: Section | None = None

    @property
    def file_name(self) -> str:
        """The file name, e.g. ``it.rss.xml`` or ``all.atom.xml``."""
        return f"{self.key}.{self.fmt}.xml"

    @property
    def media_type(self) -> str:
        """The media type of the file (``application/rss+xml`` or ``application/atom+xml``)."""
        return _MEDIA_TYPES[self.fmt]

    def self_url(self, config: Config) -> str:
        """The public URL of this feed file."""
        return f"{config.public_base_url}{FEEDS_PATH}{self.file_name}"


@dataclass
class FeedsReport:
    """What :func:`write_feeds` did: files rewritten, left as they were, and failed.

    ``failed`` maps a feed file name to its one-line error.
    """

    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


# --- specs -------------------------------------------------------------------------


def feed_specs(config: Config) -> list[FeedSpec]:
    """List the feeds to write: one per section and/or the combined feed, times formats."""
    feeds = config.feeds
    description = feeds.description.strip()
    bases: list[tuple[str, str, Section | None]] = []
    if feeds.per_section:
        for section in config.section_list():
            bases.append((section.id, f"{feeds.title} - {section.name}", section))
    if feeds.combined:
        if any(key == COMBINED_KEY for key, _, _ in bases):
            raise FeedWriteError(
                f"{config.path}: section id {COMBINED_KEY!r} collides with the combined feed "
                f"({COMBINED_KEY}.*.xml); rename the section or set feeds.combined: false"
            )
        bases.append((COMBINED_KEY, feeds.title, None))
    return [
        FeedSpec(key, title, description or title, fmt, section)
        for key, title, section in bases
        for fmt in feeds.formats
    ]


# --- text helpers ------------------------------------------------------------------


def _one_line(text: str) -> str:
    """Titles, names, categories as one XML-safe line."""
    return one_line(xml_text(text))


def _stored_html(html: str) -> str:
    """Stored HTML made XML-safe (it was sanitized once, at collect; never again here)."""
    return xml_text(html).strip()


def _local(value: datetime, zone: tzinfo) -> datetime:
    """An aware datetime in the configured zone, to the second."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(zone).replace(microsecond=0)


# --- entries -----------------------------------------------------------------------


def _published(article: Article) -> datetime:
    """Published time: published, else first seen, else updated, else the fixed epoch."""
    for value in (article.published_at, article.first_seen_at, article.updated_at):
        if value is not None:
            return value
    return EMPTY_FEED_TIME


def _updated(article: Article) -> datetime:
    """Last modification time: updated, else published, else first seen."""
    return article.updated_at or _published(article)


def _section_name(config: Config, section_id: str) -> str:
    """The display name of a section, or its id when the config no longer lists it."""
    try:
        return config.section(section_id).name
    except KeyError:
        return section_id


def _categories(config: Config, article: Article) -> list[str]:
    """The section's display name first, then the article's own categories, no duplicates."""
    names = [_section_name(config, article.section_id), *article.categories]
    cleaned = (_one_line(name) for name in names)
    return list(dict.fromkeys(name for name in cleaned if name))


def _entry_id(article: Article) -> str:
    """The stable public id of an article (store-assigned ``tag:`` URI, else its URL)."""
    return xml_text(article.public_id or article.url or article.guid).strip()


def _image_url(article: Article) -> str:
    """The article's lead image URL, if it has an http(s) one."""
    return safe_link(article.image_url)


def _image_type(url: str) -> str:
    """Guess an image's media type from its URL path (JPEG when unknown)."""
    guessed, _ = mimetypes.guess_type(urlsplit(url).path)
    return guessed if guessed and guessed.startswith("image/") else "image/jpeg"


def _add_texts(entry: FeedEntry, article: Article) -> None:
    """Set title, summary and content (HTML, sanitized at collect).

    An entry without a link needs content (Atom): its summary, else its title.
    """
    title = _one_line(article.title) or _one_line(article.url) or _entry_id(article)
    entry.title(title)
    summary = _stored_html(article.summary_html)
    content = _stored_html(article.content_html)
    if not content and not safe_link(article.url):
        content = summary or f"<p>{html.escape(title)}</p>"
    if content:
        entry.content(content, type="html")
    if summary:
        entry.summary(summary, type="html")


def _add_meta(entry: FeedEntry, config: Config, article: Article, fmt: str) -> None:
    """Set id, links, author, categories and times."""
    entry.guid(_entry_id(article), permalink=False)
    url = safe_link(article.url)
    if url:
        entry.link(href=url, rel="alternate", type="text/html")
    image = _image_url(article)
    if image and fmt == "rss":
        entry.link(href=image, rel="enclosure", type=_image_type(image))
    author = _one_line(article.author)
    if author:
        entry.author(name=author)
        if fmt == "rss":
            entry.dc.dc_creator(author)
    for name in _categories(config, article):
        entry.category(term=name)
    entry.published(_local(_published(article), config.timezone))
    entry.updated(_local(_updated(article), config.timezone))


def _select(config: Config, spec: FeedSpec, articles: Sequence[Article]) -> list[Article]:
    """The articles of the feed: its section only (unless combined), newest first, limited."""
    if spec.section is not None:
        articles = [a for a in articles if a.section_id == spec.section.id]
    return newest_first(articles)[: config.feeds.limit]


# --- feed --------------------------------------------------------------------------


def _build_time(articles: Sequence[Article]) -> datetime:
    """The feed's last-build time: its newest article's, or the fixed epoch when empty."""
    return max((_updated(a) for a in articles), default=EMPTY_FEED_TIME)


def _channel(config: Config, spec: FeedSpec, articles: Sequence[Article]) -> FeedGenerator:
    """A FeedGenerator with the feed-level fields set (no entries yet)."""
    from feedgen.feed import FeedGenerator  # loaded only when feeds are written

    fg = FeedGenerator()
    if spec.fmt == "rss":
        fg.load_extension("dc", atom=False, rss=True)
    self_url = spec.self_url(config)
    fg.id(self_url)
    fg.title(_one_line(spec.title))
    fg.description(_one_line(spec.description))
    fg.author(name=_one_line(config.feeds.title))
    # feedgen uses the last link as RSS <link>: the self link goes first.
    fg.link(href=self_url, rel="self", type=spec.media_type)
    fg.link(href=config.public_base_url, rel="alternate", type="text/html")
    fg.language(LANGUAGE)
    fg.generator(GENERATOR, version=__version__)
    if spec.section is not None:
        fg.category(term=_one_line(spec.section.name))
    interval = config.collect.schedule.interval
    if interval is not None and spec.fmt == "rss":
        fg.ttl(max(1, int(interval.total_seconds() // 60)))
    fg.updated(_local(_build_time(articles), config.timezone))
    return fg


def _fix_atom_links(data: bytes, articles: Sequence[Article]) -> bytes:
    """Give Atom entry links their ``rel``/``type`` and add image enclosures.

    feedgen 1.0 drops the attributes of entry links in Atom output, which would
    turn an enclosure into a second alternate link, so links are finished here.
    """
    # Our own output (no DTD, no entities): huge_tree lifts libxml2's 10 MB text-node limit.
    parser = etree.XMLParser(
        remove_blank_text=True, resolve_entities=False, no_network=True, huge_tree=True
    )
    root = etree.fromstring(data, parser)
    entries = root.findall(f"{{{ATOM_NS}}}entry")
    for element, article in zip(entries, articles, strict=True):
        for link in element.findall(f"{{{ATOM_NS}}}link"):
            link.set("rel", "alternate")
            link.set("type", "text/html")
        image = _image_url(article)
        if image:
            link = etree.Element(f"{{{ATOM_NS}}}link")
            link.attrib.update({"rel": "enclosure", "type": _image_type(image), "href": image})
            element.insert(_after_last_link(element), link)
    return bytes(etree.tostring(root, pretty_print=True, encoding="UTF-8", xml_declaration=True))


def _after_last_link(element: Any) -> int:
    """The child index just after an entry's last link (or after its title)."""
    children = list(element)
    positions = [i for i, child in enumerate(children) if child.tag in _LINK_ANCHORS]
    return (positions[-1] + 1) if positions else len(children)


def _serialize(fg: FeedGenerator, fmt: str, articles: Sequence[Article]) -> bytes:
    """The feed document as UTF-8 bytes."""
    if fmt == "rss":
        return bytes(fg.rss_str(pretty=True, encoding="UTF-8", xml_declaration=True))
    data = bytes(fg.atom_str(pretty=False, encoding="UTF-8", xml_declaration=True))
    return _fix_atom_links(data, articles)


def _add_entry(fg: FeedGenerator, config: Config, article: Article, spec: FeedSpec) -> bool:
    """Add one article to ``fg``; an article that cannot be rendered is left out (False)."""
    entry = fg.add_entry(order="append")
    try:
        _add_texts(entry, article)
        _add_meta(entry, config, article, spec.fmt)
        entry.rss_entry() if spec.fmt == "rss" else entry.atom_entry()
    except _RENDER_ERRORS as exc:
        fg.remove_entry(entry)
        name = _entry_id(article)[:200] or article.title[:100]
        logger.warning(
            "feed %s: skipping article %r of source %s: %s",
            spec.file_name, name, article.source_id, one_line(str(exc), 300),
        )  # fmt: skip
        return False
    return True


def render_feed(config: Config, spec: FeedSpec, articles: Sequence[Article], fmt: str) -> bytes:
    """Render ``articles`` as the feed ``spec`` in format ``fmt`` (``"rss"`` or ``"atom"``).

    Only the spec's section is kept (all sections for the combined feed), newest
    first, at most ``feeds.limit`` entries; an article that cannot be rendered is
    skipped with a warning naming it. Raises :class:`FeedWriteError` when the
    feed itself cannot be rendered.
    """
    if fmt not in FORMATS:
        raise FeedWriteError(f"feed {spec.file_name}: unknown format {fmt!r} (use rss or atom)")
    spec = dataclasses.replace(spec, fmt=fmt)
    chosen = _select(config, spec, articles)
    try:
        fg = _channel(config, spec, chosen)
        rendered = [article for article in chosen if _add_entry(fg, config, article, spec)]
        return _serialize(fg, fmt, rendered)
    except _RENDER_ERRORS as exc:
        raise FeedWriteError(f"feed {spec.file_name}: cannot render: {exc}") from exc


# --- files -------------------------------------------------------------------------


def _same_bytes(path: Path, data: bytes) -> bool:
    """True when ``path`` exists and holds exactly ``data``."""
    try:
        return path.stat().st_size == len(data) and path.read_bytes() == data
    except FileNotFoundError:
        return False


def write_feed_file(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` unless it already holds those bytes; True when written."""
    try:
        if _same_bytes(path, data):
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data, new_mode=0o644)  # world-readable: served by a web server
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise FeedWriteError(f"feed {path}: cannot write: {reason}") from exc
    return True


def render_opml(config: Config, specs: Sequence[FeedSpec]) -> bytes:
    """An OPML 2.0 list of every feed, for readers that import it (Feedly, NetNewsWire)."""
    root = ElementTree.Element("opml", version="2.0")
    head = ElementTree.SubElement(root, "head")
    ElementTree.SubElement(head, "title").text = xml_text(config.feeds.title)
    body = ElementTree.SubElement(root, "body")
    for spec in specs:
        ElementTree.SubElement(
            body,
            "outline",
            type="rss",
            text=xml_text(f"{spec.title} ({spec.fmt.upper()})"),
            title=xml_text(spec.title),
            xmlUrl=spec.self_url(config),
            htmlUrl=config.public_base_url,
            language=LANGUAGE,
        )
    ElementTree.indent(root)
    document: bytes = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"


def _write_one(
    config: Config, spec: FeedSpec, articles: Sequence[Article], report: FeedsReport
) -> None:
    """Render and write one feed file, recording the outcome in ``report`` (never raises)."""
    path = config.resolve(config.feeds.output) / spec.file_name
    try:
        changed = write_feed_file(path, render_feed(config, spec, articles, spec.fmt))
    except FeedWriteError as exc:
        report.failed[spec.file_name] = str(exc)
    except Exception as exc:  # one broken file must not stop the others
        logger.debug("feed %s: unexpected error", spec.file_name, exc_info=True)
        report.failed[spec.file_name] = (
            f"feed {spec.file_name}: unexpected {type(exc).__name__}: {exc}"
        )
    else:
        if changed:
            logger.info("wrote feed %s (%d articles)", path, len(articles))
            report.written.append(path)
        else:
            logger.debug("feed %s unchanged", path)
            report.unchanged.append(path)
        return
    logger.error("%s", report.failed[spec.file_name])


def write_feeds(config: Config, store: ArticleSource) -> FeedsReport:
    """Render every configured feed from the store's newest articles and write the files.

    Each file is rendered and written on its own: one that fails is named in
    ``report.failed`` and the others are still written. Files whose bytes did
    not change are left untouched. Raises :class:`FeedWriteError` only when
    the feed list itself is wrong (a section id colliding with the combined feed).
    """
    output = config.resolve(config.feeds.output)
    report = FeedsReport()
    cache: dict[str, list[Article]] = {}
    specs = feed_specs(config)
    for spec in specs:
        if spec.key not in cache:
            section_id = spec.section.id if spec.section is not None else None
            cache[spec.key] = store.latest_articles(section_id=section_id, limit=config.feeds.limit)
        _write_one(config, spec, cache[spec.key], report)
    opml = output / OPML_FILE
    try:
        changed = write_feed_file(opml, render_opml(config, specs))
    except FeedWriteError as exc:
        logger.error("%s", exc)
        report.failed[OPML_FILE] = str(exc)
    else:
        (report.written if changed else report.unchanged).append(opml)
    return report
