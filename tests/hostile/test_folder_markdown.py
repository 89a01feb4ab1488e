"""Hostile Markdown: a document too large, too deep or too slow is one warning, within bounds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.hostile.folder_helpers import GOOD_TITLES, collect_folder, good_folder, read_bounded

PARAGRAPH = "이것은 **기사** 본문입니다. [링크](https://news.example.kr/) 그리고 *강조*.\n\n"

HOSTILE = {
    "list-3000-indented": "".join("  " * i + "- 항목\n" for i in range(3000)),
    "list-3000-one-line": "- " * 3000 + "x\n",
    "ordered-3000-one-line": "1. " * 3000 + "x\n",
    "quote-list-3000": "> - " * 3000 + "x\n",
    "15-MB": PARAGRAPH * (15_000_000 // len(PARAGRAPH.encode())),
    "brackets-200k": "[" * 200_000,
    "images-100k": "![" * 50_000,
    "setext-lines": "-\n" * 60_000,
    "md-in-html-400": '<div markdown="1">\n' * 400 + "x\n" + "</div>\n" * 400,
    "abbreviations": "".join(f"*[A{i}]: x\n" for i in range(8000)) + "A1 " * 100,
}
# Each slow case takes minutes; a lower CPU limit than the real one shows the same stop.
CPU_SECONDS = 0.5


def write_markdown(folder: Path, body: str, name: str = "bad.md") -> None:
    (folder / name).write_text(f"---\ntitle: 나쁜 글\n---\n{body}", encoding="utf-8")


@pytest.mark.parametrize("body", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_markdown_is_one_warning_within_bounds(tmp_path: Path, body: str) -> None:
    folder = good_folder(tmp_path / "posts")
    write_markdown(folder, body)
    read = read_bounded(folder, timeout=60, markdown_seconds=CPU_SECONDS)
    assert read.titles == GOOD_TITLES
    assert read.warned("bad.md", "Markdown")


def test_deep_markdown_does_not_stop_collecting(
    tmp_path: Path, write_config: Callable[..., Path], sqlite_url: str
) -> None:
    folder = good_folder(tmp_path / "posts")
    write_markdown(folder, HOSTILE["list-3000-one-line"])
    write_markdown(folder, HOSTILE["md-in-html-400"], "html.md")
    stored, errors = collect_folder(folder, write_config, sqlite_url)
    assert stored == sorted(GOOD_TITLES) and errors == []


def test_ordinary_nesting_is_converted(tmp_path: Path) -> None:
    body = "".join("    " * i + f"- 단계 {i}\n" for i in range(8)) + "\n> 인용\n> > 안쪽\n"
    folder = good_folder(tmp_path / "posts")
    write_markdown(folder, body, "nested.md")
    read = read_bounded(folder)
    assert read.titles == [*GOOD_TITLES, "나쁜 글"] and read.warnings == []
