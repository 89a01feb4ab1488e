"""Helpers for the folder-source hostile cases: build a folder, read it under bounds, collect it."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from syndicate.collect import collect_all
from syndicate.config import load_config
from syndicate.config_sources import FolderSource
from syndicate.sources.folder import read_folder
from syndicate.store import Store

GOOD = "---\ntitle: {title}\ndate: 2024-05-01T09:00\n---\n**{title}** 본문입니다.\n"
GOOD_TITLES = ["좋은 글 하나", "좋은 글 둘"]
SECTIONS = {"it", "economy", "society"}
MEMORY_LIMIT = 2 << 30
TIMEOUT = 60.0

_SCRIPT = """
import json, logging, resource, sys
from zoneinfo import ZoneInfo
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[2]), int(sys.argv[2])))
from syndicate.config_sources import FolderSource, SourceConfig
from syndicate.sources import markup
from syndicate.sources.folder import read_folder
if sys.argv[3]:
    markup.MARKDOWN_SECONDS = float(sys.argv[3])
messages = []
class Keep(logging.Handler):
    def emit(self, record):
        messages.append(record.getMessage())
logging.getLogger().addHandler(Keep(logging.WARNING))
source = FolderSource(id="op", kind="folder", location=sys.argv[1], section="it")
articles = read_folder(source, zone=ZoneInfo("Asia/Seoul"), public_base_url=
    "https://news.example.kr/", sections={"it"}, max_bytes=20_000_000)
print(json.dumps({"titles": [a.title for a in articles], "warnings": messages}))
"""


@dataclass
class FolderRead:
    """What reading a folder gave: article titles and the warnings logged."""

    titles: list[str]
    warnings: list[str]

    def warned(self, name: str, reason: str = "") -> bool:
        """True when one warning names ``name`` and (if given) contains ``reason``."""
        return any(name in w and reason in w for w in self.warnings)


def good_folder(root: Path) -> Path:
    """Create ``root`` holding the two good files every case must still yield."""
    root.mkdir(parents=True, exist_ok=True)
    for index, title in enumerate(GOOD_TITLES):
        (root / f"good-{index}.md").write_text(GOOD.format(title=title), encoding="utf-8")
    return root


def read_here(folder: Path, caplog: pytest.LogCaptureFixture) -> FolderRead:
    """Read ``folder`` in this process, capturing warnings."""
    source = FolderSource(id="op", kind="folder", location=str(folder), section="it")
    with caplog.at_level(logging.WARNING):
        articles = read_folder(
            source, zone=ZoneInfo("Asia/Seoul"), public_base_url="https://news.example.kr/",
            sections=SECTIONS, max_bytes=20_000_000,
        )  # fmt: skip
    return FolderRead([a.title for a in articles], [r.getMessage() for r in caplog.records])


def read_bounded(
    folder: Path, timeout: float = TIMEOUT, markdown_seconds: float | None = None
) -> FolderRead:
    """Read ``folder`` in a subprocess limited to 2 GB and ``timeout`` seconds.

    ``markdown_seconds`` replaces the CPU time a Markdown conversion may use.
    """
    seconds = "" if markdown_seconds is None else str(markdown_seconds)
    command = [sys.executable, "-c", _SCRIPT, str(folder), str(MEMORY_LIMIT), seconds]
    try:
        done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"reading the folder took longer than {timeout:g} s")
    assert done.returncode == 0, f"reading the folder failed: {done.stderr[-2000:]}"
    data = json.loads(done.stdout.splitlines()[-1])
    return FolderRead(data["titles"], data["warnings"])


def collect_folder(
    folder: Path, write_config: Callable[..., Path], store_url: str
) -> tuple[list[str], list[str]]:
    """Collect ``folder`` as source ``op`` into a real store; return (stored titles, errors)."""
    source = {"id": "op", "kind": "folder", "location": str(folder), "section": "it"}
    config = load_config(write_config(sources=[source]))
    with Store(store_url) as store:
        store.upgrade()
        outcomes = collect_all(config, store)
        titles = sorted(a.title for a in store.latest_articles(limit=100))
    return titles, [o.error for o in outcomes if o.error]
