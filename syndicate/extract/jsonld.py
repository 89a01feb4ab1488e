"""The JSON-LD a news page embeds: its article object and its breadcrumb trail.

Broken blocks (trailing commas, raw newlines in strings, several objects in one
script) are common on Korean sites; each block is read leniently and a block
that still cannot be read is skipped.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from lxml import html as lxml_html

logger = logging.getLogger(__name__)

__all__ = ["LinkedData", "read_linked_data", "texts"]

ARTICLE_TYPES = frozenset(
    {"newsarticle", "article", "reportagenewsarticle", "analysisnewsarticle", "blogposting",
     "opinionnewsarticle", "reviewnewsarticle", "backgroundnewsarticle", "socialmediaposting",
     "liveblogposting", "scholarlyarticle", "techarticle", "report", "videoobject"}
)  # fmt: skip
_MAX_NODES = 2000


@dataclass
class LinkedData:
    """The article object (empty if none) and breadcrumb names from a page's JSON-LD."""

    article: dict[str, Any] = field(default_factory=dict)
    crumbs: list[str] = field(default_factory=list)
    publisher_names: list[str] = field(default_factory=list)


def _types(node: dict[str, Any]) -> set[str]:
    kind = node.get("@type")
    values = kind if isinstance(kind, list) else [kind]
    return {str(v).lower().rsplit("/", 1)[-1] for v in values if v}


def _load(text: str) -> Any:
    text = text.strip().removeprefix("<!--").removesuffix("-->").strip()
    try:
        return json.loads(text, strict=False)
    except ValueError:
        pass
    repaired = re.sub(r",\s*([}\]])", r"\1", text)
    try:
        return json.loads(repaired, strict=False)
    except ValueError:
        return json.loads("[" + re.sub(r"}\s*{", "},{", repaired) + "]", strict=False)


def _nodes(data: Any) -> list[tuple[dict[str, Any], bool]]:
    """Every dict in ``data`` (depth first) and whether it sits inside a list of items
    (related articles), capped so a huge block cannot stall us."""
    found: list[tuple[dict[str, Any], bool]] = []
    stack: list[tuple[Any, bool]] = [(data, False)]
    while stack and len(found) < _MAX_NODES:
        item, listed = stack.pop()
        if isinstance(item, dict):
            found.append((item, listed))
            inner = listed or "itemlist" in _types(item)
            stack.extend((value, inner) for value in reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend((value, listed) for value in reversed(item))
    return found


def _rank(node: dict[str, Any], listed: bool) -> tuple[bool, bool, bool]:
    """Lower is better: the page's own article before one in a list, a video, or one
    without a headline."""
    kinds = _types(node)
    return listed, kinds <= {"videoobject"}, not node.get("headline")


def texts(value: Any) -> list[str]:
    """Plain strings in a JSON-LD value: a string, a list, or objects with ``name``."""
    if isinstance(value, str):
        return [value.strip()] if value.strip() else []
    if isinstance(value, list):
        return [t for item in value for t in texts(item)]
    if isinstance(value, dict):
        return texts(value.get("name") or value.get("@value") or "")
    return []


def _position(item: dict[str, Any]) -> int:
    position = item.get("position")
    return position if isinstance(position, int) else 0


def _crumbs(node: dict[str, Any]) -> list[str]:
    items = node.get("itemListElement")
    if not isinstance(items, list):
        return []
    ordered = sorted((i for i in items if isinstance(i, dict)), key=_position)
    names = []
    for item in ordered:
        inner = item.get("item")
        name = texts(item.get("name")) or (texts(inner) if isinstance(inner, dict) else [])
        names += name[:1]
    return names


def read_linked_data(tree: lxml_html.HtmlElement) -> LinkedData:
    """Collect the page's article object and the breadcrumb trail from ``tree``.

    The article is the first article-like object, preferring one not inside an
    item list (related articles), not a bare video, and with a headline.
    """
    found = LinkedData()
    best: tuple[bool, bool, bool] | None = None
    for script in tree.xpath('//script[contains(translate(@type,"LDJSON","ldjson"),"ld+json")]'):
        try:
            data = _load(script.text_content() or "")
        except ValueError:
            logger.debug("skipping a JSON-LD block that cannot be read")
            continue
        for node, listed in _nodes(data):
            kinds = _types(node)
            if kinds & ARTICLE_TYPES and (best is None or _rank(node, listed) < best):
                found.article, best = node, _rank(node, listed)
            elif "breadcrumblist" in kinds and not found.crumbs:
                found.crumbs = _crumbs(node)
            elif kinds & {"organization", "newsmediaorganization"}:
                found.publisher_names += texts(node.get("name"))
    return found
