"""Schedules: 5-field crontab expressions and ``every 10m`` intervals.

A :class:`Schedule` is parsed once from the config; its slots are computed here
on local wall-clock days of the configured timezone. Crontab meaning is kept exactly:

* day of week ``0`` and ``7`` are Sunday;
* when both day-of-month and day-of-week are restricted, either may match;
* a wall time happens once a day across daylight-saving changes (:func:`wall_time`).

Intervals count in absolute time from a fixed anchor (a Monday, 2000-01-03 local).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

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
MIN_INTERVAL = timedelta(seconds=5)
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
            f"invalid schedule 'every {text}': the interval must be between 5s and "
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

    def latest_slot(self, now: datetime, tz: tzinfo) -> datetime | None:
        """Return the latest scheduled time at or before ``now`` (aware, in ``tz``), or None."""
        if self.interval is not None:
            return _interval_slot(self.interval, now, tz, 0)
        for day in _days(now.astimezone(tz).date(), -1):
            for slot in reversed(self._day_slots(day, tz)):
                if slot <= now:
                    return slot
        return None

    def next_slot(self, now: datetime, tz: tzinfo) -> datetime | None:
        """Return the first scheduled time strictly after ``now`` (aware, in ``tz``)."""
        if self.interval is not None:
            return _interval_slot(self.interval, now, tz, 1)
        for day in _days(now.astimezone(tz).date(), 1):
            for slot in self._day_slots(day, tz):
                if slot > now:
                    return slot
        return None

    def _day_slots(self, day: date, tz: tzinfo) -> list[datetime]:
        """The slots of local ``day``, in order, each wall time once (see :func:`wall_time`)."""
        fields = _cron_fields(self.cron or ())
        if not _day_matches(fields, day):
            return []
        times = {wall_time(day, hour, minute, tz) for hour in fields[1] for minute in fields[0]}
        return sorted(times)

    def __str__(self) -> str:
        return self.text


_SEARCH_DAYS = 366 * 8 + 2  # the rarest crontab day (29 February) recurs within this


def _days(first: date, step: int) -> Iterator[date]:
    """``first`` and the days before (``step`` -1) or after (1) it, for about eight years."""
    for offset in range(_SEARCH_DAYS):
        try:
            yield first + timedelta(days=offset * step)
        except OverflowError:
            return


@functools.lru_cache(maxsize=256)
def _cron_fields(cron: tuple[str, ...]) -> tuple[frozenset[int], ...]:
    """Minutes, hours, days, months, weekdays (0 = Sunday) and two flags: dom/dow restricted."""
    sets = [frozenset(_expand(value, spec)) for value, spec in zip(cron, _FIELDS, strict=True)]
    weekdays = frozenset(day % 7 for day in sets[4])
    restricted = frozenset(i for i in (2, 4) if not cron[i].startswith("*"))
    return (sets[0], sets[1], sets[2], sets[3], weekdays, restricted)


def _day_matches(fields: tuple[frozenset[int], ...], day: date) -> bool:
    """Crontab's day rule: when both day fields are restricted, either may match."""
    if day.month not in fields[3]:
        return False
    by_date, by_weekday = day.day in fields[2], day.isoweekday() % 7 in fields[4]
    if fields[5] == frozenset({2, 4}):
        return by_date or by_weekday
    return by_date and by_weekday


def wall_time(day: date, hour: int, minute: int, tz: tzinfo) -> datetime:
    """The moment local ``day`` ``hour``:``minute`` happens in ``tz``, exactly once.

    A wall time that a daylight-saving change repeats is its first occurrence; one
    the change skips (02:30 on a spring-forward night) is the moment the clock
    jumps past it (03:30 the new offset): a daily slot stays one slot a day.
    """
    naive = datetime.combine(day, time(hour, minute))
    return naive.replace(tzinfo=tz, fold=0).astimezone(UTC).astimezone(tz)


def _interval_slot(interval: timedelta, now: datetime, tz: tzinfo, ahead: int) -> datetime:
    """The interval slot at or before ``now`` (``ahead`` 0) or the one after it (1)."""
    anchor = _INTERVAL_ANCHOR.replace(tzinfo=tz).astimezone(UTC)
    steps = (now.astimezone(UTC) - anchor) // interval
    return (anchor + (steps + ahead) * interval).astimezone(tz)
