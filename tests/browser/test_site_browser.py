"""Every page the web side serves, in Chromium at phone and desktop widths.

The site is the bundled example after one ``run --once`` (so the archive has an edition),
served by the real app under uvicorn on 127.0.0.1.
"""

from __future__ import annotations

from pathlib import Path

import pytest

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
    ("not-found", "no/such/page", 404),
]


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
        assert page.evaluate("document.documentElement.lang") == "ko"
        assert page.locator("h1").count() == 1, path
        stylesheet = page.evaluate("document.styleSheets.length")
        assert stylesheet == 1, f"{path}: the stylesheet did not load"
        check_page(page, f"site/{name}")
    assert errors == [], "console errors (a refused stylesheet or script?)"


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
