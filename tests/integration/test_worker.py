"""Real `celery -A tasks.app worker` processes running executions from real Redis."""

from __future__ import annotations

import contextlib
import re
import signal
import sys
from datetime import timedelta

import psutil
import pytest

from scheduler.broker.publish import RedisPublisher
from scheduler.store.db import db_now, transaction
from scheduler.store.executions import reap_lost
from scheduler.store.models import Execution
from tests.helpers import start_worker, tocsin_env, wait_for


@pytest.fixture
def ledger(tmp_path):
    return tmp_path / "ledger.txt"


@pytest.fixture
def worker(pg_url, broker_url, tmp_path, ledger):
    env = tocsin_env(pg_url, broker_url, FIXTURE_LEDGER=str(ledger))
    proc = start_worker(env, "w1", tmp_path)
    wait_for(lambda: " ready." in proc.output(), 30, what="the worker to be ready")
    yield proc
    proc.stop()


def finished(store, eid):
    def check():
        ex = store.get(Execution, eid)
        return ex if ex.status in ("completed", "failed") else None
    return check


def runs(ledger) -> list[str]:
    return ledger.read_text().split() if ledger.exists() else []


def test_pipelined_message_runs_on_a_real_worker(store, broker_url, worker, ledger):
    store.function()
    eid = store.waiting(path="/hello?name=x")
    RedisPublisher(broker_url).publish([eid])
    ex = wait_for(finished(store, eid), 30, what="execution to finish")
    assert ex.status == "completed", ex.errors
    assert ex.response_status_code == 200
    assert "hello from GET /hello" in ex.logs
    assert ex.response_headers == [  # completed as Open Runtimes does
        {"name": "content-type", "value": "application/json; charset=utf-8"}]
    assert ex.started_at and ex.finished_at and ex.duration >= 0
    assert ex.attempts == 1
    assert runs(ledger) == [eid]


def test_an_outcome_with_nul_bytes_is_recorded_with_them_replaced(store, broker_url, worker):
    """A function that prints NUL (or raises with one) still has its outcome recorded:
    PostgreSQL text cannot hold NUL, and the row was left running, then reaped as lost."""
    store.function(entrypoint="tests.fixtures.functions:nul_bytes")
    eid = store.waiting()
    RedisPublisher(broker_url).publish([eid])
    ex = wait_for(finished(store, eid), 30, what="execution to finish")
    assert ex.status == "failed"
    assert ex.logs == "before\ufffdafter"
    assert "err\ufffdor" in ex.errors and "ValueError: bad\ufffdvalue" in ex.errors


def test_a_status_code_out_of_range_is_a_failed_run_and_recorded(store, broker_url, worker):
    """A function that answers 10**12 fails with a message saying what is allowed; its
    outcome is recorded (the database's integer column refused it, and the row was
    left running, then reaped as lost)."""
    store.function(entrypoint="tests.fixtures.functions:huge_status")
    eid = store.waiting()
    RedisPublisher(broker_url).publish([eid])
    ex = wait_for(finished(store, eid), 30, what="execution to finish")
    assert ex.status == "failed" and ex.response_status_code == 500
    assert "status code 1000000000000" in ex.errors and "100 to 599" in ex.errors


def test_same_message_twice_runs_once(store, broker_url, worker, ledger):
    store.function()
    eid = store.waiting()
    publisher = RedisPublisher(broker_url)
    publisher.publish([eid, eid])
    publisher.publish([eid])
    wait_for(finished(store, eid), 30, what="execution to finish")
    # Both duplicates were delivered and refused at the claim (not merely still queued).
    wait_for(lambda: worker.output().count("execution.not_claimed") == 2,
             30, what="both duplicate deliveries to be refused")
    assert runs(ledger).count(eid) == 1
    assert store.get(Execution, eid).attempts == 1


def test_timeout_fails_and_worker_stays_healthy(store, broker_url, worker, ledger):
    store.function("slow", entrypoint="tests.fixtures.functions:slow", timeout=1)
    store.function("ok")
    slow = store.waiting("slow", path="/?seconds=20")
    RedisPublisher(broker_url).publish([slow])
    ex = wait_for(finished(store, slow), 30, what="slow execution to fail")
    assert ex.status == "failed"
    assert "timed out after 1 s" in ex.errors
    assert ex.duration < 5
    after = store.waiting("ok")
    RedisPublisher(broker_url).publish([after])
    assert wait_for(finished(store, after), 30).status == "completed"


def test_a_function_catching_exception_is_still_cut_off(store, broker_url, worker, ledger):
    """Killed mutation: FunctionTimeout deriving from Exception (swallowed by user code)."""
    store.function("swallow", entrypoint="tests.fixtures.functions:swallow_exceptions",
                   timeout=1)
    eid = store.waiting("swallow")
    RedisPublisher(broker_url).publish([eid])
    ex = wait_for(finished(store, eid), 20, what="the timeout to cut the function off")
    assert ex.status == "failed" and "timed out after 1 s" in ex.errors
    assert ex.timeout == 1 and ex.deadline_at == ex.started_at + timedelta(seconds=1)


def test_worker_killed_mid_run_ends_failed_not_stuck(store, broker_url, worker, ledger):
    store.function("slow", entrypoint="tests.fixtures.functions:slow", timeout=2)
    eid = store.waiting("slow", path="/?seconds=60")
    RedisPublisher(broker_url).publish([eid])
    wait_for(lambda: store.get(Execution, eid).status == "processing", 30,
             what="execution to start")
    wait_for(lambda: runs(ledger), 10, what="function to be running")
    # kill -9 the pool child running the function (and then the whole worker).
    children = psutil.Process(worker.pid).children(recursive=True)
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):  # a runner dies with its parent
            child.send_signal(signal.SIGKILL)
    worker.kill_group()
    assert store.get(Execution, eid).status == "processing"
    margin = 1.0

    def reaped():
        with transaction(store.sessions) as s:
            reap_lost(s, db_now(s), margin)
        return store.get(Execution, eid).status == "failed"

    wait_for(reaped, 15, interval=0.5, what="reaper to fail the execution")
    ex = store.get(Execution, eid)
    assert "worker running it was lost" in ex.errors
    assert ex.finished_at is not None


def test_a_worker_killed_before_recording_an_outcome_ran_it_once_and_reports_it_lost(
        store, pg_url, broker_url, tmp_path, ledger):
    """An asynchronous outcome is recorded off the run's slot (tasks.recorder), after the
    message may be acknowledged: a worker killed in that window leaves the row to the
    reaper, as one killed during the record did, and a redelivery runs nothing."""
    store.function(timeout=1)  # the reaper may fail it a second after it started
    env = tocsin_env(pg_url, broker_url, FIXTURE_LEDGER=str(ledger),
                     TOCSIN_FAULT_PAUSE="record.pending")
    proc = start_worker(env, "wrec", tmp_path)
    try:
        eid = store.waiting(path="/hello")
        RedisPublisher(broker_url).publish([eid])
        wait_for(lambda: runs(ledger) == [eid], 30, what="the function to run")

        def stopped():  # the child stopped itself with the outcome in hand
            return [c for c in psutil.Process(proc.pid).children()
                    if c.status() == psutil.STATUS_STOPPED]
        wait_for(stopped, 10, what="the worker to stop before recording")
        for child in psutil.Process(proc.pid).children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):
                child.send_signal(signal.SIGKILL)
        proc.kill_group()
    finally:
        proc.stop()
    assert store.get(Execution, eid).status == "processing"
    # A new worker, and the message again (a redelivery, or the relay): nothing runs.
    again = start_worker(tocsin_env(pg_url, broker_url, FIXTURE_LEDGER=str(ledger)),
                         "wrec2", tmp_path)
    try:
        RedisPublisher(broker_url).publish([eid])
        wait_for(lambda: "execution.not_claimed" in again.output(), 30,
                 what="the second delivery to find nothing to claim")
    finally:
        again.stop()
    assert runs(ledger) == [eid]

    def reaped():
        with transaction(store.sessions) as s:
            reap_lost(s, db_now(s), 0.0)
        return store.get(Execution, eid).status == "failed"

    wait_for(reaped, 20, interval=0.5, what="the reaper to fail the execution")
    ex = store.get(Execution, eid)
    assert "worker running it was lost" in ex.errors and ex.attempts == 1


def test_a_warm_shutdown_records_the_outcomes_still_held(store, pg_url, broker_url, tmp_path,
                                                         ledger):
    """Outcomes the recorder holds (here for a minute) are recorded when the worker is
    stopped warm (SIGTERM): each child drains its recorder as it exits."""
    store.function()
    env = tocsin_env(pg_url, broker_url, FIXTURE_LEDGER=str(ledger), TOCSIN_RECORD_HOLD="60")
    proc = start_worker(env, "whold", tmp_path)
    try:
        wait_for(lambda: " ready." in proc.output(), 30, what="the worker to be ready")
        ids = [store.waiting() for _ in range(3)]
        RedisPublisher(broker_url).publish(ids)
        wait_for(lambda: sorted(runs(ledger)) == sorted(ids), 30, what="the runs")
        assert {store.get(Execution, e).status for e in ids} == {"processing"}  # held
        proc.signal(signal.SIGTERM)
        assert proc.popen.wait(30) == 0
    finally:
        proc.stop()
    assert {store.get(Execution, e).status for e in ids} == {"completed"}
    assert sorted(runs(ledger)) == sorted(ids)


def test_sync_execution_returns_body_and_stores_none(store, pg_url, broker_url, tmp_path):
    """The caller gets the body over the result channel; the row keeps no body.

    The 30 s limit is a setting (TOCSIN_SYNC_TIMEOUT); it is lowered to 1 s here so the
    test shows a function slower than the limit failing without waiting 30 s.
    """
    import base64
    import json as jsonlib

    from scheduler.broker.results import RedisResults

    env = tocsin_env(pg_url, broker_url, TOCSIN_SYNC_TIMEOUT="1")
    proc = start_worker(env, "wsync", tmp_path)
    try:
        store.function()
        store.function("slow", entrypoint="tests.fixtures.functions:slow", timeout=60)
        results = RedisResults(broker_url)
        fast = store.waiting(sync=True, path="/?q=1")
        slow = store.waiting("slow", sync=True, path="/?seconds=3")
        RedisPublisher(broker_url).publish([fast, slow])
        got = results.wait(fast, 30)
        assert got is not None and got["status"] == "completed"
        assert jsonlib.loads(base64.b64decode(got["body"]))["query"] == {"q": "1"}
        late = results.wait(slow, 30)
        assert late is not None and late["status"] == "failed"
        assert "timed out after 1 s" in late["errors"]
        row = store.get(Execution, fast)
        assert row.status == "completed"
        assert not hasattr(row, "response_body")  # there is no column to store it in
    finally:
        proc.stop()


def test_the_leaders_own_reaper_fails_a_lost_run_and_counts_it(store, pg_url, broker_url,
                                                               tmp_path, ledger):
    """No test code reaps here: two real scheduler nodes run, with TOCSIN_REAP_MARGIN=1;
    the leader's reaper fails the run of a killed worker, within timeout + margin + its
    interval, and counts it in tocsin_reaped_total; the standby reaps nothing.
    Killed mutations: reaping on standbys, ignoring the margin setting, not counting."""
    import httpx

    from tests.helpers import Proc, free_port, leader, node_of

    env = tocsin_env(pg_url, broker_url, TOCSIN_LEASE_TTL="2", TOCSIN_REAP_MARGIN="1",
                     FIXTURE_LEDGER=str(ledger))
    ports = {name: free_port() for name in ("r1", "r2")}
    nodes = [Proc([sys.executable, "-m", "scheduler", "scheduler", "--metrics-port",
                   str(port)], {**env, "TOCSIN_NODE_NAME": name}, tmp_path / f"{name}.log")
             for name, port in ports.items()]
    worker = start_worker(env, "wdie", tmp_path)
    try:
        lead = node_of(wait_for(lambda: leader(store), 15, what="a leader")[0])
        store.function("slow", entrypoint="tests.fixtures.functions:slow", timeout=2)
        eid = store.waiting("slow", path="/?seconds=60")
        RedisPublisher(broker_url).publish([eid])
        wait_for(lambda: runs(ledger), 30, what="the function to be running")
        for child in psutil.Process(worker.pid).children(recursive=True):
            # A runner dies with its pool process (--die-with-parent): it may be gone.
            with contextlib.suppress(psutil.NoSuchProcess):
                child.send_signal(signal.SIGKILL)
        worker.kill_group()
        started = store.get(Execution, eid).started_at
        wait_for(lambda: store.get(Execution, eid).status == "failed", 20, interval=0.2,
                 what="the leader's reaper")
        ex = store.get(Execution, eid)
        assert "worker running it was lost" in ex.errors
        # Not before timeout (2 s) + margin (1 s): the margin setting is honoured.
        assert (ex.finished_at - started).total_seconds() >= 3.0

        def reaped(name: str) -> float:
            text = httpx.get(f"http://127.0.0.1:{ports[name]}/metrics", timeout=5).text
            found = re.search(r"^tocsin_reaped_total (\S+)$", text, re.M)
            return float(found.group(1)) if found else 0.0

        standby = next(n for n in ports if n != lead)
        assert (reaped(lead), reaped(standby)) == (1.0, 0.0)
    finally:
        for proc in nodes:
            proc.stop()
