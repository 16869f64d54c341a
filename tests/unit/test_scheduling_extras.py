"""Interval offsets, jitter and overlap decisions: the pure rules of #17."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import islice, pairwise, product
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.rules import intervals, jitter
from scheduler.rules.errors import CronError
from scheduler.rules.firecount import count_fires, latest_fires
from scheduler.rules.overlap import OVERLAPS, Active, Overlap, decide
from scheduler.rules.policies import MissedRunRule, Policy
from scheduler.rules.policies import decide as decide_missed
from scheduler.rules.timerules import iter_fires, next_fire, parse_cron
from tests.unit.examples import examples

UTC_ZONE = ZoneInfo("UTC")
T0 = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                        timezones=st.just(UTC))


# ------------------------------------------------------------------------ intervals


def test_ten_thousand_hourly_functions_spread_over_the_hour():
    offsets = Counter(intervals.for_function("p", f"fn-{i}", 60).offset for i in range(10_000))
    average = 10_000 / 60
    assert set(offsets) == set(range(60))
    assert max(offsets.values()) <= 1.3 * average  # the acceptance bound is 2x
    assert min(offsets.values()) >= 0.7 * average


@given(st.text(min_size=1, max_size=40), st.integers(1, intervals.MAX_MINUTES))
@settings(max_examples=examples(300), deadline=None)
def test_offsets_are_stable_and_inside_the_interval(key, minutes):
    first = intervals.offset_for(key, minutes)
    assert first == intervals.offset_for(key, minutes)
    assert 0 <= first < minutes


def test_offset_depends_on_project_and_function():
    a = {intervals.for_function("p1", "f", 525_600).offset,
         intervals.for_function("p2", "f", 525_600).offset,
         intervals.for_function("p1", "g", 525_600).offset}
    assert len(a) == 3


@given(st.integers(1, 2000), st.integers(0, 1999), instants, st.integers(0, 50))
@settings(max_examples=examples(300), deadline=None)
def test_interval_fires_count_and_latest_agree_with_walking(minutes, offset, after, n):
    every = intervals.Every(minutes, offset % minutes)
    cron = parse_cron(every.expression)
    walked = list(islice(iter_fires(cron, UTC_ZONE, after), n + 1))
    assert all(b - a == timedelta(minutes=minutes) for a, b in pairwise(walked))
    assert all(t > after for t in walked)
    assert all(((t - intervals.EPOCH) // timedelta(minutes=1)) % minutes == every.offset
               for t in walked)
    until = walked[-1]
    assert count_fires(cron, UTC_ZONE, after, until) == len(walked)
    assert latest_fires(cron, UTC_ZONE, after, until, n) == walked[-n:] if n else True
    assert next_fire(cron, UTC_ZONE, after) == walked[0]


def test_interval_ignores_zones_and_dst():
    cron = parse_cron("@every 90m+7m")
    berlin = list(islice(iter_fires(cron, ZoneInfo("Europe/Berlin"),
                                    datetime(2026, 3, 29, 0, 0, tzinfo=UTC)), 5))
    utc = list(islice(iter_fires(cron, UTC_ZONE, datetime(2026, 3, 29, 0, 0, tzinfo=UTC)), 5))
    assert berlin == utc


@pytest.mark.parametrize("bad", ["@every 0m+0m", "@every 60m+60m", "@every 5m",
                                 "@every 525601m+0m", "@every x"])
def test_malformed_interval_expressions_are_refused(bad):
    with pytest.raises(CronError):
        parse_cron(bad)


def test_missed_policies_work_on_intervals():
    cron = parse_cron("@every 10m+3m")
    due = datetime(2026, 11, 29, 9, 3, tzinfo=UTC)
    now = datetime(2026, 11, 29, 10, 0, 30, tzinfo=UTC)  # 09:03 ... 09:53 missed
    d = decide_missed(cron, UTC_ZONE, due, now, MissedRunRule(Policy.ALL, 60, 86400, 100))
    assert d.fire == tuple(due + timedelta(minutes=10 * i) for i in range(6))
    assert d.next_fire_at == datetime(2026, 11, 29, 10, 3, tzinfo=UTC)
    d = decide_missed(cron, UTC_ZONE, due, now, MissedRunRule(Policy.SKIP, 60, 86400, 100))
    assert (d.fire, d.skipped) == ((), 6)


# --------------------------------------------------------------------------- jitter


@given(st.text(min_size=1, max_size=20), instants, st.integers(0, jitter.MAX_JITTER),
       st.one_of(st.none(), st.integers(1, 7200)))
@settings(max_examples=examples(300), deadline=None)
def test_jitter_is_bounded_deterministic_and_before_the_next_fire(sid, nominal, spread, gap):
    following = nominal + timedelta(seconds=gap) if gap else None
    got = jitter.delay(sid, nominal, spread, following)
    assert got == jitter.delay(sid, nominal, spread, following)
    assert timedelta(0) <= got <= timedelta(seconds=spread)
    if following is not None:
        assert nominal + got < following


def test_jitter_spreads_and_zero_means_none():
    delays = {jitter.delay("s1", T0 + timedelta(minutes=i), 60) for i in range(200)}
    assert len(delays) > 150 and max(delays) <= timedelta(seconds=60)
    assert jitter.delay("s1", T0, 0) == timedelta(0)


# -------------------------------------------------------------------------- overlap

FIRES = (T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2))
STATES = [Active(w, p, b) for w, p, b in product((0, 1), (0, 1), (0, 1))]


@pytest.mark.parametrize("active", STATES, ids=repr)
@pytest.mark.parametrize("n", [0, 1, 3])
@pytest.mark.parametrize("policy", OVERLAPS)
def test_every_fire_is_run_buffered_or_skipped_exactly_once(policy, active, n):
    fires = FIRES[:n]
    d = decide(policy, active, fires)
    placed = list(d.run) + ([d.buffer] if d.buffer else []) + list(d.skipped)
    assert sorted(placed) == sorted(fires)


@pytest.mark.parametrize("active", STATES, ids=repr)
def test_the_policies_for_every_state(active):
    one, three = FIRES[:1], FIRES
    assert decide(Overlap.ALLOW, active, three).run == three
    skip = decide(Overlap.SKIP, active, three)
    assert skip.run == (() if active.busy else (FIRES[-1],))
    assert decide(Overlap.SKIP, active, one).run == (() if active.busy else one)
    cancel = decide(Overlap.CANCEL_OTHER, active, three)
    assert cancel.run == (FIRES[-1],) and cancel.cancel_waiting == (active.waiting > 0)
    buffer = decide(Overlap.BUFFER_ONE, active, one)
    assert buffer.release_buffered == (active.buffered > 0 and not (
        active.waiting or active.processing))
    if buffer.release_buffered:  # an orphaned hold starts now; the new fire waits for it
        assert (buffer.run, buffer.buffer) == ((), FIRES[0])
    elif active.buffered:
        assert (buffer.run, buffer.buffer) == ((), None)  # one waits already
    elif active.waiting or active.processing:
        assert (buffer.run, buffer.buffer) == ((), FIRES[0])
    else:
        assert (buffer.run, buffer.buffer) == (one, None)
    idle = decide(Overlap.BUFFER_ONE, Active(), three)
    assert (idle.run, idle.buffer, idle.skipped) == ((FIRES[1],), FIRES[2], (FIRES[0],))


def test_an_unknown_policy_is_an_error():
    with pytest.raises(ValueError, match="unknown overlap policy"):
        decide("sometimes", Active(), FIRES)
