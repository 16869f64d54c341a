"""Cron validation: every rejection says which field and why."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduler.rules.timerules import CronError, parse_cron, validate_timezone


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("* * * * * *", "seconds are not supported"),
        ("0 0 * * * 2030", "seconds are not supported"),
        ("@reboot", "@reboot is not supported"),
        ("@every_minute", "unknown macro"),
        ("61 * * * *", "minute field"),
        ("0 24 * * *", "hour field"),
        ("0 0 32 * *", "day-of-month field"),
        ("0 0 0 * *", "day-of-month field"),
        ("0 0 * 13 *", "month field"),
        ("0 0 * * 8", "day-of-week field"),
        ("59/15 * * * *", "ambiguous"),
        ("0 23/5 * * *", "ambiguous"),
        ("*/0 * * * *", "positive number"),
        ("*/90 * * * *", "larger than its range"),
        ("1,,2 * * * *", "empty list item in the minute field"),
        (",5 * * * *", "empty list item"),
        ("5-1 * * * *", "runs backwards"),
        ("x * * * *", "not a number"),
        ("0 0 30 2 *", "never fires"),
        ("0 0 31 4 *", "never fires"),
        ("", "empty"),
        ("* * * *", "4 field(s)"),
        ("? * * * *", "only allowed in day-of-month"),
        ("0 0 * * 1#6", "1-5"),
    ],
)
def test_rejections_name_the_problem(expression: str, fragment: str) -> None:
    with pytest.raises(CronError) as info:
        parse_cron(expression)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("expression", "normalised", "fixed"),
    [
        ("*/15 * * * *", "*/15 * * * *", False),
        ("0  *  * * *", "0 * * * *", False),
        ("0 0 * * *", "0 0 * * *", True),
        ("0 0 * * 1", "0 0 * * 1", True),
        ("30 2 * * *", "30 2 * * *", True),
        ("0 1,13 * * *", "0 1,13 * * *", False),
        ("0 9-17 * * mon-fri", "0 9-17 * * mon-fri", False),
        ("0 0 1 jan *", "0 0 1 jan *", True),
        ("@daily", "0 0 * * *", True),
        ("@hourly", "0 * * * *", False),
        ("@WEEKLY", "0 0 * * 0", True),
        ("5/15 * * * *", "5/15 * * * *", False),
        ("0 0 L * *", "0 0 L * *", True),
        ("0 0 * * 1#2", "0 0 * * 1#2", True),
        ("0 0 ? * 7", "0 0 ? * 7", True),
    ],
)
def test_accepted_expressions(expression: str, normalised: str, fixed: bool) -> None:
    cron = parse_cron(expression)
    assert cron.expression == normalised
    assert cron.fixed_hour is fixed


def test_day_of_week_one_is_monday() -> None:
    # APScheduler's from_crontab reads 1 as Tuesday; ours must be cron's Monday.
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from scheduler.rules.timerules import next_fire

    fire = next_fire(parse_cron("0 0 * * 1"), ZoneInfo("UTC"), datetime(2026, 11, 28, tzinfo=UTC))
    assert fire.weekday() == 0


@given(st.integers(min_value=60, max_value=10_000))
def test_any_minute_out_of_range_is_rejected(minute: int) -> None:
    with pytest.raises(CronError, match="minute field"):
        parse_cron(f"{minute} * * * *")


@given(st.text(max_size=40))
def test_arbitrary_text_never_crashes(text: str) -> None:
    try:
        parse_cron(text)
    except CronError as exc:
        assert str(exc)


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../etc/passwd", "Europe/Berlin "])
def test_unknown_timezones(name: str) -> None:
    with pytest.raises(CronError, match="unknown timezone"):
        validate_timezone(name)


def test_known_timezone() -> None:
    assert validate_timezone("Australia/Lord_Howe").key == "Australia/Lord_Howe"
