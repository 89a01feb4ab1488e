"""Field-by-field scoring of article extraction against hand-written truths.

The truths live in ``tests/data/pages/expected.json`` (written by the team from
reading each page). Both syndicate's extraction and trafilatura alone are scored
with the same rules, so a test and the benchmark can compare them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

PAGES = Path(__file__).resolve().parent / "data" / "pages"
SEOUL = ZoneInfo("Asia/Seoul")
FIELDS = ("title", "authors", "published", "published_day", "updated", "section",
          "body_complete", "body_clean", "captions_once")  # fmt: skip


def truths() -> dict[str, dict[str, Any]]:
    """Page file name -> expected fields."""
    data: dict[str, dict[str, Any]] = json.loads((PAGES / "expected.json").read_text("utf-8"))
    return data


def ours(content: bytes, url: str) -> dict[str, Any]:
    """syndicate's fields for one page."""
    from syndicate.extract import extract_article

    found = extract_article(content, url, SEOUL)
    return {
        "title": found.title,
        "authors": found.authors,
        "published": found.published.isoformat() if found.published else None,
        "updated": found.updated.isoformat() if found.updated else None,
        "section": found.section,
        "text": found.text,
        "captions": found.captions,
    }


def theirs(content: bytes, url: str) -> dict[str, Any]:
    """trafilatura's fields for the same page (bare_extraction with metadata)."""
    from trafilatura import bare_extraction

    doc = bare_extraction(content.decode("utf-8", errors="replace"), url=url, with_metadata=True,
                          include_images=True)  # fmt: skip
    if doc is None:
        return {"title": "", "authors": [], "published": None, "updated": None, "section": "",
                "text": "", "captions": []}  # fmt: skip
    assert not isinstance(doc, dict)  # as_dict is off
    authors = [a.strip() for a in re.split(r"[;,]", doc.author or "") if a.strip()]
    return {
        "title": doc.title or "",
        "authors": authors,
        "published": doc.date,
        "updated": None,
        "section": (doc.categories or [""])[0],
        "text": doc.text or "",
        "captions": [],
    }


def _caption_counts_ok(
    text: str, found_captions: list[str], truth: dict[str, Any], content: bytes
) -> bool:
    """Every photo caption of the page appears at most once in the text, and each
    caption the extractor reports appears in it exactly once (not dropped)."""
    page = content.decode("utf-8", errors="replace")
    captions = re.findall(r'class="[^"]*(?:caption|desc)[^"]*"[^>]*>([^<]{20,})<', page)
    once = all(text.count(c.strip()[:40]) <= 1 for c in captions)
    return once and all(text.count(c) == 1 for c in found_captions)


def score(found: dict[str, Any], truth: dict[str, Any], content: bytes) -> dict[str, bool]:
    """Which fields ``found`` got right."""
    text = found["text"]
    published = found["published"] or ""
    return {
        "title": found["title"] == truth["title"],
        "authors": found["authors"] == truth["authors"],
        "published": published == truth["published"],
        "published_day": published[:10] == (truth["published"] or "")[:10],
        "updated": found["updated"] == truth["updated"],
        "section": found["section"] == truth["section"],
        "body_complete": truth["first"] in text and truth["last"] in text,
        "body_clean": not any(bad in text for bad in truth["absent"]),
        "captions_once": _caption_counts_ok(text, found["captions"], truth, content),
    }
