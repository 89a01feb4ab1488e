"""Source health between runs: backoff after failures, ``Retry-After``, retirement, moves.

Pure functions over :class:`~syndicate.model.SourceState`: a failure makes the
source wait (5 minutes, doubling with each failure in a row up to a cap, and
never less than a ``Retry-After``); a 410 Gone on the source's own location
retires it until ``syndicate sources enable``; a success resets the backoff and
records a permanent redirect as the location to read from, until the configured
location changes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from syndicate.config_sources import SourceConfig
from syndicate.model import SourceState

logger = logging.getLogger(__name__)

BACKOFF_BASE = timedelta(minutes=5)
GONE = 410


@dataclass(frozen=True)
class Failure:
    """Why reading a source failed: one line, and the HTTP answer when there was one."""

    message: str
    status: int | None = None
    url: str | None = None
    retry_after: float | None = None


def backoff_for(failures: int, cap: timedelta) -> timedelta:
    """The wait after ``failures`` failures in a row: 5 minutes doubled each time, capped."""
    if failures <= 0:
        return timedelta(0)
    return min(BACKOFF_BASE * (1 << min(failures - 1, 30)), cap)


def location_of(source: SourceConfig, state: SourceState) -> str:
    """Where to read ``source``: its permanent new location, while the configured one stands."""
    if state.location and state.moved_from == source.location:
        return state.location
    return source.location


def waiting(state: SourceState, now: datetime) -> str | None:
    """Why the source is not read now (retired, or backing off), else None."""
    if state.retired_at is not None:
        return f"retired since {state.retired_at:%Y-%m-%d %H:%M} UTC ({state.last_error})"
    if state.next_due_at is not None and state.next_due_at > now:
        return f"backing off until {state.next_due_at:%Y-%m-%d %H:%M:%S} UTC"
    return None


def failed(
    state: SourceState, failure: Failure, *, location: str, now: datetime, cap: timedelta
) -> SourceState:
    """The state after a failed read: counted, backed off, retired on 410 at ``location``."""
    count = state.error_count + 1
    wait = backoff_for(count, cap)
    if failure.retry_after is not None:
        wait = max(wait, timedelta(seconds=failure.retry_after))
    retired = state.retired_at
    if failure.status == GONE and failure.url in (location, None):
        retired = now
        logger.warning("source %s retired: %s; re-enable it with `syndicate sources enable %s`",
                       state.source_id, failure.message, state.source_id)  # fmt: skip
    return replace(
        state, last_checked_at=now, last_error=failure.message, error_count=count,
        next_due_at=now + wait, backoff_seconds=int(wait.total_seconds()), retired_at=retired,
    )  # fmt: skip


def succeeded(
    previous: SourceState, read: SourceState, *, source: SourceConfig, now: datetime
) -> SourceState:
    """The state after a successful read: backoff reset, a permanent move recorded.

    ``read.location`` is where this read was permanently redirected (None when it
    was not); a move is logged once, when it is first seen.
    """
    if read.location is None:
        moved = previous.location if previous.moved_from == source.location else None
    else:
        moved = None if read.location == source.location else read.location
        if moved and moved != location_of(source, previous):
            logger.warning("source %s moved permanently to %s (configured: %s); reading it there "
                           "from now on", source.id, moved, source.location)  # fmt: skip
    return replace(
        read, source_id=source.id, last_checked_at=now, last_success_at=now, last_error=None,
        error_count=0, next_due_at=None, backoff_seconds=0, retired_at=None,
        location=moved, moved_from=source.location if moved else None,
    )  # fmt: skip
