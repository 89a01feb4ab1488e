"""Decode page bytes and parse them into an lxml HTML tree.

The encoding is decided by evidence, as for feeds and local files
(:mod:`syndicate.textcodec`): a byte-order mark, the HTTP charset, the page's
``<meta charset>`` / ``http-equiv`` declaration, then UTF-8 (a stray byte
repaired), CP949 (EUC-KR's superset) when the bytes look Korean, then a detector.
"""

from __future__ import annotations

import re

from lxml import etree
from lxml import html as lxml_html

from syndicate.errors import ExtractError
from syndicate.textcodec import decode_bytes, http_charset

__all__ = ["decode_page", "parse_page"]

_META_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)


def decode_page(content: bytes, content_type: str | None = None) -> str:
    """Return the page's text, decoded by evidence (:func:`syndicate.textcodec.decode_bytes`):
    a byte-order mark, the HTTP charset, then the page's ``<meta charset>`` declaration,
    each only when the bytes decode with it, then UTF-8, CP949 when the bytes look Korean,
    and a detector."""
    declared = _META_CHARSET_RE.search(content[:8192])
    labels = [http_charset(content_type), declared.group(1).decode() if declared else None]
    return decode_bytes(content, labels).text


def parse_page(text: str, where: str) -> lxml_html.HtmlElement:
    """Parse page text into an HTML tree; raise :class:`ExtractError` if it is not HTML."""
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text.lstrip("\ufeff"))
    if not text.strip():
        raise ExtractError(f"{where}: the page is empty")
    try:
        # huge_tree: past depth 256 (unclosed <font>/<b> on old sites) libxml2 would
        # otherwise drop the rest of the page, article included; size is capped upstream.
        parser = lxml_html.HTMLParser(huge_tree=True)
        tree = lxml_html.document_fromstring(text, parser=parser)
    except (etree.ParserError, ValueError) as exc:
        raise ExtractError(f"{where}: not an HTML page ({exc})") from exc
    if not isinstance(tree, lxml_html.HtmlElement):
        raise ExtractError(f"{where}: not an HTML page")
    return tree
