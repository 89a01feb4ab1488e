"""Refuse XML that could expand, or reach outside, before any feed parser sees it.

Two checks run on exactly the text feedparser will be given:

1. :func:`check_xml_safety` scans the whole text, not only a well-formed prolog:
   a DOCTYPE with an internal subset or an external DTD, or any ``<!ENTITY``
   (or other DTD markup) is refused wherever it stands — behind junk, comments,
   PIs or CDATA before the first element, or after it. Only CDATA sections after
   the first element are skipped (feeds quote HTML there). This covers the
   ill-formed documents feedparser would read with its loose parser, which
   expands entity declarations it finds before the first element.
2. :func:`check_xml_parse` runs the document through expat with defusedxml's
   guards (entities and external references forbidden, no DTD loading, no tree
   built, no per-element callbacks); a well-formed document that declares
   anything is refused by the parser's own view of it. Ill-formed documents are
   left to check 1.

Only the bare ``<!DOCTYPE rss>`` and the Netscape RSS 0.91 public DOCTYPE pass.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from xml.parsers import expat

from defusedxml import DefusedXmlException, EntitiesForbidden

from syndicate.errors import SourceError

logger = logging.getLogger(__name__)

NETSCAPE_DTD = "-//Netscape Communications//DTD RSS 0.91//EN"
_FIRST_ELEMENT_RE = re.compile(r"<[A-Za-z0-9_]")
_DECLARATION_RE = re.compile(
    r"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)([^\[>]*)(\[?)", re.IGNORECASE
)
_EXTERNAL_ID_RE = re.compile(r"\b(SYSTEM|PUBLIC)\b", re.IGNORECASE)
ENTITIES = "feed declares XML entities; refused"
SUBSET = "feed declares an internal DTD subset; refused"
EXTERNAL = "feed references an external DTD; refused"
MARKUP = "feed declares DTD markup; refused"


# --- check 1: the text ---------------------------------------------------------------


def _scanned_text(text: str) -> tuple[str, int]:
    """Return the text with CDATA after the first element blanked, and that element's index.

    Linear in the text: an unterminated CDATA section ends the blanking.
    """
    first = _FIRST_ELEMENT_RE.search(text)
    head_end = first.start() if first else len(text)
    parts, pos = [text[:head_end]], head_end
    while (start := text.find("<![CDATA[", pos)) >= 0:
        end = text.find("]]>", start + 9)
        if end < 0:
            break
        parts += [text[pos:start], " "]
        pos = end + 3
    parts.append(text[pos:])
    return "".join(parts), head_end


def _problem(match: re.Match[str]) -> str | None:
    """Why one declaration is refused (None for a harmless DOCTYPE)."""
    kind, header, subset = match.group(1).upper(), match.group(2), match.group(3)
    if kind == "ENTITY":
        return ENTITIES
    if kind != "DOCTYPE":
        return MARKUP
    if subset:
        return SUBSET
    if _EXTERNAL_ID_RE.search(header) and NETSCAPE_DTD not in header:
        return EXTERNAL
    return None


def _first_doctype(scanned: str, head_end: int) -> str | None:
    for match in _DECLARATION_RE.finditer(scanned, 0, head_end):
        if match.group(1).upper() == "DOCTYPE":
            return match.group()
    return None


def check_xml_safety(text: str, source_id: str) -> None:
    """Refuse a document declaring entities, DTD markup, a subset or an external DTD anywhere.

    An HTML page (its DOCTYPE names ``html``) is refused as no feed.
    """
    scanned, head_end = _scanned_text(text)
    doctype = _first_doctype(scanned, head_end)
    words = doctype[2:].split()[1:] if doctype else []
    if words and words[0].lower().rstrip(">") == "html":
        raise SourceError(source_id, "not an RSS or Atom feed (got an HTML page)")
    problems = {_problem(match) for match in _DECLARATION_RE.finditer(scanned)}
    for problem in (ENTITIES, SUBSET, EXTERNAL, MARKUP):
        if problem in problems:
            raise SourceError(source_id, problem)


# --- check 2: a hardened parser --------------------------------------------------------


class _Refused(Exception):
    """Raised inside the parse to stop it with a reason."""


def _start_doctype(name: str, sysid: str | None, pubid: str | None, subset: bool) -> None:
    """Allow only a bare DOCTYPE or Netscape's RSS 0.91 one."""
    if subset:
        raise _Refused(SUBSET)
    if (sysid or pubid) and pubid != NETSCAPE_DTD:
        raise _Refused(EXTERNAL)


def _entity_declared(name: str, *_details: Any) -> None:
    raise EntitiesForbidden(name, None, None, None, None, None)


def _external_reference(
    context: str | None, base: str | None, sysid: str | None, pubid: str | None
) -> int:
    if context is None and pubid == NETSCAPE_DTD:
        return 1  # the Netscape DTD is known and never loaded
    raise _Refused(EXTERNAL)


def _guard_parser() -> Any:
    """An expat parser with only the declaration handlers set, as defusedxml sets them.

    No per-element callbacks: checking costs little more than expat's own scan.
    """
    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = _start_doctype
    parser.EntityDeclHandler = _entity_declared
    parser.UnparsedEntityDeclHandler = _entity_declared
    parser.ExternalEntityRefHandler = _external_reference
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_UNLESS_STANDALONE)
    return parser


def check_xml_parse(document: bytes, source_id: str) -> None:
    """Run ``document`` through the hardened parser; refuse what it refuses.

    A document the parser finds ill-formed is not refused here (feedparser
    reads those leniently; :func:`check_xml_safety` has already vetted them).
    """
    try:
        _guard_parser().Parse(document, True)
    except _Refused as exc:
        raise SourceError(source_id, str(exc)) from None
    except DefusedXmlException as exc:
        raise SourceError(source_id, f"{ENTITIES} ({type(exc).__name__})") from None
    except expat.ExpatError as exc:
        logger.debug("source %s: not well-formed XML (%s)", source_id, _one_line(exc))


def _one_line(exc: Any) -> str:
    return " ".join(str(exc).split())
