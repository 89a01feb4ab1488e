"""Hostile front matter: one bad file is a warning naming it; the folder's good files are kept."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.hostile.folder_helpers import (
    GOOD_TITLES,
    collect_folder,
    good_folder,
    read_bounded,
    read_here,
)

DEEP = {
    "flow-50000": "categories: " + "[" * 50_000 + "]" * 50_000,
    "flow-30000": "categories: " + "[" * 30_000 + "]" * 30_000,
    "block-40000": "categories:\n" + "- " * 40_000 + "x",
    "mapping-15000": "extra: " + "{a: " * 15_000 + "1" + "}" * 15_000,
    "complex-keys": "? " * 20_000 + "x",
}


def bomb(levels: int = 9, width: int = 9) -> str:
    """YAML "billion laughs": each anchor is a list of ``width`` aliases of the one before."""
    lines = ["a0: &a0 [" + ", ".join(['"lol"'] * width) + "]"]
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * width) + "]")
    return "\n".join([*lines, f"categories: *a{levels - 1}"])


def write_bad(folder: Path, front: str, name: str = "bad.md") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"---\ntitle: 나쁜 글\n{front}\n---\n본문\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("front", DEEP.values(), ids=DEEP.keys())
def test_deeply_nested_front_matter_is_one_warning(
    tmp_path: Path, front: str, caplog: pytest.LogCaptureFixture
) -> None:
    folder = good_folder(tmp_path / "posts")
    write_bad(folder, front)
    read = read_here(folder, caplog)
    assert read.titles == GOOD_TITLES
    assert read.warned("bad.md", "front matter")


def test_deep_front_matter_does_not_stop_collecting(
    tmp_path: Path, write_config: Callable[..., Path], store_url: str
) -> None:
    folder = good_folder(tmp_path / "posts")
    write_bad(folder, DEEP["flow-50000"], "2024/deep.md")
    stored, errors = collect_folder(folder, write_config, store_url)
    assert stored == sorted(GOOD_TITLES) and errors == []


@pytest.mark.parametrize(
    "front",
    [bomb(), bomb(levels=30, width=2), "a: &a [*a, *a]\ncategories: *a"],
    ids=["9x9", "2^30", "self-reference"],
)
def test_alias_bombs_are_refused_within_bounds(tmp_path: Path, front: str) -> None:
    folder = good_folder(tmp_path / "posts")
    write_bad(folder, front)
    read = read_bounded(folder, timeout=30)
    assert read.titles == GOOD_TITLES
    assert read.warned("bad.md")


def test_alias_bomb_in_categories_is_not_stored(
    tmp_path: Path, write_config: Callable[..., Path], sqlite_url: str
) -> None:
    folder = good_folder(tmp_path / "posts")
    write_bad(folder, bomb(levels=4, width=20))
    stored, errors = collect_folder(folder, write_config, sqlite_url)
    assert stored == sorted(GOOD_TITLES) and errors == []


@pytest.mark.parametrize(
    ("front", "reason"),
    [
        ("extra: !!binary aGVsbG8=", "binary"),
        ("title2: !!python/object/apply:os.system ['echo pwned']", "constructor"),
        ("extra: !!python/name:os.system", "constructor"),
        ("? [a, b]\n: c", "bad YAML"),
    ],
    ids=["binary", "python-apply", "python-name", "list-key"],
)
def test_unsafe_tags_and_unhashable_keys_are_refused(
    tmp_path: Path, front: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    folder = good_folder(tmp_path / "posts")
    write_bad(folder, front)
    read = read_here(folder, caplog)
    assert read.titles == GOOD_TITLES
    assert read.warned("bad.md", reason)


def test_binary_title_is_not_published(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = good_folder(tmp_path / "posts")
    (folder / "bin.md").write_text("---\ntitle: !!binary aGVsbG8=\n---\nx\n", encoding="utf-8")
    read = read_here(folder, caplog)
    assert read.titles == GOOD_TITLES and read.warned("bin.md", "binary")


def test_odd_keys_and_values_are_read_as_text(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = good_folder(tmp_path / "posts")
    digits = "7" * 5000
    (folder / "digits.md").write_text(
        f"---\ntitle: {digits}\n1: one\nnull: none\ntrue: yes\n2024-01-01: day\n"
        f"categories: [1, 2.5, true, null, 2024-01-01, 0b{'1' * 20000}]\n---\n본문\n",
        encoding="utf-8",
    )
    (folder / "date.md").write_text("---\ntitle: 날짜\ndate: 2024-13-45\n---\nx\n", "utf-8")
    read = read_here(folder, caplog)
    assert read.titles == [digits, *GOOD_TITLES]
    assert read.warned("date.md", "bad date '2024-13-45'")


def test_lone_surrogates_and_nul_in_front_matter_are_cleaned_and_stored(
    tmp_path: Path, write_config: Callable[..., Path], store_url: str
) -> None:
    folder = good_folder(tmp_path / "posts")
    (folder / "sur.md").write_text(
        '---\ntitle: "깨진 \\ud800 제목"\nid: "\\udc00-id"\nauthor: "a\\x00b"\n'
        'categories: ["\\ud83d\\ude00", "\\udfff"]\n---\n본문\n',
        encoding="utf-8",
    )
    stored, errors = collect_folder(folder, write_config, store_url)
    assert errors == []
    assert stored == sorted([*GOOD_TITLES, "깨진 \ufffd 제목"])


def test_invalid_bytes_and_names_skip_one_file(
    tmp_path: Path, write_config: Callable[..., Path], sqlite_url: str
) -> None:
    folder = good_folder(tmp_path / "posts")
    (folder / "bytes.md").write_bytes(b"---\ntitle: \x81\x8d\x8f\x90\x9d\n---\nx\n")
    (folder / "nul.md").write_bytes(b"---\ntitle: nul\n---\nx\x00y\n")
    Path(os.fsdecode(bytes(folder) + b"/bad\xffname.md")).write_bytes(b"---\ntitle: name\n---\nx\n")
    stored, errors = collect_folder(folder, write_config, sqlite_url)
    assert stored == sorted(GOOD_TITLES) and errors == []
