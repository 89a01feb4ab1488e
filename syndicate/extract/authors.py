"""The article's reporters, each field from the most reliable place the page offers.

Order, first non-empty wins: JSON-LD ``author`` (people, never organisations),
``<meta name="author">`` and its aliases (``article:author``, ``dable:author``,
``byl``), byline elements (``*byline*``, ``*reporter*``, ``*writer*``,
``*journalist*`` classes), the byline the body cleaner removed from the head or
tail of the body (``[아이뉴스24 박진영 기자]``, ``/박진영 기자(x@y.com)``), then
a ``홍길동 기자`` run in the page text just before the body (photo credits
such as ``사진=홍길동 기자`` ignored). Outlet and portal names are dropped
at every step (:func:`syndicate.extract.bylines.is_outlet`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from syndicate.extract.bylines import is_outlet, names_from_field, names_from_text
from syndicate.extract.context import Page, node_text

__all__ = ["find_authors"]

AUTHOR_META = ("author", "article:author", "og:article:author", "dable:author", "byl",
               "dc.creator", "sailthru.author", "parsely-author", "cxenseparse:author",
               "twitter:creator")  # fmt: skip
_CREDIT_RE = re.compile(r"(?:사진|촬영|그래픽|영상)\s*[=:]?\s*[가-힣]{2,4}")
_BYLINE_XPATH = (
    "//*[contains(@class,'byline') or contains(@class,'reporter') or contains(@class,'writer')"
    " or contains(@class,'journalist') or contains(@class,'author') or contains(@id,'byline')"
    " or contains(@class,'repoter') or contains(@class,'name_area') or @itemprop='author'"
    " or contains(@class,'info_view') or contains(@class,'media_end_head_journalist')"
    " or contains(@class,'article_name') or contains(@class,'writer_name')"
    " or contains(@class,'reporter_name') or contains(@rel,'author')]"
)


def _ld_people(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    names: list[str] = []
    for item in items:
        if isinstance(item, str):
            names += names_from_field(item)
        elif isinstance(item, dict):
            kind = str(item.get("@type") or "person").lower()
            name = item.get("name")
            if "organization" not in kind and isinstance(name, str):
                names += names_from_field(name)
    return names


def _from_structured(page: Page) -> list[str]:
    names = _ld_people(page.linked.article.get("author"))
    if not names:
        names += _ld_people(page.linked.article.get("creator"))
    for value in page.meta_all(*AUTHOR_META):
        if names:
            break
        if not value.startswith("@"):
            names += names_from_field(value)
    return names


def _from_byline_nodes(page: Page) -> list[str]:
    names: list[str] = []
    for node in page.tree.xpath(_BYLINE_XPATH)[:12]:
        text = node_text(node)
        if not text or len(text) > 300:
            continue
        found = names_from_text(text)
        if not found and len(text) <= 12:
            found = [n for n in names_from_field(text) if re.fullmatch(r"[가-힣]{2,4}", n)]
        names += [n for n in found if n not in names]
        if names:
            break
    return names


def find_authors(page: Page, body_names: list[str], header: str = "") -> list[str]:
    """Reporter names, in byline order, each once (see the module docstring)."""
    steps: list[Callable[[], list[str]]] = [
        lambda: _from_structured(page),
        lambda: _from_byline_nodes(page),
        lambda: body_names,
        lambda: names_from_text(_CREDIT_RE.sub("", header)),
    ]
    for names in steps:
        found = [n for n in dict.fromkeys(names()) if n and not is_outlet(n)]
        if found:
            wider = set(body_names) > set(found)  # "홍길동 기자 외 1명" above, both names below
            return list(body_names) if wider else found
    return []
