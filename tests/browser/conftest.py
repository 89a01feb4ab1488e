"""Fixtures of the browser tests: one Chromium per test session, fresh pages per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser.chromium import CHROMIUM_ENV, Chromium, chromium_path


@pytest.fixture(scope="session")
def chromium_session() -> Iterator[Chromium]:
    """The session's browser; skips (saying why) where no Chromium is installed."""
    executable = chromium_path()
    if executable is None:
        pytest.skip(f"no Chromium: install Debian's chromium or set {CHROMIUM_ENV}")
    chromium = Chromium.launch(executable)
    try:
        yield chromium
    finally:
        chromium.close()


@pytest.fixture
def chromium(chromium_session: Chromium) -> Iterator[Chromium]:
    """The browser for one test: ``chromium.page(375)`` opens a page in a new context."""
    with chromium_session.active() as active:
        yield active
