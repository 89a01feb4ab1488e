"""Worker process converting Markdown to HTML for :mod:`syndicate.sources.markup`.

Run as a script (not imported): ``python -I _markdown_worker.py MEMORY_BYTES CPU_SECONDS
EXTENSIONS``. It caps its own address space, imports Markdown and writes ``R`` when ready,
then answers each request read from stdin, framed as a 4-byte big-endian length and UTF-8
Markdown, with a framed reply: ``+`` and the HTML, or ``-`` and a one-line error. Each
conversion may use CPU_SECONDS of CPU time (so a busy machine does not count against it).
It exits at end of input.
"""

from __future__ import annotations

import resource
import signal
import struct
import sys
from types import FrameType
from typing import BinaryIO


class _OutOfTime(Exception):
    """Raised by the CPU timer inside a conversion."""


class _Timer:
    """Whether a conversion is running (the CPU timer only interrupts one)."""

    armed = False


def _on_timer(signum: int, frame: FrameType | None) -> None:
    if _Timer.armed:
        raise _OutOfTime


def _read_exact(stream: BinaryIO, size: int) -> bytes | None:
    data = stream.read(size)
    return data if len(data) == size else None


def _convert(text: str, extensions: list[str], seconds: float) -> bytes:
    import markdown

    _Timer.armed = True
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        return b"+" + markdown.markdown(text, extensions=extensions).encode("utf-8", "replace")
    except _OutOfTime:
        return b"-" + f"took more than {seconds:g} s of CPU time".encode()
    except Exception as exc:
        message = f"conversion failed: {type(exc).__name__}: {exc}".splitlines()[0][:300]
        return b"-" + message.encode("utf-8", "replace")
    finally:
        _Timer.armed = False
        signal.setitimer(signal.ITIMER_PROF, 0)


def _limit_memory(memory: int) -> None:
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    if hard != resource.RLIM_INFINITY:
        memory = min(memory, hard)
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))


def main() -> None:
    """Serve conversion requests from stdin until it closes."""
    _limit_memory(int(sys.argv[1]))
    seconds = float(sys.argv[2])
    extensions = [name for name in sys.argv[3].split(",") if name]
    signal.signal(signal.SIGPROF, _on_timer)
    import markdown  # noqa: F401  (loaded before saying ready)

    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    replies.write(b"R")
    replies.flush()
    while (header := _read_exact(requests, 4)) is not None:
        body = _read_exact(requests, struct.unpack(">I", header)[0])
        if body is None:
            return
        reply = _convert(body.decode("utf-8", "replace"), extensions, seconds)
        replies.write(struct.pack(">I", len(reply)) + reply)
        replies.flush()


if __name__ == "__main__":
    main()
