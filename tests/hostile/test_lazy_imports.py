"""A command loads only what it needs: no database, mail or feed library for ``--help``.

Each case runs the CLI in-process (click's CliRunner) inside a fresh interpreter
and reports which of the heavy libraries ended up in ``sys.modules``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest

HEAVY = (
    "sqlalchemy",
    "alembic",
    "psycopg",
    "premailer",
    "feedgen",
    "feedparser",
    "apscheduler",
    "markdown",
    "httpx",
    "charset_normalizer",
)
# What `check` does without (it also keeps clear of HEAVY): pydantic, the feed and
# HTML stages, logging set-up, email-validator (plain addresses are decided by a
# pattern) and the domain model.
CHECK_AVOIDS = (
    "pydantic",
    "logging",
    "difflib",
    "email_validator",
    "jinja2",
    "starlette",
    "uvicorn",
    "lxml",
    "nh3",
    "regex",
    "syndicate.feeds",
    "syndicate.sanitize",
    "syndicate.render",
    "syndicate.render_views",
    "syndicate.model",
)
# What `--help` does without besides those: the config model and its libraries, and
# standard modules only some commands use (they cost `--help` a tenth of its time).
HELP_AVOIDS = ("pydantic", "yaml", "syndicate.config", "importlib.metadata", "pathlib", "getpass")
FEED_READING = ("feedparser", "httpx", "markdown")
RENDERING = ("premailer",)
FEED_WRITING = ("feedgen",)

PROBE = """
import json, sys
from click.testing import CliRunner
import syndicate.cli
result = CliRunner().invoke(syndicate.cli.cli, sys.argv[1:], catch_exceptions=False)
loaded = sorted({name.split(".")[0] for name in sys.modules} & set(HEAVY))
avoided = sorted(name for name in AVOIDS if name in sys.modules)
print(json.dumps({"code": result.exit_code, "output": result.output, "loaded": loaded + avoided}))
"""


class Report(NamedTuple):
    code: int
    output: str
    loaded: set[str]


def _loaded_by(
    cwd: Path, *args: str, probe: str = PROBE, avoids: tuple[str, ...] = CHECK_AVOIDS
) -> Report:
    """Run ``syndicate ARGS`` in a new interpreter; its exit code, output and heavy imports.

    ``loaded`` holds the HEAVY libraries it imported and those of ``avoids``.
    """
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            f"HEAVY = {HEAVY!r}\nAVOIDS = {avoids!r}\n{probe}",
            *args,
        ],
        check=False,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(cwd)},
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout.splitlines()[-1])
    return Report(data["code"], data["output"], set(data["loaded"]))


def test_help_loads_no_heavy_library(tmp_path: Path) -> None:
    report = _loaded_by(tmp_path, "--help", avoids=CHECK_AVOIDS + HELP_AVOIDS)
    assert report.code == 0
    assert "syndicate check" in report.output
    assert report.loaded == set()


# Every command's and group's --help in one interpreter: together they load nothing heavy
# (nor the config model, nor what HELP_AVOIDS names).
HELP_WALK = """
import json, sys
import click
from click.testing import CliRunner
import syndicate.cli

def walk(command, path):
    yield path
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from walk(sub, [*path, name])

codes = {}
for path in walk(syndicate.cli.cli, []):
    result = CliRunner().invoke(syndicate.cli.cli, [*path, "--help"], catch_exceptions=False)
    codes[" ".join(path)] = result.exit_code
loaded = sorted({name.split(".")[0] for name in sys.modules} & set(HEAVY))
loaded += sorted(name for name in AVOIDS if name in sys.modules)
print(json.dumps({"code": max(codes.values()), "output": json.dumps(codes), "loaded": loaded}))
"""


def test_every_commands_help_loads_no_heavy_library(tmp_path: Path) -> None:
    report = _loaded_by(tmp_path, probe=HELP_WALK, avoids=HELP_AVOIDS)
    assert report.code == 0, report.output
    assert {"check", "db upgrade", "subscribers list", "run"} <= set(json.loads(report.output))
    assert report.loaded == set()


def test_check_loads_no_heavy_library(example_site: Path) -> None:
    report = _loaded_by(example_site, "check")
    assert report.code == 0, report.output
    assert report.output.startswith("OK: ")
    assert report.loaded == set()


@pytest.mark.parametrize(
    ("args", "not_loaded"),
    [
        (["collect"], RENDERING + FEED_WRITING + ("apscheduler",)),
        (["feeds"], FEED_READING + RENDERING + ("apscheduler",)),
        (["digest", "morning"], FEED_READING + FEED_WRITING),
    ],
)
def test_a_stage_loads_only_its_own_libraries(
    example_site: Path, args: list[str], not_loaded: tuple[str, ...]
) -> None:
    _loaded_by(example_site, "db", "upgrade")
    report = _loaded_by(example_site, *args)
    assert report.code == 0, report.output
    assert report.loaded.isdisjoint(not_loaded)
    assert "sqlalchemy" in report.loaded
    assert "alembic" not in report.loaded  # the schema check at open reads the revision itself


def test_db_upgrade_loads_alembic(example_site: Path) -> None:
    report = _loaded_by(example_site, "db", "upgrade")
    assert report.code == 0, report.output
    assert {"sqlalchemy", "alembic"} <= report.loaded


def test_collecting_utf8_feeds_loads_no_charset_detector(
    tmp_path: Path, write_config: Callable[..., Path]
) -> None:
    """A feed that says what it is (UTF-8 here) is decoded without charset-normalizer."""
    from tests.conftest import DATA

    feed = tmp_path / "it.xml"
    shutil.copy(DATA / "feeds" / "it-science.rss.xml", feed)
    write_config(sources=[{"id": "it", "kind": "feed", "location": str(feed), "section": "it"}])
    _loaded_by(tmp_path, "db", "upgrade")
    report = _loaded_by(tmp_path, "collect")
    assert report.code == 0, report.output
    assert "it: " in report.output and " new" in report.output
    assert "charset_normalizer" not in report.loaded
