"""HTML pages: the Jinja2 environment of ``templates/web/`` and :func:`render_page`.

Every page extends ``base.html.j2`` (``lang="ko"``, viewport, one external
stylesheet, no script). Templates are autoescaped; a configured ``templates``
folder may override any of them with a file of the same name under ``web/``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

import syndicate

if TYPE_CHECKING:
    from syndicate.config import Config
    from syndicate.web.context import WebContext

STYLESHEET = "site.css"
HTML_TYPE = "text/html; charset=utf-8"

STATUS_TITLES = {
    400: "요청을 처리할 수 없습니다",
    403: "허용되지 않은 요청입니다",
    404: "페이지를 찾을 수 없습니다",
    405: "허용되지 않는 요청 방식입니다",
    413: "요청이 너무 큽니다",
    429: "요청이 너무 많습니다",
    500: "일시적인 오류가 발생했습니다",
    503: "서비스를 잠시 사용할 수 없습니다",
}
STATUS_MESSAGES = {
    400: "주소나 입력한 내용이 올바르지 않습니다. 메일의 링크를 그대로 열었는지 확인해 주세요.",
    403: "이 요청은 처리할 수 없습니다. 페이지를 새로 고친 뒤 다시 시도해 주세요.",
    404: "주소가 바뀌었거나 없는 페이지입니다. 첫 화면에서 찾아 주세요.",
    405: "이 주소는 이 방식의 요청을 받지 않습니다.",
    413: "보낸 내용이 너무 큽니다.",
    429: "짧은 시간에 요청이 너무 많았습니다. 잠시 후 다시 시도해 주세요.",
    500: "요청을 처리하지 못했습니다. 잠시 후 다시 시도해 주세요.",
    503: "저장소에 연결할 수 없습니다. 잠시 후 다시 시도해 주세요.",
}


def web_template_dirs() -> list[Path]:
    """Folders holding the bundled page templates: installed wheel, then source checkout."""
    package = Path(syndicate.__file__).resolve().parent
    candidates = [package / "templates" / "web", package.parent / "templates" / "web"]
    return [path for path in candidates if (path / "base.html.j2").is_file()]


def template_environment(config: Config) -> jinja2.Environment:
    """The page templates: ``<config.templates>/web/`` first, then the bundled ones."""
    folders = [str(path) for path in web_template_dirs()]
    if config.templates is not None:
        folders.insert(0, str(config.templates / "web"))
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folders),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def stylesheet(templates: jinja2.Environment) -> bytes:
    """The site's CSS file, read once through the template loader (served as is)."""
    loader = templates.loader
    assert loader is not None
    source, _name, _uptodate = loader.get_source(templates, STYLESHEET)
    return source.encode("utf-8")


def css_version(css: bytes) -> str:
    """A short hash of a stylesheet, for its URL (``?v=``): a changed file is a new URL."""
    return hashlib.sha256(css).hexdigest()[:12]


def page_globals(ctx: WebContext, css: bytes) -> dict[str, Any]:
    """Names every page template sees: links, the site title, the stylesheet URL."""
    return {
        "href": ctx.href,
        "public_url": ctx.public_url,
        "site_title": ctx.config.feeds.title,
        "stylesheet_url": ctx.href(f"static/{STYLESHEET}") + f"?v={css_version(css)}",
    }


def context_of(request: Request) -> WebContext:
    """The :class:`WebContext` of the application serving ``request``."""
    ctx: WebContext = request.app.state.ctx
    return ctx


def render_page(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render the page template ``name`` (e.g. ``"index.html.j2"``) as an HTML response."""
    ctx = context_of(request)
    template = ctx.templates.get_template(name)
    body = template.render({"request": request, **(context or {})})
    return HTMLResponse(body, status_code=status, headers=headers, media_type=HTML_TYPE)


def error_page(
    request: Request, status: int, message: str | None = None, headers: dict[str, str] | None = None
) -> HTMLResponse:
    """The Korean page for an error ``status``; ``message`` says what to do (default by status)."""
    title = STATUS_TITLES.get(status, "요청을 처리할 수 없습니다")
    text = message or STATUS_MESSAGES.get(status, STATUS_MESSAGES[400])
    context = {"title": title, "message": text, "status": status}
    return render_page(request, "error.html.j2", context, status=status, headers=headers)
