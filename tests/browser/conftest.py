"""Fixtures of the browser tests: one Chromium per test session, fresh pages per test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.chromium import CHROMIUM_ENV, Chromium, chromium_path
from tests.conftest import ROOT, invoke_syndicate


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


@pytest.fixture(scope="session")
def delivered_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled example after ``run --once``: its store, feeds and outbox (read only).

    Built once per test worker; tests that change the store make a site of their own.
    """
    site = tmp_path_factory.mktemp("delivered")
    shutil.copy(ROOT / "schedules.yaml", site / "schedules.yaml")
    shutil.copytree(ROOT / "examples", site / "examples")
    for step in (
        ["db", "upgrade"],
        ["subscribers", "import", "examples/subscribers.csv"],
        ["run", "--once"],
    ):
        result = invoke_syndicate(*step, cwd=site)
        assert result.returncode == 0, (step, result.stdout, result.stderr)
    return site
