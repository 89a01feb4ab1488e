"""Logging set-up: one line per event on stderr, as text or as one JSON object per line.

``--log-format json`` is for log shippers: each record becomes an object with
``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message`` and, when the call
named them (``extra={"source": ...}``), the ids in :data:`ID_FIELDS`.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
ID_FIELDS = ("source", "digest", "edition", "subscriber", "job")
NOISY = ("httpx", "httpcore", "apscheduler.executors", "CSSUTILS", "cssutils", "alembic")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines inside values are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON object."""
        event: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ID_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                event[name] = value
        if record.exc_info:
            event["exception"] = self.formatException(record.exc_info)
        return json.dumps(event, ensure_ascii=False, default=str)


def level_for(verbose: int, quiet: bool) -> int:
    """ERROR with ``quiet``, else WARNING, INFO (-v) or DEBUG (-vv)."""
    if quiet:
        return logging.ERROR
    return (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]


def setup_logging(verbose: int = 0, quiet: bool = False, log_format: str = "text") -> None:
    """Send log records to stderr at the level the flags ask for, in ``log_format``."""
    level = level_for(verbose, quiet)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    logging.basicConfig(level=level, handlers=[handler], force=True)
    if verbose < 2:
        for noisy in NOISY:
            logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
