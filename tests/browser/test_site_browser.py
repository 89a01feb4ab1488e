"""Every page the web side serves, in Chromium at phone and desktop widths.

The site is the bundled example after one ``run --once`` (so the archive has an edition),
served by the real app under uvicorn on 127.0.0.1.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.browser.chromium import (
    DESKTOP,
    PHONE,
    Chromium,
    check_page,
    console_errors,
    focus_ring,
    has_visible_focus,
)
from tests.conftest import StartWeb

# (screenshot name, path under the site root, expected status)
PAGES = [
    ("index", "", 200),
    ("archive", "archive", 200),
    ("archive-morning", "archive/morning", 200),
    ("not-found", "no/such/page", 404),
    ("bad-request", "archive?page=abc", 400),
]


def assert_korean_page(page: Page, name: str) -> None:
    """``lang="ko"``, one h1, its stylesheet loaded (not refused by the CSP); then check_page."""
    assert page.evaluate("document.documentElement.lang") == "ko", name
    assert page.locator("h1").count() == 1, name
    stylesheets = page.evaluate("document.styleSheets.length")
    assert stylesheets >= 1, f"{name}: no stylesheet loaded"
    check_page(page, f"site/{name}")


@pytest.mark.parametrize("width", [PHONE, DESKTOP])
def test_every_page_passes_axe_and_fits(
    chromium: Chromium, delivered_site: Path, web_server: StartWeb, width: int
) -> None:
    site = web_server(delivered_site / "schedules.yaml", upgrade=False)
    page = chromium.page(width)
    errors = console_errors(page)
    for name, path, status in PAGES:
        response = page.goto(site.at(path))
        assert response is not None and response.status == status, (path, response)
        assert_korean_page(page, name)
        gap = page.evaluate(
            "document.querySelector('main').firstElementChild.getBoundingClientRect().top"
            " - document.querySelector('header').getBoundingClientRect().bottom"
        )
        assert gap >= 16, f"{name}: the page's content touches the header ({gap}px)"
    assert errors == [], "console errors (a refused stylesheet or script?)"


@pytest.mark.parametrize("width", [PHONE, DESKTOP])
def test_a_reader_finds_a_past_edition(
    chromium: Chromium, delivered_site: Path, web_server: StartWeb, width: int
) -> None:
    site = web_server(delivered_site / "schedules.yaml", upgrade=False)
    page = chromium.page(width)
    errors = console_errors(page)
    page.goto(site.url)
    page.get_by_role("navigation", name="사이트").get_by_role("link", name="지난 호").click()
    assert page.url == site.at("archive")
    page.get_by_role("link", name="예시뉴스 아침 브리핑 · 2026년").first.click()
    assert page.url.startswith(site.at("archive/morning/"))
    assert page.get_by_role("heading", level=2).count() == 8  # every section of the edition
    assert_korean_page(page, "edition")
    html = page.content().lower()
    readers = (delivered_site / "examples/subscribers.csv").read_text(encoding="utf-8")
    for line in readers.lower().splitlines()[1:]:
        assert line.split(",")[0] not in html  # no subscriber's address on the public page
    assert errors == []


def test_keyboard_focus_is_visible(
    chromium: Chromium, delivered_site: Path, web_server: StartWeb
) -> None:
    site = web_server(delivered_site / "schedules.yaml", upgrade=False)
    page = chromium.page(PHONE)
    page.goto(site.url)
    seen = []
    for _ in range(4):
        page.keyboard.press("Tab")
        ring = focus_ring(page)
        seen.append(ring)
        assert has_visible_focus(ring), ring
    assert seen[0]["text"] == "본문으로 건너뛰기"  # the skip link comes first
