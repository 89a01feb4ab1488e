"""Validation of query parameters: one value each, bounded, printable; else 400.

A request that fails validation changes nothing: handlers validate every input
first, then act.
"""

from __future__ import annotations

from typing import NoReturn

from starlette.datastructures import ImmutableMultiDict
from starlette.exceptions import HTTPException
from starlette.requests import Request

MAX_VALUE = 500


def bad_request(message: str) -> NoReturn:
    """Stop the request with a 400 page showing ``message`` (Korean, says what to do)."""
    raise HTTPException(400, detail=message)


def single_value(
    values: ImmutableMultiDict[str, str], name: str, *, max_length: int = MAX_VALUE
) -> str | None:
    """The one value of ``name`` in a query or form (None when absent); 400 when odd.

    Odd: given twice, longer than ``max_length``, or holding control characters.
    """
    found = values.getlist(name)
    if not found:
        return None
    if len(found) > 1:
        bad_request(f"{name} 값이 두 번 이상 들어 있습니다.")
    value = found[0]
    if not isinstance(value, str) or len(value) > max_length or not value.isprintable():
        bad_request(f"{name} 값이 올바르지 않습니다.")
    return value


def query_value(request: Request, name: str, *, max_length: int = MAX_VALUE) -> str | None:
    """The one value of query parameter ``name`` (None when absent); 400 when odd."""
    return single_value(request.query_params, name, max_length=max_length)


def query_int(request: Request, name: str, *, default: int, minimum: int, maximum: int) -> int:
    """Query parameter ``name`` as a whole number within bounds; ``default`` when absent."""
    text = query_value(request, name, max_length=12)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or not minimum <= int(text) <= maximum:
        bad_request(f"{name} 값은 {minimum}부터 {maximum}까지의 숫자여야 합니다.")
    return int(text)
