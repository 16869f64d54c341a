"""Pausing/disabling counts skipped fires with their reason; NOTIFY wakes the leader;
`tocsin status` shows the lease."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

from scheduler.store.models import Execution, Schedule
from scheduler.store.schedules import notify_wakeup, set_inactive
from tests.helpers import ROOT, leader, node_of, start_scheduler, tocsin_env, wait_for


def test_resume_counts_fires_skipped_while_paused(store):
    store.function()
    now = store.now()
    base = now.replace(minute=now.minute // 10 * 10, second=0, microsecond=0) - timedelta(
        minutes=30)
    sid = store.schedule(cron="*/10 * * * *", at=base)
    with store.session() as s, s.begin():
        sched = s.get(Schedule, sid)
        set_inactive(s, sched, "paused", True, note="maintenance")
        assert (sched.paused, sched.pause_note) == (True, "maintenance")
    with store.session() as s, s.begin():
        sched = s.get(Schedule, sid)
        count = set_inactive(s, sched, "paused", False)
    sched = store.get(Schedule, sid)
    assert count == 4  # base, +10, +20, +30 minutes
    assert sched.skipped_paused == 4 and sched.last_skip_reason == "paused"
    assert sched.last_skipped_at == base + timedelta(minutes=30)
    assert sched.next_fire_at == base + timedelta(minutes=40)
    assert not sched.paused and sched.pause_note == ""


def test_disabled_and_paused_count_once_when_both_end(store):
    store.function()
    base = store.now().replace(second=0, microsecond=0) - timedelta(minutes=5)
    sid = store.schedule(cron="* * * * *", at=base)
    with store.session() as s, s.begin():
        sched = s.get(Schedule, sid)
        set_inactive(s, sched, "paused", True)
        set_inactive(s, sched, "disabled", True)
        assert set_inactive(s, sched, "paused", False) == 0  # still disabled
        assert set_inactive(s, sched, "disabled", False) == 6
    sched = store.get(Schedule, sid)
    assert (sched.skipped_disabled, sched.skipped_paused) == (6, 0)
    assert sched.last_skip_reason == "disabled"


def _armed_for_the_poll_and_listening(proc, store) -> None:
    """The leader's first dispatch found nothing due (its next run is the 60 s poll),
    and its LISTEN session is open: from here only a NOTIFY wakes it early."""
    wait_for(lambda: "dispatch.idle fired=0 earliest_due=None" in proc.output(), 15,
             what="the first dispatch to find nothing due")
    wait_for(lambda: store.scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND query LIKE 'LISTEN %'"), 15, what="the leader's LISTEN session")


def test_notify_wakes_the_leader_before_its_poll(pg_url, broker_url, store, tmp_path):
    """The poll is 60 s; the one-shot, due in a second, is dispatched on the wake-up.
    Killed mutation: _on_notify not waking dispatch (the row waits for the poll)."""
    store.function()
    env = tocsin_env(pg_url, broker_url, TOCSIN_POLL_INTERVAL="60", TOCSIN_LEASE_TTL="2",
                     TOCSIN_LOG_LEVEL="DEBUG")
    proc = start_scheduler(env, "n1", tmp_path)
    try:
        wait_for(lambda: leader(store), 15, what="a leader")
        _armed_for_the_poll_and_listening(proc, store)
        eid = store.oneshot(at=store.now() + timedelta(seconds=1))
        with store.session() as s, s.begin():
            notify_wakeup(s)
        ex = wait_for(lambda: (e := store.get(Execution, eid)).status == "waiting" and e, 10,
                      what="the one-shot to dispatch")
        # Dispatched on its due time, not at the poll (60 s): by the leader's own record.
        lag = (ex.enqueued_at - ex.scheduled_at).total_seconds()
        assert lag < 30, lag
    finally:
        proc.stop()


def test_the_apis_own_notify_wakes_the_leader(pg_url, broker_url, store, tmp_path):
    """The API notifies in the transaction that adds a one-shot; the leader hears it
    (not the test calling notify_wakeup). Killed mutations: enqueue.create without
    notify_wakeup; a listener that ignores the channel."""
    from fastapi.testclient import TestClient

    from scheduler.api.app import create_app
    from scheduler.broker.publish import RedisPublisher
    from scheduler.config import Settings
    from scheduler.rules.timerules import iso
    from tests.integration.test_api import KEY

    env = tocsin_env(pg_url, broker_url, TOCSIN_POLL_INTERVAL="60", TOCSIN_LEASE_TTL="2",
                     TOCSIN_LOG_LEVEL="DEBUG")
    proc = start_scheduler(env, "n1", tmp_path)
    settings = Settings(database_url=pg_url, broker_url=broker_url, bootstrap_project="p1",
                        bootstrap_key=KEY)
    try:
        wait_for(lambda: leader(store), 15, what="a leader")
        _armed_for_the_poll_and_listening(proc, store)
        with TestClient(create_app(settings, publisher=RedisPublisher(broker_url))) as c:
            c.headers.update({"X-Appwrite-Project": "p1", "X-Appwrite-Key": KEY})
            c.post("/v1/functions", json={"functionId": "f1", "name": "F",
                                          "runtime": "python-3.12"})
            at = store.now().replace(second=0, microsecond=0) + timedelta(minutes=5)
            r = c.post("/v1/functions/f1/executions", json={"async": True,
                                                            "scheduledAt": iso(at)})
            assert r.status_code == 202, r.text
        wait_for(lambda: "dispatch.woken" in proc.output(), 10,
                 what="the leader to wake on the API's NOTIFY")
    finally:
        proc.stop()


def test_status_json_names_leader_and_standbys(pg_url, broker_url, store, tmp_path):
    env = tocsin_env(pg_url, broker_url, TOCSIN_LEASE_TTL="2")
    procs = [start_scheduler(env, n, tmp_path) for n in ("n1", "n2")]
    try:
        wait_for(lambda: leader(store), 15, what="a leader")
        wait_for(lambda: store.scalar("SELECT count(*) FROM nodes") == 2, 10, what="heartbeats")
        out = subprocess.run([sys.executable, "-m", "scheduler", "status", "--json"], env=env,
                             cwd=ROOT, capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        data = json.loads(out.stdout)
        holder, epoch = leader(store)
        assert node_of(data["leader"]) == holder and data["epoch"] == epoch
        assert [node_of(n) for n in data["standbys"]] == [n for n in ("n1", "n2") if n != holder]
        assert data["lease_expires_at"].endswith("+00:00")
        assert data["unpublished_backlog"] == 0
    finally:
        for p in procs:
            p.stop()


def test_status_on_unreachable_database_is_one_line():
    env = tocsin_env("postgresql://postgres@127.0.0.1:1/none", "memory://")
    out = subprocess.run([sys.executable, "-m", "scheduler", "status"], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert out.stderr.startswith("error: cannot read the job store")
    assert "Traceback" not in out.stderr
