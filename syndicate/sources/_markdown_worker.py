"""Worker process converting Markdown to HTML for :mod:`syndicate.sources.markup`.

Run as a script (not imported): ``python -I _markdown_worker.py MEMORY_BYTES EXTENSIONS``.
It caps its own address space, then answers each request read from stdin, framed as a
4-byte big-endian length and UTF-8 Markdown, with a framed reply: ``+`` and the HTML, or
``-`` and a one-line error. It exits at end of input.
"""

from __future__ import annotations

import resource
import struct
import sys
from typing import BinaryIO


def _read_exact(stream: BinaryIO, size: int) -> bytes | None:
    data = stream.read(size)
    return data if len(data) == size else None


def _convert(text: str, extensions: list[str]) -> bytes:
    import markdown

    try:
        return b"+" + markdown.markdown(text, extensions=extensions).encode("utf-8", "replace")
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        return b"-" + message.encode("utf-8", "replace")


def main() -> None:
    """Serve conversion requests from stdin until it closes."""
    memory = int(sys.argv[1])
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    if hard != resource.RLIM_INFINITY:
        memory = min(memory, hard)
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    extensions = [name for name in sys.argv[2].split(",") if name]
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    while (header := _read_exact(requests, 4)) is not None:
        body = _read_exact(requests, struct.unpack(">I", header)[0])
        if body is None:
            return
        reply = _convert(body.decode("utf-8", "replace"), extensions)
        replies.write(struct.pack(">I", len(reply)) + reply)
        replies.flush()


if __name__ == "__main__":
    main()
