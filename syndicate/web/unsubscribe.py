"""``/unsubscribe?token=…``: the link every digest carries (RFC 8058 one-click).

* ``POST`` unsubscribes at once: no cookie, no CSRF token, 200 with a short body,
  never a redirect, and repeating it is harmless. A mail provider's one-click body
  (``List-Unsubscribe=One-Click``) gets a short text answer; the page's own button
  gets a Korean page.
* ``POST`` with ``scope=all`` leaves every digest of the subscriber; it is wider
  than the link's own subscription, so it needs the page's CSRF token.
* ``GET`` only shows a confirmation page: mail scanners and link previews open
  every link, so a GET never unsubscribes.

An unknown or malformed token gets 400 with what to do, and nothing about anyone.
"""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from syndicate.model import Subscription
from syndicate.web.context import WebContext
from syndicate.web.forms import (
    BAD_LINK,
    check_csrf,
    csrf_token,
    form_text,
    link_token,
    masked,
    read_form,
)
from syndicate.web.inputs import bad_request
from syndicate.web.pages import context_of, render_page

logger = logging.getLogger(__name__)

LEAVE_ALL = "leave-all"
NO_STORE = {"Cache-Control": "no-store"}
ONE_CLICK_DONE = "수신 거부가 처리되었습니다. 다음 호부터 메일을 보내지 않습니다.\n"


def digest_title(request: Request, digest_id: str) -> str:
    """The configured title of ``digest_id``, or the id of a digest no longer configured."""
    for digest in context_of(request).config.digests:
        if digest.id == digest_id:
            return digest.title
    return digest_id


async def _subscription(request: Request, token: str) -> Subscription:
    found = await run_in_threadpool(context_of(request).store.subscription_by_token, token)
    if found is None:
        raise HTTPException(400, detail=BAD_LINK)
    return found


async def show(request: Request) -> Response:
    """The confirmation page: digest, masked address, a button that POSTs, and "leave all"."""
    token = link_token(request)
    subscription = await _subscription(request, token)
    context = {
        "title": digest_title(request, subscription.digest_id),
        "address": masked(subscription.subscriber.email),
        "active": subscription.status.receives,
        "token": token,
        "csrf": await csrf_token(request, LEAVE_ALL, token),
    }
    return render_page(request, "unsubscribe.html.j2", context, headers=NO_STORE)


async def unsubscribe(request: Request) -> Response:
    """Unsubscribe the link's subscription (or, with ``scope=all`` and CSRF, every one)."""
    token = link_token(request)
    form = await read_form(request)
    scope = form_text(form, "scope", max_length=10)
    if scope not in ("", "one", "all"):
        bad_request("scope 값은 one 또는 all이어야 합니다.")
    if scope == "all":
        await check_csrf(request, form, LEAVE_ALL, token)
    store, now = context_of(request).store, context_of(request).now()
    if scope != "all":
        done = await run_in_threadpool(lambda: store.unsubscribe_token(token, now=now))
        if done is None:
            raise HTTPException(400, detail=BAD_LINK)
        left = [done]
    else:
        person = (await _subscription(request, token)).subscriber.id
        left = await run_in_threadpool(lambda: store.unsubscribe_subscriber(person, now=now))
    logger.info("unsubscribed %d subscription(s) by link", len(left))
    if form_text(form, "List-Unsubscribe", max_length=20) == "One-Click":
        return PlainTextResponse(ONE_CLICK_DONE, headers=NO_STORE)
    titles = [digest_title(request, s.digest_id) for s in left]
    context = {"titles": titles, "token": token}
    return render_page(request, "unsubscribed.html.j2", context, headers=NO_STORE)


async def endpoint(request: Request) -> Response:
    """GET shows the page, POST unsubscribes."""
    return await (unsubscribe if request.method == "POST" else show)(request)


def routes(ctx: WebContext) -> list[BaseRoute]:
    """The unsubscribe page and its one-click POST."""
    return [Route("/unsubscribe", endpoint, methods=["GET", "POST"])]
