"""Domains: a trivial function run through its domain, beside a direct synchronous
``createExecution``, in the same run against a real `tocsin api` and Celery worker.

Both are synchronous executions end to end (row, publish, worker, result); the domain
answers with the function's own response, the direct call with the execution model.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from bench import burst, common

KEY = "bench-key-0123456789abcdef0123456789ab"


def _load(seconds: float, clients: int, call: Callable[[httpx.Client], httpx.Response],
          ok: int) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client() -> None:
        nonlocal errors
        with httpx.Client(timeout=35) as http:
            while time.monotonic() < stop_at:
                t = time.perf_counter()
                status = call(http).status_code
                took = (time.perf_counter() - t) * 1000
                with lock:
                    if status == ok:
                        latencies.append(took)
                    else:
                        errors += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors, time.monotonic() - started


def run(seconds: float = 15.0, clients: int = 8) -> dict[str, Any]:
    url = common.fresh_database()
    common.clean_redis()
    burst.seed_tocsin(url, 0)
    port = common.free_port()
    env = common.tocsin_env(url, common.REDIS, TOCSIN_BOOTSTRAP_PROJECT="b",
                            TOCSIN_BOOTSTRAP_KEY=KEY, TOCSIN_FUNCTIONS_DOMAIN="fn.bench",
                            TOCSIN_ENTRYPOINT_MODULES="bench.functions")
    procs = [common.spawn([common.python(), "-m", "scheduler", "api", "--port", str(port)],
                          env, "domains-api.log"),
             common.spawn([common.python(), "-m", "celery", "-A", "tasks.app", "worker", "-Q",
                           "tocsin", "-c", "4", "--without-gossip", "--without-mingle",
                           "--loglevel", "WARNING"], env, "domains-worker.log")]
    root = f"http://127.0.0.1:{port}"
    headers = {"X-Appwrite-Project": "b", "X-Appwrite-Key": KEY}
    rows = []
    try:
        common.wait_until(lambda: common.api_up(root + "/v1"), 30)
        httpx.post(root + "/v1/functions", headers=headers, json={
            "functionId": "t", "name": "t", "runtime": "python-3.12",
            "entrypoint": "bench.functions:trivial", "execute": ["any"]}).raise_for_status()
        direct = {"async": False, "body": "x"}
        cases: dict[str, tuple[Callable[[httpx.Client], httpx.Response], int]] = {
            "domain (Host: t.fn.bench)": (
                lambda h: h.post(root + "/", content=b"x", headers={"Host": "t.fn.bench"}), 200),
            "createExecution, async: false": (
                lambda h: h.post(root + "/v1/functions/t/executions", json=direct,
                                 headers=headers), 201),
        }
        for call, ok in cases.values():  # warm the runners (one per worker process)
            _load(2, clients, call, ok)
        for name, (call, ok) in cases.items():
            lat, errors, elapsed = _load(seconds, clients, call, ok)
            rows.append([name, clients, len(lat), len(lat) / elapsed,
                         common.percentile(lat, 50), common.percentile(lat, 99), errors])
    finally:
        for proc in procs:
            common.stop(proc)
        common.drop_database(url)
    table = common.print_table(
        f"Domains: a trivial function, {clients} clients for {seconds:g} s each "
        "(one API process, one worker with 4 processes)",
        ["request", "clients", "requests", "req/s", "p50 ms", "p99 ms", "errors"], rows)
    return {"rows": rows, "table": table}
