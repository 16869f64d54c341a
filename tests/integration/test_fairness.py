"""The execution plane's lanes (#31, in part): a synchronous call behind a backlog of
asynchronous runs, through a real API and a real Celery worker at its default
concurrency (2)."""

from __future__ import annotations

from itertools import pairwise

import httpx

from scheduler.broker.publish import QUEUE, RedisPublisher
from scheduler.store.db import transaction
from scheduler.store.models import Execution
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


KEY_B = "fairness-key-b-0123456789abcdef012345678"


def _env(pg_url, broker_url, ledger, **extra):
    return tocsin_env(pg_url, broker_url, TOCSIN_BOOTSTRAP_PROJECT="p1",
                      TOCSIN_BOOTSTRAP_KEY=KEY, FIXTURE_LEDGER=str(ledger), **extra)


def _worker(env, tmp_path):
    worker = start_worker(env, "w1", tmp_path)
    wait_for(lambda: " ready." in worker.output(), 30, what="the worker")
    return worker


def _post(base: str, project: str, key: str, function: str, body: dict) -> str:
    r = httpx.post(f"{base}/functions/{function}/executions", timeout=10, json=body,
                   headers={"X-Appwrite-Project": project, "X-Appwrite-Key": key})
    assert r.status_code == 202, r.text
    return r.json()["$id"]


def test_another_projects_run_is_not_queued_behind_a_backlog(pg_url, broker_url, store,
                                                             tmp_path):
    """Kills the one-queue hand-over: project p1's 150 runs all went to the broker, and
    p2's single run started after all of them. With fair hand-over p1 has a window of 8
    in the broker (the rest held in PostgreSQL), so p2's run completes while most of
    p1's backlog is still waiting; then the backlog drains, every run exactly once."""
    from scheduler.store.projects import add_key

    ledger = tmp_path / "ledger" / "runs.txt"
    ledger.parent.mkdir()
    env = _env(pg_url, broker_url, ledger, TOCSIN_PROJECT_WINDOW="8")
    api, base = start_api(env, tmp_path)
    worker = None
    try:
        store.function("slow", entrypoint="tests.fixtures.functions:slow")
        store.function("other", project="p2", entrypoint="tests.fixtures.functions:slow")
        with transaction(store.sessions) as s:
            add_key(s, "p2", KEY_B, ["executions.read", "executions.write"])
        backlog = [_post(base, "p1", KEY, "slow", {"async": True, "path": "/?seconds=0.05"})
                   for _ in range(150)]
        held = store.scalar("SELECT count(*) FROM executions WHERE function_id = 'slow' "
                            "AND status = 'waiting' AND enqueued_at IS NULL")
        assert held == 150 - 8  # the window held the backlog back in PostgreSQL
        worker = _worker(env, tmp_path)
        theirs = _post(base, "p2", KEY_B, "other", {"async": True, "path": "/?seconds=0"})
        wait_for(lambda: store.get(Execution, theirs).status == "completed", 60,
                 what="p2's run")
        done = store.scalar("SELECT count(*) FROM executions WHERE function_id = 'slow' "
                            "AND status = 'completed'")
        assert done < 100, done  # it did not wait for the backlog
        wait_for(lambda: store.scalar("SELECT count(*) FROM executions WHERE function_id = "
                                      "'slow' AND status = 'completed'") == 150, 120,
                 what="the backlog to drain")
        runs = ledger.read_text().split()
        assert sorted(runs) == sorted([*backlog, theirs])  # each run exactly once
    finally:
        if worker is not None:
            worker.stop()
        api.stop()


def test_max_concurrency_is_never_exceeded(pg_url, broker_url, store, tmp_path):
    """A function with maxConcurrency 1 on a worker with two slots: its runs never
    overlap (each starts after the previous one ended, by the rows' own times), and all
    run once. Every run's message is also sent at once, as a race between hand-overs
    could: the claim itself must hold the extra ones back. Kills the claim that ignores
    the limit (two ran at once) and a held run never handed over again (a timeout)."""
    ledger = tmp_path / "ledger" / "runs.txt"
    ledger.parent.mkdir()
    env = _env(pg_url, broker_url, ledger)
    api, base = start_api(env, tmp_path)
    worker = None
    try:
        store.function("single", entrypoint="tests.fixtures.functions:slow")
        r = httpx.put(f"{base}/functions/single", json={"name": "single", "maxConcurrency": 0},
                      headers={"X-Appwrite-Project": "p1", "X-Appwrite-Key": KEY})
        assert r.status_code == 400 and "maxConcurrency" in r.json()["message"], r.text
        r = httpx.put(f"{base}/functions/single", json={"name": "single", "maxConcurrency": 1},
                      headers={"X-Appwrite-Project": "p1", "X-Appwrite-Key": KEY})
        assert r.status_code == 200 and r.json()["maxConcurrency"] == 1, r.text
        ids = [_post(base, "p1", KEY, "single", {"async": True, "path": "/?seconds=0.3"})
               for _ in range(4)]
        assert store.scalar("SELECT count(*) FROM executions WHERE function_id = 'single' "
                            "AND enqueued_at IS NOT NULL") == 1  # the hand-over held 3
        RedisPublisher(broker_url).publish(ids)  # and now every one is in the broker
        worker = _worker(env, tmp_path)
        wait_for(lambda: all(store.get(Execution, i).status == "completed" for i in ids), 60,
                 what="the limited runs")
        spans = sorted((store.get(Execution, i).started_at, store.get(Execution, i).finished_at)
                       for i in ids)
        for (_, ended), (started, _) in pairwise(spans):
            assert started >= ended  # never two at once
        assert sorted(ledger.read_text().split()) == sorted(ids)
    finally:
        if worker is not None:
            worker.stop()
        api.stop()
