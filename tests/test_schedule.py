"""Crontab and interval schedules, including crontab's Sunday numbering."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from syndicate.schedule import Schedule, parse_duration

SEOUL = ZoneInfo("Asia/Seoul")
SATURDAY_NOON = datetime(2026, 11, 28, 12, 0, tzinfo=SEOUL)


@pytest.mark.parametrize("expr", ["0 7 * * 0", "0 7 * * 7", "0 7 * * sun", "0 7 * * SUN"])
def test_zero_and_seven_are_sunday(expr: str) -> None:
    schedule = Schedule.parse(expr)
    nxt = schedule.next_slot(SATURDAY_NOON, SEOUL)
    assert nxt == datetime(2026, 11, 29, 7, 0, tzinfo=SEOUL)
    assert nxt.strftime("%A") == "Sunday"
    assert schedule.latest_slot(SATURDAY_NOON, SEOUL) == datetime(2026, 11, 22, 7, tzinfo=SEOUL)


def test_one_is_monday_not_tuesday() -> None:
    nxt = Schedule.parse("0 7 * * 1").next_slot(SATURDAY_NOON, SEOUL)
    assert nxt == datetime(2026, 11, 30, 7, 0, tzinfo=SEOUL)
    assert nxt.strftime("%A") == "Monday"


def test_weekday_range_and_wrap_to_sunday() -> None:
    weekdays = Schedule.parse("30 6 * * 1-5")
    assert weekdays.latest_slot(SATURDAY_NOON, SEOUL) == datetime(2026, 11, 27, 6, 30, tzinfo=SEOUL)
    weekend = Schedule.parse("0 9 * * 6-7")
    slots = {weekend.next_slot(SATURDAY_NOON + timedelta(days=d), SEOUL) for d in range(7)}
    assert {s.strftime("%a") for s in slots if s} == {"Sat", "Sun"}


def test_day_of_month_or_day_of_week_like_crontab() -> None:
    # crontab: "on the 1st OR on Mondays" when both fields are restricted
    schedule = Schedule.parse("0 7 1 * 1")
    got = []
    moment = datetime(2026, 11, 28, tzinfo=SEOUL)
    for _ in range(4):
        slot = schedule.next_slot(moment, SEOUL)
        assert slot is not None
        moment = slot
        got.append(moment.date().isoformat())
    assert got == ["2026-11-30", "2026-12-01", "2026-12-07", "2026-12-14"]


def test_interval_slots_are_stable() -> None:
    schedule = Schedule.parse("every 10m")
    assert schedule.latest_slot(SATURDAY_NOON + timedelta(minutes=7), SEOUL) == SATURDAY_NOON
    assert schedule.next_slot(SATURDAY_NOON, SEOUL) == SATURDAY_NOON + timedelta(minutes=10)


def test_macros_and_steps() -> None:
    assert Schedule.parse("@daily").next_slot(SATURDAY_NOON, SEOUL) == datetime(
        2026, 11, 29, 0, 0, tzinfo=SEOUL
    )
    quarter = Schedule.parse("*/15 * * * *")
    assert quarter.next_slot(SATURDAY_NOON, SEOUL) == SATURDAY_NOON + timedelta(minutes=15)


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("0 25 * * *", "hour: 25 is outside 0-23"),
        ("0 7 * *", "expected 5 crontab fields"),
        ("0 7 * * 8", "day of week: 8 is outside 0-7"),
        ("5-1 * * * *", "runs backwards"),
        ("*/0 * * * *", "step"),
        ("0 7 * * mon-funday", "not a number"),
        ("every", "expected 5 crontab fields"),
        ("every 0m", "longer than zero"),
        ("every soon", "invalid duration"),
        ("0 7 30 2 *", "never run"),
        ("0 7 31 4,6,9,11 *", "never run"),
    ],
)
def test_invalid_schedules_explain_themselves(expr: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        Schedule.parse(expr)


def test_durations() -> None:
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("7d") == timedelta(days=7)
    with pytest.raises(ValueError):
        parse_duration("10 minutes")
