"""The edges of the time rules and policies, each with its exact answer. Written from
a mutation-testing run (README, Development): every case here failed to be caught by
the other unit tests when the code was changed on purpose (a bound moved by one, a
branch taken always or never, a message lost)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduler.rules.errors import CronError, ScheduleError
from scheduler.rules.policies import MAX_COUNT_SPAN, MissedRunRule, decide, skipped_while_inactive
from scheduler.rules.timerules import (
    SCHEDULED_AT_MESSAGE,
    iso,
    next_fire,
    next_fires,
    parse_cron,
    parse_scheduled_at,
    validate_timezone,
)
from tests.unit.test_policies import MINUTELY, T0, UTCZ, at

ALLOWED = ("five fields (minute hour day-of-month month day-of-week) or one of @annually, "
           "@daily, @hourly, @midnight, @monthly, @weekly, @yearly")


@pytest.mark.parametrize("expression", [
    "*/59 * * * *",  # a step as large as the range
    "0/59 * * * *",  # start + step exactly at the top of the range
    "0 0 ? * MON",  # '?' in day-of-month
    "0 0 * * ?",  # '?' in day-of-week
    "0 0 L * *",  # last day of the month
    "0 0 l * *",
    "0 0 * * MON#1",  # first Monday
    "0 0 * * 1#5",  # fifth Monday
    "0 0 * JAN,Feb,mar *",  # month names, any case
    "0 0 * * sun-sat",
    "0 5-5 * * *",  # a range of one
])
def test_accepted(expression: str) -> None:
    assert parse_cron(expression).expression == " ".join(expression.split())


@pytest.mark.parametrize(("expression", "message"), [
    ("", f"cron expression is empty; expected {ALLOWED}"),
    ("*/60 * * * *", "step 60 in the minute field is larger than its range (0-59)"),
    ("1/59 * * * *", "'1/59' in the minute field is ambiguous (its meaning changed between "
                     "cron libraries); write '1' or a range such as '1-59/59'"),
    ("0 ? * * *", "'?' is only allowed in day-of-month and day-of-week, not hour"),
    ("0 0 * * 1#0", "'1#0': the nth weekday after '#' must be 1-5"),
    ("0 0 * * 1#6", "'1#6': the nth weekday after '#' must be 1-5"),
    ("0 0 * * x#2", "'x#2' in the day-of-week field is not a number (0-7 or names like "
                    "sun, mon, tue)"),
    ("0 0 * * 1#2#3", "'1#2#3': the nth weekday after '#' must be 1-5"),
    ("0 0 * smarch *", "'smarch' in the month field is not a number (1-12 or names like "
                       "jan, feb, mar)"),
    ("0 x-5 * * *", "'x-5' in the hour field is not a number (0-23)"),
    ("0 1-x * * *", "'1-x' in the hour field is not a number (0-23)"),
    ("0 x * * *", "'x' in the hour field is not a number (0-23)"),
    ("0 6-5 * * *", "range '6-5' in the hour field runs backwards; write it as two items, "
                    "e.g. '6-23,0-5'"),
    ("0 0 L/2 * *", "'L/2' in the day-of-month field is not a number (1-31)"),
    ("0 0 * * MON#1/2", "'MON#1/2' in the day-of-week field is not a number (0-7 or names "
                        "like sun, mon, tue)"),
])
def test_refused_with_its_exact_message(expression: str, message: str) -> None:
    with pytest.raises(CronError) as info:
        parse_cron(expression)
    assert info.value.message == message


def test_a_non_string_is_an_empty_expression() -> None:
    with pytest.raises(CronError) as info:
        parse_cron(None)  # type: ignore[arg-type]
    assert info.value.message == f"cron expression is empty; expected {ALLOWED}"


@pytest.mark.parametrize("name", ["", " UTC", "UTC ", "../UTC", "Europe/../UTC", "/UTC",
                                  "Nowhere/Atlantis"])
def test_timezones_refused(name: str) -> None:
    with pytest.raises(CronError) as info:
        validate_timezone(name)
    assert info.value.message == (f"unknown timezone '{name}'; use an IANA name such as 'UTC' "
                                  "or 'Europe/Berlin'")


def test_timezone_accepted() -> None:
    assert validate_timezone("America/Argentina/Buenos_Aires").key == (
        "America/Argentina/Buenos_Aires")


NOW = datetime(2030, 1, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("value", [
    " " * 80 + "2030-01-01T12:00:00+00:00",  # 105 characters
    "2030-01-01T12:00:00+00:00" + " " * 76,  # 101
    "   ", 5, None, "2030-13-45T00:00:00Z", "2030-01-01T12:00:00.5Z",
    "2030-01-01T12:00:00Z/2030-01-02T12:00:00Z",  # parses, as an interval: not a date
    "2030-01-01T10:01:00Z",  # 60 s ahead: not more than 60
])
def test_scheduled_at_refused_with_appwrites_message(value: object) -> None:
    with pytest.raises(ScheduleError) as info:
        parse_scheduled_at(value, NOW)  # type: ignore[arg-type]
    assert info.value.message == SCHEDULED_AT_MESSAGE


def test_scheduled_at_accepted_at_its_edges() -> None:
    padded = "2030-01-01T12:00:00+00:00" + " " * 75  # exactly 100 characters
    assert parse_scheduled_at(padded, NOW) == datetime(2030, 1, 1, 12, tzinfo=UTC)
    ahead = parse_scheduled_at("2030-01-01T10:02:00Z", NOW)
    assert ahead == datetime(2030, 1, 1, 10, 2, tzinfo=UTC) and ahead.tzinfo is UTC
    # An offset, and `now` given in another zone: compared as instants.
    kathmandu = NOW.astimezone(ZoneInfo("Asia/Kathmandu"))
    assert parse_scheduled_at("2030-01-01T15:47:00+05:45", kathmandu) == datetime(
        2030, 1, 1, 10, 2, tzinfo=UTC)
    assert parse_scheduled_at("2030-01-01T12:00", NOW) == datetime(2030, 1, 1, 12, tzinfo=UTC)


def test_iso_reads_a_naive_time_as_utc() -> None:
    assert iso(datetime(2030, 1, 1, 10)) == "2030-01-01T10:00:00.000+00:00"
    assert iso(datetime(2030, 1, 1, 15, 45, tzinfo=ZoneInfo("Asia/Kathmandu"))) == (
        "2030-01-01T10:00:00.000+00:00")
    assert iso(None) is None


def test_next_fires_counts_and_next_fire_takes_any_zone() -> None:
    hourly = parse_cron("0 * * * *")
    after = datetime(2030, 1, 1, 15, 50, tzinfo=ZoneInfo("Asia/Kathmandu"))  # 10:05 UTC
    assert next_fire(hourly, ZoneInfo("UTC"), after) == datetime(2030, 1, 1, 11, tzinfo=UTC)
    assert len(next_fires(hourly, ZoneInfo("UTC"), after, 3)) == 3


# ------------------------------------------------------------------ policies

def test_fires_during_the_leaders_tenure_are_on_time_whatever_the_grace() -> None:
    rule = MissedRunRule(policy="skip", misfire_grace=0)
    d = decide(MINUTELY, UTCZ, at(0), at(5) + timedelta(seconds=1), rule,
               leading_since=at(-10))
    assert d.fire == (at(0), at(1), at(2), at(3), at(4), at(5)) and d.skipped == 0


@pytest.mark.parametrize(("cap", "fired"), [
    (1, [5]),  # the on-time fire fills the cap: no missed fire runs
    (2, [4, 5]),  # room for one missed fire, the latest
    (3, [3, 4, 5]),
])
def test_all_counts_on_time_fires_against_the_cap(cap: int, fired: list[int]) -> None:
    rule = MissedRunRule(policy="all", misfire_grace=30, catchup_cap=cap,
                         catchup_window=86400)
    d = decide(MINUTELY, UTCZ, at(0), at(5) + timedelta(seconds=10), rule)
    assert d.fire == tuple(at(m) for m in fired)
    assert d.skipped == 6 - len(fired)
    assert d.last_skipped == at(5 - len(fired))


def test_inactive_until_the_due_instant_itself_skips_it() -> None:
    assert skipped_while_inactive(MINUTELY, UTCZ, at(0), at(0)) == (1, at(0), at(1))
    assert skipped_while_inactive(MINUTELY, UTCZ, at(1), at(0)) == (0, None, at(1))


def test_inactive_counts_in_the_schedules_zone() -> None:
    """09:00 in Kathmandu is 03:15 UTC; paused from that fire until 10:00 UTC, one fire
    (09:00 UTC would be a second one in the wrong zone)."""
    nine = parse_cron("0 9 * * *")
    zone = ZoneInfo("Asia/Kathmandu")
    due = datetime(2030, 1, 1, 3, 15, tzinfo=UTC)
    count, last, following = skipped_while_inactive(
        nine, zone, due, datetime(2030, 1, 1, 10, tzinfo=UTC))
    assert (count, last, following) == (1, due, due + timedelta(days=1))


def test_inactive_longer_than_the_count_span_counts_only_the_span() -> None:
    daily = parse_cron("0 0 * * *")
    now = datetime(2030, 6, 1, 12, tzinfo=UTC)
    due = now - MAX_COUNT_SPAN - timedelta(days=30)
    count, last, _ = skipped_while_inactive(daily, UTCZ, due, now)
    assert count == MAX_COUNT_SPAN.days  # midnights in the last 366 days, due not added
    assert last == datetime(2030, 6, 1, tzinfo=UTC)


def test_latest_runs_the_one_missed_fire_of_an_ordinary_late_dispatch() -> None:
    hourly = parse_cron("0 * * * *")
    d = decide(hourly, UTCZ, T0, T0 + timedelta(minutes=10),
               MissedRunRule(policy="latest", misfire_grace=60))
    assert (d.fire, d.skipped, d.next_fire_at) == ((T0,), 0, T0 + timedelta(hours=1))


def test_the_window_includes_a_fire_exactly_its_length_ago() -> None:
    rule = MissedRunRule(policy="all", misfire_grace=30, catchup_window=300, catchup_cap=100)
    d = decide(MINUTELY, UTCZ, at(-1), at(5), rule)
    assert d.fire == tuple(at(m) for m in range(0, 6))  # at(0) is exactly 300 s old
    assert (d.skipped, d.last_skipped) == (1, at(-1))
