"""Issue 6 item 6: one atomic file writer for feeds and ``.eml`` files."""

from __future__ import annotations

import os
from email.message import EmailMessage
from pathlib import Path

import pytest

from syndicate import files
from syndicate.delivery import FileTransport


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
