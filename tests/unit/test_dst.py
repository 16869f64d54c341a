"""The DST rule, checked against a brute-force reference that walks real time
minute by minute across transitions in several zones (one with a 30-minute
shift, one whose clocks change at midnight)."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.rules.timerules import Cron, fires_between, next_fire, next_fires, parse_cron
from tests.unit.examples import examples

ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",  # 30-minute DST shift
    "America/Santiago",  # clocks change at midnight
    "Pacific/Chatham",  # +12:45 / +13:45
    "UTC",
]
MINUTE = timedelta(minutes=1)


@cache
def transitions(zone: str) -> tuple[datetime, ...]:
    """UTC instants in 2026-2027 at which the zone's offset changes."""
    tz = ZoneInfo(zone)
    out = []
    t = datetime(2026, 1, 1, tzinfo=UTC)
    prev = t.astimezone(tz).utcoffset()
    while t < datetime(2028, 1, 1, tzinfo=UTC):
        t2 = t + timedelta(hours=1)
        off = t2.astimezone(tz).utcoffset()
        if off != prev:
            u = t
            while u.astimezone(tz).utcoffset() == prev:
                u += MINUTE
            out.append(u)
            prev = off
        t = t2
    return tuple(out)


def fixed_hour(expression: str) -> bool:
    """The README's rule, stated here and not taken from the code under test: an hour
    field that is one number is a fixed hour; `*`, steps, ranges and lists step hours."""
    return re.fullmatch(r"[0-9]+", expression.split()[1]) is not None


def reference(cron: Cron, tz: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """Every fire in (start, end] by walking each real minute: the rule, stated plainly.
    Only the expression text is read from ``cron``; its DST class is the test's own."""
    fixed = fixed_hour(cron.expression)
    fires = []
    u = start.replace(second=0, microsecond=0) + MINUTE
    while u <= end:
        local = u.astimezone(tz)
        wall = local.replace(tzinfo=None, fold=0)
        fired = croniter.match(cron.expression, wall)
        if fired and fixed and local.fold == 1:
            fired = False  # repeated hour: fixed-hour jobs fire on the first copy only
        if fixed:
            before = (u - MINUTE).astimezone(tz)
            gap = (local.replace(tzinfo=None) - before.replace(tzinfo=None)) - MINUTE
            # wall times skipped by a spring-forward jump fire at the first instant after it
            w = before.replace(tzinfo=None) + MINUTE
            while gap > timedelta(0) and w < wall:
                if croniter.match(cron.expression, w):
                    fired = True
                w += MINUTE
        if fired and u > start:
            fires.append(u)
        u += MINUTE
    return fires


MINUTES = st.sampled_from(["0", "30", "15", "*/15", "*/30", "*/7", "5,35", "*", "45"])
HOURS = st.sampled_from(["0", "1", "2", "3", "23", "*", "*/2", "1-3", "0,2", "2-4/2"])


@st.composite
def cron_exprs(draw: st.DrawFn) -> Cron:
    return parse_cron(f"{draw(MINUTES)} {draw(HOURS)} * * *")


@pytest.mark.parametrize("hour", ["0", "1", "2", "3", "23", "*", "*/2", "1-3", "0,2", "2-4/2"])
def test_the_code_classifies_hours_as_the_rule_says(hour: str) -> None:
    """The classification itself, checked against the stated rule (a mutation that
    calls a range a fixed hour fails here and in the reference comparisons)."""
    assert parse_cron(f"0 {hour} * * *").fixed_hour is fixed_hour(f"0 {hour} * * *")


@st.composite
def around_transition(draw: st.DrawFn) -> tuple[ZoneInfo, datetime]:
    zone = draw(st.sampled_from([z for z in ZONES if z != "UTC"]))
    moment = draw(st.sampled_from(transitions(zone)))
    offset = draw(st.integers(min_value=-6 * 60, max_value=3 * 60))
    seconds = draw(st.integers(min_value=0, max_value=59))
    return ZoneInfo(zone), moment + timedelta(minutes=offset, seconds=seconds)


@settings(max_examples=examples(100), deadline=None)
@given(cron=cron_exprs(), where=around_transition())
def test_fires_match_minute_by_minute_reference(cron: Cron, where: tuple[ZoneInfo, datetime]):
    tz, start = where
    end = start + timedelta(hours=8)
    expected = reference(cron, tz, start, end)
    got, total = fires_between(cron, tz, start, end, cap=10_000)
    assert got == expected
    assert total == len(expected)


@settings(max_examples=examples(25), deadline=None)
@given(cron=cron_exprs(), where=around_transition())
def test_next_fire_stepping_minute_by_minute(cron: Cron, where: tuple[ZoneInfo, datetime]):
    """From every minute of the window, the next fire is the first reference fire after it."""
    tz, start = where
    expected = reference(cron, tz, start, start + timedelta(hours=30))
    t = start
    while t < start + timedelta(hours=4):
        nxt = next_fire(cron, tz, t)
        assert nxt > t
        assert nxt == next(f for f in expected if f > t)
        t += MINUTE


@settings(max_examples=examples(60), deadline=None)
@given(cron=cron_exprs(), where=around_transition(), count=st.integers(1, 40))
def test_fires_strictly_increase_and_are_after_start(cron, where, count):
    tz, start = where
    fires = next_fires(cron, tz, start, count)
    assert len(fires) == count
    assert fires[0] > start
    assert all(a < b for a, b in itertools.pairwise(fires))
    assert all(f.tzinfo is UTC for f in fires)


@pytest.mark.parametrize("zone", [z for z in ZONES if z != "UTC"])
@pytest.mark.parametrize("minute", ["0", "30", "45"])
@pytest.mark.parametrize("hour", ["0", "1", "2", "3"])
def test_fixed_hour_fires_exactly_once_per_local_day(zone: str, minute: str, hour: str) -> None:
    tz = ZoneInfo(zone)
    cron = parse_cron(f"{minute} {hour} * * *")
    for moment in transitions(zone):
        start = moment - timedelta(days=2)
        fires = next_fires(cron, tz, start, 5)
        days = [f.astimezone(tz).date() for f in fires]
        assert len(set(days)) == len(days), f"double fire in {zone}: {fires}"
        # consecutive local days: nothing lost
        assert all((b - a).days == 1 for a, b in itertools.pairwise(days))


@pytest.mark.parametrize(
    ("zone", "expression", "spacing"),
    [
        ("Europe/Berlin", "0 * * * *", timedelta(hours=1)),
        ("America/New_York", "*/15 * * * *", timedelta(minutes=15)),
        ("Australia/Lord_Howe", "*/30 * * * *", timedelta(minutes=30)),
        ("Pacific/Chatham", "*/15 * * * *", timedelta(minutes=15)),
    ],
)
def test_stepping_keeps_real_time_spacing(zone: str, expression: str, spacing) -> None:
    tz = ZoneInfo(zone)
    cron = parse_cron(expression)
    for moment in transitions(zone):
        fires = next_fires(cron, tz, moment - timedelta(hours=4), 40)
        gaps = {b - a for a, b in itertools.pairwise(fires)}
        assert gaps == {spacing}, (zone, moment, gaps)


def test_berlin_spring_forward_fixed_hour_fires_at_gap_end() -> None:
    tz = ZoneInfo("Europe/Berlin")
    fires = next_fires(parse_cron("30 2 * * *"), tz,
                       datetime.fromisoformat("2026-03-28T12:00:00+01:00"), 2)
    assert fires[0].astimezone(tz).isoformat() == "2026-03-29T03:00:00+02:00"
    assert fires[1].astimezone(tz).isoformat() == "2026-03-30T02:30:00+02:00"


def test_berlin_fall_back_fixed_hour_fires_once_on_first_copy() -> None:
    tz = ZoneInfo("Europe/Berlin")
    fires = next_fires(parse_cron("30 2 * * *"), tz,
                       datetime.fromisoformat("2026-10-24T12:00:00+02:00"), 2)
    assert [f.astimezone(tz).isoformat() for f in fires] == [
        "2026-10-25T02:30:00+02:00",
        "2026-10-26T02:30:00+01:00",
    ]


def test_from_inside_the_repeated_hour_never_goes_backwards() -> None:
    # croniter itself can answer with a past time here, which would hot-loop a schedule.
    tz = ZoneInfo("Europe/Berlin")
    inside = datetime.fromisoformat("2026-10-25T02:40:00+01:00")  # second copy
    fire = next_fire(parse_cron("30 2 * * *"), tz, inside)
    assert fire > inside
    assert fire.astimezone(tz).isoformat() == "2026-10-26T02:30:00+01:00"


def test_fires_between_keeps_the_latest_and_counts_all() -> None:
    cron = parse_cron("* * * * *")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    kept, total = fires_between(cron, ZoneInfo("UTC"), start, start + timedelta(hours=2), cap=5)
    assert total == 120
    assert kept == [start + timedelta(minutes=m) for m in range(116, 121)]
