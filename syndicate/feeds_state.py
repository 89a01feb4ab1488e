"""What each feed file was last written from, so an unchanged feed is not rendered again.

A feed's *mark* hashes everything its bytes depend on: the configuration it is
rendered with (:func:`config_fingerprint`), its format, and its *head* — the
sequence and change time of the newest articles it shows, in order. A new
article, an updated one (its ``changed_at`` moves), one re-dated into or out of
the feed, or one hidden from it changes the head. The marks are kept in
``.feeds-state.json`` next to the feeds (a dot file: the web side never serves it).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from syndicate import __version__
from syndicate.files import write_atomic

if TYPE_CHECKING:
    from syndicate.config import Config

logger = logging.getLogger(__name__)

STATE_FILE = ".feeds-state.json"
STATE_VERSION = 1


def feeds_settings(config: Config) -> dict[str, object]:
    """The ``feeds:`` settings as JSON values (part of :func:`config_fingerprint`)."""
    from syndicate.config_model import json_values

    values: dict[str, object] = json_values(config.feeds)
    return values


def config_fingerprint(config: Config) -> str:
    """A hash of every setting feed bytes depend on (and of this version of syndicate)."""
    interval = config.collect.schedule.interval
    parts = {
        "version": __version__,
        "feeds": feeds_settings(config),
        "base": config.public_base_url,
        "zone": str(config.timezone),
        "sections": [(s.id, s.name, s.order) for s in config.section_list()],
        "sources": [s.id for s in config.sources] if config.feeds.per_source else [],
        "ttl": None if interval is None else interval.total_seconds(),
    }
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def head_digest(fingerprint: str, head: Sequence[tuple[int, str]]) -> str:
    """A hash of the configuration and one feed's head (its articles' sequence and change)."""
    digest = hashlib.blake2b(fingerprint.encode("ascii"), digest_size=16)
    digest.update(";".join(f"{seq}@{changed}" for seq, changed in head).encode())
    return digest.hexdigest()


def feed_mark(head: str, fmt: str) -> str:
    """The mark of one feed file: its head digest and its format."""
    return f"{fmt}:{head}"


@dataclass
class FeedsState:
    """The marks of the feed files in one folder."""

    folder: Path
    marks: dict[str, str] = field(default_factory=dict)
    dirty: bool = False

    @classmethod
    def load(cls, folder: Path) -> FeedsState:
        """The state saved in ``folder``; empty (everything rendered) when absent or unreadable."""
        try:
            data = json.loads((folder / STATE_FILE).read_text("utf-8"))
            marks = data["feeds"] if data.get("version") == STATE_VERSION else {}
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return cls(folder)
        if not isinstance(marks, dict):
            return cls(folder)
        return cls(folder, {str(k): str(v) for k, v in marks.items()})

    def unchanged(self, name: str, mark: str) -> bool:
        """True when file ``name`` exists and was last written with ``mark``."""
        return self.marks.get(name) == mark and (self.folder / name).is_file()

    def record(self, name: str, mark: str | None) -> None:
        """Remember the mark file ``name`` was written with (None: forget it, render next time)."""
        if mark is None:
            self.dirty |= self.marks.pop(name, None) is not None
        elif self.marks.get(name) != mark:
            self.marks[name] = mark
            self.dirty = True

    def save(self) -> None:
        """Write the state file when a mark changed; a failure only costs a render next time."""
        if not self.dirty:
            return
        data = json.dumps({"version": STATE_VERSION, "feeds": self.marks}, sort_keys=True)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_atomic(self.folder / STATE_FILE, data.encode("utf-8") + b"\n", new_mode=0o644)
        except OSError as exc:
            logger.warning("feeds: cannot save %s: %s", self.folder / STATE_FILE, exc)
        self.dirty = False
