"""Defects of wave 3 (issue #29), each shown on real PostgreSQL, Redis and, where the
defect is about them, real API, scheduler and worker processes. Each test's docstring
names the mutation (or the old code) it kills."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from scheduler.api.app import create_app
from scheduler.broker.publish import RedisPublisher
from scheduler.config import Settings
from scheduler.leader.dispatcher import Dispatcher, fire_row
from scheduler.rules import lifecycle
from scheduler.rules.lifecycle import new_execution
from scheduler.rules.states import ExecutionStatus, Trigger
from scheduler.store import executions as exec_store
from scheduler.store.db import db_now, transaction
from scheduler.store.models import Execution, Schedule
from tests.helpers import free_port, start_api, start_scheduler, start_worker, tocsin_env, wait_for
from tests.integration.test_api import KEY, client, fn  # noqa: F401
from tests.integration.test_dispatcher import queued
from tests.integration.test_events import KEY as EVENTS_KEY
from tests.integration.test_events import Stack, runs_of, settled
from tests.integration.test_promises import keeper  # noqa: F401
from tests.integration.test_scheduling_extras import _processing, _runs

# ------------------------------------------------------------------ 1. buffer_one holds


def test_a_run_ending_while_its_hold_is_written_still_releases_the_hold(
        store, broker_url, keeper, monkeypatch):  # noqa: F811
    """Kills ``finish`` without ``lock_schedules``: the run's end committed while the
    dispatch transaction was writing the hold, could not see it, and the hold (and the
    schedule, whose every later fire was skipped as an overlap) stayed silent for good."""
    store.function()
    sid = store.schedule(at=store.now(), overlap="buffer_one")
    running = _processing(store, sid)
    at_commit, go_on = threading.Event(), threading.Event()

    def pause(name: str) -> None:  # the dispatch transaction, held just before commit
        if name == "dispatch.pinned":
            at_commit.set()
            go_on.wait(10)

    monkeypatch.setattr("scheduler.leader.dispatcher.pause_point", pause)
    d = Dispatcher(store.sessions, RedisPublisher(broker_url), "node-a")
    dispatch = threading.Thread(target=d.run_batch, args=(keeper.epoch,))
    dispatch.start()
    assert at_commit.wait(10)
    ended = threading.Event()

    def end() -> None:  # the worker records the run's outcome meanwhile
        with transaction(store.sessions) as s:
            exec_store.finish(s, running, lifecycle.COMPLETE, {}, db_now(s),
                              schedule_id=sid)
        ended.set()

    worker = threading.Thread(target=end)
    worker.start()
    # The run's end waits for the dispatch transaction deciding its schedule (which,
    # pinned, may idle 1 s at most: the old code's end took milliseconds).
    assert not ended.wait(0.4)
    go_on.set()
    dispatch.join(10)
    worker.join(10)
    assert ended.is_set()
    [held] = [e for e in _runs(store, sid) if e.id != running]
    assert held.status == ExecutionStatus.SCHEDULED and held.scheduled_at is not None
    d.run_batch(keeper.epoch)  # due now: it starts
    assert store.get(Execution, held.id).status == ExecutionStatus.WAITING
    assert queued(broker_url) == [held.id]


def _orphaned_hold(store, sid: str, keeper_epoch: int) -> str:
    """A hold whose run is gone (what the race above left behind before the fix)."""
    sched = store.get(Schedule, sid)
    now = store.now()
    row = fire_row(sched, now.replace(second=0, microsecond=0) - timedelta(minutes=5), now,
                   keeper_epoch, None, held=True)
    with transaction(store.sessions) as s:
        s.add(Execution(**row, trigger="schedule", sync=False))
    return str(row["id"])


def test_an_orphaned_hold_is_released_by_the_leaders_sweep(store, broker_url, keeper):  # noqa: F811
    """Kills a reaper without ``release_orphaned_holds``: a yearly schedule's orphaned
    hold would wait a year for its next decision."""
    store.function()
    sid = store.schedule(cron="0 0 1 1 *", at=store.now() + timedelta(days=300),
                         overlap="buffer_one")
    hold = _orphaned_hold(store, sid, keeper.epoch)
    busy_sid = store.schedule(cron="0 0 1 1 *", at=store.now() + timedelta(days=300),
                              overlap="buffer_one")
    _processing(store, busy_sid)
    busy_hold = _orphaned_hold(store, busy_sid, keeper.epoch)
    with transaction(store.sessions) as s:
        assert exec_store.release_orphaned_holds(s) == 1
    assert store.get(Execution, hold).scheduled_at is not None
    assert store.get(Execution, busy_hold).scheduled_at is None  # its run is still going


def test_the_next_decision_releases_an_orphaned_hold(store, broker_url, keeper):  # noqa: F811
    """Kills ``overlap.decide`` without the orphan rule: every fire after an orphaned
    hold was skipped as an overlap."""
    store.function()
    sid = store.schedule(at=store.now(), overlap="buffer_one")
    hold = _orphaned_hold(store, sid, keeper.epoch)
    d = Dispatcher(store.sessions, RedisPublisher(broker_url), "node-a")
    d.run_batch(keeper.epoch)
    assert store.get(Execution, hold).scheduled_at is not None
    fresh = [e for e in _runs(store, sid) if e.id != hold]
    assert [(e.status, e.scheduled_at) for e in fresh] == [("scheduled", None)]
    assert store.get(Schedule, sid).skipped_overlap == 0
    d.run_batch(keeper.epoch)
    assert store.get(Execution, hold).status == ExecutionStatus.WAITING


# ------------------------------------------------------------------ 5. a reported status


def test_a_waiting_run_reads_waiting_however_long_it_queued(client, fn, store):  # noqa: F811
    """Kills ``Overdue`` judging waiting runs by age: a run queued behind a backlog
    read ``failed`` (clients retried), then ran and read ``completed``."""
    made = client.post(f"/v1/functions/{fn}/executions", json={"async": True}).json()
    store.scalar("UPDATE executions SET created_at = now() - interval '1 day' "
                 "WHERE id = :id RETURNING id", id=made["$id"])
    read = client.get(f"/v1/functions/{fn}/executions/{made['$id']}").json()
    assert read["status"] == "waiting"
    listed = client.get(f"/v1/functions/{fn}/executions",
                        params={"queries[0]": '{"method":"equal","attribute":"status",'
                                              '"values":["failed"]}'}).json()
    assert listed["total"] == 0


def test_an_outcome_after_the_run_was_reported_failed_keeps_it_failed(client, fn, store):  # noqa: F811
    """Kills ``finish`` without the late-outcome rule: a run read as ``failed`` (past
    its deadline plus the margin) turned ``completed`` when its outcome came in."""
    made = client.post(f"/v1/functions/{fn}/executions", json={"async": True}).json()
    eid = made["$id"]
    margin = client.app.state.ctx.settings.reap_margin
    with transaction(store.sessions) as s:
        assert exec_store.claim(s, eid, db_now(s) - timedelta(seconds=margin + 60),
                                lambda _e, _f: 15) is not None
    assert client.get(f"/v1/functions/{fn}/executions/{eid}").json()["status"] == "failed"
    with transaction(store.sessions) as s:
        recorded = exec_store.finish(s, eid, lifecycle.COMPLETE, {"logs": "done",
                                              "response_status_code": 200}, db_now(s),
                                     margin=margin)
    assert recorded is False
    row = store.get(Execution, eid)
    assert row.status == "failed" and "already been reported failed" in row.errors
    assert row.logs == "done"
    assert client.get(f"/v1/functions/{fn}/executions/{eid}").json()["status"] == "failed"
    # An outcome on time is recorded as it is.
    other = client.post(f"/v1/functions/{fn}/executions", json={"async": True}).json()["$id"]
    with transaction(store.sessions) as s:
        exec_store.claim(s, other, db_now(s), lambda _e, _f: 15)
        assert exec_store.finish(s, other, lifecycle.COMPLETE, {}, db_now(s), margin=margin)
    assert store.get(Execution, other).status == "completed"


# ------------------------------------------------------------------ 3. the fast create


@pytest.fixture
def fast_client(pg_url, broker_url):
    """An in-process API with its fast paths (no publisher given: it makes its own)."""
    settings = Settings(database_url=pg_url, broker_url=broker_url, bootstrap_project="p1",
                        bootstrap_key=KEY)
    with TestClient(create_app(settings)) as c:
        c.headers.update({"X-Appwrite-Project": "p1", "X-Appwrite-Key": KEY})
        assert c.app.state.ctx.fast is not None
        r = c.post("/v1/functions", json={"functionId": "f1", "name": "F1",
                                          "runtime": "python-3.12",
                                          "entrypoint": "tests.fixtures.functions:hello"})
        assert r.status_code == 201, r.text
        yield c


def test_a_failed_publish_whose_unmark_fails_too_is_still_202(fast_client, store,
                                                              monkeypatch):
    """Kills an unguarded ``FastStore.unmark``: the row was committed, the broker and
    then the database failed, and the caller got a 500 for a run that would run."""
    client, fn = fast_client, "f1"  # noqa: F811
    fast = client.app.state.ctx.fast

    async def broker_down(ids: list[str]) -> None:
        raise ConnectionError("broker down")

    monkeypatch.setattr(fast.publisher, "publish", broker_down)
    monkeypatch.setattr("scheduler.store.execution_statements._UNMARK",
                        "UPDATE no_such_table SET x = 1")
    r = client.post(f"/v1/functions/{fn}/executions", json={"async": True})
    assert r.status_code == 202, r.text
    [row] = store.executions()
    assert row.id == r.json()["$id"] and row.status == "waiting"
    assert row.enqueued_at is not None  # still marked: the relay's requeue sends it


def test_a_create_whose_first_write_commits_late_is_one_row(fast_client, store, monkeypatch):
    """Kills the reference path drawing a new id after an interrupted fast create: the
    fast INSERT, blocked on the function row's lock, committed after the "was it
    written?" check said no, and the reference path wrote the run a second time."""
    import asyncio

    import psycopg

    from scheduler.store import execution_statements

    client, fn = fast_client, "f1"  # noqa: F811
    started: list[asyncio.Task] = []

    async def interrupted(self, row, names):  # the statement outlives its client
        conn = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
        params = {**row, "headers": "{}", "names": names}
        started.append(asyncio.ensure_future(conn.execute(execution_statements._INSERT, params)))
        await asyncio.sleep(0.3)  # blocked behind the function row's lock
        return await self._written(row["id"])  # not committed (yet): None

    monkeypatch.setattr(execution_statements.FastStore, "create", interrupted)
    holder = store.session()  # a function update holds the row meanwhile
    holder.execute(text("SELECT 1 FROM functions WHERE id = :f FOR UPDATE"), {"f": fn})
    answer: dict = {}
    caller = threading.Thread(target=lambda: answer.update(r=client.post(
        f"/v1/functions/{fn}/executions", json={"async": True})))
    caller.start()
    caller.join(1.0)  # both writes now wait for the lock
    holder.commit()
    holder.close()
    caller.join(10)
    r = answer["r"]
    assert r.status_code == 202, r.text
    rows = store.executions()
    assert [e.id for e in rows] == [r.json()["$id"]]
    assert len(started) == 1  # the fast path did try first


def test_an_exhausted_pool_is_503_and_opens_no_connection(pg_url, store, monkeypatch):
    """Kills catching ``PoolTimeout`` as a dropped connection: every create waited the
    pool's 30 s, then opened a connection of its own to ask whether its row was
    written (under overload, until ``max_connections`` ran out)."""
    import asyncio

    from scheduler.rules.errors import Overloaded
    from scheduler.store.execution_statements import FastStore

    store.function("f", "p1")
    fast = FastStore(pg_url, max_size=1, pool_wait=0.2)

    async def never(execution_id: str):
        raise AssertionError("a new connection was opened under overload")

    monkeypatch.setattr(fast, "_written", never)
    row = new_execution(id="overloaded0000000001", project_id="p1", function_id="f",
                        trigger=Trigger.HTTP, now=datetime.now(UTC))

    async def go() -> None:
        await fast.open()
        try:
            async with fast.pool.connection():  # every connection is taken
                with pytest.raises(Overloaded):
                    await fast.create(row, [])
                with pytest.raises(Overloaded):
                    await fast.get("p1", "f", row["id"])
        finally:
            await fast.close()

    asyncio.run(go())
    assert store.executions() == []
    assert Overloaded.status == 503


# ------------------------------------------------------------------ 4. loops through a key


@pytest.fixture
def chain_stack(pg_url, broker_url, tmp_path):
    """API, scheduler and worker processes; functions call the API back on its port."""
    port = free_port()
    env = tocsin_env(pg_url, broker_url, TOCSIN_BOOTSTRAP_PROJECT="evproj",
                     TOCSIN_BOOTSTRAP_KEY=EVENTS_KEY, TOCSIN_LEASE_TTL="2",
                     TOCSIN_EVENT_MAX_DEPTH="3",
                     TOCSIN_PUBLIC_URL=f"http://127.0.0.1:{port}/v1")
    api, base = start_api(env, tmp_path, port=port)
    procs = [api, start_scheduler(env, "s1", tmp_path), start_worker(env, "w1", tmp_path)]
    stack = Stack(base, env, tmp_path, procs)
    yield stack
    for proc in procs:
        proc.stop()


def _chain_function(stack: Stack, function_id: str, scopes: list[str],
                    events: list[str]) -> None:
    r = stack.post("/functions", json={
        "functionId": function_id, "name": function_id, "runtime": "python-3.12",
        "entrypoint": "tests.fixtures.functions:chain", "scopes": scopes, "events": events})
    assert r.status_code == 201, r.text


def test_what_a_run_causes_through_its_key_keeps_the_loop_guards(chain_stack, store):
    """Kills a run's key starting afresh (depth 0, no origin): a function publishing an
    event it subscribes to ran forever, and so did one executing itself."""
    stack = chain_stack
    _chain_function(stack, "pinger", ["events.write"], ["pings.*.sent"])
    _chain_function(stack, "selfish", ["executions.write"], [])
    order = json.dumps({"publish": "pings.p1.sent"})
    assert stack.post("/functions/pinger/executions",
                      json={"async": True, "body": order}).status_code == 202
    again = json.dumps({"execute": "selfish"})
    assert stack.post("/functions/selfish/executions",
                      json={"async": True, "body": again}).status_code == 202
    wait_for(lambda: settled(store) and len(runs_of(store, "selfish")) >= 4
             and store.scalar("SELECT count(*) FROM events WHERE name = 'pings.p1.sent'"
                              " AND fanned_out_at IS NOT NULL") == 1, 60,
             what="both chains to end")
    # The event it published never triggers the function whose run published it.
    [ping] = runs_of(store, "pinger")
    assert ping.status == "completed" and "/events 201" in ping.logs
    assert store.scalar("SELECT executions FROM events WHERE name = 'pings.p1.sent'") == 0
    assert store.scalar("SELECT origin_function_id FROM events "
                        "WHERE name = 'pings.p1.sent'") == "pinger"
    # A run that executes its own function: depths 0..3, then the API refuses.
    chain = sorted(runs_of(store, "selfish"), key=lambda e: e.depth)
    assert [(e.depth, e.status) for e in chain] == [(d, "completed") for d in range(4)]
    assert all(e.origin_function_id == "selfish" for e in chain[1:])
    assert [e.logs.split()[-1] for e in chain] == ["202", "202", "202", "400"]
