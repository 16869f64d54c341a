"""Synchronous executions at their real limits, through a real API and Celery worker.

A suite that only ran 1-2 s synchronous executions stayed green while every
call over 5 s failed on a fresh install (redis-py 8 made 5 s the default
socket timeout). These run at the real values: 12 s succeeds, 40 s is cut off
by the real 30 s limit with 408, for a Python and a Node function side by side.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.helpers import start_api, start_worker, tocsin_env, wait_for

KEY = "sync-limits-key-0123456789abcdef0123"
HEADERS = {"X-Appwrite-Project": "syncproj", "X-Appwrite-Key": KEY}


SLOW_NODE = """
export default async ({ req, res }) => {
  await new Promise((done) => setTimeout(done, Number(req.query.seconds) * 1000));
  return res.text("done");
};
"""


@pytest.fixture
def api(pg_url, broker_url, tmp_path, store):
    functions = tmp_path / "functions"
    (functions / "syncproj" / "slowjs").mkdir(parents=True)
    (functions / "syncproj" / "slowjs" / "main.js").write_text(SLOW_NODE)
    env = tocsin_env(pg_url, broker_url, TOCSIN_BOOTSTRAP_PROJECT="syncproj",
                     TOCSIN_BOOTSTRAP_KEY=KEY, TOCSIN_SYNC_CONCURRENCY="60",
                     TOCSIN_FUNCTIONS_DIR=str(functions))
    worker = start_worker(env, "wsync", tmp_path, concurrency=4)
    proc, base = start_api(env, tmp_path)
    store.function("slow", project="syncproj", entrypoint="tests.fixtures.functions:slow",
                   timeout=60)
    store.function("slowjs", project="syncproj", runtime="node-22", entrypoint="main.js",
                   timeout=60)
    yield base
    proc.stop()
    worker.stop()


def _run(base: str, seconds: float, function: str = "slow") -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.post(base + f"/functions/{function}/executions", headers=HEADERS,
                          timeout=60,
                          json={"async": False, "path": f"/?seconds={seconds}"})
    return response, time.monotonic() - started


@pytest.mark.slow
def test_sync_12s_returns_its_body_and_40s_is_a_408_at_the_real_30s_limit(api):
    with ThreadPoolExecutor(4) as pool:
        calls = {(function, seconds): pool.submit(_run, api, seconds, function)
                 for function in ("slow", "slowjs") for seconds in (12, 40)}
        for function in ("slow", "slowjs"):
            ok, ok_took = calls[function, 12].result()
            late, late_took = calls[function, 40].result()
            assert ok.status_code == 201, (function, ok.text)
            assert ok.json()["status"] == "completed", (function, ok.json()["errors"])
            assert ok.json()["responseBody"] == "done"
            assert ok_took >= 12
            assert late.status_code == 408, (function, late.text)
            assert late.json()["type"] == "function_synchronous_timeout"
            # Cut off by the 30 s limit, not by the function finishing at 40 s.
            assert 30 <= late_took < 39, function


@pytest.mark.slow
def test_waiting_sync_calls_hold_no_thread_and_are_capped_per_project(
        pg_url, broker_url, tmp_path, store):
    """50 synchronous calls to a 10 s function must not stall health and metrics routes
    (they used to hold a thread each for up to 32 s); past the cap they get 429."""
    env = tocsin_env(pg_url, broker_url, TOCSIN_BOOTSTRAP_PROJECT="syncproj",
                     TOCSIN_BOOTSTRAP_KEY=KEY, TOCSIN_SYNC_CONCURRENCY="50")
    proc, base = start_api(env, tmp_path)  # no worker: every call waits
    store.function("slow", project="syncproj", entrypoint="tests.fixtures.functions:slow",
                   timeout=60)
    root = base.removesuffix("/v1")
    try:
        with httpx.Client(timeout=60, limits=httpx.Limits(max_connections=100)) as client, \
                ThreadPoolExecutor(60) as pool:
            calls = [pool.submit(client.post, base + "/functions/slow/executions",
                                 headers=HEADERS, json={"path": "/?seconds=10"})
                     for _ in range(50)]
            wait_for(lambda: store.scalar(
                "SELECT count(*) FROM executions WHERE sync") == 50, 30,
                what="50 synchronous executions to be waiting")
            for path in ("/healthz", "/readyz", "/metrics"):
                assert httpx.get(root + path, timeout=10).status_code == 200
            assert httpx.get(base + "/health", timeout=10).status_code == 200
            assert not any(c.done() for c in calls), "health answered only after the calls"
            over = client.post(base + "/functions/slow/executions", headers=HEADERS,
                               json={"path": "/?seconds=10"})
            assert over.status_code == 429
            assert over.json()["type"] == "general_rate_limit_exceeded"
            assert "TOCSIN_SYNC_CONCURRENCY" in over.json()["message"]
            # The refused call left no row behind.
            assert store.scalar("SELECT count(*) FROM executions") == 50
            proc.stop()  # the 50 callers get their connections closed
    finally:
        proc.stop()
