"""Make untrusted HTML safe for feeds and e-mail, and turn HTML into plain text.

* :func:`clean_html` keeps a conservative allow-list of tags (nh3), drops
  scripts and styles with their content, keeps only http/https/mailto URLs and
  makes relative URLs absolute against the article's address.
* :func:`html_to_text` renders readable plain text (one paragraph or list item
  per line).
* :func:`truncate` shortens text at a word boundary without ever splitting a
  character from its combining marks.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import nh3

logger = logging.getLogger(__name__)

ALLOWED_TAGS = frozenset(
    {
        "p", "br", "a", "strong", "b", "em", "i", "u", "s", "blockquote",
        "ul", "ol", "li", "h2", "h3", "h4", "h5", "h6", "figure", "figcaption",
        "img", "table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption",
        "pre", "code", "sub", "sup", "hr", "span", "div",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height"},
    "th": {"colspan", "rowspan"},
    "td": {"colspan", "rowspan"},
}
DROP_WITH_CONTENT = frozenset(
    {"script", "style", "iframe", "noscript", "template", "object", "embed", "frameset"}
)
URL_SCHEMES = frozenset({"http", "https", "mailto"})

_BLOCK_BREAK = "\x00P"  # paragraph break marker (blank line)
_LINE_BREAK = "\x00L"  # line break marker
_PARAGRAPH_TAGS = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "figure", "table",
     "ul", "ol", "dl", "hr", "section", "article", "header", "footer", "aside", "address"}
)  # fmt: skip
_LINE_TAGS = frozenset({"li", "tr", "div", "dt", "dd", "figcaption", "caption", "main", "nav"})
_SKIP_TAGS = frozenset({"script", "style", "head", "title", "noscript", "template"})
_HTML_TAGS = frozenset(
    re.split(
        r"\s+",
        "a abbr acronym address area article aside audio b base bdi bdo big blink blockquote body "
        "br button canvas caption center cite code col colgroup data datalist dd del details dfn "
        "dialog dir div dl dt em embed fieldset figcaption figure font footer form frame frameset "
        "h1 h2 h3 h4 h5 h6 head header hgroup hr html i iframe img input ins kbd label legend li "
        "link main map mark marquee menu meta meter nav nobr noembed noframes noscript object ol "
        "optgroup option output p param picture pre progress q rp rt ruby s samp script search "
        "section select small source span strike strong style sub summary sup svg table tbody td "
        "template textarea tfoot th thead time title tr track tt u ul var video wbr math",
    )
)
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_EMPTY_IMG_RE = re.compile(r"<img(?![^>]*\ssrc=)[^>]*>")
_MARKERS_RE = re.compile(r"(?:\x00[PL][ \t]*)+")
_JOINERS = frozenset({"\u200d", "\u034f"})


def _is_http(url: str | None) -> bool:
    if not url:
        return False
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def clean_html(html: str, base_url: str | None = None) -> str:
    """Return ``html`` sanitized for feeds and e-mail.

    Relative URLs are resolved against ``base_url`` when it is an http(s) URL and
    dropped otherwise; links get ``rel="noopener noreferrer"``.
    """
    if not html or not html.strip():
        return ""
    relative: Any = ("rewrite_with_base", base_url) if _is_http(base_url) else "deny"
    cleaned: str = nh3.clean(
        _CONTROL_RE.sub("", html),
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROP_WITH_CONTENT),
        attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer",
        strip_comments=True,
        url_relative=relative,
    )
    return _EMPTY_IMG_RE.sub("", cleaned).strip()


class _TextExtractor(HTMLParser):
    """Collect text with paragraph/line markers from an HTML fragment."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.pre = 0
        self.lists: list[int] = []  # -1 for <ul>, else the last <ol> number
        self.cells = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self.skip += 1
        elif self.skip:
            return
        elif tag == "br":
            self.out.append("\n")
        elif tag not in _HTML_TAGS and "-" not in tag and ":" not in tag:
            self.handle_data(self.get_starttag_text() or "")  # "<HBM>" is text, not a tag
        else:
            self._open(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _SKIP_TAGS:
            self.handle_starttag(tag, attrs)

    def _open(self, tag: str) -> None:
        self.out.append(_marker(tag))
        self.pre += tag == "pre"
        if tag in ("ul", "ol"):
            self.lists.append(0 if tag == "ol" else -1)
        elif tag == "li":
            self._bullet()
        elif tag == "tr":
            self.cells = 0
        elif tag in ("td", "th"):
            self.out.append(" | " if self.cells else "")
            self.cells += 1

    def _bullet(self) -> None:
        if self.lists and self.lists[-1] >= 0:
            self.lists[-1] += 1
            self.out.append(f"{self.lists[-1]}. ")
        else:
            self.out.append("- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self.skip = max(0, self.skip - 1)
            return
        if self.skip:
            return
        if tag not in _HTML_TAGS and "-" not in tag and ":" not in tag:
            self.handle_data(f"</{tag}>")
            return
        if tag in ("ul", "ol") and self.lists:
            self.lists.pop()
        if tag == "pre":
            self.pre = max(0, self.pre - 1)
        self.out.append(_marker(tag))

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.pre:
            self.out.append(data.replace("\r\n", "\n").replace("\n", _LINE_BREAK))
        else:
            self.out.append(re.sub(r"\s+", " ", data))


def _marker(tag: str) -> str:
    if tag in _PARAGRAPH_TAGS:
        return _BLOCK_BREAK
    return _LINE_BREAK if tag in _LINE_TAGS else ""


def _breaks(match: re.Match[str]) -> str:
    return "\n\n" if _BLOCK_BREAK in match.group(0) else "\n"


def _assemble(chunks: list[str]) -> str:
    text = "".join(chunks).replace("\xa0", " ")
    text = _MARKERS_RE.sub(_breaks, text)
    lines = [re.sub(r"[ \t\f\v]+", " ", line).strip() for line in text.split("\n")]
    joined = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", joined).strip()


def html_to_text(html: str) -> str:
    """Return readable plain text for ``html``: blocks and list items on their own lines."""
    if not html or not html.strip():
        return ""
    parser = _TextExtractor()
    parser.feed(_CONTROL_RE.sub("", html))
    parser.close()
    return _assemble(parser.out)


def plain_title(text: str) -> str:
    """Return ``text`` as a one-line plain title: tags stripped, entities decoded."""
    if not text:
        return ""
    if "<" in text or "&" in text:
        text = html_to_text(text)
    return " ".join(text.split())


def _joins_previous(char: str) -> bool:
    """True when ``char`` belongs to the character before it (so never cut before it)."""
    code = ord(char)
    return (
        unicodedata.combining(char) != 0
        or unicodedata.category(char) in ("Mn", "Me", "Mc")
        or char in _JOINERS
        or 0xFE00 <= code <= 0xFE0F  # variation selectors
        or 0xE0100 <= code <= 0xE01EF
        or 0x1F3FB <= code <= 0x1F3FF  # skin tone modifiers
        or 0x1160 <= code <= 0x11FF  # Hangul jungseong / jongseong jamo
        or 0xD7B0 <= code <= 0xD7FF
        or 0xDC00 <= code <= 0xDFFF  # low surrogate
        or 0xE0020 <= code <= 0xE007F  # emoji tag sequences
    )


def _safe_cut(text: str, cut: int) -> int:
    """Move ``cut`` left until it does not split a character sequence."""
    while 0 < cut < len(text) and (_joins_previous(text[cut]) or text[cut - 1] in _JOINERS):
        cut -= 1
    return cut


def truncate(text: str, limit: int, ellipsis: str = "…") -> str:
    """Shorten ``text`` to at most ``limit`` characters (ellipsis included).

    The cut is made at a word boundary when one is near, and never between a
    character and its combining marks, joiners or Hangul jamo.
    """
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    if limit <= len(ellipsis):
        return text[: _safe_cut(text, limit)]
    cut = _safe_cut(text, limit - len(ellipsis))
    space = max(text.rfind(" ", 0, cut + 1), text.rfind("\n", 0, cut + 1))
    if space > 0 and cut - space <= max(10, cut // 5):
        cut = space
    head = text[:cut].rstrip(" \t\n,;:·-")
    return (head or text[:cut]) + ellipsis
