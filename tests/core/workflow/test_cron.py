"""Cron schedules as GitHub accepts them."""

from __future__ import annotations

from datetime import datetime

import pytest

from pheme.core.workflow import CronError, parse_cron


def test_fields_names_ranges_steps_lists() -> None:
    c = parse_cron("0,30 9-17/2 * JAN-mar mon-fri")
    assert c.minutes == {0, 30}
    assert c.hours == {9, 11, 13, 15, 17}
    assert c.months == {1, 2, 3}
    assert c.weekdays == {1, 2, 3, 4, 5}
    assert parse_cron("15 3 1 * *").days == {1}
    assert parse_cron("*/15 * * * *").minutes == {0, 15, 30, 45}
    assert parse_cron("5/20 * * * *").minutes == {5, 25, 45}


def test_matches_and_next_after() -> None:
    c = parse_cron("30 5 * * 1-5")  # 05:30 on weekdays
    assert c.matches(datetime(2024, 5, 6, 5, 30))  # a Monday
    assert not c.matches(datetime(2024, 5, 5, 5, 30))  # a Sunday
    assert c.next_after(datetime(2024, 5, 3, 6, 0)) == datetime(2024, 5, 6, 5, 30)  # Friday → Monday
    assert c.next_after(datetime(2024, 5, 6, 5, 29, 59)) == datetime(2024, 5, 6, 5, 30)
    assert parse_cron("0 0 29 2 *").next_after(datetime(2024, 3, 1)) == datetime(2028, 2, 29)
    assert parse_cron("0 0 30 2 *").next_after(datetime(2024, 1, 1)) is None


def test_day_of_month_or_day_of_week_when_both_given() -> None:
    c = parse_cron("0 0 13 * fri")
    assert c.matches(datetime(2024, 9, 13))  # the 13th (a Friday)
    assert c.matches(datetime(2024, 9, 6))  # any Friday
    assert c.matches(datetime(2024, 10, 13))  # the 13th (a Sunday)
    assert not c.matches(datetime(2024, 10, 14))


@pytest.mark.parametrize(
    "expr",
    ["* * * *", "60 * * * *", "0 24 * * *", "0 0 0 * *", "0 0 * 13 *", "0 0 * * 7", "5-1 * * * *",
     "*/0 * * * *", "@daily", "0 0 * * funday", "1,,2 * * * *", "*/61 * * * *"],
)  # fmt: skip
def test_invalid_expressions(expr: str) -> None:
    with pytest.raises(CronError) as info:
        parse_cron(expr)
    assert (
        info.value.message
        == "Invalid cron expression. Expected format: '* * * * *' (minute hour day month weekday)"
    )


@pytest.mark.parametrize("expr", ["* * * * *", "*/2 * * * *", "0,3 * * * *", "1,58 0-1 * * *"])
def test_more_often_than_every_5_minutes_is_refused(expr: str) -> None:
    with pytest.raises(CronError) as info:
        parse_cron(expr)
    assert "more often than every 5 minutes" in info.value.message
    parse_cron(expr, enforce_min_interval=False)


@pytest.mark.parametrize("expr", ["*/5 * * * *", "0,5 * * * *", "58 0 * * *", "57 * * * *"])
def test_every_5_minutes_or_less_often_is_fine(expr: str) -> None:
    parse_cron(expr)
