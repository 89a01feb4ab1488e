"""Render a per-subscriber :class:`~syndicate.model.Digest` to subject, HTML and text.

The only module that imports Jinja2 and premailer. It reads nothing but the
Digest (its masthead, sections and unsubscribe URL travel with it), so a Digest
can be rendered without a loaded configuration. Templates are looked up in the
given folder first (``config.templates``, if set), then in the bundled ``templates/`` folder:

* ``digest.html.j2`` (autoescaped) and ``digest.css``: the CSS is put in a
  ``<style>`` block, then premailer inlines it into ``style=""`` attributes;
  what cannot be inlined (``@media`` rules, ``:hover``) stays in ``<style>``;
* ``digest.txt.j2`` (plain text, not escaped), wrapped by display width.

Both templates receive the same context (see :meth:`Renderer.context`), built from
the views of :mod:`syndicate.render_views`; this module adds what is personal
(placeholders filled per subscriber), the size budget and CSS inlining.
Notices (the subscription confirmation: ``confirm.html.j2`` / ``confirm.txt.j2``)
are rendered the same way by :meth:`Renderer.render_notice`.
Everything coming from feeds is treated as untrusted: titles and summaries are
escaped, links other than http(s) are dropped.
"""

from __future__ import annotations

import logging
import xml.dom
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import jinja2
from lxml import etree  # type: ignore[import-untyped, unused-ignore]
from markupsafe import Markup, escape

import syndicate
from syndicate.errors import RenderError
from syndicate.model import (
    PLACEHOLDER_EMAIL,
    PLACEHOLDER_NAME,
    PLACEHOLDER_TOKEN,
    Article,
    Digest,
    EditionBody,
    Masthead,
    RenderedDigest,
    SectionGroup,
    Subscription,
    body_variant,
)
from syndicate.render_views import (
    ArticleView,
    GroupView,
    Limits,
    WebLinks,
    article_view,
    more_url,
    template_context,
    tidy_text,
    wrap_text,
)

if TYPE_CHECKING:
    from syndicate.config import Config

logger = logging.getLogger(__name__)

HTML_TEMPLATE = "digest.html.j2"
TEXT_TEMPLATE = "digest.txt.j2"
CSS_TEMPLATE = "digest.css"
GMAIL_CLIP_BYTES = 102_000  # what Gmail shows before "[메시지 잘림]"; size_budget stays below
INLINE_CACHE_SIZE = 128
_PLACEHOLDER_MARK = "syndplh"
_PH_EMAIL = PLACEHOLDER_EMAIL
_PH_NAME = PLACEHOLDER_NAME
_PH_TOKEN = PLACEHOLDER_TOKEN


def bundled_template_dirs() -> list[Path]:
    """Folders holding the bundled templates: installed wheel, then source checkout."""
    package = Path(syndicate.__file__).resolve().parent
    candidates = [package / "templates", package.parent / "templates"]
    return [path for path in candidates if (path / HTML_TEMPLATE).is_file()]


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

    def render_body(self, digest: Digest) -> EditionBody | None:
        """Render, once per section set, the body ``digest`` shares with every subscriber
        of the same set: subject, HTML (CSS inlined) and text, with placeholders
        (``PLACEHOLDER_*`` of :mod:`syndicate.model`) for address, name and token.

        None when the body cannot be shared: the templates transform a personal
        field (the placeholder does not survive intact), or a personal URL does
        not end with the token. Such digests are rendered per subscriber.
        """
        anonymous = _anonymous(digest)
        if anonymous.subscription.token and (
            PLACEHOLDER_TOKEN not in anonymous.unsubscribe_url
            or (anonymous.preferences_url and PLACEHOLDER_TOKEN not in anonymous.preferences_url)
        ):
            return None
        limits = self.fit(digest)
        context = self.context(anonymous, limits)
        text = tidy_text(self._template(TEXT_TEMPLATE, context))
        html = self._anonymous_html(digest, limits)
        subject = str(context["subject"])
        if _PLACEHOLDER_MARK in subject.lower() or not all(map(_intact, (html, text))):
            return None
        return EditionBody(body_variant(digest), subject, html, text)

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
        shown per section, see :meth:`fit`); see :func:`~syndicate.render_views.template_context`.
        """
        return template_context(
            digest, [self._group_view(digest, g, limits) for g in digest.groups]
        )

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
        more = more_url(digest, section) if hidden else ""
        return GroupView(section.id, section.name, views, hidden, more)

    def _article_view(self, masthead: Masthead, article: Article) -> ArticleView:
        """The template view of one article (kept per stored article: editions reuse them)."""
        if article.seq is None:
            return article_view(masthead, article)
        key = (masthead, article.seq, article.public_id)
        view = self._views.get(key)
        if view is None:
            view = self._views[key] = article_view(masthead, article)
        return view


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


def _intact(document: str) -> bool:
    """True when every placeholder mark in ``document`` belongs to a whole placeholder."""
    marks = document.lower().count(_PLACEHOLDER_MARK)
    whole = sum(
        document.count(ph) * ph.lower().count(_PLACEHOLDER_MARK)
        for ph in (_PH_EMAIL, _PH_NAME, _PH_TOKEN)
    )
    return marks == whole


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
