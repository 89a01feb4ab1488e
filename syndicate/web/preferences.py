"""``/preferences?token=…``: the "구독 설정" link of every digest.

The subscriber changes the sections of each digest, leaves or joins the
publisher's other digests, or pauses everything until a date (in the configured
timezone; nothing is sent before that day), and resumes. The token of any of
their subscriptions opens the page; since it came in a mail to the address,
joining another digest here is active at once (consent recorded as
``preferences``). Changes apply from the next edition: the digest stage reads the
store at every edition. The form carries a CSRF token bound to the link's token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from syndicate.config import Config
from syndicate.digest import stored_sections, subscribed_sections
from syndicate.model import Subscription
from syndicate.web.context import WebContext
from syndicate.web.forms import (
    BAD_LINK,
    check_csrf,
    csrf_token,
    form_list,
    form_text,
    link_token,
    masked,
    read_form,
)
from syndicate.web.inputs import bad_request
from syndicate.web.pages import context_of, render_page

PURPOSE = "preferences"
NO_STORE = {"Cache-Control": "no-store"}
MAX_PAUSE = timedelta(days=366)
SAVED = "저장했습니다. 다음 호부터 바뀐 설정으로 보내 드립니다."


@dataclass
class Choice:
    """One digest on the page: whether it is received and which sections are ticked."""

    id: str
    title: str
    sections: list[Any]
    receiving: bool
    chosen: set[str]


@dataclass
class Entry:
    """The submitted form, validated: digest -> sections (None: not received), pause date."""

    choices: dict[str, tuple[str, ...] | None] = field(default_factory=dict)
    ticked: dict[str, list[str]] = field(default_factory=dict)
    pause_text: str = ""
    paused_until: datetime | None = None
    errors: dict[str, str] = field(default_factory=dict)


def _today(ctx: WebContext) -> date:
    return ctx.now().astimezone(ctx.config.timezone).date()


def current_choices(config: Config, subscriptions: list[Subscription]) -> list[Choice]:
    """Every configured digest as the page shows it for these subscriptions."""
    held = {s.digest_id: s for s in subscriptions}
    choices = []
    for digest in config.digests:
        offered = config.digest_sections(digest)
        sub = held.get(digest.id)
        receiving = sub is not None and sub.status.receives
        chosen = {s.id for s in (subscribed_sections(config, sub) if sub else offered)}
        choices.append(Choice(digest.id, digest.title, offered, receiving, chosen))
    return choices


def pause_date(ctx: WebContext, subscriptions: list[Subscription]) -> str:
    """The date (``YYYY-MM-DD``, local) a current pause ends, or ""."""
    now = ctx.now()
    for sub in subscriptions:
        if sub.paused_until is not None and sub.paused_at(now):
            return sub.paused_until.astimezone(ctx.config.timezone).date().isoformat()
    return ""


async def _subscriptions(request: Request, token: str) -> list[Subscription]:
    store = context_of(request).store

    def load() -> list[Subscription] | None:
        found = store.subscription_by_token(token)
        return None if found is None else store.subscriptions_of(found.subscriber.id)

    subscriptions = await run_in_threadpool(load)
    if not subscriptions:
        raise HTTPException(400, detail=BAD_LINK)
    return subscriptions


async def _page(
    request: Request,
    token: str,
    subscriptions: list[Subscription],
    entry: Entry | None = None,
    status: int = 200,
) -> Response:
    ctx = context_of(request)
    today = _today(ctx)
    choices = current_choices(ctx.config, subscriptions)
    if entry is not None and entry.errors:  # show what was typed, beside its errors
        for choice in choices:
            choice.receiving = choice.id in entry.choices
            choice.chosen = set(entry.ticked.get(choice.id, []))
    context = {
        "address": masked(subscriptions[0].subscriber.email),
        "choices": choices,
        "pause": entry.pause_text if entry and entry.errors else pause_date(ctx, subscriptions),
        "min_date": (today + timedelta(days=1)).isoformat(),
        "max_date": (today + MAX_PAUSE).isoformat(),
        "errors": entry.errors if entry else {},
        "saved": entry is not None and not entry.errors,
        "saved_text": SAVED,
        "token": token,
        "csrf": await csrf_token(request, PURPOSE, token),
    }
    return render_page(request, "preferences.html.j2", context, status=status, headers=NO_STORE)


async def show(request: Request) -> Response:
    """The page with the subscriber's current choices."""
    token = link_token(request)
    return await _page(request, token, await _subscriptions(request, token))


def read_entry(ctx: WebContext, form: FormData) -> Entry:
    """Every field of the form, validated against the config; problems in ``errors``."""
    config = ctx.config
    known = {d.id for d in config.digests}
    wanted = form_list(form, "digest")
    if not set(wanted) <= known:
        bad_request("digest 값이 올바르지 않습니다.")
    entry = Entry()
    for digest in config.digests:
        ticked = form_list(form, f"sections-{digest.id}")
        entry.ticked[digest.id] = ticked
        if digest.id not in wanted:
            entry.choices[digest.id] = None
            continue
        try:
            entry.choices[digest.id] = stored_sections(config, digest.id, ticked)
        except ValueError:
            entry.errors[f"sections-{digest.id}"] = "받을 섹션을 하나 이상 골라 주세요."
    resume = form_text(form, "action", max_length=10) == "resume"
    entry.pause_text = "" if resume else form_text(form, "paused_until", max_length=20).strip()
    _read_pause(ctx, entry)
    return entry


def _read_pause(ctx: WebContext, entry: Entry) -> None:
    """The pause date: empty (not paused), or a day after today within a year."""
    if not entry.pause_text:
        return
    today = _today(ctx)
    try:
        day = date.fromisoformat(entry.pause_text)
    except ValueError:
        day = None
    if day is None or len(entry.pause_text) != 10 or not today < day <= today + MAX_PAUSE:
        last = (today + MAX_PAUSE).isoformat()
        entry.errors["paused_until"] = (
            f"내일부터 {last} 사이의 날짜를 YYYY-MM-DD 형식으로 골라 주세요."
        )
        return
    entry.paused_until = datetime.combine(day, time(0), tzinfo=ctx.config.timezone)


async def save(request: Request) -> Response:
    """Validate the form, then apply every choice in one transaction."""
    token = link_token(request)
    form = await read_form(request)
    subscriptions = await _subscriptions(request, token)
    await check_csrf(request, form, PURPOSE, token)
    ctx = context_of(request)
    entry = read_entry(ctx, form)
    if entry.errors:
        return await _page(request, token, subscriptions, entry, status=400)
    person, now = subscriptions[0].subscriber.id, ctx.now()
    saved = await run_in_threadpool(
        lambda: ctx.store.set_preferences(
            person, entry.choices, paused_until=entry.paused_until, now=now
        )
    )
    return await _page(request, token, saved, entry)


async def endpoint(request: Request) -> Response:
    """GET shows the page, POST saves it."""
    return await (save if request.method == "POST" else show)(request)


def routes(ctx: WebContext) -> list[BaseRoute]:
    """The preferences page and its POST."""
    return [Route("/preferences", endpoint, methods=["GET", "POST"])]
