"""Article HTML that a page ships inside a script instead of its markup.

Sites built on Next.js's app router (Hankook Ilbo among Korean outlets) render the
body on the client: the server sends it as a text row of the React flight payload,
``self.__next_f.push([1, "24:T1b7b,<p>…"])``, and the HTML holds no paragraph of it.
:func:`inject_embedded_body` finds the longest such row holding paragraphs and, when
the page's own text lacks it, appends it to ``<body>`` as an ``<article>`` so the
ordinary container, caption and byline rules apply to it. Such pages often carry no
``article:published_time`` either; the article record in the same payload
(``"deployDt":"2026.01.29 18:40"``, ``"reDeployDt"``, ``"publishedAt"``) then supplies
the published and modified times as meta tags, read like any other.
"""

from __future__ import annotations

import json
import logging
import re

from lxml import etree
from lxml import html as lxml_html

__all__ = ["inject_embedded_body"]

logger = logging.getLogger(__name__)

_PUSH_RE = re.compile(r"self\.__next_f\.push\(\s*(\[.*?\])\s*\)\s*;?\s*$", re.S)
_TEXT_ROW_RE = re.compile(r"(?:^|\n|[\]}\"])([0-9a-f]{1,6}):T([0-9a-f]{1,8}),")
_PARAGRAPH_RE = re.compile(r"<p[\s>]", re.I)
_MIN_EMBEDDED = 200
# "deployDt":"2026.01.29 18:40", "reDeployDt":…, "publishedAt":"2024-03-12T09:00:00+09:00"
_DATE_VALUE = r'"\s*:\s*"(\d{4}[-./]\d{1,2}[-./]\d{1,2}[^"]{0,30})"'
_UPDATED_KEY_RE = re.compile(
    r'"\w*(?:modif|updat|edit|re_?deploy|revis)\w*(?:dt|date|time|at)' + _DATE_VALUE, re.I
)
_PUBLISHED_KEY_RE = re.compile(
    r'"(?!\w*(?:modif|updat|edit|re_?deploy|revis))\w*(?:publish|deploy|release|regist|reg|input'
    r"|create|first|service)\w*(?:dt|date|time|at)" + _DATE_VALUE,
    re.I,
)
_PLACEHOLDER_RE = re.compile(r"\$\$[A-Za-z_]+\$\$")  # CMS slots such as $$ARTICLEAD$$


def _flight_payload(tree: lxml_html.HtmlElement) -> str:
    """The concatenated string chunks of the page's Next.js flight scripts."""
    parts: list[str] = []
    for script in tree.iter("script"):
        match = _PUSH_RE.search(script.text or "")
        if not match:
            continue
        try:
            chunk = json.loads(match.group(1))
        except ValueError:
            continue
        if isinstance(chunk, list) and len(chunk) > 1 and isinstance(chunk[1], str):
            parts.append(chunk[1])
    return "".join(parts)


def _text_rows(payload: str) -> list[str]:
    """The text rows (``ID:T<hex byte length>,<text>``) of a flight payload."""
    data = payload.encode("utf-8")
    rows = []
    for match in _TEXT_ROW_RE.finditer(payload):
        start = len(payload[: match.end()].encode("utf-8"))
        size = int(match.group(2), 16)
        rows.append(data[start : start + size].decode("utf-8", errors="ignore"))
    return rows


def _plain(fragment: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", fragment).split())


def _visible_text(body: lxml_html.HtmlElement) -> str:
    texts = body.xpath(".//text()[not(ancestor::script) and not(ancestor::style)]")
    return " ".join(" ".join(str(t) for t in texts).split())


def _add_dates(tree: lxml_html.HtmlElement, payload: str) -> None:
    """Publication times from the payload's article record, as meta tags the page lacks."""
    head = tree.find("head")
    if head is None or tree.xpath("//meta[@property='article:published_time']"):
        return
    for key, pattern in (("published", _PUBLISHED_KEY_RE), ("modified", _UPDATED_KEY_RE)):
        match = pattern.search(payload)
        if match:
            etree.SubElement(head, "meta", property=f"article:{key}_time", content=match.group(1))


def inject_embedded_body(tree: lxml_html.HtmlElement) -> bool:
    """Append the flight payload's article HTML to ``<body>`` when the markup lacks it."""
    payload = _flight_payload(tree)
    if not payload:
        return False
    rows = [row for row in _text_rows(payload) if len(_PARAGRAPH_RE.findall(row)) >= 2]
    if not rows:
        return False
    best = _PLACEHOLDER_RE.sub("", max(rows, key=lambda row: len(_plain(row))))
    opening = _plain(best)[:40]
    body = tree.find("body")
    if len(_plain(best)) < _MIN_EMBEDDED or body is None or opening in _visible_text(body):
        return False
    try:
        nodes = lxml_html.fragments_fromstring(best)
    except (etree.ParserError, ValueError) as exc:
        logger.debug("embedded article HTML did not parse: %s", exc)
        return False
    _add_dates(tree, payload)
    article = etree.SubElement(body, "article", itemprop="articleBody")
    for node in nodes:
        if isinstance(node, str):
            article.text = (article.text or "") + node
        else:
            article.append(node)
    return True
