"""Read one local file safely: a regular file only, never blocking, at most a given size.

A FIFO, socket or device is refused after ``fstat`` without a single read (it is
opened with ``O_NONBLOCK``, so opening never waits for a writer), and a file is
read with a cap, so ``/dev/zero``, a pipe or a huge file can never hang a run or
exhaust memory. Callers turn :class:`UnreadableFile` into their own error.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


class UnreadableFile(ValueError):
    """A local file cannot be used; ``str()`` is the one-line reason, ``missing`` if absent."""

    def __init__(self, reason: str, *, missing: bool = False) -> None:
        super().__init__(reason)
        self.missing = missing


def read_fd(fd: int, max_bytes: int) -> bytes:
    """Read the open descriptor ``fd`` (closed afterwards) if it is a regular file of at
    most ``max_bytes`` bytes; raise :class:`UnreadableFile` otherwise."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        os.close(fd)
        raise
    if not stat.S_ISREG(mode):
        os.close(fd)
        what = "a folder" if stat.S_ISDIR(mode) else "a FIFO, socket or device"
        raise UnreadableFile(f"not a regular file ({what})")
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UnreadableFile(f"larger than {max_bytes} bytes")
    return data


def read_regular_file(path: Path, max_bytes: int) -> bytes:
    """Return the bytes of the regular file at ``path`` (symlinks followed), at most
    ``max_bytes``; raise :class:`UnreadableFile` with the reason otherwise."""
    try:
        fd = os.open(path, _FLAGS)
    except FileNotFoundError:
        raise UnreadableFile("file not found", missing=True) from None
    except OSError as exc:
        raise UnreadableFile(f"cannot read: {exc.strerror or exc}") from None
    try:
        return read_fd(fd, max_bytes)
    except OSError as exc:
        raise UnreadableFile(f"cannot read: {exc.strerror or exc}") from None
