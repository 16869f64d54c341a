"""Promises the README makes that had no test of their own (#21), each against real
PostgreSQL and Redis. The mutation each test kills is named in its docstring."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from scheduler.api.app import create_app
from scheduler.broker.publish import RedisPublisher
from scheduler.config import Settings
from scheduler.leader.daemon import Daemon
from scheduler.leader.dispatcher import Dispatcher
from scheduler.leader.lease import LeaseKeeper
from scheduler.store.db import transaction
from scheduler.store.models import ApiKey, Execution, Schedule
from scheduler.store.projects import add_execution_key, add_key
from tests.integration.test_api import KEY, assert_error
from tests.integration.test_dispatcher import queued

# ------------------------------------------------------------------ leadership


def test_a_leader_stops_leading_at_three_quarters_of_its_ttl(store):
    """The local deadline is ``renewal sent + ttl * 0.75`` on the monotonic clock.
    Kills: SAFETY of 1 (leads until the lease may already be another's), and a deadline
    counted from when the renewal *returned* instead of when it was sent."""
    clock = [100.0]
    keeper = LeaseKeeper(store.sessions, "node-a", ttl=10)

    def monotonic() -> float:
        now = clock[0]
        clock[0] += 1.0  # each reading is a second later: the renewal takes time
        return now

    keeper._monotonic = monotonic
    assert keeper.tick()  # sent at 100
    clock[0] = 100 + 10 * 0.75 - 0.01
    assert keeper.leading
    clock[0] = 100 + 10 * 0.75
    assert not keeper.leading
    # Its lease row is still valid in the database: another node cannot take it yet,
    # which is why stepping down early can never overlap a successor.
    other = LeaseKeeper(store.sessions, "node-b", ttl=10)
    assert not other.tick()


# ------------------------------------------------------------------ the dispatcher


@pytest.fixture
def keeper(store):
    keeper = LeaseKeeper(store.sessions, "node-a", ttl=30)
    assert keeper.tick()
    return keeper


def test_oneshots_older_than_the_grace_still_fire(store, broker_url, keeper):
    """A one-shot is a promise to run once, however late (an outage of hours): the
    missed-run policy and grace are for crons. Kills: one-shots judged by the grace."""
    store.function()
    now = store.now()
    old = [store.oneshot(at=now - timedelta(hours=h)) for h in (1, 5, 30)]
    d = Dispatcher(store.sessions, RedisPublisher(broker_url), "node-a")
    d.run_batch(keeper.epoch)
    assert {store.get(Execution, e).status for e in old} == {"waiting"}
    assert sorted(queued(broker_url)) == sorted(old)


def clear_of_a_minute_boundary(store):
    """The database's now, at least 10 s before the next minute: the dispatcher reads
    the same clock a moment later and must see the same minute (a test placed on
    minute boundaries would otherwise gain a fire when it crosses one)."""
    from tests.helpers import wait_for

    return wait_for(lambda: (now := store.now()).second < 50 and now, 15,
                    what="a moment clear of the minute boundary")


# Fires missed while nobody led: the schedule was due ten minutes ago, every minute.
POLICIES = [
    # (policy, grace s, window s, cap, fires expected, skipped expected)
    ("skip", 60, 86400, 100, 1, 10),  # this minute's fire is within the grace: on time
    ("latest", 60, 86400, 100, 1, 10),
    ("all", 60, 86400, 100, 11, 0),
    ("all", 60, 86400, 4, 4, 7),  # the cap keeps the newest four
    ("all", 60, 5 * 60, 100, 5, 6),  # the window: fires less than five minutes old
]


@pytest.mark.parametrize(("policy", "grace", "window", "cap", "fires", "skipped"), POLICIES)
def test_missed_run_policies_through_the_real_dispatcher(store, broker_url, keeper, policy,
                                                         grace, window, cap, fires, skipped):
    """Kills: any policy ignored by the dispatcher (the unit tests cover the rule alone),
    the cap or the window not applied, skips not counted."""
    store.function()
    now = clear_of_a_minute_boundary(store)
    minute = now.replace(second=0, microsecond=0)
    first = minute - timedelta(minutes=10)
    sid = store.schedule(at=first, missed_policy=policy, misfire_grace=grace,
                         catchup_window=window, catchup_cap=cap)
    Dispatcher(store.sessions, RedisPublisher(broker_url), "node-a").run_batch(keeper.epoch)
    rows = store.executions()
    assert len(rows) == fires
    sched = store.get(Schedule, sid)
    assert sched.skipped_missed == skipped
    assert sched.next_fire_at == minute + timedelta(minutes=1)
    if fires:
        times = sorted(r.scheduled_for for r in rows)
        assert times[-1] == minute  # the newest missed fire is always among those kept
        assert times == [minute - timedelta(minutes=i) for i in range(fires - 1, -1, -1)]


def test_drain_publishes_every_batch_in_dispatch_order(store, broker_url, keeper):
    """``drain`` writes batch k+1 while its publisher thread sends batch k. Kills: a
    batch left unpublished, messages reordered across batches, a drain that stops
    after one full batch."""
    store.function()
    now = store.now()
    placed = [now - timedelta(seconds=40 - i) for i in range(35)]
    ids = [store.schedule(cron="0 0 1 1 *", at=at) for at in placed]
    # One project's fires, all in the broker: its window (fair hand-over) is not what
    # this test is about, so it is wider than the drain.
    d = Dispatcher(store.sessions, RedisPublisher(broker_url), "node-a", batch_size=10,
                   window=10_000)
    assert d.drain(keeper.epoch, lambda: True) == 35
    by_schedule = {e.schedule_id: e.id for e in store.executions()}
    assert queued(broker_url) == [by_schedule[s] for s in ids]
    assert all(e.enqueued_at is not None for e in store.executions())


# ------------------------------------------------------------------ the API and the relay


def test_an_api_publish_failure_is_handed_to_the_relay(pg_url, broker_url, store, keeper):
    """The row commits before the publish; when the broker refuses, the API takes its
    "handed over" mark back and the leader's relay sends it. Kills: the mark kept (the
    relay would wait requeue_after for a message that never existed), the row lost."""
    dead = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    settings = Settings(database_url=pg_url, broker_url=dead, bootstrap_project="p1",
                        bootstrap_key=KEY)
    with TestClient(create_app(settings, publisher=RedisPublisher(dead))) as client:
        client.headers.update({"X-Appwrite-Project": "p1", "X-Appwrite-Key": KEY})
        client.post("/v1/functions", json={"functionId": "f1", "name": "F",
                                           "runtime": "python-3.12"})
        r = client.post("/v1/functions/f1/executions", json={"async": True})
    assert r.status_code == 202, r.text
    row = store.get(Execution, r.json()["$id"])
    assert (row.status, row.enqueued_at) == ("waiting", None)
    relay = Dispatcher(store.sessions, RedisPublisher(broker_url), "node-a")
    assert relay.relay(settle=0, requeue_after=3600) == 1
    assert queued(broker_url) == [row.id]
    assert relay.relay(settle=0, requeue_after=3600) == 0  # once


# ------------------------------------------------------------------ retention


def test_the_leader_prunes_finished_executions_past_retention(pg_url, store):
    """Kills: pruning unfinished rows, pruning recent ones, a standby pruning, expired
    execution keys left behind."""
    store.function()
    now = store.now()
    rows = {}
    for name, status, age in (("old_done", "completed", 40), ("old_failed", "failed", 31),
                              ("recent", "completed", 29), ("old_waiting", "waiting", 40)):
        eid = store.waiting()
        with transaction(store.sessions) as s:
            ex = s.get(Execution, eid)
            ex.status, ex.finished_at = status, now - timedelta(days=age)
        rows[name] = eid
    with transaction(store.sessions) as s:
        add_execution_key(s, "p1", "gone", ["functions.read"], now - timedelta(hours=1))
        add_execution_key(s, "p1", "running", ["functions.read"], now + timedelta(hours=1))
    daemon = Daemon(Settings(database_url=pg_url, broker_url="memory://", retention_days=30,
                             node_name="pruner"))
    try:
        other = LeaseKeeper(store.sessions, "someone-else", ttl=30)
        assert other.tick()
        assert not daemon.keeper.tick()
        daemon.prune_tick()  # a standby prunes nothing
        assert all(store.get(Execution, e) for e in rows.values())
        other.step_down()
        assert daemon.keeper.tick()
        daemon.prune_tick()
    finally:
        daemon.engine.dispose()
    left = {name for name, e in rows.items() if store.get(Execution, e) is not None}
    assert left == {"recent", "old_waiting"}
    with transaction(store.sessions) as s:
        names = {k.name for k in s.query(ApiKey).all()}
    assert names == {"execution:running"}


# ------------------------------------------------------------------ projects


@pytest.fixture
def two_projects(pg_url, broker_url, store):
    """p1 (bootstrap key) and p2 (its own key), each with a function called f1."""
    settings = Settings(database_url=pg_url, broker_url=broker_url, bootstrap_project="p1",
                        bootstrap_key=KEY)
    with TestClient(create_app(settings, publisher=RedisPublisher(broker_url))) as client:
        store.project("p2")
        with transaction(store.sessions) as s:
            add_key(s, "p2", "p2-key-0123456789abcdef0123456789", [
                "functions.read", "functions.write", "executions.read", "executions.write",
                "scheduler.read", "scheduler.write"])
        p1 = {"X-Appwrite-Project": "p1", "X-Appwrite-Key": KEY}
        p2 = {"X-Appwrite-Project": "p2", "X-Appwrite-Key": "p2-key-0123456789abcdef0123456789"}
        for headers, name in ((p1, "one"), (p2, "two")):
            r = client.post("/v1/functions", headers=headers, json={
                "functionId": "f1", "name": name, "runtime": "python-3.12",
                "schedule": "0 3 * * *", "entrypoint": "tests.fixtures.functions:hello"})
            assert r.status_code == 201, r.text
        yield client, p1, p2


def test_writes_never_cross_projects(two_projects, store):
    """Kills: any write route that finds rows by id without the caller's project."""
    client, p1, p2 = two_projects
    mine = client.post("/v1/functions/f1/executions", headers=p1, json={"async": True,
                       "scheduledAt": _next_minutes(store, 10)}).json()["$id"]
    p1_schedule = client.get("/v1/scheduler/schedules", headers=p1).json()["schedules"][0]
    # p2's key, naming p1: a key of another project is no key (guests lack the scopes).
    forged = {**p1, "X-Appwrite-Key": p2["X-Appwrite-Key"]}
    assert_error(client.put("/v1/functions/f1", headers=forged, json={"name": "x"}), 401,
                 "general_unauthorized_scope")
    assert_error(client.delete("/v1/functions/f1", headers=forged), 401,
                 "general_unauthorized_scope")
    assert_error(client.post("/v1/functions/f1/executions", headers=forged, json={}), 401,
                 "general_unauthorized_scope")
    assert_error(client.delete(f"/v1/functions/f1/executions/{mine}", headers=forged), 401,
                 "general_unauthorized_scope")
    # p2 on its own project: p1's rows are not there, even under the same function id.
    assert_error(client.delete(f"/v1/functions/f1/executions/{mine}", headers=p2), 404,
                 "execution_not_found")
    assert_error(client.post(f"/v1/scheduler/schedules/{p1_schedule['$id']}/pause",
                             headers=p2, json={"note": "x"}), 404, "schedule_not_found")
    assert_error(client.post(f"/v1/scheduler/schedules/{p1_schedule['$id']}/trigger",
                             headers=p2), 404, "schedule_not_found")
    assert client.put("/v1/functions/f1", headers=p2,
                      json={"name": "two!", "schedule": ""}).status_code == 200
    assert client.delete("/v1/functions/f1", headers=p2).status_code == 204
    # p1's function, schedule and one-shot are untouched by all of it.
    one = client.get("/v1/functions/f1", headers=p1).json()
    assert (one["name"], one["schedule"]) == ("one", "0 3 * * *")
    assert client.get(f"/v1/functions/f1/executions/{mine}", headers=p1).json()[
        "status"] == "scheduled"
    after = client.get("/v1/scheduler/schedules", headers=p1).json()["schedules"][0]
    assert (after["$id"], after["paused"]) == (p1_schedule["$id"], False)


def _next_minutes(store, minutes: int) -> str:
    from scheduler.rules.timerules import iso

    return iso(store.now().replace(second=0, microsecond=0) + timedelta(minutes=minutes))


# ------------------------------------------------------------------ limits, accepted side


def test_every_limit_is_accepted_at_its_value(two_projects, store):
    """The refused side of each limit has its test; this is the other side. Kills: an
    off-by-one that refuses the documented maximum."""
    client, p1, _ = two_projects
    for timeout in (1, 900):
        r = client.put("/v1/functions/f1", headers=p1, json={"name": "one", "timeout": timeout})
        assert (r.status_code, r.json()["timeout"]) == (200, timeout)
    path = "/" + "a" * 2047
    headers = {f"x-h{i}": "v" for i in range(100)}
    body = "b" * (10 * 1024 * 1024)
    r = client.post("/v1/functions/f1/executions", headers=p1, json={
        "async": True, "path": path, "headers": headers, "body": body})
    assert r.status_code == 202, r.text[:300]
    row = store.get(Execution, r.json()["$id"])
    sent = [k for k in row.request_headers if not k.startswith("x-appwrite-")]  # ours added
    assert (len(row.request_path), len(sent), len(row.request_body)) == (
        2048, 100, 10 * 1024 * 1024)
