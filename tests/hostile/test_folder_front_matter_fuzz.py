"""Generated front matter and files: plain data or one clean problem, and the rest is read."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syndicate.config_sources import FolderSource
from syndicate.sources.folder import read_folder
from syndicate.sources.frontmatter import FrontMatterError, load_front_matter
from syndicate.sources.markup import MarkdownConverter
from tests.hostile.folder_helpers import GOOD_TITLES, good_folder

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


BYTES = [
    b"---\n", b"title: ", b"\xff", b"\x00", b"\xed\xa0\x80", b"\xef\xbb\xbf", b"\r", b"- ", b"> ",
    b"[", b"![", b"<div markdown=\"1\">", b"\\ud800", b'"', b"\n", b"&a ", b"*a", "한글".encode(),
    "한글".encode("cp949"), b"    ", b"1. ", b"**", b"`", b"id: ", b"date: 2024-05-01",
]  # fmt: skip


@pytest.fixture(scope="module")
def converter() -> Iterator[MarkdownConverter]:
    """One Markdown worker for every example (a worker starts in ~0.2 s)."""
    with MarkdownConverter() as shared:
        yield shared


@given(data=st.lists(st.sampled_from(BYTES), max_size=40).map(b"".join))
@settings(max_examples=30)
def test_any_bytes_in_one_file_leave_the_others_read(
    converter: MarkdownConverter, data: bytes
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        folder = good_folder(Path(scratch) / "posts")
        (folder / "bad.md").write_bytes(b"---\ntitle: t\n" + data)
        source = FolderSource(id="op", kind="folder", location=str(folder), section="it")
        articles = read_folder(
            source, zone=ZoneInfo("Asia/Seoul"), public_base_url="https://news.example.kr/",
            sections={"it"}, max_bytes=100_000, converter=converter,
        )  # fmt: skip
    titles = [a.title for a in articles]
    assert titles[-2:] == GOOD_TITLES and len(titles) <= 3
    assert all(plain(a.title) and plain(a.guid) and plain(list(a.categories)) for a in articles)
