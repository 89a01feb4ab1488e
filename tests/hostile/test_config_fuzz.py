"""Fuzz the config loader with mutations of a valid schedules.yaml (Hypothesis).

Each example changes one thing in a valid config: a value at a random key path
replaced by a random YAML value, a key deleted, an unknown key added, a key
written twice, or text with control characters, lone surrogates or stray bytes.
The loader must return a valid Config or raise ConfigError whose every line
starts with the file name and names a key path (or a line and column for what
YAML cannot read). Nothing else, and never a hang.
"""

from __future__ import annotations

import copy
import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from syndicate.cli import cli
from syndicate.config import load_config
from syndicate.errors import ConfigError

VALID: dict[str, Any] = {
    "timezone": "Asia/Seoul",
    "public_base_url": "https://news.example.kr/",
    "store": "sqlite:///var/fuzz.db",
    "sections": [{"id": "it", "name": "IT·과학", "order": 1}, {"id": "economy", "name": "경제"}],
    "sources": [
        {
            "id": "it-rss",
            "kind": "feed",
            "location": "https://news.example.kr/it.xml",
            "section": "it",
            "timezone": "Asia/Seoul",
            "rules": [
                {"category": "경제", "section": "economy"},
                {"path": "/eco/", "section": "economy"},
            ],
            "enabled": True,
        },
        {"id": "notes", "kind": "folder", "location": "articles", "section": "economy"},
    ],
    "feeds": {
        "output": "public/feeds",
        "formats": ["rss", "atom"],
        "per_section": True,
        "combined": True,
        "limit": 50,
        "title": "테스트뉴스",
        "description": "설명",
    },
    "digests": [
        {
            "id": "morning",
            "title": "아침 브리핑",
            "sections": ["it", "economy"],
            "schedule": "0 7 * * 1-5",
            "first_window": "7d",
            "max_per_section": 10,
            "sender": "테스트뉴스 <news@news.example.kr>",
            "reply_to": "desk@news.example.kr",
            "delivery": {"kind": "file", "folder": "outbox"},
        },
        {
            "id": "evening",
            "title": "저녁",
            "schedule": "every 12h",
            "sender": "news@news.example.kr",
            "delivery": {
                "kind": "smtp",
                "host": "127.0.0.1",
                "port": 2525,
                "security": "none",
                "username": "u",
                "password_env": "FUZZ_SMTP_PASSWORD",
                "timeout": 5,
                "batch_size": 10,
            },
        },
    ],
    "collect": {"schedule": "every 10m", "timeout": 20, "user_agent": "fuzz", "max_bytes": 100000},
}

# A problem names a key path (``digests[0].delivery.kind``, ``(top level)``) or a place in
# the file (``line 3, column 5``), then says what is wrong.
_KEY = r"""(?:[^\W\d][\w-]*|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""
_KEY_PATH = rf"{_KEY}(?:\.{_KEY}|\[\d+\])*"
PROBLEM = re.compile(
    rf"(line \d+, column \d+: .+|\(top level\): .+|{_KEY_PATH}: .+|(file|not|cannot) .+)"
)
EXAMPLE_TIMEOUT = 60  # a hang guard, generous for a loaded machine; not a speed check

Path_ = tuple[int | str, ...]


def key_paths(node: Any, prefix: Path_ = ()) -> list[Path_]:
    """Every key path in ``node`` (the root included)."""
    paths = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            paths += key_paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            paths += key_paths(value, (*prefix, index))
    return paths


nasty_text = st.one_of(
    st.text(max_size=30),
    st.text(alphabet=st.characters(codec="utf-8", categories=["Cc", "Cs", "Zs", "Cf"]), max_size=8),
    st.sampled_from(
        [
            "",
            " ",
            "all",
            "every 0s",
            "every 1s",
            "0 0 31 2 0",
            "0 0 30 2 *",
            "-1d",
            "99999999999999d",
            "sqlite//x",
            "https://a b/",
            "\x00",
            "\ud800",
            "a\r\nBcc: x@y.kr",
            "=?utf-8?b?DQpCY2M6IHhAeS5rcg==?=",
            "../../../etc/passwd",
            "x" * 5000,
        ]
    ),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([0, -1, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    nasty_text,
)
yaml_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


def _parent(data: Any, path: Path_) -> Any:
    for part in path[:-1]:
        data = data[part]
    return data


def to_yaml(data: Any) -> bytes:
    """YAML bytes of ``data``; lone surrogates are written as their (invalid) UTF-8 bytes."""
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=10**6)
    return text.encode("utf-8", "surrogatepass")


@st.composite
def mutated_configs(draw: st.DrawFn) -> bytes:
    """One mutation of VALID, as the bytes of a YAML file."""
    data = copy.deepcopy(VALID)
    paths = key_paths(data)
    path = draw(st.sampled_from(paths))
    action = draw(st.sampled_from(["replace", "delete", "unknown", "duplicate", "bytes"]))
    if action == "replace":
        value = draw(yaml_values)
        if path:
            _parent(data, path)[path[-1]] = value
        else:
            data = value
    elif action == "delete" and path:
        del _parent(data, path)[path[-1]]
    elif action == "unknown":
        target: Any = data
        for part in path:
            target = target[part]
        if isinstance(target, dict):
            target[draw(st.text(min_size=1, max_size=12))] = draw(scalars)
    text = to_yaml(data)
    if action == "duplicate":
        lines = text.split(b"\n")
        keyed = [i for i, line in enumerate(lines) if re.match(rb"^\s*(- )?[a-z_]+:", line)]
        index = draw(st.sampled_from(keyed))
        copied = re.sub(rb"^(\s*)- ", rb"\1  ", lines[index])
        lines.insert(index + 1, copied)
        text = b"\n".join(lines)
    elif action == "bytes":
        position = draw(st.integers(min_value=0, max_value=len(text)))
        junk = draw(st.binary(min_size=1, max_size=4))
        text = text[:position] + junk + text[position:]
    return text


class _Hang(Exception):
    pass


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """Fail (instead of hanging the suite) when the block runs longer than ``seconds``."""

    def alarm(_signum: int, _frame: Any) -> None:
        raise _Hang(f"still running after {seconds}s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def assert_problem_lines(path: Path, lines: list[str]) -> None:
    """Each line: the file name, then a key path or file position, then one printable line."""
    assert lines, "a ConfigError must name at least one problem"
    for line in lines:
        assert line.startswith(f"{path}: "), line
        assert line.isprintable(), line
        assert PROBLEM.fullmatch(line.removeprefix(f"{path}: ")), line


@given(mutated_configs())
def test_loader_returns_config_or_one_line_problems(tmp_path: Path, text: bytes) -> None:
    path = tmp_path / "schedules.yaml"
    path.write_bytes(text)
    try:
        with time_limit(EXAMPLE_TIMEOUT):
            load_config(path)
    except ConfigError as exc:
        assert_problem_lines(path, exc.lines())


@settings(max_examples=15)
@given(mutated_configs())
def test_cli_check_exits_0_or_1_with_problem_lines(tmp_path: Path, text: bytes) -> None:
    path = tmp_path / "schedules.yaml"
    path.write_bytes(text)
    (tmp_path / "articles").mkdir(exist_ok=True)
    with time_limit(EXAMPLE_TIMEOUT):
        result = CliRunner().invoke(cli, ["-c", str(path), "check"])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"check raised {result.exception!r}") from result.exception
    assert result.exit_code in (0, 1), result.output
    if result.exit_code == 1:
        assert_problem_lines(path, [line for line in result.stderr.splitlines() if line])
