"""The element holding an article's body, found in the page tree.

The container is, in order: the first known body element (``itemprop=articleBody``,
Naver ``#dic_area``, Daum ``.news_view``, ``#article-view-content-div``,
``.article_body``, ``.view-body``, ... see ``BODY_SELECTORS``) holding real text
outside the page's header, footer and sidebars, with the other parts it marks
beside the largest (a body split by figures or ads; article cards are no parts);
else the element whose own paragraphs hold the most text (:mod:`syndicate.extract`
prefers trafilatura's body to that guess when trafilatura finds one of real size).
:mod:`syndicate.extract.body` then cleans a copy of it.
"""

from __future__ import annotations

import copy
import re

from lxml import html as lxml_html

from syndicate.extract.context import Page, node_text

__all__ = ["BODY_SELECTORS", "find_container"]

BODY_SELECTORS = (
    "[itemprop='articleBody']", "#dic_area", "#articleBodyContents", "#articeBody",
    "#newsEndContents", "#article-view-content-div", "#articleBody", "#article_body",
    "#articletxt", "#article_txt", "#news_body_id", "#textBody", "#CmAdContent", "#newsContent",
    "#articleText", "#news_content", "#content_body", ".news_view", ".article_view",
    ".article_body", ".article-body", ".articleBody", ".article_txt", ".article-text",
    ".article_content", ".article-content", ".news_body", ".news-body", ".news_text",
    ".view_con", ".view-con", ".view_body", ".view-body", ".view_txt", ".story-news",
    ".article_cont", ".art_body", ".artText", ".txt_article", ".cont_view", ".par",
    ".news_cnt_detail_wrap", ".article-story", ".article_con", ".text_area", "#cont_newstext",
    ".news_txt", "#atic_txt1", "#NewsAdContent", "#txt_area", "#article_content", "#pnlContent",
    ".at_contents", "#news-contents", ".article_word", ".news_content", "#articleContent",
    "#article-body", ".article-view-content", ".detail-body", ".article-detail", ".story_body",
    ".article_story", "#newsView", ".newsView", ".article_area", ".view_text", "#viewContent",
    "#articles_detail", ".viewer", ".article_view_con", ".news_article", ".article-txt",
)  # fmt: skip
SelectorKey = tuple[str, str]
"""(attribute, value) a body selector asks for: ``#x`` -> ("id", "x"), ``.x`` -> ("class", "x")."""


def _selector_key(selector: str) -> SelectorKey:
    if selector[0] in "#.":
        return ("id" if selector[0] == "#" else "class", selector[1:])
    found = re.fullmatch(r"\[([\w-]+)='([^']*)'\]", selector)
    if found is None:
        raise ValueError(f"body selector {selector!r} is not #id, .class or [name='value']")
    return (found.group(1), found.group(2))


_BODY_KEYS = tuple(_selector_key(selector) for selector in BODY_SELECTORS)
_KEYED = frozenset(_BODY_KEYS)
_ATTRIBUTES = tuple(sorted({name for name, _ in _BODY_KEYS}))
_CLASS_SPLIT_RE = re.compile("[ \t\r\n]+")  # the separators of CSS class matching
_MIN_BODY = 80
_HEADINGS = ("h2", "h3", "h4", "h5")
_NEAR = 2  # levels above the largest part of a body marked in parts


def _own_text(node: lxml_html.HtmlElement) -> int:
    size = len((node.text or "").strip())
    for child in node:
        size += len((child.tail or "").strip())
        if child.tag in ("p", "br", "span", "b", "strong", "em", "a") or child.tag == "font":
            size += len(node_text(child)) if child.tag == "p" else len((child.text or "").strip())
    return size


def _selected(page: Page) -> dict[SelectorKey, list[lxml_html.HtmlElement]]:
    """The elements each body selector matches, in document order, from one walk of the page.

    The same elements ``CSSSelector(selector)`` finds, without one walk per selector.
    """
    found: dict[SelectorKey, list[lxml_html.HtmlElement]] = {}
    for node in page.tree.iter():
        if not isinstance(node.tag, str):
            continue
        for name in _ATTRIBUTES:
            value = node.get(name)
            if value is None:
                continue
            values = set(_CLASS_SPLIT_RE.split(value)) if name == "class" else {value}
            for key in {(name, v) for v in values} & _KEYED:
                found.setdefault(key, []).append(node)
    return found


def find_container(page: Page) -> tuple[lxml_html.HtmlElement | None, bool]:
    """The element holding the article body (or None), and whether a known selector found it.

    A known selector may mark the body in parts (each paragraph, or one section per
    run of text between figures); the parts near the largest one are read together,
    as a ``<div>`` holding copies of them.
    """
    selected = _selected(page)
    for key in _BODY_KEYS:
        nodes = [n for n in selected.get(key, ()) if not page.hidden(n) and not _in_chrome(n)]
        group = _body_parts(nodes)
        if group:
            return (group[0] if len(group) == 1 else _joined(group)), True
    best, best_size = None, 0
    for node in page.tree.iter("div", "section", "article", "td", "main"):
        size = _own_text(node)
        if size > best_size and not page.hidden(node):
            best, best_size = node, size
    return (best if best_size >= _MIN_BODY * 2 else None), False


def _in_chrome(node: lxml_html.HtmlElement) -> bool:
    """Whether ``node`` is or sits in the page's header, footer, navigation or sidebar
    (a CMS class such as ``par`` also marks the blocks there)."""
    chrome = ("header", "footer", "nav", "aside")
    return node.tag in chrome or any(a.tag in chrome for a in node.iterancestors())


def _body_parts(nodes: list[lxml_html.HtmlElement]) -> list[lxml_html.HtmlElement]:
    """The matches of one selector that make up the body: the largest and those beside it
    (sharing an ancestor at most ``_NEAR`` levels above it), in document order.

    Empty when they hold too little text, or when the largest is a short teaser among
    others far from it. Matches that sit in article cards (beside a linked headline,
    in two places or more) are never parts.
    """
    marked = set(nodes)
    outer = [n for n in nodes if not any(a in marked for a in n.iterancestors())]
    cards = [n for n in outer if _in_card(n)]
    if len(cards) >= 2:
        outer = [n for n in outer if n not in cards]
    if not outer:
        return []
    sizes = {n: len(node_text(n)) for n in outer}
    largest = max(outer, key=sizes.__getitem__)
    around = set(list(largest.iterancestors())[:_NEAR])
    group = [n for n in outer if n is largest or (_prose(n, sizes[n]) and _meets(n, around))]
    total = sum(sizes[n] for n in group)
    if total < _MIN_BODY or (total < _MIN_BODY * 2 and len(outer) - len(group) >= 2):
        return []
    return group


def _in_card(node: lxml_html.HtmlElement) -> bool:
    """Whether ``node`` has a linked headline beside it (``<h3><a>…</a></h3>`` or
    ``<a><h3>…</h3></a>`` in its parent), as a teaser in a list of article cards."""
    parent = node.getparent()
    siblings = [] if parent is None else [c for c in parent if c is not node]
    return any(
        (c.tag in _HEADINGS and c.find(".//a") is not None)
        or (c.tag == "a" and next(c.iterdescendants(*_HEADINGS), None) is not None)
        for c in siblings
    )


def _prose(node: lxml_html.HtmlElement, size: int) -> bool:
    """Whether ``node`` holds text that is mostly not links (a part, not a teaser)."""
    linked = sum(len(node_text(a)) for a in node.iter("a"))
    return size > 0 and linked * 2 < size


def _meets(node: lxml_html.HtmlElement, around: set[lxml_html.HtmlElement]) -> bool:
    """Whether ``node`` descends from one of the ancestors in ``around``."""
    return any(a in around for a in node.iterancestors())


def _joined(parts: list[lxml_html.HtmlElement]) -> lxml_html.HtmlElement:
    """A detached ``<div>`` holding copies of ``parts`` (the page's tree is left as is)."""
    holder = lxml_html.Element("div")
    for part in parts:
        piece = copy.deepcopy(part)
        piece.tail = None
        holder.append(piece)
    return holder
