"""Throughput: N trivial asynchronous executions through one worker (prefork, 2
processes) against bare Celery with the same worker settings, in the same run.

Both queues are filled first, then the worker starts; the rate is taken between the
first and the last run to finish, so the worker's start-up is in neither figure.
Tocsin's runs are rows made as the API makes them (``lifecycle.new_execution``) and
published by its own publisher; each one is claimed, run in a warm runner and recorded,
as any run is."""

from __future__ import annotations

import json
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import create_engine, text

from bench import common
from scheduler.broker.publish import RedisPublisher
from scheduler.rules.ids import new_id
from scheduler.rules.lifecycle import new_execution
from scheduler.rules.states import Trigger
from scheduler.store.migrate import upgrade

BARE_REDIS = "redis://127.0.0.1:6379/11"
WORKER = ["-c", "2", "--without-gossip", "--without-mingle", "--without-heartbeat",
          "--loglevel", "WARNING"]


def seed(url: str, n: int) -> list[str]:
    upgrade(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO projects (id, name, created_at) VALUES ('b','b',now())"))
        conn.execute(text(
            "INSERT INTO functions (project_id, id, name, runtime, execute, events, schedule, "
            "timeout, enabled, logging, entrypoint, url, timezone, missed_policy, misfire_grace,"
            " catchup_window, catchup_cap, created_at, updated_at) VALUES ('b','f','f',"
            "'python-3.12','[]','[]','',15,true,true,'bench.functions:trivial','','UTC',"
            "'latest',60,86400,100,now(),now())"))
    engine.dispose()
    now = datetime.now(UTC)
    rows = [new_execution(id=new_id(), project_id="b", function_id="f",
                          trigger=Trigger.HTTP, now=now) for _ in range(n)]
    columns = ("id", "project_id", "function_id", "trigger", "status", "sync",
               "request_method", "request_path", "request_headers", "request_body",
               "request_body_base64", "response_status_code", "response_headers", "logs",
               "errors", "duration", "attempts", "depth", "enqueued_at", "created_at",
               "updated_at")
    common.copy_rows(url, "executions", columns, [
        [_copy(row[c]) for c in columns] for row in rows])  # type: ignore[literal-required]
    return [row["id"] for row in rows]


def _copy(value: Any) -> Any:
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def tocsin(n: int, fast: bool = True) -> dict[str, Any]:
    url = common.fresh_database()
    broker = common.REDIS
    common.clean_redis(broker)
    ids = seed(url, n)
    RedisPublisher(broker).publish(ids)
    env = common.tocsin_env(url, broker, TOCSIN_ENTRYPOINT_MODULES="bench.functions",
                            TOCSIN_WORKER_FAST_PATH=str(fast).lower())
    proc = common.spawn([common.python(), "-m", "celery", "-A", "tasks.app", "worker",
                         "-Q", "tocsin", *WORKER], env, "throughput-tocsin.log")
    engine = create_engine(url)
    try:
        done = common.wait_until(lambda: _finished(engine) >= n, 900, interval=0.2)
        with engine.connect() as conn:
            first, last, failed = conn.execute(text(
                "SELECT min(finished_at), max(finished_at), "
                "count(*) FILTER (WHERE status <> 'completed') FROM executions")).one()
        span = (last - first).total_seconds() if done else None
        system = "tocsin" if fast else "tocsin, reference path (TOCSIN_WORKER_FAST_PATH=false)"
        return {"system": system, "n": n, "span_s": span, "failed": failed,
                "per_s": (n - 1) / span if span else None}
    finally:
        common.stop(proc)
        engine.dispose()
        common.drop_database(url)


def _finished(engine: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(
            "SELECT count(*) FROM executions WHERE finished_at IS NOT NULL")).scalar_one())


def bare(n: int) -> dict[str, Any]:
    from bench import bareapp

    r = common.clean_redis(BARE_REDIS)
    with bareapp.app.producer_or_acquire() as producer:
        for i in range(n):
            bareapp.noop.apply_async((i,), producer=producer)
    env = common.tocsin_env("", "", BENCH_BARE_REDIS=BARE_REDIS)
    proc = common.spawn([common.python(), "-m", "celery", "-A", "bench.bareapp", "worker",
                         "-Q", "bare", *WORKER], env, "throughput-bare.log")
    try:
        done = common.wait_until(lambda: r.llen("bare:done") >= n, 900, interval=0.2)
        stamps = [float(x) for x in r.lrange("bare:done", 0, -1)] if done else []
        span = max(stamps) - min(stamps) if stamps else None
        return {"system": "bare Celery (no-op, one Redis write)", "n": n, "span_s": span,
                "failed": 0, "per_s": (n - 1) / span if span else None}
    finally:
        common.stop(proc)


def oneshots(n: int, fast: bool = True) -> dict[str, Any]:
    """N ``scheduledAt`` one-shots due in the same instant, with the scheduler and one
    worker running: seconds from the due instant until every run has *completed*."""
    from bench import burst

    url = common.fresh_database()
    broker = common.REDIS
    common.clean_redis(broker)
    burst.seed_tocsin(url, 0)
    burst.seed_oneshots(url, [datetime(2100, 1, 1, tzinfo=UTC)] * n)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE functions SET entrypoint = 'bench.functions:trivial'"))
    env = common.tocsin_env(url, broker, TOCSIN_ENTRYPOINT_MODULES="bench.functions",
                            TOCSIN_WORKER_FAST_PATH=str(fast).lower())
    procs = [common.spawn([common.python(), "-m", "scheduler", "scheduler"], env,
                          "oneshots-scheduler.log"),
             common.spawn([common.python(), "-m", "celery", "-A", "tasks.app", "worker",
                           "-Q", "tocsin", *WORKER], env, "oneshots-worker.log")]
    try:
        assert common.wait_until(lambda: burst._leader(engine), 30), "no leader"
        time.sleep(2)  # the worker is up too
        with engine.begin() as conn:
            due = conn.execute(text(
                "SELECT date_trunc('minute', clock_timestamp() + interval '63 second')")).scalar()
            conn.execute(text("UPDATE executions SET scheduled_at = :d"), {"d": due})
            conn.execute(text("NOTIFY tocsin_wakeup"))
        time.sleep(max(0.0, due.timestamp() - time.time() - 0.5))
        done = common.wait_until(lambda: _finished(engine) >= n, 600, interval=0.2)
        with engine.connect() as conn:
            last, failed = conn.execute(text(
                "SELECT max(finished_at), count(*) FILTER (WHERE status <> 'completed') "
                "FROM executions")).one()
        seconds = (last - due).total_seconds() if done else None
        return {"system": "tocsin" if fast else "tocsin, reference path", "n": n,
                "completed_s": seconds, "failed": failed}
    finally:
        for proc in procs:
            common.stop(proc)
        engine.dispose()
        common.drop_database(url)


def settle() -> None:
    """Each measure starts from a quiet database: a checkpoint left over from the
    scenario before (dropping a database forces one) must not land in one system's
    measure and not the other's."""
    engine = create_engine(common.PG_ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("CHECKPOINT"))
    engine.dispose()
    time.sleep(1)


def run(n: int = 2000, oneshot_n: int = 10_000, rounds: int = 5) -> dict[str, Any]:
    shots = []
    for fast in (True, True, False):
        settle()
        shots.append(oneshots(oneshot_n, fast))
    common.print_table(
        f"{oneshot_n:,} one-shots due at once, scheduler and one worker (prefork 2)",
        ["system", "N", "due to all completed (s)", "not completed"],
        [[s["system"], s["n"], s["completed_s"] or "timeout", s["failed"]] for s in shots])
    # Rounds in turn, so that a slower minute of a shared host weighs on both systems.
    pairs = []
    for _ in range(rounds):
        settle()
        ours = tocsin(n)
        settle()
        pairs.append((ours, bare(n)))
    settle()
    reference = tocsin(n, fast=False)
    ratios = [o["per_s"] / b["per_s"] if o["per_s"] and b["per_s"] else 0.0 for o, b in pairs]
    rows = []
    for i, ((ours, base), ratio) in enumerate(zip(pairs, ratios, strict=True), 1):
        rows += [[f"{i}", r["system"], r["n"], r["span_s"] or "timeout", r["per_s"] or "-",
                  r["failed"]] for r in (ours, base)]
        rows.append([f"{i}", "**tocsin vs bare Celery**", "", "", f"{ratio:.2f}x", ""])
    base = statistics.median(b["per_s"] or 0.0 for _, b in pairs)
    rows.append(["-", reference["system"], reference["n"], reference["span_s"] or "timeout",
                 reference["per_s"] or "-", reference["failed"]])
    rows.append(["-", "**median of the rounds: tocsin vs bare Celery**", "", "",
                 f"{statistics.median(ratios):.2f}x", ""])
    if reference["per_s"] and base:
        rows.append(["-", "reference path vs the rounds' median bare Celery", "", "",
                     f"{reference['per_s'] / base:.2f}x", ""])
    table = common.print_table(
        "Throughput: trivial async runs through one worker (prefork 2, late ack, prefetch 1)",
        ["round", "system", "N", "first to last finished (s)", "runs/s", "not completed"],
        rows)
    return {"rounds": [{"tocsin": o, "bare": b, "ratio": r}
                       for (o, b), r in zip(pairs, ratios, strict=True)],
            "median_ratio": statistics.median(ratios), "reference": reference,
            "oneshots": shots, "table": table}
