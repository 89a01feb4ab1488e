"""Hostile configs: every mutation of schedules.yaml is exit 0 or 1 with one line per problem.

Each problem line starts with the file name and names a key path (or, for what
YAML itself cannot read, a line and column). Never a traceback, never a hang.
"""

from __future__ import annotations

import copy
import os
import re
import resource
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from syndicate.cli import cli
from syndicate.config import load_config
from syndicate.errors import ConfigError
from syndicate.schedule import Schedule
from tests.conftest import BASE_CONFIG, run_syndicate

TOP_LEVEL_KEYS = [
    "timezone",
    "public_base_url",
    "store",
    "templates",
    "sections",
    "sources",
    "feeds",
    "digests",
    "collect",
]
WRONG_VALUES: dict[str, Any] = {
    "number": 42,
    "string": "hello",
    "list": [1, "two"],
    "mapping": {"surprise": 1},
    "null": None,
    "bool": True,
}
LIMIT_AS = 1024 * 1024 * 1024  # 1 GiB: a config never needs more
TIMEOUT = 60  # generous: every case below takes well under a second when handled


def write_text(tmp_path: Path, text: str | bytes) -> Path:
    """Write a config file verbatim (text as UTF-8)."""
    path = tmp_path / "schedules.yaml"
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def dump(data: Any) -> str:
    """The YAML text of ``data``."""
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def base() -> dict[str, Any]:
    """A deep copy of the valid test config."""
    return copy.deepcopy(BASE_CONFIG)


def problems(path: Path) -> list[str]:
    """The problem lines of an invalid config (fails the test if it is valid)."""
    with pytest.raises(ConfigError) as info:
        load_config(path)
    lines = info.value.lines()
    assert lines, "a ConfigError must name at least one problem"
    for line in lines:
        assert line.startswith(f"{path}: "), line
        assert line.isprintable(), line
    return [line.removeprefix(f"{path}: ") for line in lines]


def check(path: Path) -> tuple[int, list[str]]:
    """Run ``syndicate -c path check`` in process; return (exit code, stderr lines)."""
    result = CliRunner().invoke(cli, ["-c", str(path), "check"])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"check raised {result.exception!r}") from result.exception
    return result.exit_code, [line for line in result.stderr.splitlines() if line]


def run_bounded(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess under a memory limit and a timeout."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (LIMIT_AS, LIMIT_AS))

    return run_syndicate(*args, cwd=cwd, timeout=TIMEOUT, preexec_fn=limit)


# --- wrong types at a key path ------------------------------------------------------------


@pytest.mark.parametrize("kind", list(WRONG_VALUES))
@pytest.mark.parametrize("key", TOP_LEVEL_KEYS)
def test_every_top_level_key_as_every_wrong_type(tmp_path: Path, key: str, kind: str) -> None:
    data = base()
    data[key] = WRONG_VALUES[kind]
    path = write_text(tmp_path, dump(data))
    code, lines = check(path)
    assert code in (0, 1)
    if code == 1:
        assert lines and all(line.startswith(f"{path}: ") for line in lines), lines
        assert any(line.startswith(f"{path}: {key}") for line in lines), lines


@pytest.mark.parametrize("value", [["it"], {"a": 1}, 7, None, True])
def test_section_id_of_wrong_type_names_the_key(tmp_path: Path, value: Any) -> None:
    data = base()
    data["sections"][0]["id"] = value
    data["sources"] = [{"id": "x", "kind": "folder", "location": ".", "section": "it"}]
    found = problems(write_text(tmp_path, dump(data)))
    assert any(line.startswith("sections[0].id: ") for line in found), found


@pytest.mark.parametrize("key", ["sources", "digests", "sections"])
def test_list_keys_as_a_number(tmp_path: Path, key: str) -> None:
    found = problems(write_text(tmp_path, dump({**base(), key: 3})))
    assert found == [f"{key}: expected a list, not a number"]


def test_missing_delivery_kind_names_key_and_kinds(tmp_path: Path) -> None:
    data = base()
    del data["digests"][0]["delivery"]["kind"]
    found = problems(write_text(tmp_path, dump(data)))
    assert found == ["digests[0].delivery.kind: required key is missing (known: file, smtp)"]


def test_unknown_key_suggests_the_known_one(tmp_path: Path) -> None:
    data = base()
    data["digest"] = data.pop("digests")
    data["feeds"]["limt"] = 3
    found = problems(write_text(tmp_path, dump(data)))
    assert "digest: unknown key (did you mean 'digests'?)" in found
    assert "feeds.limt: unknown key (did you mean 'limit'?)" in found


# --- values that are the right type but wrong ----------------------------------------------


BAD_VALUES = [
    ("store", "not a url", "store: not a database URL"),
    ("store", "mysql://db/news", "store: mysql://db/news: unsupported database"),
    ("store", "postgresql+psycopg://db:99999/news", "port 99999 is outside"),
    ("store", "postgresql+nosuchdriver://db/news", "database driver not available"),
    ("public_base_url", "https://news.example.kr/a b/", "contains spaces"),
    ("public_base_url", "https://news example.kr/", "contains spaces"),
    ("public_base_url", "https://exa_mple.kr/", "with a host name"),
    ("public_base_url", "https://news.example.kr:99999/", "not a valid http(s) URL"),
    ("timezone", "A" * 5000, "unknown timezone"),
    ("timezone", "../../etc/passwd", "unknown timezone"),
]


@pytest.mark.parametrize(("key", "value", "expected"), BAD_VALUES)
def test_bad_top_level_values(tmp_path: Path, key: str, value: str, expected: str) -> None:
    found = problems(write_text(tmp_path, dump({**base(), key: value})))
    assert any(line.startswith(f"{key}: ") and expected in line for line in found), found


def test_section_id_all_is_reserved(tmp_path: Path) -> None:
    data = base()
    data["sections"][0]["id"] = "all"
    data["digests"][0]["sections"] = ["all"]
    found = problems(write_text(tmp_path, dump(data)))
    assert "sections[0].id: section id 'all' is reserved (it names the combined feed)" in found


NESTED_VALUES = [
    (("collect", "timeout"), float("inf"), "collect.timeout: Input should be a finite number"),
    (("collect", "timeout"), float("nan"), "collect.timeout: Input should be a finite number"),
    (("collect", "timeout"), 10**30, "collect.timeout: Input should be less than or equal"),
    (("collect", "timeout"), True, "collect.timeout: expected a number, not true/false"),
    (("collect", "max_bytes"), 10**30, "collect.max_bytes: Input should be less than or equal"),
    (("feeds", "limit"), True, "feeds.limit: expected a whole number, not true/false"),
    (("feeds", "limit"), 0, "feeds.limit: Input should be greater than or equal to 1"),
    (("feeds", "per_section"), 0, "feeds.per_section: expected true or false, not a number"),
    (("feeds", "output"), "", "feeds.output: expected a path"),
    (("feeds", "title"), "a\x1b[2Jb", "feeds.title: control character '\\x1b' is not allowed"),
    (("feeds", "title"), "a\nBcc: x@y.kr", "feeds.title: must be one line"),
    (("feeds", "title"), 20261231, "feeds.title: expected text, not a number"),
    (("digests", 0, "first_window"), "99999999999d", "first_window: invalid duration"),
    (("digests", 0, "first_window"), "0m", "first_window: invalid duration '0m'"),
    (("digests", 0, "schedule"), "every 0s", "schedule: invalid duration '0s'"),
    (("digests", 0, "schedule"), "every 1s", "the interval must be between 5s and 366d"),
    (("digests", 0, "schedule"), "every 99999999999999999999w", "invalid duration"),
    (("digests", 0, "schedule"), "0 0 31 2 0", "it would never run"),
    (("digests", 0, "schedule"), "0 0 30 2 *", "it would never run"),
    (("digests", 0, "schedule"), ",".join(["1"] * 5000) + " * * * *", "longer than"),
    (("digests", 0, "max_per_section"), -1, "max_per_section: Input should be greater"),
    (("digests", 0, "delivery", "folder"), "", "delivery.folder: expected a path"),
]


@pytest.mark.parametrize(("where", "value", "expected"), NESTED_VALUES)
def test_bad_nested_values(
    tmp_path: Path, where: tuple[str | int, ...], value: Any, expected: str
) -> None:
    data = base()
    data.setdefault("collect", {})
    node: Any = data
    for part in where[:-1]:
        node = node[part]
    node[where[-1]] = value
    found = problems(write_text(tmp_path, dump(data)))
    assert any(expected in line for line in found), found


def test_never_firing_schedule_is_refused_quickly() -> None:
    with pytest.raises(ValueError, match="never run"):
        Schedule.parse("0 0 31 2 0")  # crontab ORs day 31 of February with Sundays


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"path": "industry/", "section": "it"}, "is not a URL path"),
        ({"category": "", "section": "it"}, "category: String should have at least 1"),
        ({"category": ["a"], "section": "it"}, "category: expected text, not a list"),
    ],
)
def test_bad_rules(tmp_path: Path, rule: dict[str, Any], expected: str) -> None:
    data = base()
    data["sources"] = [
        {"id": "s", "kind": "feed", "location": "x.xml", "section": "it", "rules": [rule]}
    ]
    found = problems(write_text(tmp_path, dump(data)))
    assert any(line.startswith("sources[0].rules[0].") and expected in line for line in found)


# --- what YAML itself allows -------------------------------------------------------------


def test_duplicate_keys_name_path_and_both_lines(tmp_path: Path) -> None:
    text = dump(base()) + "timezone: UTC\n"
    found = problems(write_text(tmp_path, text))
    assert found == [f"timezone: duplicate key (lines 1 and {text.count(chr(10))})"]
    nested = dump(base()).replace("  title: 테스트뉴스\n", "  title: 테스트뉴스\n  title: 다른\n")
    found = problems(write_text(tmp_path, nested))
    assert len(found) == 1 and re.fullmatch(
        r"feeds\.title: duplicate key \(lines \d+ and \d+\)", found[0]
    )


def test_duplicate_key_inside_a_list_item(tmp_path: Path) -> None:
    text = dump(base()).replace("- id: it\n", "- id: it\n  id: economy\n", 1)
    found = problems(write_text(tmp_path, text))
    assert len(found) == 1 and found[0].startswith("sections[0].id: duplicate key (lines ")


@pytest.mark.parametrize(
    ("suffix", "expected"),
    [
        (
            "x: &a [1,1,1,1,1,1,1,1,1,1]\n"
            + "".join(
                f"x{i}: &a{i} [" + ",".join(["*a" if i == 0 else f"*a{i - 1}"] * 10) + "]\n"
                for i in range(8)
            )
            + "sources: *a7\n",
            "once aliases are expanded",
        ),
        ("x: &r [1, *r]\n", "an alias refers to itself"),
        ("x: " + "[" * 50_000 + "]" * 50_000 + "\n", "nest"),
        ("x: " + "{a: " * 900 + "1" + "}" * 900 + "\n", "nested deeper than"),
        ("x:\n" + "".join("  " * i + "- \n" for i in range(1, 600)), "nested deeper than"),
    ],
    ids=["billion-laughs", "recursive-alias", "deep-flow-list", "deep-flow-map", "deep-block"],
)
def test_yaml_bombs_and_depth_fail_fast_in_one_line(
    tmp_path: Path, suffix: str, expected: str
) -> None:
    path = write_text(
        tmp_path, dump({**base(), "sources": None}).replace("sources: null\n", "") + suffix
    )
    result = run_bounded("-c", str(path), "check", cwd=tmp_path)
    lines = result.stderr.splitlines()
    assert result.returncode == 1, result.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith(f"{path}: ") and expected in lines[0], lines


@pytest.mark.parametrize("target", ["fifo", "/dev/zero", "folder"])
def test_config_that_is_not_a_regular_file_fails_at_once(tmp_path: Path, target: str) -> None:
    if target == "fifo":
        path = tmp_path / "pipe.yaml"
        os.mkfifo(path)
    elif target == "folder":
        path = tmp_path / "conf.d"
        path.mkdir()
    else:
        path = Path(target)
    result = run_bounded("-c", str(path), "check", cwd=tmp_path)
    lines = result.stderr.splitlines()
    assert result.returncode == 1
    assert len(lines) == 1 and lines[0].startswith(f"{path}: not a regular file ("), lines


def test_oversized_config_is_refused(tmp_path: Path) -> None:
    path = write_text(tmp_path, dump(base()) + "# " + "x" * 2_000_000 + "\n")
    found = problems(path)
    assert found == ["file too large (limit 1048576 bytes)"]


TEXT_CASES = [
    (
        "non-utf8",
        dump(base()).encode().replace(b"Asia/Seoul", b"Asia/\xffSeoul"),
        r"line 1, column 16: not UTF-8 text \(byte 0xff",
    ),
    ("binary", bytes(range(256)) * 8, r"line 2, column 118: not UTF-8 text \(byte 0x80"),
    ("utf-16", dump(base()).encode("utf-16"), r"line 1, column 1: not UTF-8 text"),
    (
        "tab",
        dump(base()).replace("  title: 테스트뉴스", "\ttitle: 테스트뉴스"),
        r"line \d+, column \d+: YAML syntax error: .*tab",
    ),
    ("scalar", "just words\n", r"\(top level\): expected a mapping of keys, not text"),
    ("list", "- a\n- b\n", r"\(top level\): expected a mapping of keys, not a list"),
    ("empty", "", r"\(top level\): the file is empty"),
    ("comments", "# nothing yet\n", r"\(top level\): the file is empty"),
    (
        "huge-int",
        dump(base()) + "collect: {max_bytes: " + "9" * 5000 + "}\n",
        r"line \d+, column \d+: collect\.max_bytes: number too large",
    ),
    (
        "nul-escape",
        dump(base()).replace("title: 테스트뉴스", 'title: "a\\0b"'),
        r"line \d+, column \d+: feeds\.title: control character '\\x00' is not allowed",
    ),
    (
        "surrogate-escape",
        dump(base()).replace("title: 테스트뉴스", 'title: "\\ud800"'),
        r"line \d+, column \d+: .*(Unicode|surrogate|control character)",
    ),
    (
        "raw-control",
        dump(base()).replace("title: 테스트뉴스", "title: a\x07b"),
        r"line \d+, column \d+: .*not allowed",
    ),
    (
        "python-tag",
        dump(base()).replace("title: 테스트뉴스", "title: !!python/object/apply:os.system [id]"),
        r"line \d+, column \d+: feeds\.title: unsupported YAML type",
    ),
    (
        "timestamp",
        dump(base()).replace("title: 테스트뉴스", "title: 2026-13-45"),
        r"line \d+, column \d+: feeds\.title: unsupported YAML type 'timestamp'",
    ),
    (
        "bool-key",
        dump(base()) + "on: 1\n",
        r"line \d+, column 1: \(top level\): key 'on' is not text",
    ),
]


@pytest.mark.parametrize(
    ("text", "pattern"), [c[1:] for c in TEXT_CASES], ids=[c[0] for c in TEXT_CASES]
)
def test_unreadable_yaml_is_one_line_with_a_place(
    tmp_path: Path, text: str | bytes, pattern: str
) -> None:
    found = problems(write_text(tmp_path, text))
    assert len(found) == 1 and re.match(pattern, found[0]), found


def test_a_bom_is_fine(tmp_path: Path) -> None:
    config = load_config(write_text(tmp_path, b"\xef\xbb\xbf" + dump(base()).encode()))
    assert config.feeds.title == "테스트뉴스"
