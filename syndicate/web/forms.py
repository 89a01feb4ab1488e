"""What the subscriber pages share: bounded form bodies, tokens in queries, CSRF, masking.

CSRF: every form but the one-click unsubscribe carries a signed token
(:func:`syndicate.tokens.form_token`) keyed by a secret the store generates once
and keeps (``secrets`` table), so every process serving the site agrees on it
without any configuration. A page opened with a token in its link (unsubscribe,
confirm, preferences) binds its form to that token; the subscribe form, opened by
anyone, binds it to a random value in a cookie (double submit).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect, Request

from syndicate.tokens import form_token, form_token_valid, mint_token, well_formed
from syndicate.web.context import WebContext
from syndicate.web.inputs import bad_request, query_value, single_value
from syndicate.web.pages import context_of

MAX_FORM_BYTES = 16_384
MAX_FIELDS = 64
SECRET_NAME = "web-forms"
FORM_COOKIE = "syndicate_form"
CSRF_FIELD = "csrf"
BAD_LINK = (
    "링크가 올바르지 않거나 더 이상 쓸 수 없습니다. 메일에 있는 링크를 빠짐없이 열었는지 "
    "확인해 주세요. 계속 안 되면 메일에 답장해 알려 주시거나 구독을 새로 신청해 주세요."
)
UNREADABLE_FORM = "보낸 양식을 읽을 수 없습니다. 페이지를 새로 고친 뒤 다시 보내 주세요."
STALE_FORM = (
    "페이지가 오래되었거나 올바르지 않은 요청입니다. 페이지를 새로 고친 뒤 다시 시도해 주세요."
)


async def read_form(request: Request) -> FormData:
    """The request's form (URL-encoded, or multipart without files), at most 16 KB.

    413 past the size, 400 for a body that is not a form.
    """
    body = await _bounded_body(request)
    if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        return await _multipart(request, body)
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        bad_request(UNREADABLE_FORM)
    fields: list[tuple[str, str | UploadFile]] = list(pairs)
    return FormData(fields)


async def _bounded_body(request: Request) -> bytes:
    size = 0
    chunks = []
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_FORM_BYTES:
                raise HTTPException(413)
            chunks.append(chunk)
    except ClientDisconnect:
        bad_request("요청이 끝까지 전달되지 않았습니다. 다시 시도해 주세요.")
    return b"".join(chunks)


async def _multipart(request: Request, body: bytes) -> FormData:
    async def replay() -> AsyncGenerator[bytes, None]:
        yield body

    parser = MultiPartParser(request.headers, replay(), max_files=0, max_fields=MAX_FIELDS)
    try:
        return await parser.parse()
    except (MultiPartException, ValueError, KeyError):
        bad_request(UNREADABLE_FORM)


def form_text(form: FormData, name: str, *, max_length: int = 500) -> str:
    """The one value of form field ``name``, "" when absent; 400 when odd (see single_value)."""
    return single_value(form, name, max_length=max_length) or ""  # type: ignore[arg-type]


def form_list(form: FormData, name: str, *, limit: int = 50) -> list[str]:
    """Every value of the repeated field ``name`` (checkboxes), each short and printable."""
    values = form.getlist(name)
    if len(values) > limit or any(
        not isinstance(v, str) or len(v) > 200 or not v.isprintable() for v in values
    ):
        bad_request(f"{name} 값이 올바르지 않습니다.")
    return [str(v) for v in values]


def link_token(request: Request) -> str:
    """The ``token`` of a link from a mail; 400 (saying what to do) when missing or malformed."""
    token = query_value(request, "token", max_length=200)
    if token is None or not well_formed(token):
        raise HTTPException(400, detail=BAD_LINK)
    return token


async def form_secret(ctx: WebContext) -> str:
    """The secret signing form tokens: generated once by the store, then kept in memory."""
    secret = ctx.extras.get(SECRET_NAME)
    if secret is None:
        secret = await run_in_threadpool(ctx.store.secret, SECRET_NAME)
        ctx.extras[SECRET_NAME] = secret
    return str(secret)


async def csrf_token(request: Request, purpose: str, binding: str) -> str:
    """A form token for ``purpose`` bound to ``binding``, to put in the form's ``csrf`` field."""
    ctx = context_of(request)
    return form_token(await form_secret(ctx), purpose, binding, ctx.now())


async def check_csrf(request: Request, form: FormData, purpose: str, binding: str) -> None:
    """Stop with 403 unless the form's ``csrf`` field is a valid token for this form."""
    ctx = context_of(request)
    token = form_text(form, CSRF_FIELD, max_length=200)
    secret = await form_secret(ctx)
    if not form_token_valid(secret, purpose, binding, token, now=ctx.now()):
        raise HTTPException(403, detail=STALE_FORM)


def form_cookie(request: Request) -> tuple[str, bool]:
    """The visitor's form cookie value and whether it is new (then set it on the response)."""
    value = request.cookies.get(FORM_COOKIE, "")
    if well_formed(value):
        return value, False
    return mint_token(), True


def cookie_options(request: Request) -> dict[str, Any]:
    """How the form cookie is set: HttpOnly, SameSite=Strict, the site's path, and Secure
    when the request came over https (directly or through a trusted proxy)."""
    secure = request.url.scheme == "https"
    path = context_of(request).prefix
    return {"httponly": True, "samesite": "strict", "secure": secure, "path": path}


def masked(address: str) -> str:
    """``kim@example.kr`` as ``k***@example.kr``: enough to recognise, not to harvest."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


def client_key(request: Request) -> str:
    """A counter key for the requesting client: a hash of its address (no IP is stored)."""
    host = request.client.host if request.client else "unknown"
    return "subscribe:" + hashlib.sha256(host.encode("utf-8")).hexdigest()[:40]


def hour_start(moment: datetime) -> datetime:
    """The start of the clock hour of ``moment`` (the window of per-client counters)."""
    return moment.replace(minute=0, second=0, microsecond=0)
