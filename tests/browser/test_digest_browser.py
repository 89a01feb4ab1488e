"""The digest e-mail as Chromium shows it: phone and desktop widths, light and dark.

The HTML is the one the pipeline writes for the bundled example (``run --once`` with
the file delivery), taken from the .eml of the reader who gets every section.
"""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.browser.chromium import PHONE, Chromium, ColorScheme, check_page, screenshot

pytestmark = pytest.mark.xdist_group("browser")  # one Chromium, one example site

EMAIL_WIDTH = 700
EVERY_SECTION = "choi.yuna@example.com"  # examples/subscribers.csv: no sections = all


@pytest.fixture(scope="module")
def digest_html(delivered_site: Path) -> str:
    """The HTML part of the digest delivered to the reader who gets every section."""
    return _html_part_for(delivered_site / "outbox", EVERY_SECTION)


def _html_part_for(outbox: Path, address: str) -> str:
    for path in outbox.glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        if message["To"].addresses[0].addr_spec == address:
            body = message.get_body(("html",))
            assert body is not None, path
            return str(body.get_content())
    raise AssertionError(f"no message to {address} in {outbox}")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_digest_in_chromium(chromium: Chromium, digest_html: str, scheme: ColorScheme) -> None:
    page = chromium.page(EMAIL_WIDTH, color_scheme=scheme)
    page.set_content(digest_html)
    assert page.evaluate("document.documentElement.lang") == "ko"
    dark = page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
    assert dark == (scheme == "dark")
    screenshot(page, f"digest/{scheme}")
    page.set_viewport_size({"width": PHONE, "height": 900})
    check_page(page, f"digest/{scheme}")  # axe once per scheme: the widths share the DOM
    container = page.locator("table.container").bounding_box()
    assert container is not None and container["width"] <= PHONE
    # every section of the example that has articles (tests/test_cli.py SECTIONS_OF)
    assert page.get_by_role("heading", level=2).count() == 8
    assert page.get_by_role("link", name="수신 거부").get_attribute("href")
