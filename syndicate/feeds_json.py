"""Write a feed as JSON Feed 1.1 (https://jsonfeed.org/version/1.1), which feedgen does not.

The items carry the same fields as the RSS and Atom entries
(:func:`syndicate.feeds.entry_fields`): the public id, permalink, title, the
sanitized HTML content, the summary as plain text, lead image, times in the
configured zone (RFC 3339), authors and tags (section name first). The feed
names itself (``feed_url``) at the URL it is served at and lists the WebSub
hubs of the configuration. Output is deterministic, like the XML feeds.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from syndicate.errors import one_line
from syndicate.feeds import LANGUAGE, FeedSpec, entry_fields, image_type
from syndicate.sanitize import html_to_text, xml_text

if TYPE_CHECKING:
    from syndicate.config import Config
    from syndicate.feeds import EntryFields
    from syndicate.model import Article

VERSION_URL = "https://jsonfeed.org/version/1.1"
SUMMARY_CHARS = 500


def json_item(fields: EntryFields) -> dict[str, Any]:
    """One JSON Feed item (``content_html`` always present: JSON Feed needs some content)."""
    item: dict[str, Any] = {"id": fields.id}
    if fields.url:
        item["url"] = fields.url
    item["title"] = fields.title
    content = fields.content_html or fields.summary_html or f"<p>{html.escape(fields.title)}</p>"
    item["content_html"] = content
    summary = one_line(html_to_text(fields.summary_html), SUMMARY_CHARS)
    if summary:
        item["summary"] = summary
    if fields.image:
        item["image"] = fields.image
        item["attachments"] = [{"url": fields.image, "mime_type": image_type(fields.image)}]
    item["date_published"] = fields.published.isoformat()
    item["date_modified"] = fields.updated.isoformat()
    if fields.author:
        item["authors"] = [{"name": fields.author}]
    if fields.categories:
        item["tags"] = list(fields.categories)
    item["language"] = LANGUAGE
    return item


def json_top(config: Config, spec: FeedSpec) -> dict[str, Any]:
    """The top-level members of the feed, without ``items``."""
    top: dict[str, Any] = {
        "version": VERSION_URL,
        "title": one_line(xml_text(spec.title)),
        "home_page_url": config.public_base_url,
        "feed_url": spec.self_url(config),
        "description": one_line(xml_text(spec.description)),
        "authors": [{"name": one_line(xml_text(config.feeds.title))}],
        "language": LANGUAGE,
    }
    if config.feeds.hubs:
        top["hubs"] = [{"type": "WebSub", "url": hub} for hub in config.feeds.hubs]
    return top


def render_json_feed(config: Config, spec: FeedSpec, articles: Sequence[Article]) -> bytes:
    """The feed ``spec`` of ``articles`` (already chosen and ordered) as JSON Feed 1.1 bytes."""
    document = json_top(config, spec)
    document["items"] = [json_item(entry_fields(config, article)) for article in articles]
    text = json.dumps(document, ensure_ascii=False, indent=2)
    return text.encode("utf-8") + b"\n"
