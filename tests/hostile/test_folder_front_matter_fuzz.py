"""Generated front matter: the loader returns plain data or one clean error, nothing else."""

from __future__ import annotations

from datetime import date
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from syndicate.sources.frontmatter import FrontMatterError, load_front_matter

PIECES = [
    "title: ", "\n", "  ", "- ", "[", "]", "{", "}", ", ", ": ", "? ", "&a ", "*a", "&b ", "*b",
    "!!binary ", "!!timestamp ", "!!int ", "!!float ", "!!set ", "!!omap ", "!!python/none ",
    "<<: ", '"', "'", "\\ud800", "\\x00", "\\U0001F600", "#", "|", ">", "---", "...", "%YAML 1.1",
    "0b101", "0x1F", "1e400", "2024-13-45", "2024-05-01T09:00+99:00", "~", "yes", "1" * 50,
    "제목", "\t", "\r\n", "\ufeff",
]  # fmt: skip


def plain(value: Any) -> bool:
    """True when ``value`` holds only plain data with clean text."""
    if isinstance(value, str):
        return not any("\ud800" <= c <= "\udfff" or c == "\x00" for c in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and plain(k) and plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(plain(item) for item in value)
    return value is None or isinstance(value, bool | int | float | date)


@given(st.lists(st.sampled_from(PIECES), max_size=60).map("".join))
def test_front_matter_loads_plain_data_or_fails_cleanly(text: str) -> None:
    try:
        data, _ = load_front_matter(text)
    except FrontMatterError as exc:
        assert "\n" not in str(exc)
        return
    assert isinstance(data, dict) and plain(data)
