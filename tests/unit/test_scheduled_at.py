"""Appwrite's scheduledAt rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduler.rules.timerules import (
    SCHEDULED_AT_MESSAGE,
    ScheduleError,
    iso,
    parse_scheduled_at,
)

NOW = datetime(2030, 1, 1, 10, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2030-01-01T10:02:00+00:00", datetime(2030, 1, 1, 10, 2, tzinfo=UTC)),
        ("2030-01-01T10:02:00.000+00:00", datetime(2030, 1, 1, 10, 2, tzinfo=UTC)),
        ("2030-01-01T11:02:00+01:00", datetime(2030, 1, 1, 10, 2, tzinfo=UTC)),
        ("2030-01-01 10:05:00", datetime(2030, 1, 1, 10, 5, tzinfo=UTC)),  # naive = UTC
        ("2030-01-01T10:05:00Z", datetime(2030, 1, 1, 10, 5, tzinfo=UTC)),
        ("2031-06-01T00:00:00-07:00", datetime(2031, 6, 1, 7, 0, tzinfo=UTC)),
    ],
)
def test_accepted(value: str, expected: datetime) -> None:
    assert parse_scheduled_at(value, NOW) == expected


@pytest.mark.parametrize(
    "value",
    [
        "2029-12-31T10:00:00+00:00",  # past
        "2030-01-01T10:01:00+00:00",  # 30 s ahead
        "2030-01-01T10:01:30+00:00",  # not a whole minute (and exactly 60 s)
        "2030-01-01T10:05:30+00:00",  # seconds
        "2030-01-01T10:05:00.500+00:00",  # milliseconds
        "10000-01-01T00:00:00+00:00",  # year 10000
        "999-01-01T00:00:00+00:00",
        "not a date",
        "",
        "2030-13-01T00:00:00Z",
        "x" * 101,
    ],
)
def test_rejected_with_appwrites_message(value: str) -> None:
    with pytest.raises(ScheduleError) as info:
        parse_scheduled_at(value, NOW)
    assert str(info.value) == SCHEDULED_AT_MESSAGE


def test_exactly_sixty_seconds_is_rejected_sixty_one_accepted() -> None:
    now = datetime(2030, 1, 1, 10, 0, 0, tzinfo=UTC)
    with pytest.raises(ScheduleError):
        parse_scheduled_at("2030-01-01T10:01:00Z", now)
    assert parse_scheduled_at("2030-01-01T10:01:00Z", now - timedelta(seconds=1))


@given(st.text(max_size=60))
def test_arbitrary_text_is_accepted_or_rejected_cleanly(value: str) -> None:
    try:
        result = parse_scheduled_at(value, NOW)
    except ScheduleError:
        return
    assert result.second == 0 and result.microsecond == 0 and result > NOW


def test_iso_wire_format() -> None:
    assert iso(datetime(2030, 1, 1, 10, tzinfo=UTC)) == "2030-01-01T10:00:00.000+00:00"
    assert iso(None) is None
