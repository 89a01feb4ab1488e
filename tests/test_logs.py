"""Log lines: one per event on stderr, naming what they are about; JSON for log shippers."""

from __future__ import annotations

import json
import logging
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from syndicate.logs import JsonFormatter
from tests.conftest import ROOT, invoke_syndicate, run_syndicate

TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR) \S+: ")


def project(tmp_path: Path, write_config: Callable[..., Path]) -> None:
    """A folder source, the file-delivered morning digest and one subscriber."""
    shutil.copytree(ROOT / "examples" / "opinion", tmp_path / "opinion")
    broken = {"id": "broken", "kind": "feed", "location": "missing.xml", "section": "it"}
    good = {"id": "opinion", "kind": "folder", "location": "opinion", "section": "society"}
    write_config(sources=[good, broken])
    (tmp_path / "readers.csv").write_text(
        "email,name,digest\nkim@example.com,김독자,morning\n", encoding="utf-8"
    )
    assert invoke_syndicate("db", "upgrade", cwd=tmp_path).returncode == 0
    assert invoke_syndicate("subscribers", "import", "readers.csv", cwd=tmp_path).returncode == 0


def test_json_logs_are_one_object_per_line_naming_source_digest_and_edition(
    tmp_path: Path, write_config: Callable[..., Path]
) -> None:
    project(tmp_path, write_config)
    done = run_syndicate("--log-format", "json", "-v", "run", "--once", cwd=tmp_path)
    assert done.returncode == 3  # the broken source
    events = [json.loads(line) for line in done.stderr.splitlines()]
    assert all({"time", "level", "logger", "message"} <= event.keys() for event in events)
    by_source = {event["source"]: event for event in events if "source" in event}
    assert set(by_source) == {"opinion", "broken"}
    assert by_source["broken"]["level"] == "warning"
    assert "missing.xml" in by_source["broken"]["message"]
    digests = [event for event in events if event.get("digest") == "morning"]
    assert digests
    assert all(isinstance(event["edition"], int) for event in digests)


def test_text_logs_are_one_line_per_event(
    tmp_path: Path, write_config: Callable[..., Path]
) -> None:
    project(tmp_path, write_config)
    done = run_syndicate("-v", "run", "--once", cwd=tmp_path)
    assert done.returncode == 3
    lines = done.stderr.splitlines()
    logged = [line for line in lines if TEXT_LINE.match(line)]
    assert lines == logged
    assert any("source broken failed: source 'broken': file not found" in line for line in lines)
    # one of the four files names a section the config lacks and is skipped
    assert any(line.endswith("source opinion: 3 new, 0 updated, 0 unchanged") for line in lines)


def test_an_exception_in_a_json_record_stays_on_its_line() -> None:
    try:
        raise ValueError("첫 줄\n둘째 줄")
    except ValueError:
        record = logging.LogRecord("syndicate.x", logging.ERROR, __file__, 1, "실패", (), None)
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line
    event = json.loads(line)
    assert event["message"] == "실패"
    assert "ValueError: 첫 줄\n둘째 줄" in event["exception"]
