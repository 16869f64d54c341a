"""Retries, dead letters, re-run and cancel (#33), on the production topology: API,
scheduler (leader) and Celery worker processes on PostgreSQL and Redis."""

from __future__ import annotations

import itertools
import json
import signal
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from scheduler.store.models import Execution
from tests.helpers import leader, start_api, start_scheduler, start_worker, tocsin_env, wait_for

KEY = "retries-key-0123456789abcdef0123456789"
TTL = 2.0
pytestmark = pytest.mark.slow


class Stack:
    def __init__(self, env, tmp_path: Path, base: str) -> None:
        self.env, self.tmp, self.base = env, tmp_path, base
        self.procs: list = []
        self.client = httpx.Client(base_url=base, timeout=30, headers={
            "X-Appwrite-Project": "p1", "X-Appwrite-Key": KEY})

    def scheduler(self, name: str):
        proc = start_scheduler(self.env, name, self.tmp)
        self.procs.append(proc)
        return proc

    def worker(self, name: str, concurrency: int = 2):
        proc = start_worker(self.env, name, self.tmp, concurrency=concurrency)
        self.procs.append(proc)
        wait_for(lambda: " ready." in proc.output(), 30, what=f"worker {name}")
        return proc

    def function(self, fid: str, entrypoint: str, **fields) -> None:
        r = self.client.post("/functions", json={
            "functionId": fid, "name": fid, "runtime": "python-3.12",
            "entrypoint": f"tests.fixtures.functions:{entrypoint}", **fields})
        assert r.status_code == 201, r.text

    def run(self, fid: str, **request) -> dict:
        r = self.client.post(f"/functions/{fid}/executions", json={"async": True, **request})
        assert r.status_code == 202, r.text
        return r.json()

    def attempts(self, fid: str) -> list[dict]:
        """Every row of the function, oldest first."""
        got = self.client.get(f"/functions/{fid}/executions", params={
            "queries[0]": json.dumps({"method": "orderAsc", "attribute": "$createdAt"})})
        assert got.status_code == 200, got.text
        return got.json()["executions"]

    def ledger(self) -> Counter[str]:
        path = self.tmp / "ledger" / "runs.txt"
        return Counter(path.read_text().split()) if path.exists() else Counter()


@pytest.fixture
def stack(pg_url, broker_url, tmp_path):
    (tmp_path / "ledger").mkdir()
    env = tocsin_env(pg_url, broker_url, TOCSIN_BOOTSTRAP_PROJECT="p1",
                     TOCSIN_BOOTSTRAP_KEY=KEY, TOCSIN_LEASE_TTL=str(TTL),
                     TOCSIN_POLL_INTERVAL="1", TOCSIN_REAP_MARGIN="1",
                     FIXTURE_LEDGER=str(tmp_path / "ledger" / "runs.txt"))
    api, base = start_api(env, tmp_path)
    s = Stack(env, tmp_path, base)
    s.procs.append(api)
    yield s
    s.client.close()
    for proc in s.procs:
        proc.stop()


def test_failing_twice_then_succeeding_makes_three_linked_rows(stack, store):
    stack.scheduler("s1")
    stack.worker("w1")
    bad = stack.client.post("/functions", json={
        "functionId": "bad", "name": "bad", "runtime": "python-3.12",
        "entrypoint": "tests.fixtures.functions:hello", "retry": {"maxAttempts": 0}})
    assert bad.status_code == 400 and bad.json()["type"] == "general_argument_invalid"
    assert "maxAttempts must be a whole number from 1 to 100" in bad.json()["message"]
    stack.function("flaky", "flaky", retry={"maxAttempts": 5, "initialBackoff": 1,
                                            "multiplier": 1})
    shown = stack.client.get("/functions/flaky").json()["retry"]
    assert shown == {"maxAttempts": 5, "initialBackoff": 1.0, "multiplier": 1.0,
                     "maxBackoff": 3600.0, "jitter": 0.0, "maxAge": 0.0,
                     "retryOn": ["error", "lost", "status5xx", "timeout"]}
    first = stack.run("flaky", path="/?succeed_on=3", body="the original body")
    done = wait_for(lambda: (rows := stack.attempts("flaky")) and len(rows) == 3
                    and rows[-1]["status"] == "completed" and rows, 30, what="three attempts")
    assert [r["attempt"] for r in done] == [1, 2, 3]
    assert [r["status"] for r in done] == ["failed", "failed", "completed"]
    assert [r["retryOf"] for r in done] == [None, first["$id"], first["$id"]]
    assert not any(r["dead"] for r in done)
    assert {r["trigger"] for r in done} == {"http"}  # a retry is the run it retries
    assert {r["requestPath"] for r in done} == {"/?succeed_on=3"}
    ran = stack.ledger()
    assert sorted(ran) == sorted(r["$id"] for r in done) and set(ran.values()) == {1}
    # Each retry waited out its backoff after the failure before it.
    rows = [store.get(Execution, r["$id"]) for r in done]
    for before, after in itertools.pairwise(rows):
        assert (after.scheduled_at - before.finished_at).total_seconds() >= 0.99
    r = stack.client.post(f"/functions/flaky/executions/{done[2]['$id']}/rerun")
    assert r.status_code == 202, r.text
    again = r.json()
    assert (again["attempt"], again["retryOf"]) == (4, first["$id"])
    finished = wait_for(lambda: (e := stack.client.get(
        f"/functions/flaky/executions/{again['$id']}").json())["status"] == "completed" and e,
        30, what="the re-run")
    assert finished["requestPath"] == "/?succeed_on=3"
    assert store.get(Execution, again["$id"]).request_body == "the original body"


def test_a_run_out_of_attempts_is_a_dead_letter_listed_counted_and_announced(stack, store):
    stack.scheduler("s1")
    stack.worker("w1")
    stack.function("always", "boom", retry={"maxAttempts": 2, "initialBackoff": 0})
    stack.function("handler", "hello", events=["functions.always.executions.*.dead"])
    first = stack.run("always")
    rows = wait_for(lambda: (rows := stack.attempts("always")) and len(rows) == 2
                    and rows[-1]["status"] == "failed" and rows[-1]["dead"] and rows,
                    30, what="the dead letter")
    assert [r["dead"] for r in rows] == [False, True]
    assert rows[1]["errors"].endswith("Dead letter: attempt 2 of 2 failed.")
    dead = stack.client.get("/functions/always/executions", params={
        "queries[0]": json.dumps({"method": "equal", "attribute": "dead", "values": [True]})})
    assert [e["$id"] for e in dead.json()["executions"]] == [rows[1]["$id"]]
    heard = wait_for(lambda: [e for e in stack.attempts("handler")
                              if e["status"] == "completed"], 30, what="the dead event's run")
    assert len(heard) == 1 and heard[0]["trigger"] == "event"
    metrics = httpx.get(stack.base.removesuffix("/v1") + "/metrics").text
    assert 'tocsin_dead_letters_total{function="always",project="p1"} 1.0' in metrics
    assert first["$id"] == rows[0]["$id"]


def test_a_worker_killed_mid_attempt_yields_exactly_the_planned_attempts(stack, store):
    """kill -9 of the worker under attempt 1: the reaper reports it lost, the lost
    failure is retried once by policy, and a new worker runs attempt 2; nothing more."""
    stack.scheduler("s1")
    doomed = stack.worker("w1")
    stack.function("hang", "hangs_first", timeout=2,
                   retry={"maxAttempts": 3, "initialBackoff": 0, "retryOn": ["lost"]})
    first = stack.run("hang")
    wait_for(lambda: len(stack.ledger()) == 1, 30, what="attempt 1 to start")
    doomed.kill_group()
    stack.worker("w2")
    rows = wait_for(lambda: (rows := stack.attempts("hang")) and len(rows) == 2
                    and rows[-1]["status"] == "completed" and rows, 40, what="attempt 2")
    assert rows[0]["$id"] == first["$id"] and rows[0]["status"] == "failed"
    assert "worker running it was lost" in rows[0]["errors"]
    assert (rows[1]["attempt"], rows[1]["retryOf"]) == (2, first["$id"])
    time.sleep(3)  # redelivery of the killed worker's message, a second reap: nothing
    assert len(stack.attempts("hang")) == 2
    assert sorted(stack.ledger().values()) == [1, 1]


def test_a_leader_failover_between_failure_and_retry_neither_loses_nor_doubles(stack, store):
    first_leader = stack.scheduler("s1")
    wait_for(lambda: leader(store), 15, what="a leader")
    standby = stack.scheduler("s2")
    stack.worker("w1")
    stack.function("flaky2", "flaky", retry={"maxAttempts": 3, "initialBackoff": 4,
                                             "multiplier": 1})
    first = stack.run("flaky2", path="/?succeed_on=2")
    wait_for(lambda: stack.attempts("flaky2")[0]["status"] == "failed", 30,
             what="attempt 1 to fail")
    retry = stack.attempts("flaky2")[1]
    assert retry["status"] == "scheduled"  # written with the failure, waiting its backoff
    who = leader(store)
    (first_leader if who[0] == "s1" else standby).signal(signal.SIGKILL)
    rows = wait_for(lambda: (rows := stack.attempts("flaky2")) and rows[-1]["status"]
                    == "completed" and rows, 30, what="the retry after the failover")
    assert [(r["attempt"], r["retryOf"]) for r in rows] == [(1, None), (2, first["$id"])]
    assert leader(store)[0] != who[0]
    assert sorted(stack.ledger().values()) == [1, 1]


def test_cancelling_a_60s_run_ends_it_within_a_second(stack, store):
    stack.scheduler("s1")
    worker = stack.worker("w1", concurrency=1)
    stack.function("sleepy", "slow", timeout=120,
                   retry={"maxAttempts": 3, "initialBackoff": 0})
    run = stack.run("sleepy", path="/?seconds=60")
    wait_for(lambda: run["$id"] in stack.ledger(), 30, what="the run to start")
    started = time.monotonic()
    r = stack.client.post(f"/functions/sleepy/executions/{run['$id']}/cancel")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "failed"
    assert r.json()["errors"].startswith("Cancelled by API key ")
    wait_for(lambda: f"execution.finished execution_id={run['$id']}" in worker.output(),
             1.0, what="the runner to be stopped")
    assert time.monotonic() - started < 1.5
    time.sleep(1)  # never retried: a cancel is not a failure to retry
    assert len(stack.attempts("sleepy")) == 1
    again = stack.client.post(f"/functions/sleepy/executions/{run['$id']}/cancel")
    assert again.status_code == 400 and again.json()["type"] == "execution_not_running"
    busy = stack.client.post(f"/functions/sleepy/executions/{run['$id']}/rerun")
    assert busy.status_code == 202  # a failed run may be re-run


def test_a_schedules_policy_retries_its_fires_without_making_a_fire(stack, store):
    """The function has no policy, its extra schedule has one: a failed fire is retried
    as the same schedule's run, and the schedule's next fire does not move for it."""
    stack.scheduler("s1")
    stack.worker("w1")
    stack.function("cronflaky", "flaky")
    made = stack.client.post("/scheduler/functions/cronflaky/schedules", json={
        "key": "nightly", "schedule": "0 3 * * *", "path": "/?succeed_on=2",
        "retry": {"maxAttempts": 2, "initialBackoff": 0}})
    assert made.status_code == 201, made.text
    assert made.json()["retry"]["maxAttempts"] == 2
    sid = made.json()["$id"]
    with store.session() as session, session.begin():  # due now, on the database's clock
        session.execute(text("UPDATE schedules SET next_fire_at = now() WHERE id = :s"),
                        {"s": sid})
        session.execute(text("NOTIFY tocsin_wakeup"))
    rows = wait_for(lambda: (rows := stack.attempts("cronflaky")) and len(rows) == 2
                    and rows[-1]["status"] == "completed" and rows, 30, what="the retried fire")
    assert [(r["trigger"], r["scheduleId"], r["attempt"]) for r in rows] == [
        ("schedule", sid, 1), ("schedule", sid, 2)]
    assert rows[0]["scheduledFor"] and not rows[1]["scheduledFor"]  # the fire is attempt 1
    assert rows[1]["retryOf"] == rows[0]["$id"]
    nxt = stack.client.get(f"/scheduler/schedules/{sid}").json()["nextFireAt"]
    assert nxt.endswith("03:00:00.000+00:00")  # the next 03:00, once
