"""The relay republishes exactly what the broker no longer holds (real Redis, real
Celery worker): a long queue is left alone, a lost one is refilled."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis
from sqlalchemy import insert, update

from scheduler.broker.publish import QUEUE, RedisPublisher
from scheduler.leader.dispatcher import Dispatcher
from scheduler.rules.ids import new_id
from scheduler.store.db import transaction
from scheduler.store.models import Execution
from tests.helpers import start_scheduler, start_worker, tocsin_env, wait_for


def handed_over(store, n: int, seconds_ago: float) -> list[str]:
    """``n`` waiting rows as the API leaves them: committed and marked handed over."""
    at = store.now() - timedelta(seconds=seconds_ago)
    ids = [new_id() for _ in range(n)]
    with transaction(store.sessions) as s:
        s.execute(insert(Execution), [dict(
            id=i, project_id="p1", function_id="slow", trigger="http", status="waiting",
            request_method="GET", request_path="/?seconds=0.2", request_headers={},
            request_body="", enqueued_at=at, created_at=at, updated_at=at) for i in ids])
    return ids


def test_held_messages_are_not_republished_lost_ones_are_once(store, broker_url):
    """Killed mutation: republishing every row handed over before requeue_after (the old
    rule, one duplicate message per row per period)."""
    store.function("slow", entrypoint="tests.fixtures.functions:slow")
    publisher = RedisPublisher(broker_url)
    relay = Dispatcher(store.sessions, publisher, "node-a", batch_size=50)
    held = handed_over(store, 120, seconds_ago=120)
    publisher.publish(held)
    never_sent = handed_over(store, 3, seconds_ago=120)  # sender died after commit
    client = redis.Redis.from_url(broker_url)
    # Three pages of 50: the relay pages through the backlog across calls.
    sent = sum(relay.relay(settle=3, requeue_after=60) for _ in range(3))
    assert sent == 3
    assert client.llen(QUEUE) == 123
    assert sum(relay.relay(settle=3, requeue_after=60) for _ in range(3)) == 0
    client.flushdb()  # the broker lost everything (a restart without persistence)
    with transaction(store.sessions) as s:  # ... long enough ago to be looked at
        s.execute(update(Execution).values(enqueued_at=store.now() - timedelta(minutes=2)))
    assert sum(relay.relay(settle=3, requeue_after=60) for _ in range(3)) == 123
    assert client.llen(QUEUE) == 123
    assert publisher.held(held + never_sent) == set(held + never_sent)


@pytest.mark.load  # a scale test: run by `pytest -m load` (.ci/run does)
def test_a_long_backlog_does_not_multiply_messages(pg_url, broker_url, store, tmp_path):
    """3,000 waiting executions, one worker, requeue after 2 s: after several periods the
    queue holds no more messages than waiting rows; emptied, it is refilled."""
    env = tocsin_env(pg_url, broker_url, TOCSIN_REQUEUE_AFTER="2", TOCSIN_LEASE_TTL="2")
    store.function("slow", entrypoint="tests.fixtures.functions:slow", timeout=30)
    ids = handed_over(store, 3000, seconds_ago=0)
    RedisPublisher(broker_url).publish(ids)
    client = redis.Redis.from_url(broker_url)
    procs = [start_scheduler(env, "s1", tmp_path),
             start_worker(env, "w1", tmp_path, concurrency=1)]
    try:
        waiting = "SELECT count(*) FROM executions WHERE status = 'waiting'"
        wait_for(lambda: store.scalar(
            "SELECT count(*) FROM executions WHERE status = 'completed'") >= 20, 60,
            what="the worker to work through the backlog")
        for _ in range(3):  # three requeue periods, measured on the relay's own ticks
            before = store.scalar(waiting)
            wait_for(lambda b=before: store.scalar(waiting) <= b - 10, 30,
                     what="progress")
            assert client.llen(QUEUE) <= store.scalar(waiting) + 5
        client.delete(QUEUE, f"{QUEUE}:held")  # the broker loses its queue
        wait_for(lambda: client.llen(QUEUE) >= store.scalar(waiting) - 5, 30,
                 what="the relay to refill the emptied queue")
        assert client.llen(QUEUE) <= store.scalar(waiting) + 5
    finally:
        for p in procs:
            p.stop()
