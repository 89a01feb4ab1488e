"""`syndicate collect` on a folder holding every kind of bad file: exit 0, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from syndicate.store import Store
from tests.hostile.folder_helpers import GOOD, GOOD_TITLES, good_folder


def hostile_folder(tmp_path: Path) -> Path:
    """A folder with two good files and one of each kind of bad file."""
    folder = good_folder(tmp_path / "posts")
    (tmp_path / "secret.md").write_text(GOOD.format(title="SECRET"), encoding="utf-8")
    bad = {
        "deep.md": "---\ntitle: x\ncategories: " + "[" * 50_000 + "]" * 50_000 + "\n---\nx\n",
        "surrogate.md": '---\ntitle: "제목 \\ud800"\nid: "\\udc00"\n---\n본문\n',
        "deep-list.md": "---\ntitle: 목록\n---\n" + "- " * 3000 + "x\n",
        "digits.md": "---\ntitle: 숫자\ndate: 2024-13-45\n---\nx\n",
    }
    for name, text in bad.items():
        (folder / name).write_text(text, encoding="utf-8")
    Path(os.fsdecode(bytes(folder) + b"/\xffname.md")).write_bytes(b"---\ntitle: n\n---\nx\n")
    (folder / "leak.md").symlink_to(tmp_path / "secret.md")
    os.mkfifo(folder / "pipe.md")
    return folder


def test_collect_command_survives_a_hostile_folder(
    tmp_path: Path, write_config: Callable[..., Path]
) -> None:
    folder = hostile_folder(tmp_path)
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    source = {"id": "op", "kind": "folder", "location": str(folder), "section": "it"}
    config = write_config(sources=[source], store=store_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
    base = [sys.executable, "-m", "syndicate", "-c", str(config)]
    for step in (["db", "upgrade"], ["collect"]):
        done = subprocess.run(
            [*base, *step], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Traceback" not in done.stderr and "Logging error" not in done.stderr
    assert "op: 3 new" in done.stdout
    for name in ("deep.md", "deep-list.md", "name.md", "leak.md", "pipe.md", "digits.md"):
        assert name in done.stderr
    with Store(store_url) as store:
        titles = sorted(a.title for a in store.latest_articles(limit=100))
    assert titles == sorted([*GOOD_TITLES, "제목 \ufffd"])
