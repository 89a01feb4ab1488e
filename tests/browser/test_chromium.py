"""The browser fixture itself: it leaves asyncio usable for the other tests of a worker."""

from __future__ import annotations

import asyncio

from tests.browser.chromium import Chromium


def test_asyncio_usable_between_browser_tests(chromium_session: Chromium) -> None:
    async def answer() -> int:
        return 42

    assert asyncio.run(answer()) == 42  # Playwright's loop is parked between tests


def test_pages_reach_nothing_but_127_0_0_1(chromium: Chromium) -> None:
    page = chromium.page()
    failures: list[str | None] = []
    page.on("requestfailed", lambda request: failures.append(request.failure))
    page.set_content('<img alt="" src="https://news.example.kr/logo.png">')
    # aborted by the context's route (a real lookup would fail with ERR_NAME_NOT_RESOLVED)
    assert failures == ["net::ERR_FAILED"]
