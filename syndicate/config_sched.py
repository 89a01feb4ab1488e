"""Config models of the daemon itself: takeover time, run-history retention, pruning."""

from datetime import timedelta
from typing import Annotated, Any

from syndicate.config_checks import Before, before
from syndicate.config_fields import ScheduleField
from syndicate.config_model import ConfigModel, model
from syndicate.schedule import Schedule, parse_duration

DEFAULT_TAKEOVER = timedelta(seconds=60)
DEFAULT_RETENTION = timedelta(days=90)


def _bounded(low: timedelta, high: timedelta, shown: str) -> Before:
    """A validator of a duration text between ``low`` and ``high`` (``shown`` in errors)."""

    def check(value: Any) -> timedelta:
        if not isinstance(value, str):
            raise ValueError("expected a duration such as 60s or 90d")
        duration = parse_duration(value)
        if not low <= duration <= high:
            raise ValueError(f"invalid duration {value!r}: between {shown}")
        return duration

    return before(check)


Takeover = Annotated[timedelta, _bounded(timedelta(seconds=2), timedelta(hours=1), "2s and 1h")]
Retention = Annotated[timedelta, _bounded(timedelta(days=1), timedelta(days=3660), "1d and 3660d")]


@model
class SchedulerConfig(ConfigModel):
    """How ``syndicate run`` shares a database with standbys and keeps its history.

    ``takeover``: a standby takes over at most this long after the active daemon
    stopped renewing its lease. ``retention``: run history and final send records
    older than this are deleted by the daily ``prune`` job at ``prune_schedule``.
    """

    takeover: Takeover = DEFAULT_TAKEOVER
    retention: Retention = DEFAULT_RETENTION
    prune_schedule: ScheduleField = Schedule.parse("40 4 * * *")
