"""Decode page bytes and parse them into an lxml HTML tree.

The encoding is taken from, in order: a byte-order mark, the HTTP charset, the
page's ``<meta charset>`` / ``http-equiv`` declaration, then strict UTF-8, then
CP949 (a superset of EUC-KR, which many Korean sites still serve), then a
guess by charset-normalizer.
"""

from __future__ import annotations

import codecs
import re
from email.message import Message

import charset_normalizer
from lxml import etree
from lxml import html as lxml_html

from syndicate.errors import ExtractError

__all__ = ["decode_page", "parse_page"]

_KOREAN = frozenset(
    {"euc-kr", "euckr", "euc_kr", "ks_c_5601-1987", "ks_c_5601", "ksc5601", "ksc_5601",
     "x-windows-949", "windows-949", "cp949", "ms949", "uhc", "korean", "x-euc-kr"}
)  # fmt: skip
_META_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))  # fmt: skip


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    if name in _KOREAN:
        return "cp949"
    if name in ("iso-8859-1", "latin1", "latin-1", "us-ascii", "ascii"):
        return "cp1252"
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _http_charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    message = Message()
    message["content-type"] = content_type
    charset = message.get_param("charset")
    return charset if isinstance(charset, str) else None


def decode_page(content: bytes, content_type: str | None = None) -> str:
    """Return the page's text, decoded as described in the module docstring."""
    for bom, codec in _BOMS:
        if content.startswith(bom):
            return content.decode(codec, errors="replace")
    declared = _META_CHARSET_RE.search(content[:8192])
    labels = [_http_charset(content_type), declared.group(1).decode() if declared else None]
    candidates = [_codec(label) for label in labels] + ["utf-8", "cp949"]
    for codec in dict.fromkeys(c for c in candidates if c):
        try:
            return content.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
    best = charset_normalizer.from_bytes(content[:200_000]).best()
    if best is not None:
        return content.decode(best.encoding, errors="replace")
    return content.decode("utf-8", errors="replace")


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
