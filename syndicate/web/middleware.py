"""ASGI middleware: security headers on every response, and a 500 page instead of a traceback.

Both are plain ASGI wrappers (no per-request objects), so they cost little on the
hot paths (feeds answered 304). :class:`CatchErrors` sits inside
:class:`SecurityHeaders`, so the pages it sends carry the headers too.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from syndicate.errors import StoreError, one_line
from syndicate.web.pages import error_page

logger = logging.getLogger(__name__)

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self' https: data:; "
    "object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode("ascii")),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
_NAMES = frozenset(name for name, _value in SECURITY_HEADERS)


class SecurityHeaders:
    """Add :data:`SECURITY_HEADERS` to every HTTP response (replacing any the app set)."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the headers to the response start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [h for h in message.get("headers", ()) if h[0].lower() not in _NAMES]
                message["headers"] = [*kept, *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class CatchErrors:
    """Answer an unexpected exception with the Korean 500 page (503 for a store error).

    The error is logged on one line with the method and path; the traceback goes
    to the debug log only. Nothing of it reaches the reader.
    """

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app; on an exception before the response started, send an error page."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            status = log_failure(scope, exc)
            if started:
                raise
            await fallback_response(scope, status)(scope, receive, send)


def log_failure(scope: Scope, exc: Exception) -> int:
    """Log ``exc`` in one line naming the request; the status to answer with."""
    where = f"{scope.get('method', '?')} {scope.get('path', '?')}"
    if isinstance(exc, StoreError):
        logger.error("%s: store unavailable: %s", where, one_line(str(exc)))
        return 503
    logger.error("%s: %s: %s", where, type(exc).__name__, one_line(str(exc)))
    logger.debug("%s: traceback", where, exc_info=exc)
    return 500


def fallback_response(scope: Scope, status: int) -> Any:
    """The error page for ``status``; plain text if even the page cannot be rendered."""
    from starlette.responses import PlainTextResponse

    try:
        return error_page(Request(scope), status)
    except Exception as exc:
        logger.error("error page %s failed: %s", status, one_line(str(exc)))
        return PlainTextResponse("오류가 발생했습니다.", status_code=status)
