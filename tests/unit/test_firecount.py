"""Counting fire times by days must agree with walking them one by one (the DST rule
lives in timerules.iter_fires; firecount only skips what it can prove is steady)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.rules.firecount import count_fires, latest_fires
from scheduler.rules.timerules import iter_fires, parse_cron
from tests.unit.examples import examples

EXPRESSIONS = [
    "* * * * *", "*/7 * * * *", "30 2 * * *", "0 0 * * *", "15 */3 * * *",
    "*/15 9-17 * * 1-5", "0 0 L * *", "0 12 * * 5#3", "5 4 1,15 * sun", "0 0 29 2 *",
    "59 23 * * *", "0,30 1-3 * * *", "0 0 1 1 *", "*/20 0 * * 0",
]
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
         "America/Santiago", "Asia/Kolkata", "America/Havana"]
START = datetime(2026, 1, 1, tzinfo=UTC)


def walked(cron, tz, after, until):
    out = []
    for instant in iter_fires(cron, tz, after):
        if instant > until:
            return out
        out.append(instant)


@settings(max_examples=examples(400), deadline=None)
@given(expr=st.sampled_from(EXPRESSIONS), zone=st.sampled_from(ZONES),
       offset=st.integers(0, 2 * 365 * 24 * 60), seconds=st.integers(0, 59),
       span=st.integers(0, 6 * 24 * 60))
def test_count_matches_walking(expr, zone, offset, seconds, span):
    cron, tz = parse_cron(expr), ZoneInfo(zone)
    after = START + timedelta(minutes=offset, seconds=seconds)
    until = after + timedelta(minutes=span)
    assert count_fires(cron, tz, after, until) == len(walked(cron, tz, after, until))


@settings(max_examples=examples(200), deadline=None)
@given(expr=st.sampled_from(EXPRESSIONS), zone=st.sampled_from(ZONES),
       offset=st.integers(0, 2 * 365 * 24 * 60), span=st.integers(0, 40 * 24 * 60),
       keep=st.integers(1, 120))
def test_latest_matches_walking(expr, zone, offset, span, keep):
    cron, tz = parse_cron(expr), ZoneInfo(zone)
    after = START + timedelta(minutes=offset)
    until = after + timedelta(minutes=span)
    assert latest_fires(cron, tz, after, until, keep) == walked(cron, tz, after, until)[-keep:]


def test_every_dst_transition_day_of_2026_in_each_zone():
    """Whole days around each real transition, exactly at midnight boundaries."""
    for zone in ZONES:
        tz = ZoneInfo(zone)
        day = START
        previous = day.astimezone(tz).utcoffset()
        while day < START + timedelta(days=366):
            offset = (day + timedelta(days=1)).astimezone(tz).utcoffset()
            if offset != previous:
                for expr in EXPRESSIONS:
                    cron = parse_cron(expr)
                    a, b = day - timedelta(days=1), day + timedelta(days=2)
                    assert count_fires(cron, tz, a, b) == len(walked(cron, tz, a, b)), (
                        zone, expr, day)
            previous = offset
            day += timedelta(days=1)


def test_a_year_of_a_minutely_cron_is_counted_not_walked():
    cron, tz = parse_cron("* * * * *"), ZoneInfo("Europe/Berlin")
    after = datetime(2026, 1, 1, tzinfo=UTC)
    assert count_fires(cron, tz, after, after + timedelta(days=365)) == 365 * 24 * 60
