"""``/confirm?token=…``: the link of the confirmation mail.

``GET`` shows what would be confirmed and a button; only the ``POST`` of that
button (with its CSRF token) activates the subscription, because mail scanners
open every link they see. An unknown, expired or used link gets 400 and says to
subscribe again.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from syndicate.confirm import confirm, open_confirmation
from syndicate.digest import subscribed_sections
from syndicate.errors import SyndicateError
from syndicate.model import Confirmation, Subscriber, Subscription, SubscriptionState
from syndicate.web.context import WebContext
from syndicate.web.forms import check_csrf, csrf_token, link_token, masked, read_form
from syndicate.web.pages import context_of, render_page
from syndicate.web.unsubscribe import digest_title

PURPOSE = "confirm"
NO_STORE = {"Cache-Control": "no-store"}
UNKNOWN = (
    "확인 링크가 올바르지 않습니다. 메일에 있는 링크를 빠짐없이 열었는지 확인하시고, "
    "그래도 안 되면 구독을 다시 신청해 주세요."
)
SPENT = (
    "이 확인 링크는 기한이 지났거나 이미 쓰였습니다. 구독이 확인되지 않았다면 "
    "구독을 다시 신청해 주세요. 새 확인 메일을 보내 드립니다."
)


def section_names(request: Request, digest_id: str, sections: tuple[str, ...]) -> list[str]:
    """The display names of ``sections`` of ``digest_id`` (all offered when empty)."""
    config = context_of(request).config
    probe = Subscription(Subscriber(0, ""), digest_id, sections, SubscriptionState.PENDING, "")
    try:
        return [s.name for s in subscribed_sections(config, probe)]
    except SyndicateError:  # a digest removed from the config since the request
        return list(sections)


async def _usable(request: Request, token: str) -> Confirmation:
    found = await run_in_threadpool(open_confirmation, context_of(request).store, token)
    if found is None:
        raise HTTPException(400, detail=UNKNOWN)
    if not found.usable_at(context_of(request).now()):
        raise HTTPException(400, detail=SPENT)
    return found


async def show(request: Request) -> Response:
    """What the link confirms (digest, masked address, sections) and the confirm button."""
    token = link_token(request)
    found = await _usable(request, token)
    context = {
        "title": digest_title(request, found.digest_id),
        "address": masked(found.email),
        "sections": section_names(request, found.digest_id, found.sections),
        "token": token,
        "csrf": await csrf_token(request, PURPOSE, token),
    }
    return render_page(request, "confirm.html.j2", context, headers=NO_STORE)


async def activate(request: Request) -> Response:
    """Confirm: the subscription becomes active with the chosen sections."""
    token = link_token(request)
    form = await read_form(request)
    await check_csrf(request, form, PURPOSE, token)
    ctx = context_of(request)
    now = ctx.now()
    subscription = await run_in_threadpool(lambda: confirm(ctx.store, token, now=now))
    if subscription is None:
        await _usable(request, token)  # says why (unknown, or expired or used)
        raise HTTPException(400, detail=SPENT)
    context = {
        "title": digest_title(request, subscription.digest_id),
        "sections": section_names(request, subscription.digest_id, subscription.sections),
        "token": subscription.token,
    }
    return render_page(request, "confirmed.html.j2", context, headers=NO_STORE)


async def endpoint(request: Request) -> Response:
    """GET shows the page, POST confirms."""
    return await (activate if request.method == "POST" else show)(request)


def routes(ctx: WebContext) -> list[BaseRoute]:
    """The confirmation page and its POST."""
    return [Route("/confirm", endpoint, methods=["GET", "POST"])]
