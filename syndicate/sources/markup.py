"""Markdown to HTML under limits: size, nesting depth, time and memory.

Python-Markdown is superlinear on large input (15 MB: minutes), recurses once per nesting
level (a deep list raises ``RecursionError``) and has patterns that take minutes even on
100 KB (``[[[[...``, ``![![...``, long runs of setext underlines, many abbreviations). So
each document is first checked in linear time (:data:`MAX_MARKDOWN_CHARS`,
:data:`MAX_MARKDOWN_DEPTH`), then converted in a worker process (a thread could not be
stopped) that cannot use more than :data:`MARKDOWN_MEMORY_BYTES`. A conversion may use
:data:`MARKDOWN_SECONDS` of CPU time, measured by the worker itself so that a busy machine
does not count against a document; a worker that does not answer within
:data:`MARKDOWN_WALL_SECONDS` (stuck in C code) is killed and restarted. One worker serves a
whole folder, so its start-up (~0.1-0.3 s) is paid once per folder read.
"""

from __future__ import annotations

import logging
import os
import select
import struct
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

logger = logging.getLogger(__name__)

MARKDOWN_EXTENSIONS = ("extra", "sane_lists")
MAX_MARKDOWN_CHARS = 500_000
MAX_MARKDOWN_DEPTH = 40
MARKDOWN_SECONDS = 5.0
MARKDOWN_WALL_SECONDS = 60.0
STARTUP_SECONDS = 60.0
MARKDOWN_MEMORY_BYTES = 1 << 30
MAX_HTML_BYTES = 64 * MAX_MARKDOWN_CHARS

_WORKER = Path(__file__).with_name("_markdown_worker.py")


class MarkdownError(ValueError):
    """A document cannot be converted; the message says why in one line."""


def _marker_end(line: str, index: int) -> int:
    """Return where a blockquote or list marker starting at ``index`` ends, or -1 if none."""
    end = index
    if line[index] == ">":
        return index + 1
    if line[index] in "-+*":
        end = index + 1
    else:
        while end < len(line) and line[end].isdigit():
            end += 1
        if end == index or line[end : end + 1] not in (".", ")"):
            return -1
        end += 1
    return end if line[end : end + 1] in ("", " ", "\t") else -1


def _line_depth(line: str) -> int:
    """Nesting a line opens: its indent / 4 plus the quote and list markers at its start."""
    index = len(line) - len(line.lstrip(" \t"))
    depth = len(line[:index].expandtabs(4)) // 4
    while index < len(line):
        end = _marker_end(line, index)
        if end < 0:
            break
        depth += 1
        index = end
        while index < len(line) and line[index] in " \t":
            index += 1
    return depth


def markdown_depth(text: str) -> int:
    """Return the deepest nesting of lists, blockquotes and indents in ``text`` (linear time)."""
    return max((_line_depth(line) for line in text.splitlines()), default=0)


def check_markdown(text: str) -> None:
    """Raise :class:`MarkdownError` when ``text`` is too long or nested too deep to convert."""
    if len(text) > MAX_MARKDOWN_CHARS:
        raise MarkdownError(f"Markdown longer than {MAX_MARKDOWN_CHARS} characters")
    depth = markdown_depth(text)
    if depth > MAX_MARKDOWN_DEPTH:
        raise MarkdownError(f"Markdown nested {depth} levels deep (limit {MAX_MARKDOWN_DEPTH})")


def _read_exact(fd: int, size: int, deadline: float) -> bytes:
    data = bytearray()
    while len(data) < size:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            raise TimeoutError
        chunk = os.read(fd, min(size - len(data), 1 << 20))
        if not chunk:
            raise EOFError
        data += chunk
    return bytes(data)


class MarkdownConverter:
    """Converts Markdown documents one at a time in a bounded worker process.

    Use as a context manager; the worker starts on the first document and is restarted
    after one that had to be stopped.
    """

    def __init__(self, seconds: float | None = None) -> None:
        self.seconds = MARKDOWN_SECONDS if seconds is None else seconds
        self.wall_seconds = max(MARKDOWN_WALL_SECONDS, 4 * self.seconds)
        self._worker: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> MarkdownConverter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def convert(self, text: str) -> str:
        """Return ``text`` as HTML; raise :class:`MarkdownError` when it breaks a limit."""
        check_markdown(text)
        payload = text.encode("utf-8", "replace")
        try:
            reply = self._exchange(payload)
        except TimeoutError:
            self._stop()
            wall = self.wall_seconds
            raise MarkdownError(f"Markdown conversion did not finish within {wall:g} s") from None
        except (EOFError, OSError, ValueError):
            self._stop()
            raise MarkdownError(
                "Markdown conversion failed: the converter stopped (out of memory?)"
            ) from None
        if reply[:1] != b"+":
            raise MarkdownError(f"Markdown {reply[1:].decode(errors='replace')}")
        return reply[1:].decode("utf-8", "replace")

    def _exchange(self, payload: bytes) -> bytes:
        worker = self._start()
        assert worker.stdin is not None and worker.stdout is not None
        deadline = time.monotonic() + self.wall_seconds
        worker.stdin.write(struct.pack(">I", len(payload)) + payload)
        worker.stdin.flush()
        fd = worker.stdout.fileno()
        (size,) = struct.unpack(">I", _read_exact(fd, 4, deadline))
        if size > MAX_HTML_BYTES:
            raise ValueError("reply too large")
        return _read_exact(fd, size, deadline)

    def _start(self) -> subprocess.Popen[bytes]:
        """Return the running worker, starting one and waiting until it is ready if needed."""
        if self._worker is not None:
            return self._worker
        limits = [str(MARKDOWN_MEMORY_BYTES), str(self.seconds), ",".join(MARKDOWN_EXTENSIONS)]
        self._worker = subprocess.Popen(
            [sys.executable, "-I", str(_WORKER), *limits],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        assert self._worker.stdout is not None
        ready = _read_exact(self._worker.stdout.fileno(), 1, time.monotonic() + STARTUP_SECONDS)
        if ready != b"R":
            raise EOFError
        return self._worker

    def _stop(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.kill()
            worker.wait()
            _close_pipes(worker)

    def close(self) -> None:
        """Let the worker finish and exit (kill it if it does not within a second)."""
        worker, self._worker = self._worker, None
        if worker is None:
            return
        try:
            _close_pipes(worker)
            worker.wait(timeout=1)
        except (OSError, subprocess.TimeoutExpired):
            worker.kill()
            worker.wait()


def _close_pipes(worker: subprocess.Popen[bytes]) -> None:
    for pipe in (worker.stdin, worker.stdout):
        if pipe is not None:
            pipe.close()
