"""Hostile subscribers files through the real command line, on SQLite and PostgreSQL.

A bad file stores nothing, every bad line is named as ``file:line: reason``, the
command exits 1 and never prints a traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from syndicate.cli import cli
from syndicate.config import load_config
from syndicate.errors import StoreError
from syndicate.model import SubscriptionState
from syndicate.store import Store

GOOD = ["kim@example.kr,김민지", "lee@example.kr,이지우"]


def run_cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a subprocess (bounded in time)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
    return subprocess.run(
        [sys.executable, "-m", "syndicate", "-c", str(config), *args],
        cwd=config.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@dataclass
class Outcome:
    """Exit code and output of one in-process command."""

    returncode: int
    stdout: str
    stderr: str


def run_in_process(config: Path, *args: str) -> Outcome:
    """Run the command line in this process (click's runner): fast, same code path."""
    result = CliRunner().invoke(cli, ["-c", str(config), *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Outcome(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def site(write_config: Callable[..., Path], migrated_store_url: str) -> Path:
    """A config on a fresh store (SQLite or PostgreSQL), already migrated."""
    with Store(migrated_store_url) as store:
        store.upgrade()
    return write_config(store=migrated_store_url)


def stored(config: Path) -> list[str]:
    """The address of every stored subscriber."""
    with Store(load_config(config).store) as store:
        return [person.email for person, _ in store.list_subscribers()]


def write_csv(config: Path, lines: list[str]) -> Path:
    """Write ``lines`` (after a header row) to a CSV file next to the config."""
    path = config.parent / "subscribers.csv"
    path.write_text("email,name\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def import_file(config: Path, lines: list[str]) -> tuple[Path, Outcome]:
    """Write ``lines`` to a CSV file and import it (in process)."""
    path = write_csv(config, lines)
    return path, run_in_process(config, "subscribers", "import", str(path))


BAD_LINES = {
    "nul in the name": ("nul@example.kr,김\x00민지", "contains a NUL character"),
    "nul in the address": ("nul\x00@example.kr,김민지", "NUL"),
    "over-long field": ("big@example.kr," + "가" * 131_073, "longer than"),
    "over-long address": ("a" * 300 + "@example.kr,김", "is not an e-mail address"),
    "65-character local part": ("a" * 65 + "@example.kr,김", "is not an e-mail address"),
    "over-long domain": ("x@" + ".".join(["a" * 60] * 5) + ".kr,김", "is not an e-mail address"),
    "angle brackets": ("<x@example.kr>,김", "is not an e-mail address"),
    "hyphen domain": ("x@-example.kr,김", "is not an e-mail address"),
    "underscore domain": ("x@exa_mple.kr,김", "is not an e-mail address"),
    "over-long name": ("name@example.kr," + "가" * 201, "longer than 200"),
}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_one_bad_line_stores_nothing(site: Path, case: str) -> None:
    line, reason = BAD_LINES[case]
    path, result = import_file(site, [*GOOD, line, "park@example.kr,박서준"])
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stderr
    (problem,) = result.stderr.splitlines()
    assert problem.startswith(f"error: {path}:4: ")
    assert reason in problem
    assert len(problem) < 400
    assert stored(site) == []


def test_every_bad_line_is_reported(site: Path) -> None:
    """The real command in a subprocess: one line per bad line, exit 1, no traceback."""
    lines = [*GOOD] + [bad for bad, _ in BAD_LINES.values()]
    path = write_csv(site, lines)
    result = run_cli(site, "subscribers", "import", str(path))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    problems = result.stderr.splitlines()
    assert [p.split(": ", 2)[1].rsplit(":", 1)[1] for p in problems] == [
        str(n) for n in range(4, 4 + len(BAD_LINES))
    ]
    assert all(p.startswith(f"error: {path}:") for p in problems)
    assert stored(site) == []


def test_many_bad_lines_are_capped(site: Path) -> None:
    path, result = import_file(site, [f"bad{n}@exa_mple.kr,x" for n in range(45)])
    assert result.returncode == 1
    problems = result.stderr.splitlines()
    assert len(problems) == 21
    assert problems[0].startswith(f"error: {path}:2: 'bad0@exa_mple.kr' is not an e-mail address")
    assert problems[-1] == "error: ... and 25 more"
    assert stored(site) == []


def test_quoted_field_spanning_lines_names_its_first_line(site: Path) -> None:
    path, result = import_file(site, [*GOOD, '"x\r\n@example.kr",김', "park@example.kr,박"])
    assert result.returncode == 1
    (problem,) = result.stderr.splitlines()
    assert problem.startswith(f"error: {path}:4: ")


def test_good_file_then_bad_file_keeps_the_first(site: Path) -> None:
    _, first = import_file(site, GOOD)
    assert first.returncode == 0, first.stderr
    _, second = import_file(site, ["new@example.kr,새", "x@-example.kr,김"])
    assert second.returncode == 1
    assert sorted(stored(site)) == [
        "kim@example.kr",
        "lee@example.kr",
    ]


def test_save_subscriptions_is_one_transaction(pg_url: str) -> None:
    """PostgreSQL refuses a NUL in a name: the rows before it are not kept either."""
    from syndicate.store import SubscriptionEntry

    store = Store(pg_url)
    store.upgrade()
    when = datetime(2026, 11, 28, tzinfo=UTC)
    entries = [
        SubscriptionEntry("kim@example.kr", "김", "morning", (), SubscriptionState.ACTIVE, when),
        SubscriptionEntry(
            "bad@example.kr", "nul\x00", "morning", (), SubscriptionState.ACTIVE, when
        ),
    ]
    with store:
        with pytest.raises((StoreError, ValueError)):
            store.save_subscriptions(entries)
        assert store.list_subscribers() == []


@pytest.mark.parametrize("kind", ["fifo", "device", "too big", "binary"])
def test_unreadable_files_fail_at_once(write_config: Callable[..., Path], kind: str) -> None:
    config = write_config()
    path = config.parent / "subscribers.csv"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        path = Path("/dev/zero")
    elif kind == "too big":
        with path.open("wb") as handle:
            handle.write(b"email,name\n")
            handle.truncate(60_000_000)  # sparse: no disk used
    else:
        path.write_bytes(bytes(range(256)) * 4)
    result = run_cli(config, "subscribers", "import", str(path))
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: {path}")
