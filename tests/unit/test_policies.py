"""Missed-run policies, grace, window and cap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.rules.policies import MissedRunRule, decide, skipped_while_inactive
from scheduler.rules.timerules import fires_between, parse_cron
from tests.unit.examples import examples

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


@settings(max_examples=examples(300), deadline=None)
@given(
    policy=st.sampled_from(["skip", "latest", "all"]),
    grace=st.integers(0, 600),
    window=st.integers(0, 20_000),
    cap=st.integers(1, 50),
    late=st.integers(0, 30_000),
    # At most ON_TIME_CAP (100) on-time fires: tenure under 100 minutes.
    tenure=st.one_of(st.none(), st.integers(0, 5_900)),
    expr=st.sampled_from(["* * * * *", "*/7 * * * *", "0 * * * *", "15,45 * * * *"]),
)
def test_policy_runs_exactly_what_it_promises(policy, grace, window, cap, late, tenure, expr):
    """Compared with an independent brute-force reading of the policy (every fire time
    enumerated): exact, not only bounded, so a mutation that runs fewer missed fires
    under `all`, or none under `latest`, fails."""
    cron = parse_cron(expr)
    due = datetime(2030, 1, 1, tzinfo=UTC)
    from scheduler.rules.timerules import next_fire

    due = next_fire(cron, UTCZ, due - timedelta(seconds=1))
    now = due + timedelta(seconds=late)
    since = None if tenure is None else now - timedelta(seconds=tenure)
    rule = MissedRunRule(policy=policy, misfire_grace=grace, catchup_window=window,
                         catchup_cap=cap)
    d = decide(cron, UTCZ, due, now, rule, since)
    rest, _ = fires_between(cron, UTCZ, due, now, cap=100_000)
    all_times = [due, *rest]
    on_time = [t for t in all_times
               if (now - t).total_seconds() <= grace or (since is not None and t >= since)]
    missed = [t for t in all_times if t not in on_time]
    if policy == "skip":
        expected = on_time
    elif policy == "latest":
        expected = on_time if on_time or not missed else [missed[-1]]
    else:
        in_window = [t for t in missed if (now - t).total_seconds() <= window]
        room = max(cap - len(on_time), 0)
        expected = (in_window[-room:] if room else []) + on_time
    assert sorted(d.fire) == sorted(expected)
    assert d.skipped == len(all_times) - len(expected)
    not_run = [t for t in all_times if t not in expected]
    assert d.last_skipped == (not_run[-1] if not_run else None)
    assert d.next_fire_at == next_fire(cron, UTCZ, now)


def test_skip_with_zero_grace_never_skips_a_fire_that_came_due_while_leading() -> None:
    """Grace 0 used to skip every real dispatch (a few ms late is "missed"); a fire that
    came due during the leader's tenure is on time however late the batch."""
    rule = MissedRunRule(policy="skip", misfire_grace=0)
    d = decide(MINUTELY, UTCZ, T0, T0 + timedelta(seconds=1.5), rule,
               leading_since=T0 - timedelta(hours=1))
    assert d.fire == (T0,) and d.skipped == 0
    # Fires that came due before this leader took over (no leader ran) are missed.
    d = decide(MINUTELY, UTCZ, T0, at(5) + timedelta(seconds=1), rule, leading_since=at(3))
    assert d.fire == (at(3), at(4), at(5)) and d.skipped == 3


@pytest.mark.parametrize("policy", ["skip", "latest", "all"])
def test_policies_agree_when_nothing_is_missed(policy: str) -> None:
    d = decide(MINUTELY, UTCZ, T0, T0, MissedRunRule(policy=policy))  # type: ignore[arg-type]
    assert d.fire == (T0,)


def test_a_300_day_outage_is_counted_exactly_and_quickly() -> None:
    now = T0 + timedelta(days=300, seconds=30)
    d = decide(MINUTELY, UTCZ, T0, now, MissedRunRule(policy="latest", misfire_grace=60))
    assert d.truncated is False
    assert d.skipped == 300 * 24 * 60  # every minute but the one that runs
    assert d.fire == (T0 + timedelta(days=300),)
    assert d.next_fire_at == T0 + timedelta(days=300, minutes=1)
    rule = MissedRunRule(policy="all", catchup_cap=3, catchup_window=10**7, misfire_grace=0)
    d = decide(MINUTELY, UTCZ, T0, now, rule)
    assert d.fire == tuple(T0 + timedelta(days=300, minutes=-m) for m in (2, 1, 0))


def test_an_outage_past_the_count_span_is_a_flagged_lower_bound() -> None:
    from scheduler.rules.policies import MAX_COUNT_SPAN

    now = T0 + timedelta(days=800, seconds=30)
    d = decide(MINUTELY, UTCZ, T0, now, MissedRunRule(policy="latest", misfire_grace=60))
    assert d.truncated is True
    assert d.skipped == MAX_COUNT_SPAN // timedelta(minutes=1) - 1
    assert d.fire == (T0 + timedelta(days=800),)
