"""Fairness: one project's backlog against a synchronous call and another project's run.

Project ``b`` queues 3,000 asynchronous runs of a 100 ms function through the API (ten
minutes of work for the two slots of one worker); then, while the backlog is there:
the p50 of synchronous calls of another function of ``b`` (against the same calls on
an idle system), and how long a single asynchronous run of project ``c`` takes from
its creation to its completion. Last, the backlog drains and every run is counted:
each completed exactly once (one attempt)."""

from __future__ import annotations

import time
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from bench import common
from bench.api import KEY, _api
from scheduler.store.db import make_engine, make_sessionmaker, transaction
from scheduler.store.migrate import upgrade
from scheduler.store.projects import add_key

KEY_C = "bench-key-c-0123456789abcdef0123456789a"


def _sync_p50(base: str, n: int = 20) -> float:
    took = []
    for _ in range(n):
        started = time.perf_counter()
        r = httpx.post(f"{base}/functions/quick/executions", json={"async": False},
                       headers={"X-Appwrite-Project": "b", "X-Appwrite-Key": KEY}, timeout=40)
        took.append((time.perf_counter() - started) * 1000)
        assert r.status_code == 201, r.text
    return common.percentile(took, 50)


def run(backlog: int = 3000, seconds: float = 0.1) -> dict[str, Any]:
    url = common.fresh_database()
    upgrade(url)
    common.clean_redis(common.REDIS)
    api, root = _api(url, 1)
    base = root + "/v1"
    env = common.tocsin_env(url, common.REDIS, TOCSIN_ENTRYPOINT_MODULES="bench.functions")
    procs = [api,
             common.spawn([common.python(), "-m", "scheduler", "scheduler"], env,
                          "fairness-scheduler.log"),
             common.spawn([common.python(), "-m", "celery", "-A", "tasks.app", "worker", "-Q",
                           "tocsin", "-c", "2", "--without-gossip", "--without-mingle",
                           "--loglevel", "WARNING"], env, "fairness-worker.log")]
    engine = create_engine(url)
    try:
        client = httpx.Client(base_url=base, timeout=30,
                              headers={"X-Appwrite-Project": "b", "X-Appwrite-Key": KEY})
        for fid, entry in (("slow", "bench.functions:sleepy"),
                           ("quick", "bench.functions:trivial")):
            client.post("/functions", json={"functionId": fid, "name": fid,
                                            "runtime": "python-3.12", "entrypoint": entry})
        sessions = make_sessionmaker(make_engine(url))
        with transaction(sessions) as s:
            s.execute(text("INSERT INTO projects (id, name, created_at) "
                           "VALUES ('c', 'c', now())"))
            add_key(s, "c", KEY_C, ["functions.write", "executions.read", "executions.write"])
        other = httpx.Client(base_url=base, timeout=30,
                             headers={"X-Appwrite-Project": "c", "X-Appwrite-Key": KEY_C})
        other.post("/functions", json={"functionId": "other", "name": "other",
                                       "runtime": "python-3.12",
                                       "entrypoint": "bench.functions:trivial"})
        _sync_p50(base, 5)  # warm runners
        idle = _sync_p50(base)
        started = time.monotonic()
        for _ in range(backlog):
            r = client.post("/functions/slow/executions",
                            json={"async": True, "path": f"/?seconds={seconds}"})
            assert r.status_code == 202, r.text
        queued_s = time.monotonic() - started
        loaded = _sync_p50(base)
        created = time.monotonic()
        eid = other.post("/functions/other/executions", json={"async": True}).json()["$id"]
        common.wait_until(lambda: other.get(f"/functions/other/executions/{eid}").json()[
            "status"] == "completed", 600, interval=0.05)
        other_s = time.monotonic() - created
        with engine.connect() as conn:
            pending = conn.execute(text("SELECT count(*) FROM executions WHERE function_id = "
                                        "'slow' AND status <> 'completed'")).scalar_one()
        drained = common.wait_until(lambda: _completed(engine) >= backlog, 1800, interval=0.5)
        with engine.connect() as conn:
            once = conn.execute(text("SELECT count(*) FROM executions WHERE function_id = "
                                     "'slow' AND status = 'completed' AND attempts = 1"))\
                .scalar_one()
        out = {"backlog": backlog, "queued_s": queued_s, "idle_sync_p50_ms": idle,
               "backlog_sync_p50_ms": loaded, "other_project_s": other_s,
               "backlog_pending_then": pending, "drained": bool(drained),
               "completed_once": once}
        table = common.print_table(
            f"Fairness: project b queues {backlog:,} runs of {seconds * 1000:.0f} ms "
            "(one worker, 2 slots)",
            ["measure", "value"],
            [["synchronous call p50, idle (ms)", idle],
             ["synchronous call p50, under the backlog (ms)", loaded],
             ["project c's run, created to completed (s)", other_s],
             ["project b's runs not yet completed then", pending],
             ["backlog runs completed, each exactly once", f"{once:,} of {backlog:,}"]])
        out["table"] = table
        return out
    finally:
        for proc in procs:
            common.stop(proc)
        engine.dispose()
        common.drop_database(url)


def _completed(engine: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM executions WHERE function_id = "
                                     "'slow' AND status = 'completed'")).scalar_one())
