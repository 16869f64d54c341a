"""A 100k burst under `skip` with grace 0: load never turns an on-time fire into a
missed one (a fire that came due while the leader was leading is on time)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.helpers import leader, seed_schedules, start_scheduler, tocsin_env, wait_for

N = 100_000


@pytest.mark.load  # a scale test: run by `pytest -m load` (.ci/run does)
def test_100k_burst_under_skip_with_zero_grace_skips_nothing(pg_url, broker_url, store,
                                                            tmp_path):
    """Killed mutation: "missed" judged by lateness alone (grace 0: every fire of a
    10 s burst is late, and `skip` dropped them)."""
    store.function()
    env = tocsin_env(pg_url, broker_url, TOCSIN_LEASE_TTL="10")
    proc = start_scheduler(env, "n1", tmp_path)
    try:
        wait_for(lambda: leader(store), 15, what="a leader")
        # A yearly cron: each schedule fires once in the test, whatever the minute.
        seed_schedules(pg_url, N, store.now() + timedelta(seconds=3), cron="0 0 1 1 *",
                       policy="skip", grace=0)
        wait_for(lambda: store.scalar(
            "SELECT count(*) FROM schedules WHERE last_fire_at IS NOT NULL "
            "OR skipped_missed > 0") == N, 240, interval=1, what="the burst to be decided")
        assert store.scalar("SELECT sum(skipped_missed) FROM schedules") == 0
        assert store.scalar("SELECT count(*) FROM executions") == N
    finally:
        proc.stop()
