"""Tell WebSub hubs that feeds changed (the ``publish`` ping of PubSubHubbub 0.4).

After a feed write, each configured hub gets ``hub.mode=publish`` and
``hub.url=<feed URL>`` for every feed that changed. A ping that fails (no
answer, not 2xx) is kept in ``.websub-pending.json`` next to the feeds and sent
again at the next write; pings never block or undo writing. After the first
hub that cannot be reached, its other topics wait for the next write instead
of each waiting for its own timeout.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import urlencode

from syndicate import __version__
from syndicate.errors import one_line
from syndicate.files import write_atomic

logger = logging.getLogger(__name__)

PENDING_FILE = ".websub-pending.json"
PING_TIMEOUT = 10.0

Ping = tuple[str, str]  # (hub URL, topic URL)


class PingError(Exception):
    """A hub did not accept a ping; ``unreachable`` when it did not answer at all."""

    def __init__(self, message: str, *, unreachable: bool) -> None:
        super().__init__(message)
        self.unreachable = unreachable


def ping(hub: str, topic: str, timeout: float = PING_TIMEOUT) -> None:
    """POST one publish ping; raise :class:`PingError` unless the hub answers 2xx."""
    body = urlencode({"hub.mode": "publish", "hub.url": topic}).encode("ascii")
    request = urllib.request.Request(hub, data=body, method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    request.add_header("User-Agent", f"syndicate/{__version__}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            answer.read(65536)
    except urllib.error.HTTPError as exc:
        raise PingError(f"HTTP {exc.code}", unreachable=False) from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise PingError(one_line(str(reason), 200), unreachable=True) from None


def load_pending(folder: Path) -> set[Ping]:
    """The pings that failed at earlier writes (none when the file is absent or unreadable)."""
    try:
        data = json.loads((folder / PENDING_FILE).read_text("utf-8"))
        return {(str(hub), str(topic)) for hub, topic in data}
    except (OSError, ValueError, TypeError):
        return set()


def save_pending(folder: Path, pending: set[Ping]) -> None:
    """Remember the pings still to send (the file is removed when none are)."""
    path = folder / PENDING_FILE
    try:
        if pending:
            data = json.dumps(sorted(pending), ensure_ascii=False).encode("utf-8")
            write_atomic(path, data + b"\n", new_mode=0o644)
        else:
            path.unlink(missing_ok=True)
    except OSError as exc:
        logger.warning("websub: cannot save %s: %s", path, exc)


def send_pings(pings: Iterable[Ping], timeout: float = PING_TIMEOUT) -> dict[Ping, str]:
    """Send ``pings``; return the failed ones with their reasons."""
    failed: dict[Ping, str] = {}
    down: dict[str, str] = {}
    for hub, topic in sorted(pings):
        if hub in down:
            failed[(hub, topic)] = down[hub]
            continue
        try:
            ping(hub, topic, timeout)
        except PingError as exc:
            failed[(hub, topic)] = str(exc)
            if exc.unreachable:
                down[hub] = str(exc)
        else:
            logger.info("websub: told %s that %s changed", hub, topic)
    return failed


def notify_hubs(
    folder: Path, hubs: Sequence[str], topics: Iterable[str], timeout: float = PING_TIMEOUT
) -> list[str]:
    """Ping every hub about ``topics`` and the pings still pending from earlier writes.

    Returns one line per failed ping (``hub topic: reason``); those are retried
    next time. Pings to hubs no longer configured are dropped.
    """
    pending = {(hub, topic) for hub, topic in load_pending(folder) if hub in hubs}
    pending |= {(hub, topic) for hub in hubs for topic in topics}
    if not pending:
        return []
    failed = send_pings(pending, timeout)
    save_pending(folder, set(failed))
    lines = [f"websub: ping {hub} {topic}: {reason}" for (hub, topic), reason in failed.items()]
    for line in lines:
        logger.warning("%s (retried at the next feed write)", line)
    return lines
