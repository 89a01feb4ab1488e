"""One linear HTML tokenizer for untrusted markup (sanitizing, plain text, links).

Follows the HTML tokenizer closely enough for sanitizing; every pattern is linear
(possessive quantifiers, atomic groups), and a tag that never ends swallows the
rest of the document, as in HTML. Python's ``html.parser`` and html5 tree
builders are quadratic on some inputs; this never is.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_WS = "\t\n\f\r "
# A start or end tag: (1) "/" for an end tag, (2) the name, (3) the attributes.
TAG_RE = re.compile(
    rf"<(/?)([A-Za-z][^{_WS}/>]*+)"
    rf"((?>[{_WS}/]*+[^{_WS}/>][^{_WS}/>=]*+"
    rf"(?>[{_WS}]*+=[{_WS}]*+(?>\"[^\"]*+\"|'[^']*+'|[^{_WS}>]*+))?)*+)"
    rf"[{_WS}/]*+>"
)
# One attribute of TAG_RE's group 3: (1) the name, (2)/(3)/(4) a "", '' or bare value.
ATTR_RE = re.compile(
    rf"([^{_WS}/>][^{_WS}/>=]*+)"
    rf"(?:[{_WS}]*+=[{_WS}]*+(?:\"([^\"]*+)\"|'([^']*+)'|([^{_WS}>]*+)))?"
)
RAW_TEXT = frozenset(
    {"script", "style", "xmp", "iframe", "noembed", "noframes", "noscript", "textarea", "title"}
)
VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
     "source", "track", "wbr"}
)  # fmt: skip
_RAW_END_RES: dict[str, re.Pattern[str]] = {
    name: re.compile(rf"</{name}(?=[{_WS}/>])", re.IGNORECASE) for name in RAW_TEXT
}

# A token: ("text", text), ("raw", text) or ("start" | "end", lowercased name, raw tag).
Token = tuple[str, str, str]


def _markup(html: str, pos: int) -> tuple[Token | None, int]:
    """Read the markup at ``html[pos] == "<"``: a token (or None) and the position after it."""
    match = TAG_RE.match(html, pos)
    if match:
        kind = "end" if match.group(1) else "start"
        return (kind, match.group(2).lower(), match.group(0)), match.end()
    rest = html[pos + 1 : pos + 2]
    if html.startswith("<!--", pos):
        end = html.find("-->", pos + 4)
        return None, len(html) if end < 0 else end + 3
    if rest in ("!", "?") or (rest == "/" and not html[pos + 2 : pos + 3].isalpha()):
        end = html.find(">", pos + 1)
        return None, len(html) if end < 0 else end + 1
    if rest.isascii() and rest.isalpha():
        return None, len(html)  # a tag without its ">": the rest is inside it
    return ("text", "<", ""), pos + 1


def _raw_text(html: str, name: str, pos: int) -> tuple[str, int]:
    """The content of a raw-text element starting at ``pos`` and where its end tag starts."""
    match = _RAW_END_RES[name].search(html, pos)
    end = match.start() if match else len(html)
    return html[pos:end], end


def tokens(html: str) -> Iterator[Token]:
    """Tokenize ``html`` in one linear pass (text is left undecoded)."""
    pos, size = 0, len(html)
    while pos < size:
        lt = html.find("<", pos)
        if lt < 0:
            lt = size
        if lt > pos:
            yield ("text", html[pos:lt], "")
            pos = lt
            continue
        token, pos = _markup(html, pos)
        if token is None:
            continue
        yield token
        if token[0] == "start" and token[1] in RAW_TEXT:
            raw, pos = _raw_text(html, token[1], pos)
            yield ("raw", raw, "")
        elif token[0] == "start" and token[1] == "plaintext":
            yield ("raw", html[pos:], "")
            pos = size


def attribute_values(attributes: str) -> Iterator[tuple[str, str | None]]:
    """(lowercased name, value as written or None) of each attribute in ``attributes``.

    ``attributes`` is a tag's attribute text (:data:`TAG_RE`'s group 3); values
    are left undecoded, so a caller decodes only those it keeps.
    """
    for match in ATTR_RE.finditer(attributes):
        value = next((v for v in match.group(2, 3, 4) if v is not None), None)
        yield match.group(1).lower(), value
