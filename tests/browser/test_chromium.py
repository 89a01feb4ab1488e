"""The browser fixture and check_page themselves: what they refuse, what they leave usable."""

from __future__ import annotations

import asyncio

import pytest

from tests.browser.chromium import PHONE, Chromium, check_page

pytestmark = pytest.mark.xdist_group("browser")  # one Chromium, one example site


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


def test_check_page_names_each_serious_violation(chromium: Chromium) -> None:
    page = chromium.page(PHONE)
    page.set_content(
        '<html lang="ko"><title>시험</title><main><h1>제목</h1><img src="data:,">'
        '<p style="color:#aaa">흐린 글씨</p></main>'
    )
    with pytest.raises(AssertionError) as failed:
        check_page(page, "selftest/violations")
    report = str(failed.value)
    assert "image-alt (critical)" in report and "color-contrast (serious)" in report
    assert "<img src=" in report  # the element itself, for whoever fixes it


def test_check_page_refuses_sideways_scrolling(chromium: Chromium) -> None:
    page = chromium.page(PHONE)
    page.set_content(
        '<html lang="ko"><title>시험</title><main><h1>제목</h1>'
        '<div style="width:600px">넓은 상자</div></main>'
    )
    with pytest.raises(AssertionError, match=r"scrolls sideways by 2\d\dpx at 375px"):
        check_page(page, "selftest/overflow")
