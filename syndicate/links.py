"""Relative links in HTML made absolute against the document's address.

A feed's HTML may link relative to the feed (``<a href="/more/1">``); readers
resolve such links against the feed's address before anything else, as
feedparser does. :func:`absolute_links` does the same in one linear pass over
the tags (the patterns of :mod:`syndicate.htmltokens`): only the URL
attributes of start tags change, everything else is left as it is. A link
whose scheme is not acceptable (``javascript:``) becomes empty; sanitizing
decides later what is kept.
"""

from __future__ import annotations

import functools
import html as htmllib
import re
from urllib.parse import urljoin, urlsplit

from syndicate import WEB_SCHEMES
from syndicate.htmltokens import TAG_RE, attribute_values

# (tag, attribute) pairs holding a URL, as feed readers resolve them.
URL_ATTRIBUTES = frozenset(
    {("a", "href"), ("applet", "codebase"), ("area", "href"), ("audio", "src"),
     ("blockquote", "cite"), ("body", "background"), ("del", "cite"), ("form", "action"),
     ("frame", "longdesc"), ("frame", "src"), ("head", "profile"), ("iframe", "longdesc"),
     ("iframe", "src"), ("img", "longdesc"), ("img", "src"), ("img", "usemap"),
     ("input", "src"), ("input", "usemap"), ("ins", "cite"), ("link", "href"),
     ("object", "classid"), ("object", "codebase"), ("object", "data"), ("object", "usemap"),
     ("q", "cite"), ("script", "src"), ("source", "src"), ("video", "poster"),
     ("video", "src")}
)  # fmt: skip
# Schemes a resolved link may keep; any other becomes empty (javascript:, data:, ...).
ACCEPTABLE_SCHEMES = frozenset(
    {"http", "https", "mailto", "ftp", "feed", "news", "nntp", "tel", "sms", "irc", "ircs",
     "magnet", "sip", "sips", "rtsp", "git", "ssh", "sftp", "file"}
)  # fmt: skip


def absolute_links(html: str, base: str) -> str:
    """``html`` with the URL attributes of its start tags resolved against ``base``.

    Attributes are written in name order, as feedparser's resolver writes them,
    so an article reads the same whichever of the two readers took its feed.
    """
    if "<" not in html:
        return html
    return TAG_RE.sub(lambda match: _tag(match, base), html)


def _tag(match: re.Match[str], base: str) -> str:
    """One start tag with its attributes in name order and its URLs resolved."""
    attributes, tag = match.group(3), match.group(2).lower()
    if match.group(1) or not attributes.strip("\t\n\f\r /"):
        return match.group(0)
    written = "".join(_written(tag, name, value, base) for name, value in _attributes(attributes))
    start, end = match.start(3) - match.start(), match.end(3) - match.start()
    whole = match.group(0)
    return whole[:start] + written + whole[end:]


def _attributes(attributes: str) -> list[tuple[str, str | None]]:
    """(lowercased name, decoded value or None) of each attribute, in name order."""
    found = [
        (name, None if value is None else htmllib.unescape(value))
        for name, value in attribute_values(attributes)
    ]
    return sorted(found, key=lambda pair: pair[0])


def _written(tag: str, name: str, value: str | None, base: str) -> str:
    if value is None:
        return f" {name}"
    if (tag, name) in URL_ATTRIBUTES:
        value = safe_absolute(base, value)
    return f' {name}="{htmllib.escape(value)}"'


# A path from the host's root that urljoin returns unchanged after the origin: no
# dot segments, empty parameters, empty query or fragment, backslashes or controls.
_ROOT_RELATIVE_RE = re.compile(r"(?!.*(?:/\.|;|\?#|[\\\t\n\r]))(?!.*[?#]\Z)/(?![/\\])", re.S)


@functools.lru_cache(maxsize=256)
def _origin(base: str) -> str:
    """``scheme://host`` of an http(s) address; empty for any other."""
    try:
        parts = urlsplit(base)
    except ValueError:
        return ""
    web = parts.scheme in WEB_SCHEMES and parts.netloc
    return f"{parts.scheme}://{parts.netloc}" if web else ""


def safe_absolute(base: str, link: str) -> str:
    """``link`` resolved against ``base``; left as it is when its scheme is not acceptable.

    Sanitizing drops such a link later (``javascript:``, ``data:``); making it
    empty here would turn it into a link to the article itself.
    """
    link = link.strip()
    if base and _ROOT_RELATIVE_RE.match(link) and (origin := _origin(base)):
        return origin + link  # what urljoin gives, without its cost
    try:
        resolved = urljoin(base, link) if base else link
        scheme = urlsplit(resolved).scheme.lower()
    except ValueError:
        return link
    if scheme and scheme not in ACCEPTABLE_SCHEMES:
        return link
    return resolved
