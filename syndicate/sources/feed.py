"""Parse RSS 0.9x/1.0/2.0 and Atom bytes into :class:`~syndicate.model.Article` objects.

The bytes are decoded here, not by feedparser, by evidence (byte-order mark, the
HTTP charset, the XML declaration, then the bytes themselves; see
:mod:`syndicate.textcodec`). Documents declaring XML entities, DTD subsets or
external DTDs are refused before feedparser sees them (see
:mod:`syndicate.sources.xmlguard`); feedparser is given the vetted text as UTF-8.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
from dataclasses import replace
from datetime import UTC, datetime, tzinfo
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser_rs

from syndicate import WEB_SCHEMES
from syndicate.config_sources import FeedSource
from syndicate.errors import SourceError
from syndicate.links import absolute_links
from syndicate.model import Article
from syndicate.sanitize import plain_title
from syndicate.sources import SourceContext, SourceResult
from syndicate.sources.jsonfeed import is_json_feed, parse_json_feed
from syndicate.sources.polite import host_gate
from syndicate.sources.retrieve import retrieve
from syndicate.sources.xmlguard import check_xml_parse, check_xml_safety
from syndicate.textcodec import decode_bytes, http_charset

logger = logging.getLogger(__name__)

_XML_DECL_RE = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"']")
_DECL_RE = re.compile(r"^\s*<\?xml[^>]*\?>\s*")
_IMAGE_EXT_RE = re.compile(r"\.(jpe?g|png|gif|webp|avif|bmp|svg)(\?|#|$)", re.IGNORECASE)
_EMAIL_NAME_RE = re.compile(r"^\s*\S+@\S+\s*\((?P<name>[^)]+)\)\s*$")
_NAME_EMAIL_RE = re.compile(r"^\s*(?P<name>[^<]+?)\s*<[^>]+@[^>]+>\s*$")

FAST_VERSIONS = frozenset({"rss20", "atom10"})
_NOT_ABSOLUTE = rb"(?![a-z][a-z0-9+.-]*:)"
# What feedparser reads differently: relative item links and permalink GUIDs
# (it resolves them against the document's address), unquoted attribute values,
# markup in titles, Atom text without a type. Searched in the lowercased document,
# one pattern at a time: each starts with a literal, so a search skips ahead
# instead of trying every byte.
_DECLINE_RES = tuple(
    re.compile(pattern)
    for pattern in (
        rb"<link>(?>\s*)" + _NOT_ABSOLUTE,
        rb"<link\b[^>]*\bhref=[\"']" + _NOT_ABSOLUTE,
        rb"<title[^>]*>[^<]*&lt;|<title[^>]*><!\[cdata\[[^\]]*<",
        rb"<guid(?![^>]*ispermalink\s*=\s*[\"']false)[^>]*>(?>\s*)" + _NOT_ABSOLUTE,
        # An Atom text construct without ``type`` is text (RFC 4287, 3.1.1);
        # feedparser-rs reads it as HTML.
        rb"<(?:summary|content)(?=[\s>/])(?![^>]*\btype\s*=)",
    )
)
# An attribute value without quotes; the name must start a word (checked apart).
_UNQUOTED_RES = tuple(
    re.compile(name + rb"\s*=\s*(?![\"'\s]|&quot;|&#)") for name in (rb"href", rb"src")
)
_HTML_TYPES = {"html": "text/html", "xhtml": "application/xhtml+xml", "text": "text/plain"}


# --- decoding ---------------------------------------------------------------------


def decode_feed(content: bytes, content_type: str | None = None) -> str:
    """Decode feed bytes by evidence (see :mod:`syndicate.textcodec`).

    The HTTP charset is trusted before the XML declaration's, each only when
    the bytes really decode with it.
    """
    declared = _XML_DECL_RE.match(content[:1024])
    labels = [http_charset(content_type), declared.group(1).decode() if declared else None]
    decoded = decode_bytes(content, labels)
    logger.debug("feed decoded as %s (%s)", decoded.encoding, decoded.evidence)
    return decoded.text.lstrip("\ufeff")


def to_utf8_document(text: str) -> bytes:
    """Return ``text`` as UTF-8 bytes with an XML declaration saying so."""
    body = _DECL_RE.sub("", text, count=1).lstrip()
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + body).encode("utf-8")


# --- field extraction ---------------------------------------------------------------


def _field(entry: Any, key: str) -> Any:
    """Read a key without feedparser's deprecated fallbacks (feedparser-rs has none)."""
    return dict.get(entry, key) if isinstance(entry, dict) else entry.get(key)


def _as_html(detail: Any, value: str) -> str:
    kind = (detail or {}).get("type", "text/html") if isinstance(detail, dict) else "text/html"
    if kind == "text/plain":
        return "<p>" + html.escape(value).replace("\n\n", "</p><p>") + "</p>"
    return value


def _content_html(entry: Any) -> str:
    contents = _field(entry, "content") or []
    preferred = [c for c in contents if c.get("type") in ("text/html", "application/xhtml+xml")]
    for item in preferred or contents:
        value = item.get("value") or ""
        if value.strip():
            return _as_html(item, value)
    return ""


def _summary_html(entry: Any) -> str:
    value = _field(entry, "summary") or ""
    return _as_html(_field(entry, "summary_detail"), value) if value.strip() else ""


def _author_name(value: str) -> str:
    for pattern in (_EMAIL_NAME_RE, _NAME_EMAIL_RE):
        match = pattern.match(value)
        if match:
            return match.group("name").strip()
    return value.strip()


def _author(entry: Any) -> str:
    names = []
    for author in _field(entry, "authors") or []:
        name = (author.get("name") or "").strip() or (author.get("email") or "").strip()
        if name:
            names.append(_author_name(name))
    if not names and _field(entry, "author"):
        names.append(_author_name(str(_field(entry, "author"))))
    return plain_title(", ".join(dict.fromkeys(n for n in names if n)))


def _categories(entry: Any) -> tuple[str, ...]:
    terms = []
    for tag in _field(entry, "tags") or []:
        term = plain_title(tag.get("term") or "")
        if term:
            terms.append(term)
    return tuple(dict.fromkeys(terms))


def _looks_like_image(item: Any) -> bool:
    kind = str(item.get("type") or "")
    if kind:
        return kind.startswith("image/")
    medium = str(item.get("medium") or "")
    if medium:
        return medium == "image"
    url = str(item.get("url") or item.get("href") or "")
    return bool(_IMAGE_EXT_RE.search(urlsplit(url).path))


def _image_url(entry: Any, base: str) -> str:
    candidates: list[str] = []
    candidates += [
        m.get("url", "") for m in _field(entry, "media_content") or [] if _looks_like_image(m)
    ]
    candidates += [m.get("url", "") for m in _field(entry, "media_thumbnail") or []]
    enclosures = [e for e in _field(entry, "links") or [] if e.get("rel") == "enclosure"]
    candidates += [e.get("href", "") for e in enclosures if _looks_like_image(e)]
    for url in candidates:
        if url and url.strip():
            return urljoin(base, url.strip())
    return ""


# --- dates --------------------------------------------------------------------------


def parse_date(raw: str | None, parsed: Any, zone: tzinfo) -> datetime | None:
    """Return an aware UTC datetime from a raw date string (naive values in ``zone``).

    RFC 822 and ISO 8601 strings are parsed here so a missing offset means local
    time in ``zone``; feedparser's UTC-normalised ``parsed`` value is the fallback.
    """
    value = _parse_raw_date(raw.strip()) if raw and raw.strip() else None
    if value is None and parsed:
        try:
            year, month, day, hour, minute, second = parsed[:6]
            return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
        except (TypeError, ValueError):
            return None
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=zone)
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def _parse_raw_date(raw: str) -> datetime | None:
    try:
        return parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        pass
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        return None


# --- entries --------------------------------------------------------------------------


def _guid(entry: Any, url: str, title: str, date: str) -> str:
    guid = str(_field(entry, "id") or "").strip()
    if guid:
        return guid
    if url:
        return url
    if not title and not date:
        return ""
    sha256 = hashlib.sha256(f"{title}\n{date}".encode()).hexdigest()
    return f"sha256:{sha256[:32]}"


def entry_to_article(
    entry: Any, *, source_id: str, section: str, base: str, zone: tzinfo
) -> Article:
    """Turn one feedparser entry into an :class:`Article` (HTML left unsanitized).

    The article belongs to ``source_id`` and ``section``; ``zone`` interprets
    dates without an offset and ``base`` makes relative links absolute.
    """
    link = str(_field(entry, "link") or "").strip()
    url = urljoin(base, link) if link else ""
    title = plain_title(str(_field(entry, "title") or ""))
    published_raw = str(_field(entry, "published") or "")
    updated_raw = str(_field(entry, "updated") or "")
    content = _content_html(entry)
    summary = _summary_html(entry)
    return Article(
        source_id=source_id,
        guid=_guid(entry, url, title, published_raw or updated_raw),
        url=url,
        title=title,
        section_id=section,
        summary_html="" if summary == content else summary,
        content_html=content,
        author=_author(entry),
        categories=_categories(entry),
        published_at=parse_date(published_raw, _field(entry, "published_parsed"), zone),
        updated_at=parse_date(updated_raw, _field(entry, "updated_parsed"), zone),
        image_url=_image_url(entry, base),
    )


def _parse_fast(document: bytes) -> Any | None:
    """feedparser-rs's reading of an RSS 2.0 or Atom 1.0 document; None to use feedparser.

    Declined (feedparser reads it): other formats, anything feedparser-rs finds
    ill-formed or without entries, ``xml:base``, and what the two read
    differently (see :func:`_declined`, authors with addresses, relative GUIDs).
    tests/test_fast_feeds.py holds the two readings equal on every fixture.
    """
    if b"xml:base" in document or _declined(document.lower()):
        return None
    try:
        result = feedparser_rs.parse(document, sanitize_html=False, resolve_relative_uris=False)
    except Exception:  # any refusal simply means: let feedparser read it
        return None
    if result.get("bozo") or result.get("version") not in FAST_VERSIONS:
        return None
    entries = result.get("entries") or []
    if not entries or not all(_plain_entry(entry) for entry in entries):
        return None
    return result if _same_dates(document, result["version"], len(entries)) else None


def _declined(lowered: bytes) -> bool:
    """Whether the lowercased document holds something feedparser reads differently."""
    if any(pattern.search(lowered) for pattern in _DECLINE_RES):
        return True
    for pattern in _UNQUOTED_RES:
        for match in pattern.finditer(lowered):
            before = lowered[match.start() - 1 : match.start()]
            if not (before.isalnum() or before == b"_"):
                return True
    return False


def _same_dates(document: bytes, version: str, entries: int) -> bool:
    """False where feedparser-rs fills ``updated`` from elsewhere, or feedparser reads more."""
    if version == "atom10":  # an entry without <updated> gets its <published> as one
        return document.count(b"<updated") > entries
    return not any(word in document for word in (b"updated", b"modified", b"dc:date"))


def _plain_entry(entry: Any) -> bool:
    """True when nothing in ``entry`` is read differently by feedparser."""
    if not entry.get("link"):  # feedparser-rs blanks links to private addresses; feedparser not
        return False
    links = [*(entry.get("links") or []), *(entry.get("enclosures") or [])]
    media = [*(entry.get("media_content") or []), *(entry.get("media_thumbnail") or [])]
    if any(not x.get("href") for x in links) or any(not m.get("url") for m in media):
        return False
    authors = entry.get("authors") or []
    if any(a.get("email") or not a.get("name") for a in authors):
        return False
    names = [str(a.get("name")) for a in authors] + [str(entry.get("author") or "")]
    return not any(mark in name for name in names for mark in "@(<")


def _detail(detail: Any) -> dict[str, Any]:
    kind = str(detail.get("type") or "text/html") if detail is not None else "text/html"
    return {
        "type": _HTML_TYPES.get(kind, kind),
        "value": str(detail.get("value") or "") if detail is not None else "",
    }


def _html_value(detail: dict[str, Any], base: str) -> dict[str, Any]:
    """``detail`` with the links of its HTML resolved against the feed's address."""
    value = detail["value"]
    if detail["type"] in ("text/html", "application/xhtml+xml") and "<" in value:
        return detail | {"value": absolute_links(value, base)}
    return detail


def _fast_entry(entry: Any, version: str, base: str) -> dict[str, Any]:
    """A feedparser-rs entry as the dict :func:`entry_to_article` reads from feedparser."""
    keys = ("id", "link", "title", "published", "published_parsed", "updated", "updated_parsed",
            "author", "tags", "media_content", "media_thumbnail", "links")  # fmt: skip
    plain: dict[str, Any] = {key: entry.get(key) for key in keys}
    plain["authors"] = [{"name": a.get("name"), "email": a.get("email")}
                        for a in entry.get("authors") or []]  # fmt: skip
    summary = entry.get("summary")
    if summary:
        detail = _html_value(_detail(entry.get("summary_detail")) | {"value": summary}, base)
        plain["summary"], plain["summary_detail"] = detail["value"], detail
    plain["content"] = [_html_value(_detail(c), base) for c in entry.get("content") or []]
    if version == "rss20":  # feedparser-rs copies pubDate; feedparser leaves it out
        plain["updated"] = plain["updated_parsed"] = None
    return plain


def _parse_document(document: bytes, base_url: str | None) -> tuple[Any, bool]:
    """The parsed feed and whether the fast reader read it."""
    fast = _parse_fast(document)
    if fast is not None:
        return fast, True
    import feedparser  # the fallback reader: loaded when a feed first needs it

    headers = {"content-type": "application/xml; charset=utf-8"}
    if base_url:
        headers["content-location"] = base_url
    try:
        return feedparser.parse(
            document, response_headers=headers, resolve_relative_uris=True, sanitize_html=False
        ), False
    except Exception as exc:  # feedparser has no exception tree of its own
        raise SourceError("?", f"feed parser failed: {exc}") from exc


def _check_result(result: Any, source_id: str) -> None:
    entries = result.get("entries") or []
    if not result.get("version") and not entries:
        raise SourceError(source_id, "not an RSS or Atom feed")
    if result.get("bozo") and not entries:
        problem = " ".join(str(result.get("bozo_exception") or "malformed XML").split())
        raise SourceError(source_id, f"malformed feed: {problem}")
    if result.get("bozo"):
        problem = " ".join(str(result.get("bozo_exception") or "").split())
        logger.warning(
            "source %s: feed is not well-formed (%s); using its %d entries",
            source_id,
            problem,
            len(entries),
        )


def _inherit_feed_authors(feed_meta: Any, entries: list[Any]) -> None:
    """Give an Atom entry without authors those of its feed (RFC 4287, 4.2.1).

    feedparser leaves such an entry without any; feedparser-rs already applies the rule.
    """
    authors = feed_meta.get("authors") or []
    if not authors:
        return
    for entry in entries:
        if not entry.get("authors") and not entry.get("author"):
            entry["authors"] = authors


def parse_feed(
    content: bytes,
    *,
    source_id: str,
    section: str,
    zone: tzinfo,
    content_type: str | None = None,
    base_url: str | None = None,
) -> list[Article]:
    """Parse RSS/Atom (or JSON Feed) ``content`` into articles; :class:`SourceError` if no feed.

    Articles belong to ``source_id`` and ``section``; ``zone`` interprets dates
    without an offset; ``base_url`` (the feed's address) makes relative links absolute.
    """
    if not content or not content.strip():
        raise SourceError(source_id, "not an RSS or Atom feed (empty response)")
    if is_json_feed(content, content_type):
        return parse_json_feed(
            content, source_id=source_id, section=section, zone=zone,
            content_type=content_type, base_url=base_url,
        )  # fmt: skip
    text = decode_feed(content, content_type)
    check_xml_safety(text, source_id)
    document = to_utf8_document(text)
    check_xml_parse(document, source_id)
    http_base = base_url if base_url and urlsplit(base_url).scheme in WEB_SCHEMES else None
    try:
        result, fast = _parse_document(document, http_base)
    except SourceError as exc:
        raise SourceError(source_id, exc.message) from exc
    _check_result(result, source_id)
    base = http_base or str(result.get("feed", {}).get("link") or "")
    entries = result.get("entries", [])
    if fast:
        entries = [_fast_entry(entry, result["version"], http_base or "") for entry in entries]
    elif str(result.get("version") or "").startswith("atom"):
        _inherit_feed_authors(result.get("feed") or {}, entries)
    return [
        entry_to_article(entry, source_id=source_id, section=section, base=base, zone=zone)
        for entry in entries
    ]


def read_feed_source(source: FeedSource, ctx: SourceContext) -> SourceResult:
    """Retrieve an RSS/Atom feed (conditionally) and parse it into articles."""
    collect = ctx.config.collect
    with host_gate(source.location, collect.host_delay, collect.host_concurrency).slot():
        got = retrieve(
            source.location,
            state=ctx.state,
            timeout=collect.timeout,
            user_agent=collect.user_agent,
            max_bytes=collect.max_bytes,
            client=ctx.client,
        )
    state = replace(ctx.state, etag=got.etag, last_modified=got.last_modified)
    if got.moved_to:
        state = replace(state, location=got.moved_to)
    if got.not_modified or got.content is None:
        return SourceResult([], state, not_modified=True)
    articles = parse_feed(
        got.content,
        source_id=source.id,
        section=source.section,
        zone=ctx.zone(source),
        content_type=got.content_type,
        base_url=got.final_url,
    )
    if source.fulltext:
        return _with_fulltext(source, replace(ctx, state=state), articles)
    return SourceResult(articles, state)


def _with_fulltext(source: FeedSource, ctx: SourceContext, articles: list[Article]) -> SourceResult:
    """Complete summary-only feed items from their linked pages (GUID and public id kept)."""
    from syndicate.sources.page import (  # the page extractor only when a feed asks for it
        PageJob,
        PageLink,
        fetch_pages,
        may_follow,
        merged_state,
        needs_fulltext,
    )

    origin = source.location
    wanted = [a for a in articles if may_follow(a.url, origin) and needs_fulltext(a)]
    wanted = wanted[: source.pages.limit]
    links = [PageLink(a.url, guid=a.guid, title=a.title, base=a) for a in wanted]
    batch = fetch_pages(PageJob.of(source, ctx), ctx, links)
    completed = {a.guid: a for a in batch.articles}
    kept = [completed.get(a.guid, a) for a in articles if a not in wanted or a.guid in completed]
    return SourceResult(kept, merged_state(ctx.state, batch))
