"""One parsed page and the small lookups every extractor shares (meta tags, text, hiding)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import tzinfo
from functools import cached_property
from typing import Any

from lxml import html as lxml_html

from syndicate.extract.jsonld import LinkedData, read_linked_data

__all__ = ["Page", "class_tokens", "node_lines", "node_text", "text_pieces"]

_HIDDEN_STYLE_RE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_HIDDEN_CLASSES = frozenset({"blind", "hidden", "hide", "sr-only", "screen_out", "visually-hidden",
                             "skip", "offscreen", "is-hidden", "a11y", "ir"})  # fmt: skip
_MAX_TEXT = 400_000
_SKIP = frozenset({"script", "style", "noscript", "template", "head", "title"})
_BLOCKS = frozenset(
    {
        "p",
        "div",
        "li",
        "ul",
        "ol",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "table",
        "tr",
        "td",
        "th",
        "dd",
        "dt",
        "dl",
        "blockquote",
        "figure",
        "figcaption",
        "section",
        "article",
        "header",
        "footer",
        "aside",
        "nav",
        "pre",
        "hr",
    }
)


def class_tokens(node: lxml_html.HtmlElement) -> list[str]:
    """The lowercase class names and id of ``node``."""
    classes = str(node.get("class") or "").lower().split()
    ident = str(node.get("id") or "").lower()
    return [*classes, ident] if ident else classes


def text_pieces(node: lxml_html.HtmlElement) -> Iterator[str]:
    """The text of ``node`` in document order, ``"\n"`` at ``<br>`` and block boundaries."""
    stack: list[tuple[lxml_html.HtmlElement, bool]] = [(node, False)]
    while stack:
        item, closing = stack.pop()
        tail = item.tail if item is not node and item.tail else ""
        skip = item is not node and item.tag in _SKIP
        if closing or not isinstance(item.tag, str) or skip:
            if closing and item.tag in _BLOCKS:
                yield "\n"
            if tail:
                yield tail
            continue
        if item.tag in _BLOCKS or item.tag == "br":
            yield "\n"
        if item.text:
            yield item.text
        stack.append((item, True))
        stack.extend((child, False) for child in reversed(item))


def node_text(node: lxml_html.HtmlElement) -> str:
    """The text of ``node`` on one line (scripts and styles left out)."""
    return " ".join("".join(text_pieces(node)).split())


def node_lines(node: lxml_html.HtmlElement) -> list[str]:
    """The text of ``node`` split at ``<br>`` and block boundaries, one entry per line."""
    text = "".join(text_pieces(node))
    return [" ".join(line.split()) for line in text.split("\n") if line.strip()]


@dataclass
class Page:
    """A parsed page: its tree, address, timezone, meta tags and JSON-LD."""

    tree: lxml_html.HtmlElement
    url: str
    zone: tzinfo
    meta: dict[str, list[str]] = field(default_factory=dict)
    linked: LinkedData = field(default_factory=LinkedData)
    memo: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, tree: lxml_html.HtmlElement, url: str, zone: tzinfo) -> Page:
        """Index the meta tags and JSON-LD of ``tree``."""
        meta: dict[str, list[str]] = {}
        for node in tree.iter("meta"):
            key = node.get("property") or node.get("name") or node.get("itemprop")
            value = node.get("content")
            if key and value is not None:
                meta.setdefault(key.strip().lower(), []).append(value.strip())
        return cls(tree, url, zone, meta, read_linked_data(tree))

    def meta_all(self, *keys: str) -> list[str]:
        """Values of the meta tags named ``keys``, in the order of ``keys``."""
        return [value for key in keys for value in self.meta.get(key, []) if value]

    @cached_property
    def full_text(self) -> str:
        """The visible text of the whole page on one line (capped)."""
        body = self.tree.find("body")
        return node_text(body if body is not None else self.tree)[:_MAX_TEXT]

    def header_text(self) -> str:
        """Text searched for printed dates (``입력 2023.06.09 11:35``): the whole page."""
        return self.full_text

    def hidden(self, node: lxml_html.HtmlElement) -> bool:
        """True when ``node`` or an ancestor is hidden by style, ``hidden`` or a blind class."""
        for item in (node, *node.iterancestors()):
            if item.get("hidden") is not None or item.get("aria-hidden") == "true":
                return True
            if _HIDDEN_STYLE_RE.search(item.get("style") or ""):
                return True
            if _HIDDEN_CLASSES & set(class_tokens(item)):
                return True
        return False

    def lines(self, node: lxml_html.HtmlElement) -> list[str]:
        """The text of ``node`` split at ``<br>`` and block boundaries, one entry per line."""
        return node_lines(node)
