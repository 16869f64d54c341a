"""Peers a user would pick instead of Tocsin, doing the same work on the same machine."""

from __future__ import annotations

import os
import time
from typing import Any

from bench import common

PEER_REDIS = os.environ.get("BENCH_PEER_REDIS", "redis://127.0.0.1:6379/12")


def _next_minute(lead: float = 5.0) -> float:
    now = time.time()
    boundary = (int(now) // 60 + 1) * 60
    return boundary if boundary - now >= lead else boundary + 60


def _measure(r: Any, n: int, due: float, timeout: float) -> float | None:
    time.sleep(max(0.0, due - time.time() - 0.2))
    reached = common.wait_until(lambda: r.llen("tocsin") >= n, timeout, interval=0.05)
    return time.time() - due if reached else None


def burst_redbeat(n: int, timeout: float = 600) -> dict[str, Any]:
    from celery.schedules import crontab
    from redbeat import RedBeatSchedulerEntry

    from bench import beatapp

    r = common.clean_redis(PEER_REDIS)
    for i in range(n):
        RedBeatSchedulerEntry(f"job{i}", "tocsin.execute", crontab(), args=[f"r{i}"],
                              app=beatapp.app).save()
    env = {**os.environ, "PYTHONPATH": str(common.ROOT), "BENCH_PEER_REDIS": PEER_REDIS}
    proc = common.spawn([common.python(), "-m", "celery", "-A", "bench.beatapp", "beat",
                         "-S", "redbeat.RedBeatScheduler", "--max-interval", "1",
                         "-l", "warning"], env, "burst-redbeat.log")
    try:
        due = _next_minute(8)
        elapsed = _measure(r, n, due, timeout)
    finally:
        common.stop(proc)
        r.flushdb()
    return {"system": "celery beat + RedBeat", "n": n, "broker_s": elapsed,
            "fires_per_s": n / elapsed if elapsed else None}


def burst_apscheduler(n: int, timeout: float = 600) -> dict[str, Any]:
    url = common.fresh_database("aps_bench")
    r = common.clean_redis(PEER_REDIS)
    env = {**os.environ, "PYTHONPATH": str(common.ROOT), "BENCH_PEER_REDIS": PEER_REDIS}
    proc = common.spawn([common.python(), "-m", "bench.apspeer", url, str(n)], env,
                        "burst-apscheduler.log")
    try:
        log = common.RESULTS / "burst-apscheduler.log"
        seeded = common.wait_until(lambda: b"seeded" in log.read_bytes(), 1800, interval=0.5)
        if not seeded:
            return {"system": "APScheduler 3 + SQLAlchemyJobStore", "n": n, "broker_s": None}
        due = _next_minute(5)
        elapsed = _measure(r, n, due, timeout)
    finally:
        common.stop(proc)
        r.flushdb()
        common.drop_database(url)
    return {"system": "APScheduler 3 + SQLAlchemyJobStore", "n": n, "broker_s": elapsed,
            "fires_per_s": n / elapsed if elapsed else None}
