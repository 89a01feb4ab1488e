"""``/subscribe`` and ``/subscribe/{digest_id}``: the form that asks for a confirmation mail.

``POST`` checks, in this order: the client's posts this hour (``web.rate_limits.
per_client``, else 429), the form's CSRF token (403), the honeypot (a filled one
gets the ordinary answer and nothing happens), then every field (400 with the
form and its errors; nothing stored). A valid request is stored as *pending* and
its confirmation mail goes out after the answer, through the digest's delivery.

The answer page is the same for every address, subscribed or not, and whether or
not the address's daily limit of confirmation mails (``web.rate_limits.
per_address``) let one go out: nobody can learn from it who subscribes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from syndicate.addresses import AddressError, normalize_address, parse_mailbox
from syndicate.config import DigestConfig
from syndicate.confirm import PendingNotice, SubscribeRequest, request_confirmation, send_notice
from syndicate.digest import stored_sections
from syndicate.errors import one_line
from syndicate.web.context import WebContext
from syndicate.web.forms import (
    FORM_COOKIE,
    check_csrf,
    client_key,
    cookie_options,
    csrf_token,
    form_cookie,
    form_list,
    form_text,
    hour_start,
    read_form,
)
from syndicate.web.pages import context_of, render_page

logger = logging.getLogger(__name__)

PURPOSE = "subscribe"
HONEYPOT = "website"
MAX_NAME = 100
NO_STORE = {"Cache-Control": "no-store"}


@dataclass
class Entry:
    """What the visitor typed, and the problem of each field (shown beside it)."""

    email: str = ""
    name: str = ""
    sections: list[str] = field(default_factory=list)
    consent: bool = False
    errors: dict[str, str] = field(default_factory=dict)


def _digest(request: Request) -> DigestConfig:
    """The digest of the path, or the only one configured; 404 otherwise."""
    config = context_of(request).config
    digest_id = request.path_params.get("digest_id")
    if digest_id is None and len(config.digests) == 1:
        return config.digests[0]
    for digest in config.digests:
        if digest.id == digest_id:
            return digest
    raise HTTPException(404)


def form_context(request: Request, digest: DigestConfig, entry: Entry) -> dict[str, Any]:
    """What ``subscribe.html.j2`` shows for ``digest`` and the visitor's ``entry``."""
    config = context_of(request).config
    sender = parse_mailbox(digest.sender)
    offered = config.digest_sections(digest)
    return {
        "digest": digest,
        "sender_name": sender.name or digest.title,
        "sender_address": sender.address,
        "sections": offered,
        "entry": entry,
        "chosen": set(entry.sections) if entry.sections else {s.id for s in offered},
        "ttl_hours": int(config.web.confirm_ttl.total_seconds() // 3600),
    }


async def _form_page(
    request: Request, digest: DigestConfig, entry: Entry, status: int = 200
) -> Response:
    nonce, new = form_cookie(request)
    context = form_context(request, digest, entry)
    context["csrf"] = await csrf_token(request, PURPOSE, nonce)
    response = render_page(request, "subscribe.html.j2", context, status=status, headers=NO_STORE)
    if new:
        response.set_cookie(FORM_COOKIE, nonce, **cookie_options(request))
    return response


async def show(request: Request) -> Response:
    """The form of one digest, or (several digests, no id) the list to choose from."""
    config = context_of(request).config
    if "digest_id" not in request.path_params and len(config.digests) != 1:
        if not config.digests:
            raise HTTPException(404)
        return render_page(request, "subscribe_choose.html.j2", {"digests": config.digests})
    return await _form_page(request, _digest(request), Entry())


def read_entry(form: FormData, offered: list[str]) -> Entry:
    """The visitor's fields, each validated; problems go to ``entry.errors`` (Korean)."""
    entry = Entry(
        email=form_text(form, "email", max_length=320).strip(),
        name=form_text(form, "name", max_length=400).strip(),
        sections=form_list(form, "sections"),
        consent=form_text(form, "consent", max_length=10) == "yes",
    )
    try:
        entry.email = normalize_address(entry.email)
    except AddressError:
        entry.errors["email"] = "올바른 메일 주소를 입력해 주세요. 예: hong@example.kr"
    if len(entry.name) > MAX_NAME or one_line(entry.name) != entry.name:
        entry.errors["name"] = f"이름은 한 줄로 {MAX_NAME}자까지 쓸 수 있습니다."
    if not entry.sections or not set(entry.sections) <= set(offered):
        entry.errors["sections"] = "받을 섹션을 하나 이상 골라 주세요."
    if not entry.consent:
        entry.errors["consent"] = "개인정보 수집·이용에 동의해야 구독을 신청할 수 있습니다."
    return entry


async def _count_post(request: Request) -> None:
    """Count this post for the client; 429 past ``web.rate_limits.per_client`` this hour."""
    ctx = context_of(request)
    now = ctx.now()
    hits = await run_in_threadpool(
        lambda: ctx.store.count_hit(client_key(request), hour_start(now), now=now)
    )
    if hits > ctx.config.web.rate_limits.per_client:
        raise HTTPException(429, headers={"Retry-After": "3600"})


async def subscribe(request: Request) -> Response:
    """Check and store the request, answer, then mail the confirmation (see the module)."""
    digest = _digest(request)
    await _count_post(request)
    form = await read_form(request)
    await check_csrf(request, form, PURPOSE, request.cookies.get(FORM_COOKIE, ""))
    ctx = context_of(request)
    offered = [s.id for s in ctx.config.digest_sections(digest)]
    if form_text(form, HONEYPOT, max_length=500):
        logger.info("subscribe form with a filled honeypot ignored")
        return _sent(request, digest)
    entry = read_entry(form, offered)
    if entry.errors:
        return await _form_page(request, digest, entry, status=400)
    notice = await run_in_threadpool(_request, ctx, digest, entry)
    task = None if notice is None else BackgroundTask(_send, ctx, notice)
    return _sent(request, digest, task)


def _request(ctx: WebContext, digest: DigestConfig, entry: Entry) -> PendingNotice | None:
    sections = stored_sections(ctx.config, digest.id, entry.sections)
    limits = ctx.config.web
    wanted = SubscribeRequest(digest.id, entry.email, entry.name, sections)
    return request_confirmation(
        ctx.config,
        ctx.store,
        wanted,
        ttl=limits.confirm_ttl,
        per_day=limits.rate_limits.per_address,
        now=ctx.now(),
    )


def _send(ctx: WebContext, notice: PendingNotice) -> None:
    send_notice(ctx.config, notice)


def _sent(request: Request, digest: DigestConfig, task: BackgroundTask | None = None) -> Response:
    """The one answer to every accepted request."""
    response = render_page(request, "subscribe_sent.html.j2", {"digest": digest}, headers=NO_STORE)
    response.background = task
    return response


async def endpoint(request: Request) -> Response:
    """GET shows the form, POST asks for a confirmation mail."""
    if request.method == "POST":
        return await subscribe(request)
    return await show(request)


def routes(ctx: WebContext) -> list[BaseRoute]:
    """The subscribe form (all digests, or one) and its POST."""
    return [
        Route("/subscribe", show, methods=["GET"]),
        Route("/subscribe/{digest_id}", endpoint, methods=["GET", "POST"]),
    ]
