"""Publish the stored articles as RSS 2.0, Atom and JSON Feed 1.1 for feed readers.

This is the only module that imports feedgen (JSON Feed, which feedgen does not
write, is built by :mod:`syndicate.feeds_json` from the same entry fields).
:func:`render_feed` turns a list of :class:`~syndicate.model.Article` into feed
bytes; :func:`write_feeds` reads the newest articles from the store and writes
one file per feed, atomically and only when its bytes changed (so conditional
GETs by feed readers keep working). A feed whose head (the sequence and change
time of its newest articles) and configuration did not move since the last
write is not even rendered (:mod:`syndicate.feeds_state`).

Every feed links to itself at the URL it is served at (``public_base_url`` +
``feeds.url_path``) and to the configured WebSub hubs, which are pinged after
a change (:mod:`syndicate.websub`).

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

FORMATS = ("rss", "atom", "json")
COMBINED_KEY = "all"
SOURCE_PREFIX = "source."  # per-source feeds: source.<id>.rss.xml (no section id has a dot)
LANGUAGE = "ko"
GENERATOR = "syndicate"
OPML_FILE = "feeds.opml"
# The build date of a feed with no articles: fixed, so empty feeds stay byte-stable.
EMPTY_FEED_TIME = datetime(2000, 1, 1, tzinfo=UTC)
ATOM_NS = "http://www.w3.org/2005/Atom"
_LINK_ANCHORS = (f"{{{ATOM_NS}}}link", f"{{{ATOM_NS}}}title")
_MEDIA_TYPES = {
    "rss": "application/rss+xml",
    "atom": "application/atom+xml",
    "json": "application/feed+json",
}
_SUFFIXES = {"rss": ".rss.xml", "atom": ".atom.xml", "json": ".feed.json"}
# What rendering one entry or one file may raise (feedgen and lxml raise these).
_RENDER_ERRORS = (ValueError, TypeError, KeyError, NotImplementedError, etree.LxmlError)


class ArticleSource(Protocol):
    """What :func:`write_feeds` needs from the store (``syndicate.store.Store`` fits)."""

    def latest_articles(
        self, *, section_id: str | None = None, source_id: str | None = None, limit: int = 50
    ) -> list[Article]:
        """Return the newest articles, optionally of one section or source, newest first."""
        ...

    def feed_heads(
        self, selections: Sequence[tuple[str | None, str | None]], *, limit: int = 50
    ) -> list[list[tuple[int, str]]]:
        """Per (section, source): (sequence, change time) of what ``latest_articles`` returns."""
        ...


def feed_file_name(key: str, fmt: str) -> str:
    """The file name of feed ``key`` in format ``fmt``: ``it.rss.xml``, ``all.feed.json``."""
    return key + _SUFFIXES[fmt]


@dataclass(frozen=True)
class FeedSpec:
    """One feed file: a section's feed (``section`` set) or the combined feed, in one format."""

    key: str
    title: str
    description: str
    fmt: str
    section: Section | None = None
    source_id: str | None = None

    @property
    def file_name(self) -> str:
        """The file name, e.g. ``it.rss.xml``, ``all.atom.xml`` or ``all.feed.json``."""
        return feed_file_name(self.key, self.fmt)

    @property
    def media_type(self) -> str:
        """The media type of the file (``application/rss+xml``, ``…atom+xml``, ``…feed+json``)."""
        return _MEDIA_TYPES[self.fmt]

    @property
    def section_id(self) -> str | None:
        """The section the feed is limited to (None: every section)."""
        return None if self.section is None else self.section.id

    def self_url(self, config: Config) -> str:
        """The public URL of this feed file, where ``feeds.url_path`` serves it."""
        return config.feeds_url + self.file_name


@dataclass
class FeedsReport:
    """What :func:`write_feeds` did: files rewritten, left as they were, and failed.

    ``failed`` maps a feed file name to its one-line error.
    """

    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: int = 0
    """Feeds not rendered at all: their head and configuration had not moved."""
    pings_failed: list[str] = field(default_factory=list)
    """Hub pings that failed (``hub topic: reason``); retried at the next write."""


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
    specs = [
        FeedSpec(key, title, description or title, fmt, section)
        for key, title, section in bases
        for fmt in feeds.formats
    ]
    if feeds.per_source:
        specs += [
            FeedSpec(key, title, description or title, fmt, source_id=source.id)
            for source in config.sources
            for key, title in [(SOURCE_PREFIX + source.id, f"{feeds.title} - {source.id}")]
            for fmt in feeds.formats
        ]
    return specs


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


def image_type(url: str) -> str:
    """Guess an image's media type from its URL path (JPEG when unknown)."""
    guessed, _ = mimetypes.guess_type(urlsplit(url).path)
    return guessed if guessed and guessed.startswith("image/") else "image/jpeg"


@dataclass(frozen=True)
class EntryFields:
    """One article as every feed format shows it: XML-safe text, times in the configured zone.

    ``content_html`` is empty only when the entry has a link (``url``) to the article.
    """

    id: str
    title: str
    url: str
    summary_html: str
    content_html: str
    author: str
    categories: list[str]
    published: datetime
    updated: datetime
    image: str


def entry_fields(config: Config, article: Article) -> EntryFields:
    """The feed fields of ``article`` (HTML as sanitized at collect, never again here).

    An entry without a link gets content: its summary, else its title.
    """
    title = _one_line(article.title) or _one_line(article.url) or _entry_id(article)
    url = safe_link(article.url)
    summary = _stored_html(article.summary_html)
    content = _stored_html(article.content_html)
    if not content and not url:
        content = summary or f"<p>{html.escape(title)}</p>"
    zone = config.timezone
    return EntryFields(
        _entry_id(article), title, url, summary, content, _one_line(article.author),
        _categories(config, article), _local(_published(article), zone),
        _local(_updated(article), zone), _image_url(article),
    )  # fmt: skip


def _add_texts(entry: FeedEntry, fields: EntryFields) -> None:
    """Set title, summary and content (HTML)."""
    entry.title(fields.title)
    if fields.content_html:
        entry.content(fields.content_html, type="html")
    if fields.summary_html:
        entry.summary(fields.summary_html, type="html")


def _add_meta(entry: FeedEntry, fields: EntryFields, fmt: str) -> None:
    """Set id, links, author, categories and times."""
    entry.guid(fields.id, permalink=False)
    if fields.url:
        entry.link(href=fields.url, rel="alternate", type="text/html")
    if fields.image and fmt == "rss":
        entry.link(href=fields.image, rel="enclosure", type=image_type(fields.image))
    if fields.author:
        entry.author(name=fields.author)
        if fmt == "rss":
            entry.dc.dc_creator(fields.author)
    for name in fields.categories:
        entry.category(term=name)
    entry.published(fields.published)
    entry.updated(fields.updated)


def _select(config: Config, spec: FeedSpec, articles: Sequence[Article]) -> list[Article]:
    """The articles of the feed: its section or source only, newest first, limited."""
    if spec.section is not None:
        articles = [a for a in articles if a.section_id == spec.section.id]
    if spec.source_id is not None:
        articles = [a for a in articles if a.source_id == spec.source_id]
    return newest_first(articles)[: config.feeds.limit]


# --- feed --------------------------------------------------------------------------


def build_time(articles: Sequence[Article]) -> datetime:
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
    # feedgen uses the last link as RSS <link>: the self and hub links go first.
    fg.link(href=self_url, rel="self", type=spec.media_type)
    if spec.fmt == "atom":  # feedgen writes only the self link in RSS: see _add_rss_hubs
        for hub in config.feeds.hubs:
            fg.link(href=hub, rel="hub")
    fg.link(href=config.public_base_url, rel="alternate", type="text/html")
    fg.language(LANGUAGE)
    fg.generator(GENERATOR, version=__version__)
    if spec.section is not None:
        fg.category(term=_one_line(spec.section.name))
    interval = config.collect.schedule.interval
    if interval is not None and spec.fmt == "rss":
        fg.ttl(max(1, int(interval.total_seconds() // 60)))
    fg.updated(_local(build_time(articles), config.timezone))
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
            link.attrib.update({"rel": "enclosure", "type": image_type(image), "href": image})
            element.insert(_after_last_link(element), link)
    return bytes(etree.tostring(root, pretty_print=True, encoding="UTF-8", xml_declaration=True))


def _after_last_link(element: Any) -> int:
    """The child index just after an entry's last link (or after its title)."""
    children = list(element)
    positions = [i for i, child in enumerate(children) if child.tag in _LINK_ANCHORS]
    return (positions[-1] + 1) if positions else len(children)


def _add_rss_hubs(data: bytes, hubs: Sequence[str]) -> bytes:
    """Declare WebSub hubs in an RSS channel: ``<atom:link rel="hub">`` after the self link."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    root = etree.fromstring(data, parser)
    channel = root.find("channel")
    position = _after_last_link(channel)
    for offset, hub in enumerate(hubs):
        link = etree.Element(f"{{{ATOM_NS}}}link", {"href": hub, "rel": "hub"})
        link.tail = channel[position - 1].tail if position else None
        channel.insert(position + offset, link)
    return bytes(etree.tostring(root, encoding="UTF-8", xml_declaration=True))


def _serialize(
    fg: FeedGenerator, fmt: str, articles: Sequence[Article], hubs: Sequence[str]
) -> bytes:
    """The feed document as UTF-8 bytes."""
    if fmt == "rss":
        data = bytes(fg.rss_str(pretty=True, encoding="UTF-8", xml_declaration=True))
        return _add_rss_hubs(data, hubs) if hubs else data
    data = bytes(fg.atom_str(pretty=False, encoding="UTF-8", xml_declaration=True))
    return _fix_atom_links(data, articles)


def _add_entry(fg: FeedGenerator, config: Config, article: Article, spec: FeedSpec) -> bool:
    """Add one article to ``fg``; an article that cannot be rendered is left out (False)."""
    entry = fg.add_entry(order="append")
    try:
        fields = entry_fields(config, article)
        _add_texts(entry, fields)
        _add_meta(entry, fields, spec.fmt)
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
    """Render ``articles`` as the feed ``spec`` in format ``fmt`` (``rss``, ``atom``, ``json``).

    Only the spec's section is kept (all sections for the combined feed), newest
    first, at most ``feeds.limit`` entries; an article that cannot be rendered is
    skipped with a warning naming it. Raises :class:`FeedWriteError` when the
    feed itself cannot be rendered.
    """
    if fmt not in FORMATS:
        raise FeedWriteError(
            f"feed {spec.file_name}: unknown format {fmt!r} (use rss, atom or json)"
        )
    spec = dataclasses.replace(spec, fmt=fmt)
    chosen = _select(config, spec, articles)
    if fmt == "json":
        from syndicate.feeds_json import render_json_feed

        return render_json_feed(config, spec, chosen)
    try:
        fg = _channel(config, spec, chosen)
        rendered = [article for article in chosen if _add_entry(fg, config, article, spec)]
        return _serialize(fg, fmt, rendered, config.feeds.hubs)
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
) -> bool:
    """Render and write one feed file, recording the outcome in ``report`` (never raises).

    True when the file now holds the feed (written or already the same bytes).
    """
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
        return True
    logger.error("%s", report.failed[spec.file_name])
    return False


def _write_specs(
    config: Config, store: ArticleSource, specs: Sequence[FeedSpec], report: FeedsReport
) -> None:
    """Write each feed whose head or configuration moved since its last write."""
    from syndicate.feeds_state import FeedsState, config_fingerprint, feed_mark, head_digest

    output = config.resolve(config.feeds.output)
    state = FeedsState.load(output)
    fingerprint = config_fingerprint(config)
    limit = config.feeds.limit
    keys = {spec.key: (spec.section_id, spec.source_id) for spec in specs}
    heads = dict(zip(keys, store.feed_heads(list(keys.values()), limit=limit), strict=True))
    digests = {key: head_digest(fingerprint, head) for key, head in heads.items()}
    cache: dict[str, list[Article]] = {}
    for spec in specs:
        mark = feed_mark(digests[spec.key], spec.fmt)
        if state.unchanged(spec.file_name, mark):
            report.skipped += 1
            report.unchanged.append(output / spec.file_name)
            continue
        if spec.key not in cache:
            cache[spec.key] = store.latest_articles(
                section_id=spec.section_id, source_id=spec.source_id, limit=limit
            )
        written = _write_one(config, spec, cache[spec.key], report)
        state.record(spec.file_name, mark if written else None)
    state.save()


def _ping_hubs(config: Config, specs: Sequence[FeedSpec], report: FeedsReport) -> None:
    """Tell the configured hubs about the feeds just rewritten (and earlier failed pings)."""
    from syndicate.websub import notify_hubs

    written = {path.name for path in report.written}
    topics = [spec.self_url(config) for spec in specs if spec.file_name in written]
    output = config.resolve(config.feeds.output)
    report.pings_failed = notify_hubs(output, config.feeds.hubs, topics)


def write_feeds(config: Config, store: ArticleSource) -> FeedsReport:
    """Render every configured feed from the store's newest articles and write the files.

    Each file is rendered and written on its own: one that fails is named in
    ``report.failed`` and the others are still written. A feed whose head and
    configuration did not move is not rendered; files whose bytes did not
    change are left untouched. Afterwards the configured WebSub hubs are told
    which feeds changed. Raises :class:`FeedWriteError` only when the feed
    list itself is wrong (a section id colliding with the combined feed).
    """
    output = config.resolve(config.feeds.output)
    report = FeedsReport()
    specs = feed_specs(config)
    _write_specs(config, store, specs, report)
    opml = output / OPML_FILE
    try:
        changed = write_feed_file(opml, render_opml(config, specs))
    except FeedWriteError as exc:
        logger.error("%s", exc)
        report.failed[OPML_FILE] = str(exc)
    else:
        (report.written if changed else report.unchanged).append(opml)
    if config.feeds.hubs:
        _ping_hubs(config, specs, report)
    return report
