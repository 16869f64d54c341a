"""Events: how many `POST /v1/events` the API accepts per second, and how long from an
event's recording until every execution it makes is handed to the broker, with 1 and
with 100 subscribed functions.

One `tocsin api` and one `tocsin scheduler` on a fresh database; no worker (the time
measured ends at the hand-over, `executions.enqueued_at`, by the database clock).
"""

from __future__ import annotations

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from bench import common

KEY = "bench-events-key-0123456789abcdef01234"
HEADERS = {"X-Appwrite-Project": "b", "X-Appwrite-Key": KEY}


def _accept_rate(base: str, seconds: float, clients: int) -> tuple[int, float]:
    """Events accepted in ``seconds`` by ``clients`` concurrent publishers."""
    deadline = time.monotonic() + seconds
    counts = [0] * clients

    def publish(n: int) -> None:
        with httpx.Client(base_url=base, headers=HEADERS, timeout=10) as http:
            i = 0
            while time.monotonic() < deadline:
                r = http.post("/events", json={"event": f"load.c{n}x{i}.tick",
                                               "payload": {"i": i}})
                assert r.status_code == 201, r.text
                counts[n] += 1
                i += 1

    started = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(publish, range(clients)))
    return sum(counts), time.monotonic() - started


def _fan_out_latency(base: str, url: str, functions: int, events: int) -> list[float]:
    """Per event: recording to the last of its executions handed over (ms)."""
    engine = create_engine(url)
    with httpx.Client(base_url=base, headers=HEADERS, timeout=10) as http:
        for i in range(functions):
            http.post("/functions", json={
                "functionId": f"sub{functions}-{i}", "name": "s", "runtime": "python-3.12",
                "events": [f"orders{functions}.*"]}).raise_for_status()
        ids = []
        for i in range(events):
            ids.append(http.post("/events", json={"event": f"orders{functions}.o{i}.paid"}
                                 ).json()["$id"])
            time.sleep(0.02)  # events one at a time: latency, not a burst
    query = text("SELECT e.id, extract(epoch FROM max(x.enqueued_at) - e.created_at) * 1000, "
                 "count(x.id) FROM events e JOIN executions x ON x.event_id = e.id "
                 "WHERE e.id = ANY(:ids) GROUP BY e.id, e.created_at")

    def done() -> list[Any] | None:
        with engine.connect() as conn:
            rows = list(conn.execute(query, {"ids": ids}))
        complete = [r for r in rows if r[2] == functions and r[1] is not None]
        return complete if len(complete) == len(ids) else None

    rows = common.wait_until(done, 120, interval=0.5) or []
    engine.dispose()
    return [float(r[1]) for r in rows]


def run(seconds: float = 10, events: int = 200) -> dict[str, Any]:
    common.clean_redis()
    url = common.fresh_database("tocsin_events")
    env = common.tocsin_env(url, common.REDIS, TOCSIN_BOOTSTRAP_PROJECT="b",
                            TOCSIN_BOOTSTRAP_KEY=KEY)
    subprocess.run([common.python(), "-m", "scheduler", "migrate"], env=env, cwd=common.ROOT,
                   check=True, capture_output=True)
    port = common.free_port()
    base = f"http://127.0.0.1:{port}/v1"
    procs = [common.spawn([common.python(), "-m", "scheduler", "api", "--port", str(port)],
                          env, "events-api.log"),
             common.spawn([common.python(), "-m", "scheduler", "scheduler"], env,
                          "events-scheduler.log")]
    try:
        common.wait_until(lambda: common.api_up(base), 30)
        accepted, took = _accept_rate(base, seconds, clients=8)
        rows = [["POST /v1/events, 8 clients", f"{accepted / took:.0f} events/s", "", ""]]
        for functions in (1, 100):
            lat = _fan_out_latency(base, url, functions, events)
            rows.append([f"event to executions handed over, {functions} function(s)",
                         f"{len(lat)} events", common.percentile(lat, 50),
                         common.percentile(lat, 99)])
    finally:
        for proc in procs:
            common.stop(proc)
        common.drop_database(url)
    table = common.print_table("Events: accepted per second, and time to fan out (ms)",
                               ["what", "measured", "p50 ms", "p99 ms"], rows)
    return {"rows": rows, "table": table}

