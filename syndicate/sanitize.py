"""Make untrusted HTML safe for feeds and e-mail, and turn HTML into plain text.

* :func:`clean_html` keeps a conservative allow-list of tags (nh3), drops
  scripts and styles with their content, keeps only http/https/mailto URLs and
  makes relative URLs absolute against the article's address.
* :func:`html_to_text` renders readable plain text (one paragraph or list item
  per line).
* :func:`truncate` shortens text at a word boundary without ever splitting a
  grapheme cluster (a flag, a ZWJ emoji, jamo, a character and its marks).
* :func:`xml_text` removes what XML 1.0 (and so the store, lxml, feedgen and
  e-mail) cannot carry; :func:`safe_link` is the one test for a link that may
  be published (http/https only, see :data:`syndicate.WEB_SCHEMES`).

Untrusted HTML is read by one linear tokenizer (:func:`syndicate.htmltokens.tokens`): Python's
``html.parser`` and html5 tree builders are quadratic on some inputs, so
:func:`html_to_text` consumes these tokens, and :func:`clean_html` first
rebuilds the markup balanced and at most :data:`MAX_DEPTH` elements deep
(:func:`balance_html`) before nh3 sees it.
"""

from __future__ import annotations

import html as htmllib
import logging
import re
from collections import Counter
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import nh3
import regex

from syndicate import WEB_SCHEMES
from syndicate.htmltokens import RAW_TEXT, VOID, Token, attribute_values, tokens

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
# The schemes kept in href/src inside sanitized HTML: the web schemes plus mailto.
_HTML_URL_SCHEMES = WEB_SCHEMES | {"mailto"}
# Elements nested deeper than this are flattened (their text is kept).
MAX_DEPTH = 64

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
# Characters XML 1.0 forbids (C0 controls except tab/LF/CR, U+FFFE/U+FFFF) plus DEL and
# the C1 controls, which XML allows but readers choke on; surrogates are handled apart.
_NON_XML_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
_URL_STRIPPED_RE = re.compile("[\t\n\r]")  # browsers drop these anywhere in a URL
_EMPTY_IMG_RE = re.compile(r"<img(?![^>]*\ssrc=)[^>]*>")
_MARKERS_RE = re.compile(r"(?:\x00[PL][ \t]*)+")
_GRAPHEME = regex.compile(r"\X")
_REGIONAL = regex.compile(r"\p{Regional_Indicator}")
_LAST_NON_REGIONAL = regex.compile(r"(?r)\P{Regional_Indicator}")
_CONTEXTUAL = regex.compile(r"[\p{Extended_Pictographic}\p{InCB=Consonant}]")
_JOINING = regex.compile(r"[\p{GCB=Extend}\p{GCB=ZWJ}]")
# the last character that could start a cluster (marks and joiners never do)
_LAST_CANDIDATE = regex.compile(r"(?r)[^\p{GCB=Extend}\p{GCB=ZWJ}\p{GCB=SpacingMark}]")
_START_SEARCH = 4096


def xml_text(text: str) -> str:
    """Return ``text`` without what XML 1.0 cannot carry.

    Surrogate pairs are joined into the character they encode; lone surrogates,
    C0 controls other than tab/LF/CR, DEL, C1 controls and U+FFFE/U+FFFF are removed.
    """
    if _SURROGATE_RE.search(text):
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "ignore")
        text = _SURROGATE_RE.sub("", text)
    return _NON_XML_RE.sub("", text)


# ASCII characters that may not stand raw in a URL (RFC 3986); percent-encoded so
# a link can never close an attribute or open a tag wherever it is pasted.
_URL_UNSAFE = str.maketrans({c: f"%{ord(c):02X}" for c in ' "<>\\^`{|}'})
# Bidirectional embeddings, overrides and isolates: they reorder the text around
# them (a title can show a spoofed file name or link), so plain text drops them.
_BIDI_CONTROLS_RE = re.compile("[\u202a-\u202e\u2066-\u2069]")


def safe_link(url: str, base_url: str | None = None) -> str:
    """Return ``url`` if it is an absolute http(s) URL, else ``""``.

    Relative URLs are resolved against ``base_url`` when that is http(s). Tabs,
    newlines and control characters are removed first, as browsers do, so
    ``java\tscript:`` or `` JaVaScRiPt:`` are recognised and refused.
    """
    text = _URL_STRIPPED_RE.sub("", xml_text(url)).strip()
    if not text:
        return ""
    try:
        if base_url and _is_http(base_url):
            text = urljoin(base_url, text)
        parts = urlsplit(text)
    except ValueError:
        return ""
    if parts.scheme.lower() not in WEB_SCHEMES or not parts.netloc:
        return ""
    return text.translate(_URL_UNSAFE)


def _is_http(url: str | None) -> bool:
    if not url:
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in WEB_SCHEMES and bool(parts.netloc)


# nh3's arguments built once (nh3 only reads them)
_NH3_TAGS = set(ALLOWED_TAGS)
_NH3_DROPPED = set(DROP_WITH_CONTENT)
_NH3_ATTRIBUTES = {tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()}
_NH3_SCHEMES = set(_HTML_URL_SCHEMES)
_NH3_OPTIONS: dict[str, Any] = {
    "tags": _NH3_TAGS, "clean_content_tags": _NH3_DROPPED, "attributes": _NH3_ATTRIBUTES,
    "url_schemes": _NH3_SCHEMES, "link_rel": "noopener noreferrer", "strip_comments": True,
}  # fmt: skip
# Built once: markup without relative links needs no base, and building the
# sanitizer costs more than running it on a short summary.
_CLEANER = nh3.Cleaner(**_NH3_OPTIONS, url_relative="deny")
# A link without a scheme in balanced markup (which writes attributes as name="value").
_RELATIVE_LINK_RE = re.compile(r' (?:href|src)="(?![A-Za-z][A-Za-z0-9+.\-]*:)')


def clean_html(html: str, base_url: str | None = None) -> str:
    """Return ``html`` sanitized for feeds and e-mail.

    The markup is first rebuilt balanced and at most :data:`MAX_DEPTH` deep
    (:func:`balance_html`); relative URLs are resolved against ``base_url`` when
    it is an http(s) URL and dropped otherwise; links get ``rel="noopener noreferrer"``.
    """
    if not html or not html.strip():
        return ""
    balanced = balance_html(xml_text(html))
    if base_url and _RELATIVE_LINK_RE.search(balanced) and _is_http(base_url):
        rewrite: tuple[Literal["rewrite_with_base"], str] = ("rewrite_with_base", base_url)
        cleaned: str = nh3.clean(balanced, **_NH3_OPTIONS, url_relative=rewrite)
    else:
        cleaned = _CLEANER.clean(balanced)
    return _EMPTY_IMG_RE.sub("", cleaned).strip()


def _attributes(tag: str, raw: str) -> str:
    """The allowed attributes of a start tag, decoded once and re-escaped."""
    allowed = ALLOWED_ATTRIBUTES.get(tag, set()) | _GENERIC_ATTRIBUTES
    body = raw[len(tag) + 1 :].rstrip(">")
    seen: dict[str, str] = {}
    for name, value in attribute_values(body):
        if name in allowed and name not in seen:
            seen[name] = htmllib.unescape(value or "")
    return "".join(f' {name}="{htmllib.escape(value)}"' for name, value in seen.items())


# --- balancing ------------------------------------------------------------------------

_KEPT_TAGS = ALLOWED_TAGS | DROP_WITH_CONTENT
_GENERIC_ATTRIBUTES = frozenset({"lang", "title"})  # nh3 keeps these on every tag
_CLOSES_P = frozenset(
    {"p", "div", "ul", "ol", "table", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre",
     "figure", "hr", "li"}
)  # fmt: skip
_FOREIGN = frozenset({"svg", "math"})
# HTML start tags that end svg/math content (the HTML "breakout" list).
_BREAKOUT = frozenset(
    {"b", "big", "blockquote", "body", "br", "center", "code", "dd", "div", "dl", "dt", "em",
     "embed", "h1", "h2", "h3", "h4", "h5", "h6", "head", "hr", "i", "img", "li", "listing",
     "menu", "meta", "nobr", "ol", "p", "pre", "ruby", "s", "small", "span", "strong", "strike",
     "sub", "sup", "table", "tt", "u", "ul", "var"}
)  # fmt: skip
# An element a start tag closes implicitly, and the elements that stop the search.
_IMPLIED = {
    "li": ({"li"}, {"ul", "ol", "table"}),
    "tr": ({"tr", "td", "th"}, {"table"}),
    "td": ({"td", "th"}, {"tr", "table"}),
    "th": ({"td", "th"}, {"tr", "table"}),
}


class _Balancer:
    """Rebuild markup as balanced, explicitly closed elements at most MAX_DEPTH deep.

    Only the tags :func:`clean_html` keeps are written (with their allowed
    attributes); other tags are dropped with their text kept; raw-text
    elements (script, style, ...) and svg/math are dropped with their content.
    """

    def __init__(self) -> None:
        self.out: list[str] = []
        self.stack: list[str] = []
        self.open = Counter[str]()
        self.dropped = Counter[str]()
        self.raw_owner = ""
        self.foreign = 0  # depth inside <svg>/<math>, whose content nh3 drops too

    def feed(self, token: Token) -> None:
        kind, value, raw = token
        if self.foreign and not self._leaves_foreign(kind, value, raw):
            return
        if kind == "start" and value in _FOREIGN:
            self.foreign = 0 if raw.endswith("/>") else 1
        elif kind == "text":
            self.out.append(value.replace("<", "&lt;"))
        elif kind == "raw":
            if self.raw_owner not in DROP_WITH_CONTENT:
                self.out.append(htmllib.escape(value, quote=False))
        elif value in RAW_TEXT:
            self.raw_owner = value
        elif value not in _KEPT_TAGS:
            return
        elif kind == "start":
            self._start(value, raw)
        else:
            self._end(value)

    def _leaves_foreign(self, kind: str, tag: str, raw: str) -> bool:
        """Track svg/math nesting; True when this token ends it (an HTML tag breaks out)."""
        if kind == "start" and tag in _BREAKOUT:
            self.foreign = 0
            return True
        if kind == "start" and tag in _FOREIGN and not raw.endswith("/>"):
            self.foreign += 1
        elif kind == "end" and tag in _FOREIGN:
            self.foreign -= 1
        return False

    def _start(self, tag: str, raw: str) -> None:
        if tag in VOID:
            self.out.append(f"<{tag}{_attributes(tag, raw)}>")
            return
        self._close_implied(tag)
        if len(self.stack) >= MAX_DEPTH:
            self.dropped[tag] += 1
            return
        self.out.append(f"<{tag}{_attributes(tag, raw)}>")
        self.stack.append(tag)
        self.open[tag] += 1

    def _close_implied(self, tag: str) -> None:
        if tag in _CLOSES_P and self.stack and self.stack[-1] == "p":
            self._pop_to(len(self.stack) - 1)
        closes, stops = _IMPLIED.get(tag, ((), ()))
        for index in range(len(self.stack) - 1, -1, -1):
            name = self.stack[index]
            if name in closes:
                self._pop_to(index)
                return
            if name in stops:
                return

    def _end(self, tag: str) -> None:
        if tag in VOID:
            if tag == "br":
                self.out.append("<br>")
        elif self.dropped[tag]:
            self.dropped[tag] -= 1
        elif self.open[tag]:
            index = len(self.stack) - 1 - self.stack[::-1].index(tag)
            self._pop_to(index)

    def _pop_to(self, index: int) -> None:
        while len(self.stack) > index:
            tag = self.stack.pop()
            self.open[tag] -= 1
            self.out.append(f"</{tag}>")

    def result(self) -> str:
        """The rebuilt markup, every open element closed."""
        self._pop_to(0)
        return "".join(self.out)


def balance_html(html: str) -> str:
    """Rebuild ``html`` balanced and at most :data:`MAX_DEPTH` elements deep, in linear time.

    Deeper elements are flattened into their ancestor at the limit (their text
    is kept); tags :func:`clean_html` would drop anyway are dropped here.
    """
    balancer = _Balancer()
    for token in tokens(html):
        balancer.feed(token)
    return balancer.result()


# --- plain text -----------------------------------------------------------------------


def _known(tag: str) -> bool:
    """True for HTML tags (and custom elements); "<HBM>" in a title is text, not a tag."""
    return tag in _HTML_TAGS or "-" in tag or ":" in tag


class _TextExtractor:
    """Collect text with paragraph/line markers from HTML tokens."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self.skip = 0
        self.pre = 0
        self.lists: list[int] = []  # -1 for <ul>, else the last <ol> number
        self.cells = 0

    def feed(self, token: Token) -> None:
        kind, value, raw = token
        if kind == "start":
            self.handle_starttag(value, raw)
        elif kind == "end":
            self.handle_endtag(value)
        elif kind == "text":
            self.handle_data(htmllib.unescape(value))
        elif not self.skip:
            self.handle_data(value)

    def handle_starttag(self, tag: str, raw: str) -> None:
        if tag in _SKIP_TAGS:
            self.skip += 1
        elif self.skip:
            return
        elif tag == "br":
            self.out.append("\n")
        elif not _known(tag):
            self.handle_data(raw)
        else:
            self._open(tag)

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
        if not _known(tag):
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
    """Return readable plain text for ``html``: blocks and list items on their own lines.

    Linear in the size of ``html``, whatever its nesting or broken markup.
    """
    if not html or not html.strip():
        return ""
    extractor = _TextExtractor()
    for token in tokens(xml_text(html)):
        extractor.feed(token)
    return _assemble(extractor.out)


def plain_title(text: str) -> str:
    """Return ``text`` as a one-line plain title: tags stripped, entities decoded."""
    if not text:
        return ""
    if "<" in text or "&" in text:
        text = html_to_text(text)
    return " ".join(_BIDI_CONTROLS_RE.sub("", text).split())


def _pair_breaks(before: str, after: str) -> bool:
    """True when a grapheme cluster boundary lies between the two characters alone."""
    return len(_GRAPHEME.findall(before + after)) == 2


def _certain_start(text: str, cut: int) -> int:
    """A position at or before ``cut`` where a grapheme cluster starts whatever precedes it.

    A boundary depends on more than the two characters around it only between
    regional indicators (flags pair up from the start of their run), or before
    an extended pictographic after a ZWJ or an Indic consonant after a mark
    (emoji and conjunct sequences); flags are decided by the parity of their
    run, the other two are passed over, the rest is decided pairwise. Runs of characters
    that never start a cluster are skipped in one search, so the work is
    linear; a text with no sure boundary within :data:`_START_SEARCH` steps is
    taken from where the search stopped.
    """
    index = cut
    for _ in range(_START_SEARCH):
        if index <= 0:
            return 0
        before, after = text[index - 1], text[index]
        if _REGIONAL.match(after) and _REGIONAL.match(before):
            found = _LAST_NON_REGIONAL.search(text, 0, index)
            run_start = found.end() if found else 0
            index -= (index - run_start) % 2
            if index > run_start:
                return index
        elif not (_CONTEXTUAL.match(after) and _JOINING.match(before)) and _pair_breaks(
            before, after
        ):
            return index
        else:
            found = _LAST_CANDIDATE.search(text, 0, index)
            index = found.start() if found else 0
    return index


def grapheme_cut(text: str, cut: int) -> int:
    """The last grapheme cluster boundary at or before index ``cut`` of ``text``.

    ``text[:grapheme_cut(text, n)]`` never splits a flag, a ZWJ emoji sequence,
    a Hangul syllable written as jamo or a character from its combining marks.
    """
    if cut >= len(text):
        return len(text)
    if cut <= 0:
        return 0
    start = _certain_start(text, cut)
    if start == cut:
        return cut
    # a boundary depends only on the text before it and the next character
    last = _GRAPHEME.findall(text[start : cut + 1])[-1]
    return cut + 1 - len(last)


def truncate(text: str, limit: int, ellipsis: str = "…") -> str:
    """Shorten ``text`` to at most ``limit`` characters (ellipsis included).

    The cut is made at a word boundary when one is near, and always between
    grapheme clusters (see :func:`grapheme_cut`), so what a reader sees as one
    character is kept whole or left out.
    """
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    if limit <= len(ellipsis):
        return text[: grapheme_cut(text, limit)]
    cut = grapheme_cut(text, limit - len(ellipsis))
    space = max(text.rfind(" ", 0, cut + 1), text.rfind("\n", 0, cut + 1))
    if space > 0 and cut - space <= max(10, cut // 5):
        cut = grapheme_cut(text, space)
    head = text[:cut].rstrip(" \t\n,;:·-")
    head = text[: grapheme_cut(text, len(head))]
    return (head or text[:cut]) + ellipsis
