"""Memory: resident set of an idle scheduler holding 0, 100k and 1M schedules, beside
APScheduler's in-memory store and a RedBeat beat process holding the same schedules."""

from __future__ import annotations

import os
import subprocess
import time
from typing import Any

import psutil
from sqlalchemy import create_engine, text

from bench import burst, common
from bench.peers import PEER_REDIS

APS_SNIPPET = """
import sys, time, psutil, os
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
def job(): pass
s = BackgroundScheduler(timezone="UTC")
s.start(paused=True)
trigger = CronTrigger(minute="*", timezone="UTC")
for i in range(int(sys.argv[1])):
    s.add_job(job, trigger, id=f"j{i}")
time.sleep(2)
print(psutil.Process(os.getpid()).memory_info().rss)
"""


def tocsin_rss(n: int) -> float:
    url = common.fresh_database()
    common.clean_redis()
    burst.seed_tocsin(url, n)
    engine = create_engine(url)
    with engine.begin() as conn:  # due in an hour: the scheduler arms, scans, waits
        conn.execute(text("UPDATE schedules SET next_fire_at = now() + interval '1 hour'"))
    proc = common.spawn([common.python(), "-m", "scheduler", "scheduler"],
                        common.tocsin_env(url, common.REDIS, **common.DISPATCH_ONLY),
                        f"memory-{n}.log")
    try:
        common.wait_until(lambda: burst._leader(engine), 30)
        time.sleep(8)
        return psutil.Process(proc.pid).memory_info().rss / 2**20
    finally:
        common.stop(proc)
        engine.dispose()
        common.drop_database(url)


def apscheduler_rss(n: int) -> float:
    out = subprocess.run([common.python(), "-c", APS_SNIPPET, str(n)], capture_output=True,
                         text=True, timeout=1800, check=True)
    return int(out.stdout.strip()) / 2**20


def redbeat_rss(n: int) -> float:
    from celery.schedules import crontab
    from redbeat import RedBeatSchedulerEntry

    from bench import beatapp

    r = common.clean_redis(PEER_REDIS)
    for i in range(n):
        RedBeatSchedulerEntry(f"job{i}", "tocsin.execute", crontab(minute=0, hour=0),
                              args=[f"r{i}"], app=beatapp.app).save()
    env = {**os.environ, "PYTHONPATH": str(common.ROOT), "BENCH_PEER_REDIS": PEER_REDIS}
    proc = common.spawn([common.python(), "-m", "celery", "-A", "bench.beatapp", "beat", "-S",
                         "redbeat.RedBeatScheduler", "--max-interval", "1", "-l", "warning"],
                        env, f"memory-redbeat-{n}.log")
    try:
        time.sleep(10)
        return psutil.Process(proc.pid).memory_info().rss / 2**20
    finally:
        common.stop(proc)
        r.flushdb()


def run(sizes: tuple[int, ...] = (0, 100_000, 1_000_000),
        redbeat_sizes: tuple[int, ...] = (0, 100_000)) -> dict[str, Any]:
    rows = []
    data: dict[str, dict[int, float | None]] = {"tocsin": {}, "apscheduler": {}, "redbeat": {}}
    for n in sizes:
        data["tocsin"][n] = tocsin_rss(n)
        data["apscheduler"][n] = apscheduler_rss(n)
        data["redbeat"][n] = redbeat_rss(n) if n in redbeat_sizes else None
    for system, label in (("tocsin", "Tocsin scheduler (PostgreSQL)"),
                          ("apscheduler", "APScheduler 3, MemoryJobStore"),
                          ("redbeat", "celery beat + RedBeat")):
        rows.append([label] + [f"{v:.0f}" if v is not None else "not run"
                               for v in data[system].values()])
    table = common.print_table("Memory: resident MiB of the scheduler process",
                               ["system"] + [f"{n:,} schedules" for n in sizes], rows)
    return {"data": data, "table": table}
