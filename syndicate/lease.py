"""Who holds a claimed send, until when, and whether that holder is still alive.

A claim carries a lease: the owner (``host:pid`` of the process sending) and
the moment it ends. A lease ends early when its owner is a process of this
host that no longer exists (a crash, a ``kill -9``): its sends are then
interrupted at once instead of after the lease runs out.
"""

from __future__ import annotations

import json
import os
import re
import socket
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

LEASE_TIME = timedelta(minutes=15)
"""How long a claim is held at least; longer when ten exchanges with the server may take more."""


@dataclass(frozen=True)
class Lease:
    """A claim's holder and the moment the claim ends unless answered first."""

    owner: str
    until: datetime


def this_process() -> str:
    """The owner name of the running process: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def lease_for(now: datetime, length: timedelta = LEASE_TIME) -> Lease:
    """A lease held by this process from ``now`` for ``length``."""
    return Lease(this_process(), now + length)


def _alive(pid: int) -> bool:
    """True when a process ``pid`` exists (or may exist: not ours to signal)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def dead_owners(owners: Iterable[str]) -> list[str]:
    """The owners among ``owners`` that are processes of this host no longer running."""
    host = socket.gethostname()
    dead = []
    for owner in owners:
        name, _, pid = owner.rpartition(":")
        if name == host and pid.isdigit() and not _alive(int(pid)):
            dead.append(owner)
    return dead


def journal_path(folder: Path, owner: str) -> Path:
    """The journal file of ``owner`` in ``folder``."""
    return folder / (re.sub(r"[^A-Za-z0-9._-]", "_", owner) + ".jsonl")


JOURNAL_FOLDER = Path(tempfile.gettempdir()) / "syndicate-journals"
"""Where each sending process notes, per message, that it started and how it ended."""


class Journal:
    """What a sending process did with each claimed send, one line per event, unbuffered.

    Claims and outcomes reach the database once per batch; the journal says in
    between which claimed sends were handed to the server (``started``) and how
    they ended. After a crash it tells the sends that never went out (safe to
    send) from the ones in flight at the crash (``uncertain``): that is what
    bounds duplicates by the messages in flight, not by the batch.
    """

    def __init__(self, owner: str, folder: Path = JOURNAL_FOLDER) -> None:
        """Open (append) the journal of ``owner``."""
        folder.mkdir(parents=True, exist_ok=True)
        self.path = journal_path(folder, owner)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._lock = threading.Lock()  # the connection threads of a pass share it

    def _write(self, entry: dict[str, object]) -> None:
        line = (json.dumps(entry, separators=(",", ":")) + "\n").encode()
        with self._lock:
            os.write(self._fd, line)

    def started(self, edition_id: int, subscriber_id: int) -> None:
        """The message is being handed to the server (or written)."""
        self._write({"e": edition_id, "s": subscriber_id})

    def finished(self, edition_id: int, subscriber_id: int, state: str, error: str | None) -> None:
        """The server answered: the send's state (and the reason when it did not go out)."""
        self._write({"e": edition_id, "s": subscriber_id, "st": state, "err": error})

    def close(self, *, remove: bool) -> None:
        """Close the journal; ``remove`` it once every outcome is in the database."""
        os.close(self._fd)
        if remove:
            self.path.unlink(missing_ok=True)


def read_journal(path: Path, edition_id: int) -> dict[int, tuple[str | None, str | None]]:
    """subscriber id -> (state or None when only started, error) of one edition's sends."""
    entries: dict[int, tuple[str | None, str | None]] = {}
    try:
        lines = path.read_text("utf-8", "replace").splitlines()
    except OSError:
        return entries
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line cut by the crash
        if isinstance(entry, dict) and entry.get("e") == edition_id:
            entries[int(entry["s"])] = (entry.get("st"), entry.get("err"))
    return entries
