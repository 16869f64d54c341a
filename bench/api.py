"""API: requests per second and latency of the Functions API under `hey` (a real load
generator, 16 clients), beside the same process's health routes, in one run against
a real `tocsin api` (one process, then `--workers 2`) on PostgreSQL; and a
synchronous run of a trivial function through a real worker, less the function's own
time."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy import create_engine, text

from bench import burst, common, loadgen

KEY = "bench-key-0123456789abcdef0123456789ab"
HEADERS = {"X-Appwrite-Project": "b", "X-Appwrite-Key": KEY}
LIST = ("/v1/functions/f/executions?queries[]="
        + quote('{"method":"equal","attribute":"status","values":["waiting"]}')
        + "&queries[]=" + quote('{"method":"limit","values":[25]}'))


def _api(url: str, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = common.free_port()
    env = common.tocsin_env(url, common.REDIS, TOCSIN_BOOTSTRAP_PROJECT="b",
                            TOCSIN_BOOTSTRAP_KEY=KEY, TOCSIN_ENTRYPOINT_MODULES="bench.functions")
    proc = common.spawn([common.python(), "-m", "scheduler", "api", "--port", str(port),
                         "--workers", str(workers)], env, f"api-{workers}.log")
    base = f"http://127.0.0.1:{port}"
    common.wait_until(lambda: common.api_up(base + "/v1"), 60)
    return proc, base


def _history(url: str, base: str) -> None:
    """Function ``g`` with 1,000 past runs: a third each waiting, completed, failed."""
    httpx.post(base + "/v1/functions", headers=HEADERS, json={
        "functionId": "g", "name": "g", "runtime": "python-3.12"}).raise_for_status()
    start = datetime.now(UTC) - timedelta(hours=1)
    rows = [(f"hist{i:016d}", "b", "g", "http", ("waiting", "completed", "failed")[i % 3],
             "f", "POST", "/", "{}", "", 200, "[]", "", "", 0.01, 1,
             (start + timedelta(seconds=i)).isoformat(), start.isoformat())
            for i in range(1000)]
    common.copy_rows(url, "executions", (
        "id", "project_id", "function_id", "trigger", "status", "sync", "request_method",
        "request_path", "request_headers", "request_body", "response_status_code",
        "response_headers", "logs", "errors", "duration", "attempts", "created_at",
        "updated_at"), rows)


def _row(name: str, load: loadgen.Load, ok: int, clients: int) -> list[Any]:
    return [name, clients, load.requests, round(load.rps), load.p50_ms, load.p99_ms,
            load.requests - load.codes.get(ok, 0)]


def run(seconds: float = 10.0, clients: int = 16) -> dict[str, Any]:
    url = common.fresh_database()
    common.clean_redis()
    burst.seed_tocsin(url, 0)
    when = (datetime.now(UTC) + timedelta(hours=1)).replace(second=0, microsecond=0)
    rows: list[list[Any]] = []
    try:
        for workers in (1, 2):
            proc, base = _api(url, workers)
            try:
                if workers == 1:
                    seeded = httpx.post(base + "/v1/functions/f/executions", headers=HEADERS,
                                        json={"async": True}).json()["$id"]
                    _history(url, base)
                cases = [
                    ("GET /healthz", "GET", "/healthz", None, None, 200),
                    ("GET /v1/health", "GET", "/v1/health", None, None, 200),
                    ("createExecution async", "POST", "/v1/functions/f/executions", HEADERS,
                     {"async": True, "body": "x"}, 202),
                    ("createExecution scheduledAt", "POST", "/v1/functions/f/executions",
                     HEADERS, {"async": True, "scheduledAt": when.isoformat()}, 202),
                    ("getExecution", "GET", f"/v1/functions/f/executions/{seeded}", HEADERS,
                     None, 200),
                    ("listExecutions (25, status filter)", "GET", LIST, HEADERS, None, 200),
                    ("listExecutions (25, status filter, total=false)", "GET",
                     LIST + "&total=false", HEADERS, None, 200),
                    ("listExecutions (25, status filter), 1,000-run function", "GET",
                     LIST.replace("/f/", "/g/").replace("waiting", "completed"), HEADERS,
                     None, 200),
                ]
                if workers > 1:
                    cases = [c for c in cases if c[0] in (
                        "GET /v1/health", "createExecution async",
                        "listExecutions (25, status filter), 1,000-run function")]
                for name, method, path, headers, body, ok in cases:
                    load = loadgen.hey(base + path, seconds, clients, method, headers, body)
                    rows.append(_row(f"{name} ({workers} process{'es' * (workers > 1)})",
                                     load, ok, clients))
            finally:
                common.stop(proc)
        rows.extend(_sync(url, seconds))
    finally:
        common.drop_database(url)
    table = common.print_table(
        f"API under hey: {clients} clients, {seconds:g} s per row, PostgreSQL, this machine",
        ["request", "clients", "requests", "req/s", "p50 ms", "p99 ms", "not ok"], rows)
    return {"rows": rows, "table": table}


def _sync(url: str, seconds: float) -> list[list[Any]]:
    """A trivial function run synchronously: request in to response out, with the
    function's own time (the execution's ``duration``) subtracted. The queue is emptied
    first: the async rows above are no work for this worker. One client measures the
    path itself; then as many clients as the worker has processes (more would measure
    their queue, not the path)."""
    common.clean_redis()
    # The rows too: held back by fair hand-over, the backlog would otherwise be handed
    # to this worker as the project's runs are claimed (nothing is lost by a flush).
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM executions WHERE status = 'waiting'"))
    engine.dispose()
    proc, base = _api(url, 1)
    env = common.tocsin_env(url, common.REDIS, TOCSIN_ENTRYPOINT_MODULES="bench.functions")
    worker = common.spawn([common.python(), "-m", "celery", "-A", "tasks.app", "worker", "-Q",
                           "tocsin", "-c", "4", "--without-gossip", "--without-mingle",
                           "--loglevel", "WARNING"], env, "api-worker.log")
    try:
        httpx.post(base + "/v1/functions", headers=HEADERS, json={
            "functionId": "t", "name": "t", "runtime": "python-3.12",
            "entrypoint": "bench.functions:trivial"}).raise_for_status()
        for _ in range(40):  # warm every runner
            httpx.post(base + "/v1/functions/t/executions", headers=HEADERS,
                       json={"async": False}, timeout=30)
        loads = [(clients, loadgen.hey(base + "/v1/functions/t/executions", seconds, clients,
                                       "POST", HEADERS, {"async": False}))
                 for clients in (1, 4)]
        own = httpx.get(base + "/v1/functions/t/executions?queries[]="
                        + quote('{"method":"limit","values":[200]}'), headers=HEADERS).json()
        durations = sorted(e["duration"] * 1000 for e in own["executions"])
        mine = common.percentile(durations, 50)
    finally:
        common.stop(worker)
        common.stop(proc)
    return [[f"sync trivial function, overhead (its own p50 {mine:.1f} ms taken off)",
             clients, load.requests, round(load.rps), round(load.p50_ms - mine, 2),
             round(load.p99_ms - mine, 2), load.requests - load.codes.get(201, 0)]
            for clients, load in loads]
