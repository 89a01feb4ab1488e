"""``syndicate check`` refuses every config that ``run --once`` would refuse, naming the key."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import BASE_CONFIG, CliOutcome, invoke_syndicate


def _store_in_a_file(tmp: Path, data: dict[str, Any]) -> None:
    (tmp / "blocker").write_text("not a folder")
    data["store"] = "sqlite:///blocker/test.db"


def _output_is_a_file(tmp: Path, data: dict[str, Any]) -> None:
    (tmp / "public").write_text("not a folder")


def _outbox_is_a_file(tmp: Path, data: dict[str, Any]) -> None:
    (tmp / "outbox").write_text("not a folder")


def _templates_missing(tmp: Path, data: dict[str, Any]) -> None:
    data["templates"] = "no-such-templates"


def _template_syntax_error(tmp: Path, data: dict[str, Any]) -> None:
    (tmp / "tpl").mkdir()
    (tmp / "tpl" / "digest.txt.j2").write_text("{% for x in %}\n", encoding="utf-8")
    data["templates"] = "tpl"


def _set(key: str, value: Any) -> Callable[[Path, dict[str, Any]], None]:
    def change(_tmp: Path, data: dict[str, Any]) -> None:
        data[key] = value

    return change


def _section_all(_tmp: Path, data: dict[str, Any]) -> None:
    data["sections"][0]["id"] = "all"


def _output_name_too_long(_tmp: Path, data: dict[str, Any]) -> None:
    data["feeds"]["output"] = "x" * 300


CASES: list[tuple[str, Callable[[Path, dict[str, Any]], None], str]] = [
    ("store-unparsable", _set("store", "sqlite//var/test.db"), "store: "),
    ("store-unknown-db", _set("store", "oracle://db/news"), "store: "),
    ("store-folder-is-a-file", _store_in_a_file, "store: "),
    ("base-url-space", _set("public_base_url", "https://news.example.kr/a b"), "public_base_url: "),
    ("section-all", _section_all, "sections[0].id: "),
    ("feeds-output-is-a-file", _output_is_a_file, "feeds.output: "),
    ("feeds-output-name-too-long", _output_name_too_long, "feeds.output: "),
    ("outbox-is-a-file", _outbox_is_a_file, "digests[0].delivery.folder: "),
    ("templates-missing", _templates_missing, "templates: "),
    ("template-syntax-error", _template_syntax_error, "templates: "),
]


def _syndicate(*args: str, cwd: Path) -> CliOutcome:
    """Run the command line in this process (what is checked is the CLI's logic)."""
    return invoke_syndicate(*args, cwd=cwd)


ARTICLE = """---
title: 시험 기사
date: 2026-11-21T10:00:00+09:00
url: https://news.example.kr/it/1
---

본문입니다.
"""


def _site(tmp_path: Path) -> dict[str, Any]:
    """A valid config with one article to collect and one stored subscriber to send it to."""
    (tmp_path / "articles").mkdir()
    (tmp_path / "articles" / "a.md").write_text(ARTICLE, encoding="utf-8")
    (tmp_path / "subscribers.csv").write_text(
        "email,name,digest\nkim@example.kr,김민지,morning\n", encoding="utf-8"
    )
    data = copy.deepcopy(BASE_CONFIG)
    data["sources"] = [{"id": "notes", "kind": "folder", "location": "articles", "section": "it"}]
    valid = tmp_path / "valid.yaml"
    valid.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    imported = _syndicate(
        "-c", str(valid), "subscribers", "import", "subscribers.csv", cwd=tmp_path
    )
    assert imported.returncode == 0, imported.stderr
    return data


@pytest.mark.parametrize(("change", "key"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_check_fails_where_run_fails(
    tmp_path: Path, change: Callable[[Path, dict[str, Any]], None], key: str
) -> None:
    data = _site(tmp_path)
    change(tmp_path, data)
    path = tmp_path / "schedules.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")

    checked = _syndicate("-c", str(path), "check", cwd=tmp_path)
    lines = checked.stderr.splitlines()
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert lines and all(line.startswith(f"{path}: ") for line in lines), lines
    assert any(line.startswith(f"{path}: {key}") for line in lines), lines
    assert "Traceback" not in checked.stderr

    ran = _syndicate("-c", str(path), "run", "--once", cwd=tmp_path)
    assert ran.returncode in (1, 3), ran.stdout + ran.stderr
    assert "Traceback" not in ran.stderr


def test_check_passes_what_run_accepts(tmp_path: Path) -> None:
    data = _site(tmp_path)
    path = tmp_path / "schedules.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert _syndicate("-c", str(path), "check", cwd=tmp_path).returncode == 0
    ran = _syndicate("-c", str(path), "run", "--once", cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "1 sent" in ran.stdout, ran.stdout
