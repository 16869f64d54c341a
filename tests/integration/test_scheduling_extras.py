"""Interval, overlap, jitter, backfill and describe, against the real PostgreSQL and
Redis: the dispatcher driven batch by batch here, and real scheduler and worker
processes where the promise is about them (overlap under a slow function, a backfill
across a leader kill)."""

from __future__ import annotations

import signal
import time
from collections import Counter
from datetime import datetime, timedelta
from itertools import pairwise

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from scheduler.api.app import create_app
from scheduler.broker.publish import RedisPublisher
from scheduler.config import Settings
from scheduler.leader.backfiller import Backfiller
from scheduler.leader.dispatcher import Dispatcher
from scheduler.rules import lifecycle
from scheduler.rules.states import ExecutionStatus
from scheduler.store import backfills as backfill_store
from scheduler.store import executions as exec_store
from scheduler.store import functions as fn_store
from scheduler.store.db import db_now, transaction
from scheduler.store.models import Execution, Schedule
from tests.helpers import leader, node_of, start_scheduler, start_worker, tocsin_env, wait_for
from tests.integration.test_api import KEY, assert_error
from tests.integration.test_dispatcher import queued
from tests.integration.test_promises import clear_of_a_minute_boundary, keeper  # noqa: F401


def _runs(store, sid: str) -> list[Execution]:
    return [e for e in store.executions() if e.schedule_id == sid]


def _processing(store, sid: str) -> str:
    """A run of the schedule that a worker is running now (a row, no worker)."""
    eid = store.waiting()
    with transaction(store.sessions) as s:
        s.execute(text("UPDATE executions SET status = 'processing', schedule_id = :sid, "
                       "started_at = now() WHERE id = :id"), {"sid": sid, "id": eid})
    return eid


def _make_due(store, sid: str, seconds_ago: float = 1.0) -> None:
    """Due now, and the leader told so (as the API tells it of a change)."""
    with transaction(store.sessions) as s:
        s.execute(text("UPDATE schedules SET next_fire_at = now() - make_interval(secs => :ago)"
                       " WHERE id = :sid"), {"sid": sid, "ago": seconds_ago})
        s.execute(text("NOTIFY tocsin_wakeup"))


# ------------------------------------------------------------------ through the dispatcher


def test_buffer_one_holds_one_fire_until_the_running_one_ends(store, broker_url, keeper):  # noqa: F811
    store.function()
    sid = store.schedule(at=store.now(), overlap="buffer_one")
    d = Dispatcher(store.sessions, RedisPublisher(broker_url), "node-a")
    running = _processing(store, sid)
    d.run_batch(keeper.epoch)  # one fire: held for the running one
    _make_due(store, sid, 0.5)
    d.run_batch(keeper.epoch)  # another: one is already held, so skipped
    held = [e for e in _runs(store, sid) if e.id != running]
    assert [(e.status, e.scheduled_at) for e in held] == [("scheduled", None)]
    assert queued(broker_url) == []
    assert store.get(Schedule, sid).skipped_overlap == 1
    with transaction(store.sessions) as s:  # the running one ends, as a worker records it
        exec_store.finish(s, running, lifecycle.COMPLETE, {}, db_now(s))
    assert store.get(Execution, held[0].id).scheduled_at is not None  # due now
    d.run_batch(keeper.epoch)
    assert store.get(Execution, held[0].id).status == ExecutionStatus.WAITING
    assert queued(broker_url) == [held[0].id]


def test_cancel_other_fails_the_waiting_run_and_leaves_the_running_one(
        store, broker_url, keeper):  # noqa: F811
    store.function()
    sid = store.schedule(at=store.now(), overlap="cancel_other")
    d = Dispatcher(store.sessions, RedisPublisher(broker_url), "node-a")
    running = _processing(store, sid)
    d.run_batch(keeper.epoch)
    first = next(e for e in _runs(store, sid) if e.id != running)
    assert first.status == ExecutionStatus.WAITING
    _make_due(store, sid, 0.5)
    d.run_batch(keeper.epoch)
    assert store.get(Execution, running).status == ExecutionStatus.PROCESSING
    cancelled = store.get(Execution, first.id)
    assert cancelled.status == ExecutionStatus.FAILED
    assert "cancel_other" in cancelled.errors
    newest = [e for e in _runs(store, sid) if e.status == ExecutionStatus.WAITING]
    assert len(newest) == 1 and newest[0].id != first.id


def test_jitter_delays_a_fire_but_keeps_its_nominal_time(store, broker_url, keeper):  # noqa: F811
    store.function()
    now = store.now()  # a yearly cron: no minute boundary can add a fire
    sid = store.schedule(at=now, jitter=3600, cron="0 0 1 1 *")
    d = Dispatcher(store.sessions, RedisPublisher(broker_url), "node-a")
    d.run_batch(keeper.epoch)
    (run,) = _runs(store, sid)
    assert run.scheduled_for == now  # the identity (and x-tocsin-scheduled-for)
    assert run.status == ExecutionStatus.SCHEDULED and now < run.scheduled_at
    assert run.scheduled_at <= now + timedelta(seconds=3600)
    assert queued(broker_url) == []
    with transaction(store.sessions) as s:  # its time comes: the one-shot path starts it
        s.execute(text("UPDATE executions SET scheduled_at = now() WHERE id = :id"),
                  {"id": run.id})
    d.run_batch(keeper.epoch)
    assert store.get(Execution, run.id).status == ExecutionStatus.WAITING
    assert queued(broker_url) == [run.id]


@pytest.mark.load
def test_interval_functions_get_a_schedule_spread_over_the_hour(store):
    """10,000 functions with ``interval: 60`` made through the store's create path (the
    API's): no minute of the hour holds more than twice the average. About 25 s of
    inserts, so it runs in `.ci/run`'s load step, beside the load test."""
    store.project("p1")
    with transaction(store.sessions) as s:
        for i in range(10_000):
            fn_store.create_function(s, "p1", f"every-{i}", {
                "name": "e", "runtime": "python-3.12", "interval": 60.0})
    with transaction(store.sessions) as s:
        rows = s.execute(text("SELECT cron, next_fire_at FROM schedules")).all()
    assert len(rows) == 10_000 and all(c.startswith("@every 60m+") for c, _ in rows)
    per_minute = Counter(at.minute for _, at in rows)
    assert len(per_minute) == 60
    assert max(per_minute.values()) <= 2 * 10_000 / 60
    assert all(at.second == 0 for _, at in rows)


def test_backfill_creates_each_fire_once_and_a_rerun_nothing(store, broker_url, keeper):  # noqa: F811
    store.function()
    now = clear_of_a_minute_boundary(store)
    start = now.replace(second=0, microsecond=0) - timedelta(minutes=300)
    sid = store.schedule(at=now + timedelta(minutes=1))
    live = [start + timedelta(minutes=m) for m in (10, 11)]  # two the schedule already ran
    with transaction(store.sessions) as s:
        for at in live:
            s.add(Execution(id=f"live-{at.minute}", project_id="p1", function_id="f1",
                            schedule_id=sid, scheduled_for=at, trigger="schedule",
                            status="completed", request_headers={}))
    b = Backfiller(Dispatcher(store.sessions, RedisPublisher(broker_url), "node-a"), step=70)
    for attempt in range(2):
        with transaction(store.sessions) as s:
            sched = s.get(Schedule, sid)
            total = backfill_store.window_fires(sched, start, start + timedelta(minutes=200))
            made = backfill_store.create(s, sched, start, start + timedelta(minutes=200),
                                         total, db_now(s)).id
        assert total == 200
        while not b.run_step(keeper.epoch).finished:
            pass
        done = store.get(backfill_store.Backfill, made)
        assert done.status == "done"
        assert (done.created, done.existing) == ((198, 2) if attempt == 0 else (0, 200))
    times = [e.scheduled_for for e in _runs(store, sid)]
    assert len(times) == len(set(times)) == 200
    assert min(times) == start and max(times) == start + timedelta(minutes=199)


# ------------------------------------------------------------------ the API


@pytest.fixture
def api(pg_url, broker_url):
    settings = Settings(database_url=pg_url, broker_url=broker_url, bootstrap_project="p1",
                        bootstrap_key=KEY)
    with TestClient(create_app(settings, publisher=RedisPublisher(broker_url))) as c:
        c.headers.update({"X-Appwrite-Project": "p1", "X-Appwrite-Key": KEY})
        yield c


def test_overlap_and_jitter_are_function_and_schedule_fields(api):
    r = api.post("/v1/functions", json={"functionId": "f", "name": "f",
                                        "runtime": "python-3.12", "schedule": "*/5 * * * *",
                                        "overlap": "skip", "jitter": 30})
    assert (r.status_code, r.json()["overlap"], r.json()["jitter"]) == (201, "skip", 30)
    (sched,) = api.get("/v1/scheduler/schedules").json()["schedules"]
    assert (sched["overlap"], sched["jitter"]) == ("skip", 30)
    for field, bad, says in (("overlap", "never", "Value must be one of (allow, skip, "
                                                  "buffer_one, cancel_other)"),
                             ("jitter", 3601, "Value must be a valid range between 0 and "
                                              "3,600"),
                             ("jitter", -1, "between 0 and 3,600")):
        r = api.put("/v1/functions/f", json={"name": "f", field: bad})
        assert_error(r, 400, "general_argument_invalid")
        assert r.json()["message"].startswith(f"Invalid `{field}` param: ")
        assert says in r.json()["message"]
    r = api.post("/v1/scheduler/functions/f/schedules",
                 json={"key": "extra", "schedule": "0 * * * *", "overlap": "buffer_one",
                       "jitter": 3600})
    assert (r.status_code, r.json()["overlap"], r.json()["jitter"]) == (201, "buffer_one",
                                                                        3600)


def test_an_interval_function_has_an_interval_schedule(api):
    r = api.post("/v1/functions", json={"functionId": "tick", "name": "t",
                                        "runtime": "python-3.12", "interval": 15})
    assert r.status_code == 201
    (sched,) = api.get("/v1/scheduler/schedules").json()["schedules"]
    assert sched["schedule"].startswith("@every 15m+")
    shown = api.get(f"/v1/scheduler/schedules/{sched['$id']}").json()
    fires = [datetime.fromisoformat(t) for t in shown["nextFires"]]
    assert len(fires) == 10
    assert {b - a for a, b in pairwise(fires)} == {timedelta(minutes=15)}
    assert_error(api.put("/v1/functions/tick", json={"name": "t", "interval": 0,
                                                     "schedule": "@every 5m+0m"}),
                 400, "general_argument_invalid")
    r = api.put("/v1/functions/tick", json={"name": "t", "interval": 0})
    assert api.get("/v1/scheduler/schedules").json()["total"] == 0


def test_describe_shows_last_and_next_fires_and_skips_by_reason(api, store):
    api.post("/v1/functions", json={"functionId": "f", "name": "f", "runtime": "python-3.12",
                                    "schedule": "0 * * * *", "timezone": "Asia/Kathmandu"})
    (sched,) = api.get("/v1/scheduler/schedules").json()["schedules"]
    base = store.now().replace(minute=0, second=0, microsecond=0)
    with transaction(store.sessions) as s:
        for h in range(1, 13):
            s.add(Execution(id=f"run-{h}", project_id="p1", function_id="f",
                            schedule_id=sched["$id"], scheduled_for=base - timedelta(hours=h),
                            trigger="schedule", status="completed", duration=0.5,
                            request_headers={}))
        s.execute(text("UPDATE schedules SET skipped_overlap = 3, last_overlap_at = now() "
                       "WHERE id = :id"), {"id": sched["$id"]})
    shown = api.get(f"/v1/scheduler/schedules/{sched['$id']}").json()
    assert [f["executionId"] for f in shown["lastFires"]] == [f"run-{h}" for h in range(1, 11)]
    assert shown["lastFires"][0]["status"] == "completed"
    assert len(shown["nextFires"]) == 10 and shown["nextFires"][0] == sched["nextFireAt"]
    assert shown["skips"]["overlap"]["count"] == 3 and shown["skips"]["overlap"]["last"]
    assert shown["skips"]["missed"] == {"count": 0, "last": None}
    assert_error(api.get("/v1/scheduler/schedules/nope"), 404, "schedule_not_found")


def test_backfill_api_dry_run_limits_and_progress(api, store):
    api.post("/v1/functions", json={"functionId": "f", "name": "f", "runtime": "python-3.12",
                                    "schedule": "* * * * *"})
    (sched,) = api.get("/v1/scheduler/schedules").json()["schedules"]
    url = f"/v1/scheduler/schedules/{sched['$id']}/backfill"
    now = store.now().replace(second=0, microsecond=0)
    window = {"from": (now - timedelta(hours=2)).isoformat(),
              "to": (now - timedelta(hours=1)).isoformat()}
    dry = api.post(url, json={**window, "dryRun": True})
    assert (dry.status_code, dry.json()["total"], dry.json()["status"]) == (200, 60, "dry_run")
    assert dry.json()["firstFires"][0].startswith((now - timedelta(hours=2)).strftime(
        "%Y-%m-%dT%H:%M"))
    assert not [e for e in store.executions() if e.schedule_id == sched["$id"]]
    for body, says in (
            ({**window, "to": (now + timedelta(hours=1)).isoformat()}, "must be in the past"),
            ({"from": window["to"], "to": window["from"]}, "after `from`"),
            ({"from": (now - timedelta(days=400)).isoformat(), "to": window["to"]},
             "at most 1 year"),
            ({"from": (now - timedelta(days=100)).isoformat(), "to": window["to"]},
             "at most 100,000 per backfill"),
            ({"from": "yesterday", "to": window["to"]}, "ISO 8601")):
        r = api.post(url, json=body)
        assert_error(r, 400, "general_argument_invalid")
        assert says in r.json()["message"], r.json()["message"]
    made = api.post(url, json=window)
    assert (made.status_code, made.json()["status"], made.json()["total"]) == (
        202, "running", 60)
    got = api.get(f"/v1/scheduler/backfills/{made.json()['$id']}").json()
    assert (got["created"], got["status"]) == (0, "running")  # the leader does the work
    assert api.delete(f"/v1/scheduler/backfills/{made.json()['$id']}").json()["status"] == (
        "cancelled")
    assert_error(api.get("/v1/scheduler/backfills/nope"), 404, "backfill_not_found")


# ------------------------------------------------------------------ real processes


def test_overlap_skip_never_runs_two_at_once_and_counts_the_skips(store, broker_url, tmp_path):
    """A 1.5 s function whose schedule comes due every third of a second (each due time forced,
    as a cron would make them, without waiting for real minutes), with two worker
    processes free to run them side by side: ``skip`` lets one run at a time."""
    env = tocsin_env(store.engine.url.render_as_string(hide_password=False), broker_url,
                     TOCSIN_LEASE_TTL="2")
    store.function("slowfn", entrypoint="tests.fixtures.functions:slow")
    # A yearly cron: the only fires are the ones this test forces.
    sid = store.schedule("slowfn", "0 0 1 1 *", at=store.now() + timedelta(days=1),
                         overlap="skip")
    with transaction(store.sessions) as s:
        s.execute(text("UPDATE schedules SET payload = :p WHERE id = :id"),
                  {"p": '{"path": "/?seconds=1.5"}', "id": sid})
    procs = [start_scheduler(env, "s1", tmp_path), start_worker(env, "w1", tmp_path)]
    try:
        wait_for(lambda: leader(store), 15, what="a leader")
        wait_for(lambda: " ready." in procs[1].output(), 30, what="the worker")
        forced = 9
        for _ in range(forced):
            _make_due(store, sid, 0.0)
            wait_for(lambda: store.get(Schedule, sid).next_fire_at > store.now(), 10,
                     interval=0.02, what="the dispatcher to take the fire")
            time.sleep(0.3)
        wait_for(lambda: all(e.status in ("completed", "failed") for e in _runs(store, sid)),
                 30, what="the runs to end")
    finally:
        for p in procs:
            p.stop()
    runs = sorted(_runs(store, sid), key=lambda e: e.started_at)
    assert all(e.status == "completed" for e in runs)
    for earlier, later in pairwise(runs):
        assert earlier.finished_at <= later.started_at, "two runs overlapped"
    skipped = store.get(Schedule, sid).skipped_overlap
    assert len(runs) >= 2 and skipped >= 3
    assert len(runs) + skipped == forced


def test_a_backfill_survives_a_leader_kill_and_a_rerun_adds_nothing(store, broker_url,
                                                                  tmp_path):
    env = tocsin_env(store.engine.url.render_as_string(hide_password=False), broker_url,
                     TOCSIN_LEASE_TTL="2", TOCSIN_BACKFILL_STEP="100")
    store.function()
    sid = store.schedule(at=store.now() + timedelta(days=1))
    start = store.now().replace(second=0, microsecond=0) - timedelta(minutes=2000)
    end = start + timedelta(minutes=1000)

    def backfill() -> str:
        with transaction(store.sessions) as s:
            sched = s.get(Schedule, sid)
            return backfill_store.create(s, sched, start, end, 1000, db_now(s)).id

    nodes = {"s1": start_scheduler(env, "s1", tmp_path),
             "s2": start_scheduler(env, "s2", tmp_path)}
    try:
        first_leader = node_of(wait_for(lambda: leader(store), 15, what="a leader")[0])
        first = backfill()
        wait_for(lambda: store.get(backfill_store.Backfill, first).created >= 200, 30,
                 what="the backfill under way")
        nodes[first_leader].signal(signal.SIGKILL)
        at_kill = store.get(backfill_store.Backfill, first).created
        assert 200 <= at_kill < 1000, at_kill  # killed mid-way
        wait_for(lambda: store.get(backfill_store.Backfill, first).status == "done", 60,
                 what="the new leader to finish the backfill")
        second = backfill()
        wait_for(lambda: store.get(backfill_store.Backfill, second).status == "done", 30,
                 what="the rerun")
    finally:
        for p in nodes.values():
            p.stop()
    times = [e.scheduled_for for e in _runs(store, sid)]
    assert len(times) == len(set(times)) == 1000
    assert store.get(backfill_store.Backfill, first).created == 1000
    rerun = store.get(backfill_store.Backfill, second)
    assert (rerun.created, rerun.existing) == (0, 1000)
