"""Hostile folder contents: only regular files from inside the folder are read, nothing blocks."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.hostile.folder_helpers import (
    GOOD,
    GOOD_TITLES,
    collect_folder,
    good_folder,
    read_bounded,
    read_here,
)


def secret_outside(tmp_path: Path) -> Path:
    outside = tmp_path / "private"
    outside.mkdir()
    (outside / "secret.md").write_text(GOOD.format(title="SECRET"), encoding="utf-8")
    return outside


def test_symlinks_out_of_the_folder_are_not_followed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outside = secret_outside(tmp_path)
    folder = good_folder(tmp_path / "posts")
    (folder / "leak.md").symlink_to(outside / "secret.md")
    (folder / "leakdir").symlink_to(outside)
    (folder / "sub").mkdir()
    (folder / "sub" / "up.md").symlink_to("../../private/secret.md")
    read = read_here(folder, caplog)
    assert read.titles == GOOD_TITLES
    assert read.warned("leak.md", "outside the folder")
    assert read.warned("leakdir", "outside the folder")
    assert read.warned("up.md", "outside the folder")


def test_symlink_leak_is_not_stored(
    tmp_path: Path, write_config: Callable[..., Path], sqlite_url: str
) -> None:
    outside = secret_outside(tmp_path)
    folder = good_folder(tmp_path / "posts")
    (folder / "leak.md").symlink_to(outside / "secret.md")
    (folder / "passwd.md").symlink_to("/etc/passwd")
    stored, errors = collect_folder(folder, write_config, sqlite_url)
    assert stored == sorted(GOOD_TITLES) and errors == []


def test_symlinks_inside_the_folder(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = good_folder(tmp_path / "posts")
    (folder / "sub").mkdir()
    (folder / "sub" / "column.md").write_text(GOOD.format(title="칼럼"), encoding="utf-8")
    (folder / "latest.md").symlink_to("sub/column.md")
    (folder / "again").symlink_to("sub")
    (folder / "loop").symlink_to("loop")
    read = read_here(folder, caplog)
    assert read.titles == [*GOOD_TITLES, "칼럼", "칼럼"]
    assert read.warned("again", "symlink to a folder; not followed")
    assert len(read.warnings) == 1


def make_device(path: Path) -> bool:
    """Create a /dev/zero-like character device at ``path`` if allowed; return whether it was."""
    try:
        os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 5))
    except OSError:
        return False
    return True


def test_special_files_are_skipped_without_blocking(tmp_path: Path) -> None:
    folder = good_folder(tmp_path / "posts")
    os.mkfifo(folder / "pipe.md")
    (folder / "zero.md").symlink_to("/dev/zero")
    (folder / "tty.md").symlink_to("/dev/tty")
    (folder / "broken.md").symlink_to(folder / "missing.md")
    device = make_device(folder / "device.md")
    read = read_bounded(folder, timeout=30)
    assert read.titles == GOOD_TITLES
    assert read.warned("pipe.md", "not a regular file")
    assert read.warned("zero.md", "not followed")
    assert read.warned("tty.md", "not followed")
    assert read.warned("broken.md", "broken symlink")
    assert not device or read.warned("device.md", "not a regular file")


def test_folder_named_like_an_article_is_a_folder(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = good_folder(tmp_path / "posts")
    (folder / "archive.md").mkdir()
    (folder / "archive.md" / "old.md").write_text(GOOD.format(title="옛글"), encoding="utf-8")
    read = read_here(folder, caplog)
    assert read.titles == ["옛글", *GOOD_TITLES] and read.warnings == []


def test_hidden_and_editor_files_are_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = good_folder(tmp_path / "posts")
    for name in (".draft.md", ".#good-0.md", "good-0.md~", "#good-0.md#", ".good-0.md.swp"):
        (folder / name).write_text(GOOD.format(title=name), encoding="utf-8")
    (folder / ".git").mkdir()
    (folder / ".git" / "x.md").write_text(GOOD.format(title="git"), encoding="utf-8")
    read = read_here(folder, caplog)
    assert read.titles == GOOD_TITLES and read.warnings == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_file_is_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = good_folder(tmp_path / "posts")
    locked = folder / "locked.md"
    locked.write_text(GOOD.format(title="locked"), encoding="utf-8")
    locked.chmod(0)
    read = read_here(folder, caplog)
    assert read.titles == GOOD_TITLES and read.warned("locked.md", "cannot read")


def test_very_deep_folders_stay_bounded(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = good_folder(tmp_path / "posts")
    deep = folder.joinpath(*["d"] * 60)
    deep.mkdir(parents=True)
    (deep / "deep.md").write_text(GOOD.format(title="깊은 글"), encoding="utf-8")
    read = read_here(folder, caplog)
    assert read.titles == GOOD_TITLES
    assert read.warned("/d/d/d", "folders deep")
