"""Real Chromium for the browser tests: the session's browser, page checks, screenshots.

Playwright drives Debian's ``chromium`` package (it cannot download a browser of its own
here). The sync API leaves its event loop marked as running in the test thread after
every call, which would make ``asyncio.run`` fail in any later test of the same worker;
:class:`Chromium` therefore parks the loop between browser tests and resumes it only
while one runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    sync_playwright,
)

from tests.conftest import ROOT

CHROMIUM_ENV = "SYNDICATE_CHROMIUM"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "screenshots"
PHONE = 375
DESKTOP = 1280
BLOCKING_IMPACTS = frozenset({"serious", "critical"})
# Every request that does not go to the test server on 127.0.0.1 is refused: the tests
# never reach the network (a digest's images point at the publisher's https host).
OUTSIDE = re.compile(r"^(?!https?://127\.0\.0\.1[:/]|data:|about:)")

ColorScheme = Literal["light", "dark"]


def chromium_path() -> str | None:
    """The Chromium binary: ``$SYNDICATE_CHROMIUM``, else ``chromium`` on the PATH."""
    return os.environ.get(CHROMIUM_ENV) or shutil.which("chromium")


@dataclass
class Chromium:
    """One browser for the test session; its event loop runs only inside :meth:`active`."""

    playwright: Playwright
    browser: Browser
    loop: asyncio.AbstractEventLoop
    contexts: list[BrowserContext] = field(default_factory=list)

    @classmethod
    def launch(cls, executable: str) -> Chromium:
        """Start Playwright and Chromium, then park the loop."""
        playwright = sync_playwright().start()
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        chromium = cls(playwright, browser, asyncio.get_running_loop())
        chromium.park()
        return chromium

    def park(self) -> None:
        """Unmark Playwright's loop as running, so other tests may use asyncio."""
        asyncio._set_running_loop(None)

    def resume(self) -> None:
        """Mark Playwright's loop as running again before any Playwright call."""
        asyncio._set_running_loop(self.loop)

    @contextlib.contextmanager
    def active(self) -> Iterator[Chromium]:
        """Resume for one test; close the pages it opened and park again afterwards."""
        self.resume()
        try:
            yield self
        finally:
            for context in self.contexts:
                context.close()
            self.contexts.clear()
            self.park()

    def page(
        self, width: int = PHONE, *, color_scheme: ColorScheme = "light", javascript: bool = True
    ) -> Page:
        """A page in a fresh context: Korean locale, Seoul time, no network but 127.0.0.1."""
        context = self.browser.new_context(
            viewport={"width": width, "height": 900},
            color_scheme=color_scheme,
            java_script_enabled=javascript,
            locale="ko-KR",
            timezone_id="Asia/Seoul",
        )
        context.route(OUTSIDE, lambda route: route.abort())
        self.contexts.append(context)
        return context.new_page()

    def close(self) -> None:
        """Close the browser and stop Playwright (the loop is resumed for it)."""
        self.resume()
        try:
            self.browser.close()
        finally:
            self.playwright.stop()


def screenshot(page: Page, name: str) -> Path:
    """Write a full-page screenshot to ``screenshots/<name>-<width>.png`` and return its path."""
    width = page.viewport_size["width"] if page.viewport_size else 0
    path = SCREENSHOTS / f"{name}-{width}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=path, full_page=True)
    return path


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Run axe-core on the page; its violations.

    The axe.min.js bundled with axe-playwright-python is injected once per document
    (a second check of the same page at another width reuses it).
    """
    from axe_playwright_python.base import AXE_SCRIPT

    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE_SCRIPT)
    results: dict[str, Any] = page.evaluate(
        "options => axe.run(document, options)", {"resultTypes": ["violations"]}
    )
    violations: list[dict[str, Any]] = results["violations"]
    return violations


def axe_report(violations: list[dict[str, Any]]) -> str:
    """Violations as lines a person can act on: rule, impact, help, then each element."""
    lines = []
    for violation in violations:
        lines.append(
            f"{violation['id']} ({violation['impact']}): {violation['help']}"
            f" <{violation['helpUrl']}>"
        )
        for node in violation["nodes"]:
            summary = " ".join(node.get("failureSummary", "").split())
            lines.append(f"    {' > '.join(map(str, node['target']))}: {summary}")
            lines.append(f"        {node['html'][:200]}")
    return "\n".join(lines)


def horizontal_overflow(page: Page) -> int:
    """How many CSS pixels the document is wider than the viewport (0 when it fits)."""
    overflow: int = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    return max(overflow, 0)


def check_page(page: Page, name: str) -> Path:
    """Screenshot the page, then assert it passes axe (nothing serious or critical) and,
    on a phone-wide viewport, that it needs no horizontal scrolling. Returns the screenshot.
    """
    shot = screenshot(page, name)
    blocking = [v for v in axe_violations(page) if v["impact"] in BLOCKING_IMPACTS]
    assert not blocking, f"axe on {name} ({page.url}):\n{axe_report(blocking)}"
    width = page.viewport_size["width"] if page.viewport_size else 0
    if width <= PHONE:
        overflow = horizontal_overflow(page)
        assert overflow == 0, f"{name} scrolls sideways by {overflow}px at {width}px ({shot})"
    return shot


def focus_ring(page: Page) -> dict[str, str]:
    """The focused element's tag and the computed styles that can draw its focus ring."""
    ring: dict[str, str] = page.evaluate(
        """() => { const el = document.activeElement; const s = getComputedStyle(el);
        return {tag: el.tagName.toLowerCase(), text: (el.textContent || el.name || '').trim(),
                outlineStyle: s.outlineStyle, outlineWidth: s.outlineWidth,
                boxShadow: s.boxShadow}; }"""
    )
    return ring


def has_visible_focus(ring: dict[str, str]) -> bool:
    """True when the focus ring is drawn: a solid-ish outline of some width, or a shadow."""
    outline = ring["outlineStyle"] != "none" and float(ring["outlineWidth"].rstrip("px")) > 0
    return outline or ring["boxShadow"] not in ("", "none")


def console_errors(page: Page) -> list[str]:
    """Collect the page's console errors from now on (CSP refusals show up there),
    except the one Chromium logs for a document answered with an error status and
    the loads of outside images the test's closed network aborts (a CSP refusal
    reads "Refused to load ...", and is still collected)."""
    errors: list[str] = []

    def record(message: ConsoleMessage) -> None:
        url = message.location.get("url", "")
        aborted = "net::ERR_FAILED" in message.text and not url.startswith("http://127.0.0.1")
        if message.type == "error" and url != page.url and not aborted:
            errors.append(f"{url}: {message.text}")

    page.on("console", record)
    return errors


def check_both(page: Page, name: str) -> None:
    """check_page at phone width, then at desktop width (same document), back to the phone."""
    check_page(page, name)
    page.set_viewport_size({"width": DESKTOP, "height": 900})
    check_page(page, name)
    page.set_viewport_size({"width": PHONE, "height": 900})
