"""Issue 6 item 6: one atomic file writer for feeds and ``.eml`` files."""

from __future__ import annotations

import os
from email.message import EmailMessage
from pathlib import Path

import pytest

from syndicate import files
from syndicate.transports import FileTransport


def _message(body: str) -> EmailMessage:
    message = EmailMessage()
    message["Message-ID"] = "<morning.20261128T0700.1.abcd@news.example.kr>"
    message.set_content(body)
    return message


def test_eml_rewrite_keeps_the_files_mode(tmp_path: Path) -> None:
    transport = FileTransport(tmp_path)
    transport.send(_message("first"), "kim@example.com")
    path = transport.written[0]
    path.chmod(0o640)
    transport.send(_message("second"), "kim@example.com")
    assert path.stat().st_mode & 0o777 == 0o640
    assert b"second" in path.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_eml_is_fsynced_before_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    FileTransport(tmp_path).send(_message("body"), "kim@example.com")
    assert len(synced) == 1


def test_new_eml_is_private_and_new_feed_world_readable(tmp_path: Path) -> None:
    transport = FileTransport(tmp_path / "out")
    transport.send(_message("body"), "kim@example.com")
    assert transport.written[0].stat().st_mode & 0o777 == 0o600
    feed = tmp_path / "feed.xml"
    files.write_atomic(feed, b"<rss/>")
    assert feed.stat().st_mode & 0o777 == 0o644


def test_failed_write_leaves_old_bytes_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "feed.xml"
    target.write_bytes(b"old")

    class Boom(Exception):
        pass

    def broken_replace(src: str, dst: object) -> None:
        raise Boom

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "replace", broken_replace)
        with pytest.raises(Boom):
            files.write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["feed.xml"]


def test_control_characters_never_reach_a_digest_title() -> None:
    """One one-line helper: render, feeds, mail, delivery and the store all flatten the same
    way (C0/C1 controls, DEL and line separators become spaces), so no terminal escape or
    NUL in an article's title or author survives into a digest."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from syndicate.errors import one_line
    from syndicate.model import (
        Article,
        Digest,
        Edition,
        Masthead,
        Section,
        SectionGroup,
        Subscriber,
        Subscription,
        SubscriptionState,
    )
    from syndicate.render import Renderer

    hostile = "속보\x1b[31m빨강\x00끝\x85다음\u2028줄"
    assert one_line(hostile) == "속보 [31m빨강 끝 다음 줄"
    slot = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)
    section = Section("it", "IT", 1)
    article = Article("s", "g", "https://e.kr/1", hostile, "it", author=hostile, seq=1)
    masthead = Masthead("m", "T", "a@e.kr", None, "e.kr", "https://e.kr/", ZoneInfo("Asia/Seoul"))
    subscription = Subscription(Subscriber(1, "a@e.kr"), "m", (), SubscriptionState.ACTIVE, "t")
    edition = Edition(1, "m", slot, 1, slot, (article,))
    digest = Digest(
        edition, subscription, (SectionGroup(section, (article,)),), masthead, (section,), "u"
    )
    rendered = Renderer().render(digest)
    for text in (rendered.text, rendered.html):
        assert "\x1b" not in text and "\x00" not in text and "\x85" not in text


def _code_lines() -> list[tuple[str, int, str]]:
    """Every non-docstring-looking code line of the package: (file, line number, text)."""
    import ast

    from tests.conftest import ROOT

    found = []
    for path in sorted((ROOT / "syndicate").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.append((path.name, node.lineno, node.value))
            if isinstance(node, ast.Tuple | ast.Set) and all(
                isinstance(e, ast.Constant) for e in node.elts
            ):
                values = sorted(str(e.value) for e in node.elts if isinstance(e, ast.Constant))
                found.append((path.name, node.lineno, repr(values)))
    return found


def test_environment_names_and_web_schemes_are_defined_once() -> None:
    """SYNDICATE_* names and the http/https scheme set are written once (syndicate/__init__)."""
    lines = _code_lines()
    env = [(f, n) for f, n, text in lines if text in ("SYNDICATE_STORE_URL", "SYNDICATE_CONFIG")]
    assert sorted(f for f, _ in env) == ["__init__.py", "__init__.py"], env
    schemes = [(f, n) for f, n, text in lines if text in ("['http', 'https']",)]
    assert [f for f, _ in schemes] == ["__init__.py"], schemes
