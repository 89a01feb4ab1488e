"""Find and read the files of a folder source: regular files only, only from inside the folder.

The rules, applied to everything under the folder:

- names starting with ``.`` (hidden files, editor swap files) and names without an
  article suffix are ignored, as before;
- sub-folders are read (one named like an article, ``notes.md/``, is a folder like any
  other) up to :data:`MAX_DIR_DEPTH` levels, and at most :data:`MAX_FILES` files are read;
- a symlink to a regular file whose real path is inside the folder is read under the link's
  own name; a symlink pointing outside the folder, a broken symlink and a symlink to a
  folder are never followed (a warning names them);
- FIFOs, sockets and device files are skipped with a warning and never opened for reading;
- a name that is not UTF-8 is skipped with a warning (it could not be an id or a URL).

Files are opened one path component at a time from the folder with ``O_NOFOLLOW`` and
``O_NONBLOCK`` and checked with ``fstat`` after opening, so a path swapped for a symlink or
a FIFO between listing and reading is refused, not followed, and never blocks.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from syndicate.files import UnreadableFile, read_fd

SUFFIXES = frozenset({".md", ".markdown", ".html", ".htm"})
MAX_DIR_DEPTH = 32
MAX_FILES = 20_000

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


class BadFile(Exception):
    """One file of a folder source cannot be used; the message says why."""


@dataclass(frozen=True)
class Entry:
    """A file found in a folder: its name relative to the folder and what to open.

    ``problem`` is set (and nothing is opened) when the entry must be skipped with a warning.
    """

    relative: PurePosixPath
    target: PurePosixPath
    problem: str | None = None


def shown(path: str | os.PathLike[str]) -> str:
    """Return ``path`` printable: bytes that are not UTF-8 appear as ``\\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _inside(root: str, real: str) -> bool:
    return real != root and os.path.commonpath([root, real]) == root


def _symlink_entry(root: str, full: str, relative: PurePosixPath) -> Entry | None:
    """Classify a symlink: an entry to read, an entry with a problem, or None to ignore."""
    real = os.path.realpath(full)
    is_dir = os.path.isdir(real)
    if not is_dir and relative.suffix.lower() not in SUFFIXES:
        return None
    if not os.path.exists(real):
        return Entry(relative, relative, "broken symlink; not followed")
    if not _inside(root, real):
        return Entry(relative, relative, "symlink to outside the folder; not followed")
    if is_dir:
        return Entry(relative, relative, "symlink to a folder; not followed")
    return Entry(relative, PurePosixPath(os.path.relpath(real, root)))


def _classify(root: str, entry: os.DirEntry[str], relative: PurePosixPath) -> Entry | None:
    """Return the :class:`Entry` for a non-folder directory entry, or None to ignore it."""
    if entry.is_symlink():
        return _symlink_entry(root, entry.path, relative)
    if relative.suffix.lower() not in SUFFIXES:
        return None
    if not entry.is_file(follow_symlinks=False):
        return Entry(relative, relative, "not a regular file (a FIFO, socket or device)")
    return Entry(relative, relative)


def _scan(root: str, relative: PurePosixPath) -> Iterator[tuple[os.DirEntry[str], PurePosixPath]]:
    with os.scandir(os.path.join(root, relative)) as entries:
        for entry in entries:
            if not entry.name.startswith("."):
                yield entry, relative / entry.name


def _walk(root: str) -> Iterator[Entry]:
    """Yield the entries of every file under ``root``, not following symlinked folders."""
    pending = [PurePosixPath()]
    while pending:
        folder = pending.pop()
        try:
            found = list(_scan(root, folder))
        except OSError as exc:
            yield Entry(folder, folder, f"cannot list this folder: {exc.strerror or exc}")
            continue
        for entry, relative in found:
            if not _is_utf8(entry.name):
                yield Entry(relative, relative, "name is not UTF-8; rename the file")
            elif entry.is_dir(follow_symlinks=False):
                if len(relative.parts) > MAX_DIR_DEPTH:
                    yield Entry(relative, relative, f"more than {MAX_DIR_DEPTH} folders deep")
                else:
                    pending.append(relative)
            elif (classified := _classify(root, entry, relative)) is not None:
                yield classified


def list_files(folder: Path) -> list[Entry]:
    """Return the article files under ``folder`` (and the ones to warn about), sorted by name."""
    found: list[Entry] = []
    for entry in _walk(os.path.realpath(folder)):
        if len(found) == MAX_FILES:
            problem = f"more than {MAX_FILES} files in the folder; this and the rest are not read"
            found.append(Entry(entry.relative, entry.target, problem))
            break
        found.append(entry)
    return sorted(found, key=lambda e: e.relative.as_posix())


def _open_beneath(root: str, target: PurePosixPath) -> int:
    """Open ``root/target`` for reading without following any symlink; return the descriptor."""
    directory = os.open(root, _DIR_FLAGS)
    try:
        for part in target.parts[:-1]:
            inner = os.open(part, _DIR_FLAGS, dir_fd=directory)
            os.close(directory)
            directory = inner
        return os.open(target.name, _FILE_FLAGS, dir_fd=directory)
    finally:
        os.close(directory)


def read_entry(folder: Path, entry: Entry, max_bytes: int) -> bytes:
    """Return the bytes of one listed file (raise :class:`BadFile` if it cannot be used)."""
    if entry.problem is not None:
        raise BadFile(entry.problem)
    root = os.path.realpath(folder)
    try:
        fd = _open_beneath(root, entry.target)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise BadFile("became a symlink while reading; not followed") from exc
        raise BadFile(f"cannot read: {exc.strerror or exc}") from exc
    try:
        return read_fd(fd, max_bytes)
    except UnreadableFile as exc:
        raise BadFile(str(exc)) from None
    except OSError as exc:
        raise BadFile(f"cannot read: {exc.strerror or exc}") from exc
