"""The execution plane's lanes (#31, in part): a synchronous call behind a backlog of
asynchronous runs, through a real API and a real Celery worker at its default
concurrency (2)."""

from __future__ import annotations

import httpx

from scheduler.broker.publish import QUEUE, RedisPublisher
from tests.helpers import start_api, start_worker, tocsin_env, wait_for
from tests.integration.test_relay import handed_over

KEY = "fairness-key-0123456789abcdef0123456789"


def test_a_synchronous_call_waits_for_a_slot_not_behind_a_backlog(pg_url, broker_url, store,
                                                                   tmp_path):
    """Kills the one-queue hand-over: with 3,000 asynchronous runs of 0.2 s queued (five
    minutes of work for two slots), every synchronous call answered 408 after 30 s."""
    env = tocsin_env(pg_url, broker_url, TOCSIN_BOOTSTRAP_PROJECT="p1",
                     TOCSIN_BOOTSTRAP_KEY=KEY)
    api, base = start_api(env, tmp_path)
    worker = start_worker(env, "w1", tmp_path)
    try:
        store.function("slow", entrypoint="tests.fixtures.functions:slow")
        store.function("quick", entrypoint="tests.fixtures.functions:hello")
        backlog = handed_over(store, 3000, seconds_ago=0)
        RedisPublisher(broker_url).publish(backlog)
        wait_for(lambda: " ready." in worker.output(), 30, what="the worker")
        wait_for(lambda: store.scalar("SELECT count(*) FROM executions WHERE status IN "
                                      "('processing', 'completed')") >= 2, 30,
                 what="the backlog to start")
        headers = {"X-Appwrite-Project": "p1", "X-Appwrite-Key": KEY}
        for _ in range(3):
            r = httpx.post(f"{base}/functions/quick/executions", headers=headers,
                           json={"async": False, "body": "now"}, timeout=40)
            assert r.status_code == 201, r.text
            assert r.json()["status"] == "completed"
        done = store.scalar("SELECT count(*) FROM executions WHERE function_id = 'slow' "
                            "AND status = 'completed'")
        assert done < 1000  # the backlog was still there: the calls did not wait it out
        import redis

        assert redis.Redis.from_url(broker_url).llen(QUEUE) > 1000
    finally:
        worker.stop()
        api.stop()
