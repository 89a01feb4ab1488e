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
    check_both,
    check_page,
    console_errors,
    focus_ring,
    has_visible_focus,
    screenshot,
)
from tests.conftest import StartWeb

pytestmark = pytest.mark.xdist_group("browser")  # one Chromium, one example site

# (screenshot name, path under the site root, expected status) of the pages a reader
# reaches by typing or by a stale link; index, archive and an edition are reached by clicks
PAGES = [
    ("archive-morning", "archive/morning", 200),
    ("not-found", "no/such/page", 404),
    ("bad-request", "archive?page=abc", 400),
    ("bad-token", "unsubscribe?token=abc", 400),
]


def check_site_page(page: Page, name: str, *, both: bool = True) -> None:
    """``lang="ko"``, one h1, its stylesheet loaded (not refused by the CSP); then
    check_both (``both=False``: check_page at the current width only)."""
    assert page.evaluate("document.documentElement.lang") == "ko", name
    assert page.locator("h1").count() == 1, name
    stylesheets = page.evaluate("document.styleSheets.length")
    assert stylesheets >= 1, f"{name}: no stylesheet loaded"
    (check_both if both else check_page)(page, f"site/{name}")


def assert_room_under_header(page: Page, name: str) -> None:
    gap = page.evaluate(
        "document.querySelector('main').firstElementChild.getBoundingClientRect().top"
        " - document.querySelector('header').getBoundingClientRect().bottom"
    )
    assert gap >= 16, f"{name}: the page's content touches the header ({gap}px)"


def test_a_reader_finds_a_past_edition(
    chromium: Chromium, delivered_site: Path, web_server: StartWeb
) -> None:
    site = web_server(delivered_site / "schedules.yaml", upgrade=False)
    page = chromium.page(PHONE)
    errors = console_errors(page)
    page.goto(site.url)
    check_site_page(page, "index")
    assert_room_under_header(page, "index")
    rings = []
    for _ in range(4):
        page.keyboard.press("Tab")
        rings.append(focus_ring(page))
        assert has_visible_focus(rings[-1]), rings[-1]
    assert rings[0]["text"] == "본문으로 건너뛰기"  # the skip link comes first...
    for _ in range(3):
        page.keyboard.press("Shift+Tab")
    assert focus_ring(page)["text"] == "본문으로 건너뛰기"
    box = page.get_by_role("link", name="본문으로 건너뛰기").bounding_box()
    assert box is not None and box["x"] >= 0 and box["y"] >= 0  # ...and shows when focused

    page.get_by_role("navigation", name="사이트").get_by_role("link", name="지난 호").click()
    assert page.url == site.at("archive")
    check_site_page(page, "archive")
    page.get_by_role("link", name="예시뉴스 아침 브리핑 · 2026년").first.click()
    assert page.url.startswith(site.at("archive/morning/"))
    assert page.get_by_role("heading", level=2).count() == 8  # every section of the edition
    # the digest template again, checked like the e-mail: axe at 375 px (its one
    # width-dependent rule changes padding and type size), a screenshot at 1280 px
    check_site_page(page, "edition", both=False)
    page.set_viewport_size({"width": DESKTOP, "height": 900})
    screenshot(page, "site/edition")
    html = page.content().lower()
    readers = (delivered_site / "examples/subscribers.csv").read_text(encoding="utf-8")
    for line in readers.lower().splitlines()[1:]:
        assert line.split(",")[0] not in html  # no subscriber's address on the public page
    assert errors == [], "console errors (a refused stylesheet or script?)"


def test_typed_and_stale_addresses(
    chromium: Chromium, delivered_site: Path, web_server: StartWeb
) -> None:
    site = web_server(delivered_site / "schedules.yaml", upgrade=False)
    page = chromium.page(PHONE)
    errors = console_errors(page)
    for name, path, status in PAGES:
        response = page.goto(site.at(path))
        assert response is not None and response.status == status, (path, response)
        check_site_page(page, name)
        assert_room_under_header(page, name)
    assert errors == [], "console errors (a refused stylesheet or script?)"
