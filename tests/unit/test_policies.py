"""Missed-run policies, grace, window and cap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.policies import MissedRunRule, decide, skipped_while_inactive
from scheduler.timerules import fires_between, parse_cron

UTCZ = ZoneInfo("UTC")
MINUTELY = parse_cron("* * * * *")
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_on_time_fire_runs_and_advances() -> None:
    d = decide(MINUTELY, UTCZ, T0, T0 + timedelta(seconds=0.2), MissedRunRule())
    assert d.fire == (T0,)
    assert d.skipped == 0
    assert d.next_fire_at == at(1)


def test_within_grace_is_simply_on_time() -> None:
    rule = MissedRunRule(policy="skip", misfire_grace=60)
    d = decide(parse_cron("0 * * * *"), UTCZ, T0, T0 + timedelta(seconds=59), rule)
    assert d.fire == (T0,) and d.skipped == 0


def test_skip_fires_nothing_missed() -> None:
    d = decide(MINUTELY, UTCZ, T0, at(10) + timedelta(seconds=1), MissedRunRule(policy="skip"))
    # 12:10 is on time (1 s late); 12:00..12:09 missed
    assert d.fire == (at(10),)
    assert d.skipped == 10
    assert d.last_skipped == at(9)
    assert d.next_fire_at == at(11)


def test_skip_with_nothing_on_time() -> None:
    hourly = parse_cron("0 * * * *")
    d = decide(hourly, UTCZ, T0, at(185), MissedRunRule(policy="skip"))
    assert d.fire == ()
    assert d.skipped == 4  # 12:00, 13:00, 14:00, 15:00
    assert d.last_skipped == at(180)
    assert d.next_fire_at == at(240)


def test_latest_fires_most_recent_missed_once() -> None:
    hourly = parse_cron("0 * * * *")
    d = decide(hourly, UTCZ, T0, at(185), MissedRunRule(policy="latest"))
    assert d.fire == (at(180),)
    assert d.skipped == 3
    assert d.last_skipped == at(120)


def test_latest_prefers_on_time_fire() -> None:
    d = decide(MINUTELY, UTCZ, T0, at(5) + timedelta(seconds=10), MissedRunRule(policy="latest"))
    assert d.fire == (at(5),)
    assert d.skipped == 5


def test_all_fires_every_missed_in_window() -> None:
    hourly = parse_cron("0 * * * *")
    d = decide(hourly, UTCZ, T0, at(185), MissedRunRule(policy="all"))
    assert d.fire == (at(0), at(60), at(120), at(180))
    assert d.skipped == 0


def test_all_respects_window() -> None:
    hourly = parse_cron("0 * * * *")
    rule = MissedRunRule(policy="all", catchup_window=2 * 3600 + 600)
    d = decide(hourly, UTCZ, T0, at(185), rule)
    assert d.fire == (at(60), at(120), at(180))
    assert d.skipped == 1 and d.last_skipped == at(0)


def test_all_respects_cap_keeping_most_recent() -> None:
    rule = MissedRunRule(policy="all", catchup_cap=3, catchup_window=10**6)
    d = decide(MINUTELY, UTCZ, T0, at(500), rule)
    assert d.fire == (at(498), at(499), at(500))
    assert d.skipped == 498
    assert d.last_skipped == at(497)


def test_long_outage_counts_everything() -> None:
    rule = MissedRunRule(policy="latest", misfire_grace=30)
    d = decide(MINUTELY, UTCZ, T0, T0 + timedelta(days=7), rule)
    assert d.fire == (T0 + timedelta(days=7),)
    assert d.skipped == 7 * 24 * 60
    assert d.next_fire_at == T0 + timedelta(days=7, minutes=1)


def test_paused_window_counting() -> None:
    count, last, nxt = skipped_while_inactive(parse_cron("*/10 * * * *"), UTCZ, T0, at(35))
    assert (count, last, nxt) == (4, at(30), at(40))
    assert skipped_while_inactive(MINUTELY, UTCZ, at(5), T0) == (0, None, at(5))


@settings(max_examples=200, deadline=None)
@given(
    policy=st.sampled_from(["skip", "latest", "all"]),
    grace=st.integers(0, 600),
    window=st.integers(0, 20_000),
    cap=st.integers(1, 50),
    late=st.integers(0, 30_000),
    expr=st.sampled_from(["* * * * *", "*/7 * * * *", "0 * * * *", "15,45 * * * *"]),
)
def test_every_fire_time_is_run_or_skipped_exactly_once(policy, grace, window, cap, late, expr):
    cron = parse_cron(expr)
    due = datetime(2030, 1, 1, tzinfo=UTC)
    from scheduler.timerules import next_fire

    due = next_fire(cron, UTCZ, due - timedelta(seconds=1))
    now = due + timedelta(seconds=late)
    rule = MissedRunRule(policy=policy, misfire_grace=grace, catchup_window=window,
                         catchup_cap=cap)
    d = decide(cron, UTCZ, due, now, rule)
    rest, total_rest = fires_between(cron, UTCZ, due, now, cap=100_000)
    all_times = [due, *rest]
    assert set(d.fire) <= set(all_times)
    assert len(set(d.fire)) == len(d.fire)
    assert len(d.fire) + d.skipped == total_rest + 1
    assert d.next_fire_at > now
    on_time = [t for t in all_times if (now - t).total_seconds() <= grace]
    assert set(on_time) <= set(d.fire)
    missed_run = [t for t in d.fire if t not in on_time]
    if policy == "skip":
        assert missed_run == []
    elif policy == "latest":
        assert len(missed_run) <= 1
        assert len(d.fire) >= 1
    else:
        assert len(missed_run) <= cap
        assert all((now - t).total_seconds() <= window for t in missed_run)


@pytest.mark.parametrize("policy", ["skip", "latest", "all"])
def test_policies_agree_when_nothing_is_missed(policy: str) -> None:
    d = decide(MINUTELY, UTCZ, T0, T0, MissedRunRule(policy=policy))  # type: ignore[arg-type]
    assert d.fire == (T0,)


def test_very_long_outage_is_bounded_and_still_runs_the_latest_times() -> None:
    from scheduler.policies import COUNT_LIMIT

    now = T0 + timedelta(days=300, seconds=30)
    d = decide(MINUTELY, UTCZ, T0, now, MissedRunRule(policy="latest", misfire_grace=60))
    assert d.truncated is True
    assert d.skipped >= COUNT_LIMIT - 1  # a lower bound, flagged as such
    assert d.fire == (T0 + timedelta(days=300),)
    assert d.next_fire_at == T0 + timedelta(days=300, minutes=1)
    rule = MissedRunRule(policy="all", catchup_cap=3, catchup_window=10**7, misfire_grace=0)
    d = decide(MINUTELY, UTCZ, T0, now, rule)
    assert d.fire == tuple(T0 + timedelta(days=300, minutes=-m) for m in (2, 1, 0))
