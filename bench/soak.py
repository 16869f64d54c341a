"""Soak: resident memory of the API, the scheduler and a worker under a steady mixed
load for ten minutes (issue #18: "flat under load"), sampled every 30 s.

The load, all at once: asynchronous creates of a trivial function (a real worker runs
them), ``scheduledAt`` one-shots two minutes ahead (the scheduler fires
them), reads and lists of executions, and 2,000 minutely cron schedules. Memory is
judged on the second half: start-up, pools and caches fill in the first minutes; what
still grows after that is a leak.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psutil
from sqlalchemy import create_engine, text

from bench import api, burst, common, loadgen

KEY, HEADERS = api.KEY, api.HEADERS


def _rss(pid: int, children: bool = False) -> float:
    proc = psutil.Process(pid)
    procs = [proc, *proc.children(recursive=True)] if children else [proc]
    return sum(p.memory_info().rss for p in procs if p.is_running()) / 2**20


def _loads(base: str, seconds: float, seen: str,
           out: list[tuple[str, loadgen.Load]]) -> list[threading.Thread]:
    def later() -> str:
        # A whole minute (Appwrite's rule), 2-3 minutes ahead.
        soon = datetime.now(UTC) + timedelta(seconds=120)
        return (soon.replace(second=0, microsecond=0) + timedelta(minutes=1)).isoformat()

    def run(name: str, *args: Any, **kw: Any) -> None:
        out.append((name, loadgen.hey(*args, **kw)))

    def oneshots() -> None:  # hey sends one body: a fresh time (2 min ahead) every 20 s
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 1:
            run("scheduledAt creates", base + "/v1/functions/t/executions", min(20.0, left), 2,
                "POST", HEADERS,
                {"async": True, "scheduledAt": later()}, rate=10)

    jobs = [
        threading.Thread(target=run, args=("async creates", base + "/v1/functions/t/executions",
                                           seconds, 4, "POST", HEADERS,
                                           {"async": True, "body": "x"}),
                         kwargs={"rate": 25}),
        threading.Thread(target=oneshots),
        threading.Thread(target=run, args=("gets", base + f"/v1/functions/t/executions/{seen}",
                                           seconds, 2, "GET", HEADERS), kwargs={"rate": 50}),
        threading.Thread(target=run, args=("lists", base + api.LIST.replace("/f/", "/t/"),
                                           seconds, 2, "GET", HEADERS), kwargs={"rate": 10}),
    ]
    for job in jobs:
        job.start()
    return jobs


def run(seconds: float = 600.0, every: float = 30.0, crons: int = 2000) -> dict[str, Any]:
    url = common.fresh_database()
    common.clean_redis()
    burst.seed_tocsin(url, crons)
    engine = create_engine(url)
    with engine.begin() as conn:  # the crons fire every minute from the next one on
        conn.execute(text("UPDATE schedules SET next_fire_at = "
                          "date_trunc('minute', now()) + interval '1 minute'"))
    engine.dispose()
    env = common.tocsin_env(url, common.REDIS, TOCSIN_BOOTSTRAP_PROJECT="b",
                            TOCSIN_BOOTSTRAP_KEY=KEY, TOCSIN_ENTRYPOINT_MODULES="bench.functions")
    port = common.free_port()
    procs = {
        "api": common.spawn([common.python(), "-m", "scheduler", "api", "--port", str(port)],
                            env, "soak-api.log"),
        "scheduler": common.spawn([common.python(), "-m", "scheduler", "scheduler"], env,
                                  "soak-scheduler.log"),
        "worker (4 processes)": common.spawn(
            [common.python(), "-m", "celery", "-A", "tasks.app", "worker", "-Q", "tocsin",
             "-c", "4", "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
            env, "soak-worker.log"),
    }
    base = f"http://127.0.0.1:{port}"
    rows: list[list[Any]] = []
    try:
        common.wait_until(lambda: common.api_up(base + "/v1"), 60)
        httpx.post(base + "/v1/functions", headers=HEADERS, json={
            "functionId": "t", "name": "t", "runtime": "python-3.12",
            "entrypoint": "bench.functions:trivial"}).raise_for_status()
        seen = httpx.post(base + "/v1/functions/t/executions", headers=HEADERS,
                          json={"async": True}).json()["$id"]
        loads: list[tuple[str, loadgen.Load]] = []
        jobs = _loads(base, seconds, seen, loads)
        start = time.monotonic()
        while (elapsed := time.monotonic() - start) < seconds + 1:
            rows.append([f"{elapsed / 60:.1f}",
                         *(round(_rss(p.pid, children="worker" in name), 1)
                           for name, p in procs.items())])
            time.sleep(every)
        for job in jobs:
            job.join()
        done = sum(load.requests for _, load in loads)
        refused: dict[str, int] = {}
        for name, load in loads:
            refused[name] = refused.get(name, 0) + load.requests - sum(
                n for c, n in load.codes.items() if c < 300)
        bad = sum(refused.values())
    finally:
        for proc in procs.values():
            common.stop(proc)
        common.drop_database(url)
    names = list(procs)
    half = [r for r in rows if float(r[0]) >= seconds / 120]
    growth = [round(half[-1][i + 1] - half[0][i + 1], 1) for i in range(len(names))]
    rows.append(["growth, 2nd half", *growth])
    table = common.print_table(
        f"Soak: resident MiB under a mixed load for {seconds / 60:g} min ({done:,} requests, "
        f"{bad} not ok, {crons:,} minutely crons)", ["minute", *names], rows)
    print("not ok, by load:", refused)
    return {"rows": rows, "requests": done, "not_ok": refused, "table": table}
