"""Schedules: 5-field crontab expressions and ``every 10m`` intervals.

A :class:`Schedule` is parsed once from the config and turned into an
APScheduler trigger on demand. Crontab meaning is kept exactly:

* day of week ``0`` and ``7`` are Sunday (APScheduler counts from Monday = 0,
  so values are translated to names before reaching it);
* when both day-of-month and day-of-week are restricted, either may match
  (crontab ORs them; APScheduler would AND them, so two triggers are OR-ed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

_MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_RE = re.compile(r"(\d{1,12})\s*([smhdw])")
_MAX_TEXT = 1000
_MAX_SECONDS = 3660 * 86400  # ten years: longer is a mistake, and timedelta overflows
MIN_INTERVAL = timedelta(minutes=1)
MAX_INTERVAL = timedelta(days=366)
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_INTERVAL_ANCHOR = datetime(2000, 1, 3)  # a Monday; interval slots count from here


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    name_base: int = 0


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day of month", 1, 31),
    _Field("month", 1, 12, tuple(_MONTHS), 1),
    _Field("day of week", 0, 7, tuple(_DAYS), 0),
)


def parse_duration(text: str) -> timedelta:
    """Parse ``90s``, ``10m``, ``1h30m``, ``2d`` or ``1w`` into a timedelta."""
    compact = text.strip().lower().replace(" ", "")
    if not compact or len(compact) > 100 or _DURATION_RE.sub("", compact):
        raise ValueError(f"invalid duration {text!r}: use a number and s, m, h, d or w (e.g. 10m)")
    seconds = sum(int(n) * _UNITS[u] for n, u in _DURATION_RE.findall(compact))
    if seconds <= 0:
        raise ValueError(f"invalid duration {text!r}: must be longer than zero")
    if seconds > _MAX_SECONDS:
        raise ValueError(f"invalid duration {text!r}: at most {_MAX_SECONDS // 86400}d")
    return timedelta(seconds=seconds)


def _interval(text: str) -> timedelta:
    interval = parse_duration(text)
    if not MIN_INTERVAL <= interval <= MAX_INTERVAL:
        raise ValueError(
            f"invalid schedule 'every {text}': the interval must be between 1m and "
            f"{MAX_INTERVAL.days}d"
        )
    return interval


def _check_days(fields: list[str]) -> None:
    """Refuse a day-of-month part that no month in the schedule has (e.g. Feb 30)."""
    dom, month = fields[2], fields[3]
    if dom.startswith("*"):
        return
    days = _expand(dom, _FIELDS[2])
    months = _expand(month, _FIELDS[3])
    if not any(day <= _DAYS_IN_MONTH[m - 1] for day in days for m in months):
        raise ValueError(f"day {dom} never occurs in month {month}, it would never run")


def _value(token: str, spec: _Field) -> int:
    lowered = token.lower()
    if lowered in spec.names:
        return spec.names.index(lowered) + spec.name_base
    if not token.isdigit():
        raise ValueError(f"{spec.name}: {token!r} is not a number")
    number = int(token)
    if not spec.low <= number <= spec.high:
        raise ValueError(f"{spec.name}: {number} is outside {spec.low}-{spec.high}")
    return number


def _expand_part(part: str, spec: _Field) -> set[int]:
    base, _, step_text = part.partition("/")
    step = 1
    if step_text:
        if not step_text.isdigit() or int(step_text) == 0:
            raise ValueError(f"{spec.name}: step {step_text!r} must be a positive number")
        step = int(step_text)
    if base == "*":
        low, high = spec.low, spec.high
    elif "-" in base:
        first, _, last = base.partition("-")
        low, high = _value(first, spec), _value(last, spec)
        if low > high:
            raise ValueError(f"{spec.name}: range {base!r} runs backwards")
    else:
        low = _value(base, spec)
        high = spec.high if step_text else low
    return set(range(low, high + 1, step))


def _expand(text: str, spec: _Field) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise ValueError(f"{spec.name}: empty list item in {text!r}")
        values |= _expand_part(part, spec)
    return values


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: either a crontab expression or a fixed interval."""

    text: str
    interval: timedelta | None = None
    cron: tuple[str, ...] | None = None

    @classmethod
    def parse(cls, text: str) -> Schedule:
        """Parse ``every 10m``, ``@daily`` or a 5-field crontab expression."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError("schedule must be a crontab expression or 'every <duration>'")
        if len(text) > _MAX_TEXT:
            raise ValueError(f"invalid schedule: longer than {_MAX_TEXT} characters")
        stripped = " ".join(text.split())
        if stripped.lower().startswith("every "):
            return cls(stripped, interval=_interval(stripped[6:]))
        expr = _MACROS.get(stripped.lower(), stripped)
        fields = expr.split(" ")
        if len(fields) != 5:
            raise ValueError(
                f"invalid schedule {text!r}: expected 5 crontab fields "
                "(minute hour day-of-month month day-of-week) or 'every 10m'"
            )
        try:
            for value, spec in zip(fields, _FIELDS, strict=True):
                _expand(value, spec)
            _check_days(fields)
        except ValueError as exc:
            raise ValueError(f"invalid schedule {text!r}: {exc}") from None
        return cls(stripped, cron=tuple(fields))

    def trigger(self, tz: tzinfo) -> Any:
        """Return the APScheduler trigger for this schedule in timezone ``tz``."""
        # APScheduler is loaded only when a schedule is run, not when a config is read.
        from apscheduler.triggers.combining import OrTrigger
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        if self.interval is not None:
            anchor = _INTERVAL_ANCHOR.replace(tzinfo=tz)
            return IntervalTrigger(seconds=self.interval.total_seconds(), start_date=anchor)
        assert self.cron is not None
        minute, hour, dom, month, dow = self.cron
        common: dict[str, Any] = {
            "minute": _apscheduler_list(minute, _FIELDS[0]),
            "hour": _apscheduler_list(hour, _FIELDS[1]),
            "month": _apscheduler_list(month, _FIELDS[3]),
            "timezone": tz,
        }
        days = _apscheduler_list(dom, _FIELDS[2])
        weekdays = _apscheduler_weekdays(dow)
        if dom.startswith("*") or dow.startswith("*"):
            return CronTrigger(day=days, day_of_week=weekdays, **common)
        return OrTrigger(
            [CronTrigger(day=days, **common), CronTrigger(day_of_week=weekdays, **common)]
        )

    def latest_slot(self, now: datetime, tz: tzinfo) -> datetime | None:
        """Return the latest scheduled time at or before ``now`` (aware), or None."""
        return latest_fire_time(self.trigger(tz), now)

    def next_slot(self, now: datetime, tz: tzinfo) -> datetime | None:
        """Return the first scheduled time strictly after ``now``."""
        fire: datetime | None = self.trigger(tz).get_next_fire_time(None, now)
        if fire is not None and fire <= now:
            fire = self.trigger(tz).get_next_fire_time(fire, now + timedelta(seconds=1))
        return fire

    def __str__(self) -> str:
        return self.text


def _apscheduler_list(text: str, spec: _Field) -> str:
    if text == "*":
        return "*"
    return ",".join(str(v) for v in sorted(_expand(text, spec)))


def _apscheduler_weekdays(text: str) -> str:
    if text == "*":
        return "*"
    days = {v % 7 for v in _expand(text, _FIELDS[4])}
    return ",".join(_DAYS[d] for d in sorted(days))


_LOOKBACKS = (
    timedelta(hours=1),
    timedelta(days=1),
    timedelta(days=8),
    timedelta(days=32),
    timedelta(days=367),
    timedelta(days=366 * 8 + 2),
)


def latest_fire_time(trigger: Any, now: datetime) -> datetime | None:
    """Return the latest fire time of an APScheduler trigger at or before ``now``."""
    for lookback in _LOOKBACKS:
        latest: datetime | None = None
        fire: datetime | None = trigger.get_next_fire_time(None, now - lookback)
        while fire is not None and fire <= now:
            latest = fire
            fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
        if latest is not None:
            return latest
    return None
