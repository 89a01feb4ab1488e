"""What the digest templates see: a :class:`~syndicate.model.Digest` as plain views.

Pure functions from the Digest to printable strings, with no template engine:
article and section views (titles in one line, links made safe, summaries as
shortened plain text, local times), Korean dates, the template context both
digest templates receive (:func:`template_context`), and the display-width
helpers of the plain-text body (Hangul and CJK take two columns).
:mod:`syndicate.render` puts these through Jinja2 and premailer.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from markupsafe import Markup

from syndicate.errors import one_line
from syndicate.model import Article, Digest, Masthead, Section
from syndicate.sanitize import html_to_text, safe_link, truncate

SUMMARY_LIMIT = 160
PREHEADER_LIMIT = 110
TEXT_WIDTH = 72
WEEKDAYS = "월화수목금토일"
_PREHEADER_PAD = Markup("&#847;&zwnj;&nbsp;" * 40)
_BLANK_RUNS = re.compile(r"\n{3,}")
_BULLET = re.compile(r"^\s*(?:[-*•·]|\d{1,2}[.)])\s+")
Limits = Mapping[str, int]
"""Articles shown per section id (see :meth:`syndicate.render.Renderer.fit`)."""


@dataclass(frozen=True)
class ArticleView:
    """An article as the templates see it: plain strings, ready to print.

    ``image_url`` is the lead image (absolute https, else empty), shown at
    ``image_width`` x ``image_height`` pixels at most.
    """

    title: str
    url: str
    author: str
    time: str
    meta: str
    summary: str
    section_id: str
    image_url: str = ""
    image_width: int = 0
    image_height: int = 0


@dataclass(frozen=True)
class WebLinks:
    """Links the web version of an edition shows instead of a subscriber's footer."""

    stylesheet_url: str
    archive_url: str
    subscribe_url: str
    home_url: str


@dataclass(frozen=True)
class GroupView:
    """A section heading and its articles, in display order.

    ``hidden`` articles were left out to keep the message under its size budget;
    ``more_url`` ("더 보기") leads to where they can be read.
    """

    id: str
    name: str
    articles: tuple[ArticleView, ...]
    hidden: int = 0
    more_url: str = ""


def korean_date(value: datetime, *, year: bool = False) -> str:
    """Format a (local) date as ``11월 28일(토)``, or ``2026년 11월 28일(토)``."""
    text = f"{value.month}월 {value.day}일({WEEKDAYS[value.weekday()]})"
    return f"{value.year}년 {text}" if year else text


def korean_range(start: datetime, end: datetime, *, year: bool = False) -> str:
    """Format a (local) span of days as ``11월 23일 – 11월 29일`` (years shown when asked
    or when they differ: ``2026년 12월 28일 – 2027년 1월 3일``)."""
    both = start.year != end.year
    first = f"{start.year}년 " if year or both else ""
    last = f"{end.year}년 " if both else ""
    return f"{first}{start.month}월 {start.day}일 – {last}{end.month}월 {end.day}일"


def lead_image(article: Article) -> str:
    """The article's lead image as an absolute https URL (relative ones resolved against
    the article's URL), or ``""``: http, data: and other URLs are not shown in mail."""
    raw = one_line(article.image_url)
    if not raw or raw.lower().startswith("data:"):
        return ""
    url = safe_link(raw, article.url or None)
    return url if urlsplit(url).scheme.lower() == "https" else ""


@functools.lru_cache(maxsize=4096)
def char_width(char: str) -> int:
    """Columns a character takes in a monospaced mail client (2 for Hangul, CJK)."""
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def text_width(text: str) -> int:
    """Display width of ``text`` in columns."""
    return sum(char_width(c) for c in text)


def wrap_text(text: str, width: int = TEXT_WIDTH) -> str:
    """Wrap ``text`` at spaces to ``width`` display columns.

    Words (and URLs) are never split, so no line ever ends mid-character or
    mid-word; a word longer than ``width`` gets a line of its own.
    """
    lines: list[list[str]] = []
    used = 0
    for word in text.split():
        size = text_width(word)
        if lines and used + 1 + size <= width:
            lines[-1].append(word)
            used += 1 + size
        else:
            lines.append([word])
            used = size
    return "\n".join(" ".join(line) for line in lines)


def article_view(masthead: Masthead, article: Article) -> ArticleView:
    """The template view of one article, with local time and plain-text summary."""
    title = one_line(article.title) or "(제목 없음)"
    time = _local_time(article, masthead)
    author = one_line(article.author)
    image = lead_image(article) if masthead.image_size else ""
    width, height = masthead.image_size if image and masthead.image_size else (0, 0)
    return ArticleView(
        title=title,
        url=safe_link(article.url, masthead.public_base_url),
        author=author,
        time=time,
        meta=" · ".join(part for part in (author, time) if part),
        summary=_summary(article, title),
        section_id=article.section_id,
        image_url=image,
        image_width=width,
        image_height=height,
    )


def _date_labels(digest: Digest, local_slot: datetime) -> tuple[str, str]:
    """The date in the subject and the one under the title: the slot's day, or the
    span of days a weekly (or longer) edition covers."""
    start = digest.period_start
    if start is None:
        return korean_date(local_slot), korean_date(local_slot, year=True)
    local_start = start.astimezone(digest.masthead.timezone)
    return korean_range(local_start, local_slot), korean_range(local_start, local_slot, year=True)


def _sender_name(masthead: Masthead) -> str:
    """Who the footer says sends the digest: the publisher, else From's name, else the title."""
    if masthead.publisher is not None:
        return masthead.publisher.name
    name = masthead.sender.rsplit("<", 1)[0].strip().strip('"') if "<" in masthead.sender else ""
    return one_line(name) or masthead.title


def more_url(digest: Digest, section: Section) -> str:
    """Where "더 보기" of ``section`` leads: the edition's archive page at the section,
    else the section's feed (or the public site)."""
    if digest.archive_url:
        return f"{digest.archive_url}#section-{section.id}"
    links = dict(digest.masthead.section_links)
    return links.get(section.id, digest.masthead.public_base_url)


def _local_time(article: Article, masthead: Masthead) -> str:
    """``2026-11-28 09:30`` in the publication's timezone, or ``""`` without any date."""
    moment = article.sort_time
    if moment.year <= 1:
        return ""
    return moment.astimezone(masthead.timezone).strftime("%Y-%m-%d %H:%M")


def _summary(article: Article, title: str) -> str:
    """Plain-text summary of an article, shortened; empty when it only repeats the title."""
    text = html_to_text(article.summary_html) or html_to_text(article.content_html)
    text = one_line(" ".join(_BULLET.sub("", line) for line in text.splitlines()))
    if not text or text == title:
        return ""
    return truncate(text, SUMMARY_LIMIT)


def _preheader(groups: Sequence[GroupView]) -> str:
    """The hidden preview line: the first headlines, shortened."""
    titles = [a.title for g in groups for a in g.articles][:3]
    return truncate(" · ".join(titles), PREHEADER_LIMIT)


def tidy_text(text: str) -> str:
    """Strip trailing spaces, keep at most one blank line in a row, end with one newline."""
    lines = "\n".join(line.rstrip() for line in text.splitlines())
    return _BLANK_RUNS.sub("\n\n", lines).strip("\n") + "\n"


def template_context(digest: Digest, groups: Sequence[GroupView]) -> dict[str, Any]:
    """The variables both digest templates receive for ``digest`` shown as ``groups``.

    ``name`` is the subscriber's name, a personal field like ``email`` and the
    URLs with their token; the rest is the same for everyone with these sections.
    """
    masthead = digest.masthead
    title = digest.title
    local_slot = digest.edition.slot.astimezone(masthead.timezone)
    dated, date_label = _date_labels(digest, local_slot)
    return {
        "title": title,
        "subject": ("(광고) " if masthead.advertising else "") + f"{title} · {dated}",
        "date_label": date_label,
        "slot": local_slot,
        "logo": masthead.logo,
        "brand_color": masthead.brand_color,
        "publisher": masthead.publisher,
        "sender_name": _sender_name(masthead),
        "advertising": masthead.advertising,
        "groups": list(groups),
        "preheader": _preheader(groups),
        "preheader_pad": _PREHEADER_PAD,
        "email": digest.subscription.subscriber.email,
        "name": digest.subscription.subscriber.name,
        "section_names": [s.name for s in digest.sections],
        "unsubscribe_url": digest.unsubscribe_url,
        "preferences_url": digest.preferences_url,
        "archive_url": digest.archive_url,
        "personal": digest.personal,
        "web": None,
        "public_base_url": masthead.public_base_url,
        "host": masthead.host,
        "article_count": digest.article_count,
    }
