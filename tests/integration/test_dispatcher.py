"""The fenced dispatch transaction against real PostgreSQL and Redis (in-process)."""

from __future__ import annotations

import contextlib
import json
from datetime import timedelta

import pytest
import redis
from sqlalchemy import text
from sqlalchemy.dialects import postgresql

from scheduler.broker.publish import QUEUE, RedisPublisher
from scheduler.leader.dispatcher import Dispatcher
from scheduler.leader.lease import LeaseKeeper
from scheduler.rules.errors import FencedOut
from scheduler.store import fires
from scheduler.store.db import transaction
from scheduler.store.models import Execution, Schedule


@pytest.fixture
def leader_keeper(store):
    keeper = LeaseKeeper(store.sessions, "node-a", ttl=30)
    assert keeper.tick()
    return keeper


def queued(broker_url: str) -> list[str]:
    client = redis.Redis.from_url(broker_url)
    return [json.loads(m)["headers"]["id"] for m in reversed(client.lrange(QUEUE, 0, -1))]


def test_due_cron_fires_once_and_advances(store, broker_url, leader_keeper):
    store.function()
    now = store.now()
    due = now.replace(second=0, microsecond=0)
    sid = store.schedule(at=due)
    d = Dispatcher(store.sessions, RedisPublisher(broker_url), "node-a")
    result = d.run_batch(leader_keeper.epoch)
    assert result.fired == 1 and result.published == 1
    [ex] = store.executions()
    assert (ex.schedule_id, ex.scheduled_for, ex.trigger, ex.status) == (sid, due, "schedule",
                                                                          "waiting")
    assert ex.epoch == leader_keeper.epoch and ex.enqueued_at is not None
    sched = store.get(Schedule, sid)
    assert sched.next_fire_at == due + timedelta(minutes=1)
    assert sched.last_fire_at == due
    assert queued(broker_url) == [ex.id]
    # Nothing more is due: a second batch writes nothing.
    assert d.run_batch(leader_keeper.epoch).fired == 0
    assert len(store.executions()) == 1


def test_unique_key_stops_a_second_write_of_the_same_fire(store, broker_url, leader_keeper):
    store.function()
    due = store.now().replace(second=0, microsecond=0)
    sid = store.schedule(at=due)
    d = Dispatcher(store.sessions, RedisPublisher(broker_url), "node-a")
    d.run_batch(leader_keeper.epoch)
    # Rewind the schedule as a confused node might: the same nominal time again.
    with store.session() as s, s.begin():
        s.get(Schedule, sid).next_fire_at = due
    result = d.run_batch(leader_keeper.epoch)
    assert result.fired == 0 and result.published == 0
    assert len(store.executions()) == 1
    assert len(queued(broker_url)) == 1


def test_wrong_epoch_is_fenced_and_writes_nothing(store, broker_url, leader_keeper):
    store.function()
    store.schedule(cron="0 0 1 1 *", at=store.now() - timedelta(seconds=1))  # fires once
    d = Dispatcher(store.sessions, RedisPublisher(broker_url), "node-a")
    with pytest.raises(FencedOut):
        d.run_batch(leader_keeper.epoch + 1)
    other = Dispatcher(store.sessions, RedisPublisher(broker_url), "node-b")
    with pytest.raises(FencedOut):
        other.run_batch(leader_keeper.epoch)
    assert store.executions() == []
    assert queued(broker_url) == []


def test_due_oneshots_become_waiting_and_are_published(store, broker_url, leader_keeper):
    store.function()
    now = store.now()
    due = store.oneshot(at=now - timedelta(seconds=2))
    later = store.oneshot(at=now + timedelta(minutes=5))
    d = Dispatcher(store.sessions, RedisPublisher(broker_url), "node-a")
    result = d.run_batch(leader_keeper.epoch)
    assert result.oneshots == 1
    assert store.get(Execution, due).status == "waiting"
    assert store.get(Execution, later).status == "scheduled"
    assert queued(broker_url) == [due]


def test_broker_down_leaves_rows_for_the_relay(store, broker_url, leader_keeper):
    store.function()
    store.schedule(cron="0 0 1 1 *", at=store.now() - timedelta(seconds=1))  # fires once
    dead = Dispatcher(store.sessions, RedisPublisher("redis://127.0.0.1:1/0"), "node-a")
    result = dead.run_batch(leader_keeper.epoch)
    assert result.fired == 1 and result.published == 0
    [ex] = store.executions()
    assert ex.enqueued_at is None
    alive = Dispatcher(store.sessions, RedisPublisher(broker_url), "node-a")
    assert alive.relay(settle=0, requeue_after=60) == 1
    assert queued(broker_url) == [ex.id]
    assert alive.relay(settle=0, requeue_after=60) == 0


def test_backlog_drains_in_ordered_bounded_batches(store, broker_url, leader_keeper):
    store.function()
    now = store.now()
    placed = [now - timedelta(seconds=30 - i) for i in range(25)]
    # A yearly cron: only the placed times are due, whatever minute it is now.
    ids = [store.schedule(cron="0 0 1 1 *", at=at) for at in placed]
    d = Dispatcher(store.sessions, RedisPublisher(broker_url), "node-a", batch_size=10)
    sizes = []
    while True:
        r = d.run_batch(leader_keeper.epoch)
        sizes.append(r.fired)
        if not r.full:
            break
    assert sizes == [10, 10, 5]
    rows = sorted(store.executions(), key=lambda e: e.created_at)
    # Oldest due first: batch one holds the ten earliest placed times.
    first = {e.schedule_id for e in rows[:10]}
    assert first == set(ids[:10])
    assert len(set(queued(broker_url))) == 25


def test_skips_are_counted_with_reason(store, broker_url, leader_keeper):
    store.function()
    now = store.now()
    base = now.replace(second=0, microsecond=0) - timedelta(minutes=10)
    sid = store.schedule(at=base, missed_policy="latest", misfire_grace=1)
    Dispatcher(store.sessions, RedisPublisher(broker_url), "node-a").run_batch(
        leader_keeper.epoch)
    sched = store.get(Schedule, sid)
    fired = store.executions()
    assert len(fired) == 1
    # 11 fire times in [base, now]: the latest runs, the 10 before it are skipped.
    assert fired[0].scheduled_for == base + timedelta(minutes=10)
    assert sched.skipped_missed == 10
    assert sched.last_skip_reason == "missed"
    assert sched.last_skipped_at is not None and sched.last_skipped_at < fired[0].scheduled_for


def test_a_leader_stalled_mid_batch_releases_its_claimed_rows(store, leader_keeper):
    """A leader paused after claiming rows must not hide them from its successor
    (SKIP LOCKED) beyond its idle timeout; PostgreSQL ends the stalled session."""
    import time as clock

    from scheduler.store.fires import claim_due_schedules
    from scheduler.store.leases import fence

    store.function()
    store.schedule(cron="0 0 1 1 *", at=store.now() - timedelta(seconds=1))  # fires once
    stalled = store.session()
    stalled.begin()
    now, _ = fence(stalled, "node-a", leader_keeper.epoch, pin=False, idle_timeout=1.0)
    assert len(claim_due_schedules(stalled, now, 10)) == 1
    with store.session() as other, other.begin():
        assert claim_due_schedules(other, store.now(), 10) == []  # locked by the stalled one
    clock.sleep(1.5)  # the stall: longer than the idle timeout
    with store.session() as other, other.begin():
        assert len(claim_due_schedules(other, store.now(), 10)) == 1
    # ...and the stalled leader finds its transaction gone: nothing of it can commit.
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError, match="idle-in-transaction timeout"):
        stalled.execute(text("SELECT 1"))
    with contextlib.suppress(DBAPIError):
        stalled.close()


def test_the_due_claim_walks_its_index_on_a_table_never_analyzed(store):
    """A freshly filled schedules table (no statistics yet) must not turn a claim of
    a few due rows into a scan and sort of them all: the query states the partial
    index's own predicate, and the batch plans by its indexes."""
    store.function()
    now = store.now()
    with store.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO schedules (id, project_id, function_id, key, cron, timezone,"
            " next_fire_at, paused, pause_note, disabled, missed_policy, misfire_grace,"
            " catchup_window, catchup_cap, payload, skipped_missed, skipped_paused,"
            " skipped_disabled, last_skip_reason, created_at, updated_at)"
            " SELECT 's' || g, 'p1', 'f1', 's' || g, '* * * * *', 'UTC', :at, false, '',"
            " false, 'latest', 60, 86400, 100, '{}', 0, 0, 0, '', now(), now()"
            " FROM generate_series(1, 20000) g"), {"at": now - timedelta(minutes=1)})
    query = fires.due_query(now, 5000).compile(
        dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    with transaction(store.sessions) as session:
        fires.plan_by_indexes(session)
        plan = "\n".join(session.execute(text(f"EXPLAIN {query}")).scalars())
    assert "Index Scan using ix_schedules_due" in plan, plan
    assert "Sort" not in plan and "Seq Scan" not in plan, plan
