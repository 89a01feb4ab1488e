"""Render a per-subscriber :class:`~syndicate.model.Digest` to subject, HTML and text.

The only module that imports Jinja2 and premailer. It reads nothing but the
Digest (its masthead, sections and unsubscribe URL travel with it), so a Digest
can be rendered without a loaded configuration. Templates are looked up in the
given folder first (``config.templates``, if set), then in the bundled ``templates/`` folder:

* ``digest.html.j2`` (autoescaped) and ``digest.css``: the CSS is put in a
  ``<style>`` block, then premailer inlines it into ``style=""`` attributes;
  what cannot be inlined (``@media`` rules, ``:hover``) stays in ``<style>``;
* ``digest.txt.j2`` (plain text, not escaped), wrapped by display width.

Both templates receive the same context (see :meth:`Renderer.context`).
Notices (the subscription confirmation: ``confirm.html.j2`` / ``confirm.txt.j2``)
are rendered the same way by :meth:`Renderer.render_notice`.
Everything coming from feeds is treated as untrusted: titles and summaries are
escaped, links other than http(s) are dropped.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
import xml.dom
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import jinja2
from lxml import etree  # type: ignore[import-untyped, unused-ignore]
from markupsafe import Markup, escape

import syndicate
from syndicate.errors import RenderError, one_line
from syndicate.model import (
    Article,
    Digest,
    Masthead,
    RenderedDigest,
    Section,
    SectionGroup,
    Subscription,
)
from syndicate.sanitize import html_to_text, safe_link, truncate

if TYPE_CHECKING:
    from syndicate.config import Config

logger = logging.getLogger(__name__)

HTML_TEMPLATE = "digest.html.j2"
TEXT_TEMPLATE = "digest.txt.j2"
CSS_TEMPLATE = "digest.css"
SUMMARY_LIMIT = 160
GMAIL_CLIP_BYTES = 102_000  # what Gmail shows before "[메시지 잘림]"; size_budget stays below
PREHEADER_LIMIT = 110
TEXT_WIDTH = 72
WEEKDAYS = "월화수목금토일"
INLINE_CACHE_SIZE = 128
_PLACEHOLDER_MARK = "syndplh"
_PH_EMAIL = "syndplh-email@syndplh.invalid"
_PH_NAME = "SyndplhName"
_PH_TOKEN = "SyndplhToken"
_PREHEADER_PAD = Markup("&#847;&zwnj;&nbsp;" * 40)
_BLANK_RUNS = re.compile(r"\n{3,}")
_BULLET = re.compile(r"^\s*(?:[-*•·]|\d{1,2}[.)])\s+")
Limits = Mapping[str, int]
"""Articles shown per section id (see :meth:`Renderer.fit`)."""


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


def bundled_template_dirs() -> list[Path]:
    """Folders holding the bundled templates: installed wheel, then source checkout."""
    package = Path(syndicate.__file__).resolve().parent
    candidates = [package / "templates", package.parent / "templates"]
    return [path for path in candidates if (path / HTML_TEMPLATE).is_file()]


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


class Renderer:
    """Render digests with the configured (or bundled) templates.

    One Renderer can render many digests; templates are loaded once.
    """

    def __init__(self, templates: Path | None = None) -> None:
        """Build the Jinja2 environment: the ``templates`` folder first, then the bundled ones."""
        self.env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(_loaders(templates)),
            autoescape=jinja2.select_autoescape(
                enabled_extensions=("html.j2", "html"), default_for_string=False
            ),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.env.filters["wrap"] = wrap_text
        self._inline_cache: dict[tuple[str, str], str] = {}
        self._views: dict[tuple[Masthead, int, str | None], ArticleView] = {}
        self._css: str | None = None
        self._fits: dict[tuple[int, Masthead, tuple[str, ...]], Limits | None] = {}

    @classmethod
    def for_config(cls, config: Config) -> Renderer:
        """A Renderer with the configured templates folder (config key ``templates``)."""
        if config.templates is None:
            return cls()
        folder = config.resolve(config.templates)
        if not folder.is_dir():
            raise RenderError(f"templates folder {folder} does not exist (config key 'templates')")
        return cls(folder)

    def render(self, digest: Digest) -> RenderedDigest:
        """Render one digest to its subject, HTML body (CSS inlined) and text body.

        When the encoded HTML part would pass the digest's size budget, the last
        articles of the longest sections are left out behind a "더 보기" link
        (:meth:`fit`); both bodies show the same articles.
        """
        limits = self.fit(digest)
        context = self.context(digest, limits)
        text = self._template(TEXT_TEMPLATE, context)
        inlined = self._inlined_html(digest, limits)
        return RenderedDigest(digest, context["subject"], inlined, tidy_text(text))

    def render_notice(self, name: str, context: Mapping[str, Any]) -> tuple[str, str]:
        """Render the notice ``name``: ``{name}.html.j2`` with the digest CSS inlined, and
        ``{name}.txt.j2``; ``context`` needs ``public_base_url``. Returns (HTML, text)."""
        html = self._template(f"{name}.html.j2", {**context, "css": Markup(self.css())})
        text = self._template(f"{name}.txt.j2", dict(context))
        return inline_css(html, str(context["public_base_url"])), tidy_text(text)

    def _inlined_html(self, digest: Digest, limits: Limits | None = None) -> str:
        """The HTML with CSS inlined, premailer run once per distinct document.

        Subscribers who get the same articles differ only in address, name and
        unsubscribe token: the document is rendered with placeholders for those,
        inlined once, and personalised by replacing the placeholders. A template
        that transforms them (so a placeholder does not survive intact) falls
        back to rendering the subscriber's own document.
        """
        personal = _personalise(self._anonymous_html(digest, limits), digest.subscription)
        if _PLACEHOLDER_MARK in personal.lower():
            return inline_css(self._html(digest, limits), digest.masthead.public_base_url)
        return personal

    def _anonymous_html(self, digest: Digest, limits: Limits | None) -> str:
        """The inlined document of ``digest`` with placeholders for its personal fields."""
        base_url = digest.masthead.public_base_url
        key = (base_url, self._html(_anonymous(digest), limits))
        inlined = self._inline_cache.pop(key, None)
        if inlined is None:
            inlined = inline_css(key[1], base_url)
        self._inline_cache[key] = inlined
        while len(self._inline_cache) > INLINE_CACHE_SIZE:
            del self._inline_cache[next(iter(self._inline_cache))]
        return inlined

    def fit(self, digest: Digest) -> Limits | None:
        """How many articles each section shows so the encoded HTML part stays within
        ``masthead.size_budget``; None when everything fits. Decided once per edition
        and section set (and kept), logged when articles are left out.
        """
        key = (digest.edition.id, digest.masthead, tuple(g.section.id for g in digest.groups))
        if key not in self._fits:
            self._fits[key] = self._fit(digest)
        return self._fits[key]

    def _fit(self, digest: Digest) -> Limits | None:
        """Drop the last articles of the longest sections until the HTML part fits."""
        from syndicate.mail import html_part_size

        budget = digest.masthead.size_budget
        counts = {g.section.id: len(g.articles) for g in digest.groups}
        size = html_part_size(self._anonymous_html(digest, None))
        limits: dict[str, int] | None = None
        while size > budget:
            shown = sum(counts.values())
            drop = max(1, -(-(size - budget) * shown // size))  # bytes per article, rounded up
            if not _drop_longest(counts, drop):
                break
            limits = dict(counts)
            size = html_part_size(self._anonymous_html(digest, limits))
        if limits is not None:
            _log_fit(digest, limits, size)
        return limits

    def render_web(self, digest: Digest, web: WebLinks) -> str:
        """The web version of a (public) digest: the same template, CSS linked, not inlined.

        The template sees ``web`` (the page's links); it shows no preheader and no
        personal footer, and links ``web.stylesheet_url`` instead of a ``<style>``
        block (pages forbid inline styles). Nothing personal is in a public digest.
        """
        if digest.personal:
            raise RenderError("the web version is rendered from a public digest only")
        return self._template(HTML_TEMPLATE, {**self.context(digest), "web": web, "css": ""})

    def _html(self, digest: Digest, limits: Limits | None = None) -> str:
        """The HTML document of ``digest`` before CSS inlining."""
        context = {**self.context(digest, limits), "css": Markup(self.css())}
        return self._template(HTML_TEMPLATE, context)

    def context(self, digest: Digest, limits: Limits | None = None) -> dict[str, Any]:
        """The variables both templates receive for ``digest`` (``limits``: articles
        shown per section, see :meth:`fit`).

        ``name`` is the subscriber's name, a personal field like ``email`` and the
        URLs with their token; the rest is the same for everyone with these sections.
        """
        masthead = digest.masthead
        title = digest.title
        local_slot = digest.edition.slot.astimezone(masthead.timezone)
        groups = [self._group_view(digest, g, limits) for g in digest.groups]
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
            "groups": groups,
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

    def css(self) -> str:
        """The stylesheet ``digest.css`` (configured folder first), loaded once."""
        if self._css is None:
            try:
                source, filename, _ = self.env.loader.get_source(self.env, CSS_TEMPLATE)  # type: ignore[union-attr]
            except jinja2.TemplateNotFound as exc:
                raise RenderError(f"template {CSS_TEMPLATE} not found") from exc
            if "</" in source:
                raise RenderError(f"{filename}: '</' is not allowed in the stylesheet")
            self._css = source
        return self._css

    def _template(self, name: str, context: dict[str, Any]) -> str:
        """Render template ``name``; every Jinja2 failure becomes a one-line RenderError."""
        try:
            return self.env.get_template(name).render(context)
        except jinja2.TemplateNotFound as exc:
            raise RenderError(f"template {exc.name} not found") from exc
        except jinja2.TemplateSyntaxError as exc:
            where = exc.filename or exc.name or name
            raise RenderError(f"{where}, line {exc.lineno}: {exc.message}") from exc
        except jinja2.TemplateError as exc:
            raise RenderError(f"template {name}: {exc.message or exc}") from exc

    def _group_view(self, digest: Digest, group: SectionGroup, limits: Limits | None) -> GroupView:
        """The template view of one section group, cut to its limit with a "더 보기" link."""
        section, articles = group.section, group.articles
        shown = len(articles) if limits is None else limits.get(section.id, len(articles))
        views = tuple(self._article_view(digest.masthead, a) for a in articles[:shown])
        hidden = len(articles) - len(views)
        more = _more_url(digest, section) if hidden else ""
        return GroupView(section.id, section.name, views, hidden, more)

    def _article_view(self, masthead: Masthead, article: Article) -> ArticleView:
        """The template view of one article (kept per stored article: editions reuse them)."""
        if article.id is None:
            return _article_view(masthead, article)
        key = (masthead, article.id, article.public_id)
        view = self._views.get(key)
        if view is None:
            view = self._views[key] = _article_view(masthead, article)
        return view


def _article_view(masthead: Masthead, article: Article) -> ArticleView:
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


def _more_url(digest: Digest, section: Section) -> str:
    """Where "더 보기" of ``section`` leads: the edition's archive page at the section,
    else the section's feed (or the public site)."""
    if digest.archive_url:
        return f"{digest.archive_url}#section-{section.id}"
    links = dict(digest.masthead.section_links)
    return links.get(section.id, digest.masthead.public_base_url)


def _drop_longest(counts: dict[str, int], drop: int) -> bool:
    """Take ``drop`` articles off the sections showing the most (later sections first on a
    tie), keeping one per section; False when nothing more can go."""
    dropped = 0
    order = list(counts)
    while dropped < drop:
        section = max(reversed(order), key=lambda s: counts[s])
        if counts[section] <= 1:
            break
        counts[section] -= 1
        dropped += 1
    return dropped > 0


def _log_fit(digest: Digest, limits: Limits, size: int) -> None:
    """One line saying which articles a message leaves out for its size budget."""
    hidden = {g.section.id: len(g.articles) - limits[g.section.id] for g in digest.groups}
    cut = ", ".join(f"{s} -{n}" for s, n in hidden.items() if n)
    budget = digest.masthead.size_budget
    level = logging.INFO if size <= budget else logging.WARNING
    logger.log(
        level,
        "digest %s edition %s: HTML part trimmed to %d bytes (budget %d) by leaving out %s "
        "behind '더 보기' links%s",
        digest.edition.digest_id,
        digest.edition.slot.isoformat(timespec="minutes"),
        size,
        budget,
        cut,
        "" if size <= budget else "; still over budget with one article per section",
    )


def _local_time(article: Article, masthead: Masthead) -> str:
    """``2026-11-28 09:30`` in the publication's timezone, or ``""`` without any date."""
    moment = article.sort_time
    if moment.year <= 1:
        return ""
    return moment.astimezone(masthead.timezone).strftime("%Y-%m-%d %H:%M")


def _anonymous(digest: Digest) -> Digest:
    """``digest`` with the subscriber's address, name and token replaced by placeholders."""
    subscription = digest.subscription
    subscriber = replace(
        subscription.subscriber,
        email=_PH_EMAIL,
        name=_PH_NAME if subscription.subscriber.name else "",
    )
    anonymous = replace(subscription, subscriber=subscriber, token=_PH_TOKEN)
    token = quote(subscription.token, safe="")
    return replace(
        digest,
        subscription=anonymous,
        unsubscribe_url=_token_placeholder(digest.unsubscribe_url, token),
        preferences_url=_token_placeholder(digest.preferences_url, token),
    )


def _token_placeholder(url: str, token: str) -> str:
    """``url`` with its trailing ``token`` replaced by the placeholder.

    A URL not ending in the token is kept: the document stays the subscriber's own.
    """
    return url[: -len(token)] + _PH_TOKEN if token and url.endswith(token) else url


def _personalise(html: str, subscription: Subscription) -> str:
    """Put the subscriber's own (escaped) values where the placeholders are."""
    subscriber = subscription.subscriber
    html = html.replace(_PH_TOKEN, str(escape(quote(subscription.token, safe=""))))
    html = html.replace(_PH_EMAIL, str(escape(subscriber.email)))
    return html.replace(_PH_NAME, str(escape(subscriber.name))) if subscriber.name else html


def _loaders(folder: Path | None) -> list[jinja2.BaseLoader]:
    """Template loaders: ``folder`` (must exist), then the bundled folders."""
    loaders: list[jinja2.BaseLoader] = []
    if folder is not None:
        if not folder.is_dir():
            raise RenderError(f"templates folder {folder} does not exist")
        loaders.append(jinja2.FileSystemLoader(str(folder), encoding="utf-8"))
    bundled = bundled_template_dirs()
    if not bundled and not loaders:
        raise RenderError("bundled templates not found (is syndicate installed correctly?)")
    loaders.extend(jinja2.FileSystemLoader(str(path), encoding="utf-8") for path in bundled)
    return loaders


def _summary(article: Article, title: str) -> str:
    """Plain-text summary of an article, shortened; empty when it only repeats the title."""
    text = html_to_text(article.summary_html) or html_to_text(article.content_html)
    text = one_line(" ".join(_BULLET.sub("", line) for line in text.splitlines()))
    if not text or text == title:
        return ""
    return truncate(text, SUMMARY_LIMIT)


def _preheader(groups: list[GroupView]) -> str:
    """The hidden preview line: the first headlines, shortened."""
    titles = [a.title for g in groups for a in g.articles][:3]
    return truncate(" · ".join(titles), PREHEADER_LIMIT)


def tidy_text(text: str) -> str:
    """Strip trailing spaces, keep at most one blank line in a row, end with one newline."""
    lines = "\n".join(line.rstrip() for line in text.splitlines())
    return _BLANK_RUNS.sub("\n\n", lines).strip("\n") + "\n"


def inline_css(html: str, base_url: str) -> str:
    """Inline the ``<style>`` rules into ``style=""`` attributes with premailer.

    Rules that cannot be inlined (``@media``, pseudo-classes) stay in a
    ``<style>`` block, marked ``!important`` so they beat the inline styles.
    """
    from premailer import Premailer  # heavy (cssutils): loaded only when rendering

    try:
        premailer = Premailer(
            html,
            base_url=base_url,
            strip_important=False,
            keep_style_tags=False,
            allow_network=False,
            allow_loading_external_files=False,
            disable_validation=True,
            disable_basic_attributes=["width", "height"],  # images keep their pixel sizes
            cssutils_logging_level=logging.CRITICAL,
        )
        result: str = premailer.transform()
    except (etree.LxmlError, xml.dom.DOMException, ValueError, TypeError) as exc:
        raise RenderError(f"cannot inline the digest CSS: {exc}") from exc
    return _with_doctype(result)


def _with_doctype(html: str) -> str:
    """Make sure the document starts with ``<!DOCTYPE html>`` (lxml may drop or vary it)."""
    stripped = html.lstrip()
    if stripped[:9].lower() == "<!doctype":
        stripped = stripped.split(">", 1)[1].lstrip()
    return "<!DOCTYPE html>\n" + stripped
