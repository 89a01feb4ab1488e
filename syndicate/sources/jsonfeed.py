"""Parse JSON Feed 1.0 and 1.1 (https://jsonfeed.org/version/1.1) into articles.

feedparser reads no JSON, so a feed source whose answer is JSON (a JSON content
type, or a body that starts with ``{``) is parsed here with the standard
``json`` module. Items become :class:`~syndicate.model.Article` objects with
their HTML left as the publisher wrote it: collect sanitizes every source's
articles the same way. ``content_text`` and the plain-text ``summary`` are
escaped into paragraphs. Bad JSON or a document that is no JSON Feed is one
:class:`~syndicate.errors.SourceError` line naming the source and the place.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
from datetime import UTC, datetime, tzinfo
from typing import Any
from urllib.parse import urljoin

from syndicate.errors import SourceError, one_line
from syndicate.model import Article
from syndicate.sanitize import plain_title
from syndicate.textcodec import decode_bytes, http_charset

logger = logging.getLogger(__name__)

VERSION_PREFIX = "https://jsonfeed.org/version/"
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


def is_json_feed(content: bytes, content_type: str | None = None) -> bool:
    """True when the answer is JSON: a ``json`` media type, or a body starting with ``{``."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media.endswith(("/json", "+json")):
        return True
    head = content[:64]
    for bom in _BOMS:
        head = head.removeprefix(bom)
    return head.lstrip(b" \t\r\n\x00").startswith(b"{")


def load_document(content: bytes, source_id: str, content_type: str | None) -> Any:
    """The parsed JSON value; a :class:`SourceError` line for text that is not JSON."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = decode_bytes(content, [http_charset(content_type)]).text
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(
            source_id, f"malformed JSON Feed: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except (RecursionError, ValueError) as exc:
        raise SourceError(source_id, f"malformed JSON Feed: {one_line(str(exc), 200)}") from None


def check_document(document: Any, source_id: str) -> list[Any]:
    """The ``items`` of a JSON Feed document; a :class:`SourceError` when it is none."""
    if not isinstance(document, dict):
        raise SourceError(source_id, "not a JSON Feed (the document is not a JSON object)")
    version = document.get("version")
    if not isinstance(version, str) or not version.startswith(VERSION_PREFIX):
        raise SourceError(
            source_id, f"not a JSON Feed (version {version!r} is not {VERSION_PREFIX}1 or 1.1)"
        )
    items = document.get("items")
    if not isinstance(items, list):
        raise SourceError(source_id, "not a JSON Feed ('items' is missing or not a list)")
    return items


def _text(value: Any) -> str:
    """A string member, stripped; anything else is empty."""
    return value.strip() if isinstance(value, str) else ""


def _paragraphs(text: str) -> str:
    """Plain text as escaped HTML paragraphs (blank lines separate them)."""
    blocks = [" ".join(block.split()) for block in text.split("\n\n")]
    return "".join(f"<p>{html.escape(block)}</p>" for block in blocks if block)


def parse_date(value: Any, zone: tzinfo) -> datetime | None:
    """An RFC 3339 date as aware UTC (no offset: local time in ``zone``); None when invalid."""
    raw = _text(value)
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def _authors(item: dict[str, Any], feed: dict[str, Any]) -> str:
    """The item's author names (1.1 ``authors``, 1.0 ``author``), else the feed's."""
    for holder in (item, feed):
        people = holder.get("authors")
        if not isinstance(people, list):
            people = [holder.get("author")]
        names = [_text(p.get("name")) for p in people if isinstance(p, dict)]
        if any(names):
            return ", ".join(name for name in names if name)
    return ""


def _image(item: dict[str, Any], base: str) -> str:
    """The item's main image: ``image``, ``banner_image``, else an image attachment."""
    for key in ("image", "banner_image"):
        if _text(item.get(key)):
            return urljoin(base, _text(item.get(key)))
    attachments = item.get("attachments")
    for attachment in attachments if isinstance(attachments, list) else []:
        if isinstance(attachment, dict) and _text(attachment.get("mime_type")).startswith("image/"):
            return urljoin(base, _text(attachment.get("url")))
    return ""


def _guid(item: dict[str, Any], url: str, title: str, date: str) -> str:
    """The item's ``id`` (a number is allowed in 1.0), else its URL, else a hash."""
    raw = item.get("id")
    guid = str(raw).strip() if isinstance(raw, (str, int)) and not isinstance(raw, bool) else ""
    if guid or url:
        return guid or url
    if not title and not date:
        return ""
    return "sha256:" + hashlib.sha256(f"{title}\n{date}".encode()).hexdigest()[:32]


def item_to_article(
    item: dict[str, Any], feed: dict[str, Any], *, source_id: str, section: str, base: str,
    zone: tzinfo,
) -> Article:  # fmt: skip
    """One JSON Feed item as an :class:`Article` (HTML left for collect to sanitize)."""
    link = _text(item.get("url")) or _text(item.get("external_url"))
    url = urljoin(base, link) if link else ""
    title = plain_title(_text(item.get("title")))
    content = _text(item.get("content_html")) or _paragraphs(_text(item.get("content_text")))
    summary = _paragraphs(_text(item.get("summary")))
    tags = item.get("tags")
    published = _text(item.get("date_published"))
    return Article(
        source_id=source_id,
        guid=_guid(item, url, title, published),
        url=url,
        title=title,
        section_id=section,
        summary_html="" if summary == content else summary,
        content_html=content,
        author=_authors(item, feed),
        categories=tuple(_text(t) for t in tags if _text(t)) if isinstance(tags, list) else (),
        published_at=parse_date(published, zone),
        updated_at=parse_date(item.get("date_modified"), zone),
        image_url=_image(item, base),
    )


def parse_json_feed(
    content: bytes,
    *,
    source_id: str,
    section: str,
    zone: tzinfo,
    content_type: str | None = None,
    base_url: str | None = None,
) -> list[Article]:
    """Parse JSON Feed ``content`` into articles; raise :class:`SourceError` if it is none.

    Items that are not JSON objects are skipped with a warning naming the source.
    """
    document = load_document(content, source_id, content_type)
    items = check_document(document, source_id)
    base = base_url or _text(document.get("feed_url")) or _text(document.get("home_page_url"))
    objects = [item for item in items if isinstance(item, dict)]
    if len(objects) < len(items):
        logger.warning(
            "source %s: %d JSON Feed items are not objects; skipped",
            source_id, len(items) - len(objects),
        )  # fmt: skip
    return [
        item_to_article(item, document, source_id=source_id, section=section, base=base, zone=zone)
        for item in objects
    ]
