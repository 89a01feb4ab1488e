"""Read one local file safely, and replace one atomically.

Reading: a regular file only, never blocking, at most a given size.

A FIFO, socket or device is refused after ``fstat`` without a single read (it is
opened with ``O_NONBLOCK``, so opening never waits for a writer), and a file is
read with a cap, so ``/dev/zero``, a pipe or a huge file can never hang a run or
exhaust memory. Callers turn :class:`UnreadableFile` into their own error.

Writing: :func:`write_atomic` is the one atomic file writer (feeds, ``.eml`` files).
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


class UnreadableFile(ValueError):
    """A local file cannot be used; ``str()`` is the one-line reason.

    ``missing`` when it does not exist, ``too_large`` when it is over the size cap.
    """

    def __init__(self, reason: str, *, missing: bool = False, too_large: bool = False) -> None:
        super().__init__(reason)
        self.missing = missing
        self.too_large = too_large


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
        raise UnreadableFile(f"larger than {max_bytes} bytes", too_large=True)
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


def _kept_mode(path: Path, new_mode: int) -> int:
    """The permission bits of the existing ``path``, or ``new_mode`` when it does not exist."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        return new_mode


def write_atomic(path: Path, data: bytes, *, new_mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` atomically: a temporary file in the same folder,
    flushed and fsynced, given the mode of the file it replaces (``new_mode`` for a new
    file), then renamed over ``path``. Readers see the old bytes or the new, never a part.
    The folder must exist; :class:`OSError` propagates (the temporary file is removed)."""
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp_name, _kept_mode(path, new_mode))
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
