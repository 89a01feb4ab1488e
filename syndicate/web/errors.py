"""Error answers: Korean pages for 404, 405 (with ``Allow``), 400 and every other HTTP error.

Feature code raises ``HTTPException(status, detail)`` (or calls
:func:`syndicate.web.inputs.bad_request`); a ``detail`` other than the standard
reason phrase is shown to the reader, so write it in Korean and say what to do.
"""

from __future__ import annotations

from http import HTTPStatus

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from syndicate.web.pages import error_page


def shown_detail(exc: HTTPException) -> str | None:
    """The message for the reader: ``exc.detail`` unless it is the standard phrase."""
    try:
        phrase = HTTPStatus(exc.status_code).phrase
    except ValueError:
        phrase = ""
    detail = exc.detail
    return None if not detail or detail == phrase else detail


async def http_error(request: Request, exc: Exception) -> Response:
    """Render any :class:`HTTPException` (404, 405, 400, 429...) as a Korean page."""
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=headers)
    return error_page(request, exc.status_code, shown_detail(exc), headers=headers)


EXCEPTION_HANDLERS = {HTTPException: http_error}
