"""API: 16 concurrent clients creating scheduled and async executions; requests per second
and latency percentiles, against a real `tocsin api` process."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench import burst, common

KEY = "bench-key-0123456789abcdef0123456789ab"


def run(seconds: float = 20.0, clients: int = 16) -> dict[str, Any]:
    url = common.fresh_database()
    common.clean_redis()
    burst.seed_tocsin(url, 0)
    port = common.free_port()
    proc = common.spawn([common.python(), "-m", "scheduler", "api", "--port", str(port)],
                        common.tocsin_env(url, common.REDIS, TOCSIN_BOOTSTRAP_PROJECT="b",
                                          TOCSIN_BOOTSTRAP_KEY=KEY), "api.log")
    base = f"http://127.0.0.1:{port}/v1"
    headers = {"X-Appwrite-Project": "b", "X-Appwrite-Key": KEY}
    results: dict[str, list[float]] = {"scheduled": [], "async": []}
    errors: list[str] = []
    try:
        common.wait_until(lambda: common.api_up(base), 30)
        when = (datetime.now(UTC) + timedelta(hours=1)).replace(second=0, microsecond=0)
        payloads = {"scheduled": {"async": True, "scheduledAt": when.isoformat()},
                    "async": {"async": True, "body": "x"}}
        stop_at = time.monotonic() + seconds
        lock = threading.Lock()

        def client(kind: str) -> None:
            with httpx.Client(base_url=base, headers=headers, timeout=10) as http:
                while time.monotonic() < stop_at:
                    t = time.perf_counter()
                    resp = http.post("/functions/f/executions", json=payloads[kind])
                    took = (time.perf_counter() - t) * 1000
                    with lock:
                        if resp.status_code == 202:
                            results[kind].append(took)
                        else:
                            errors.append(f"{resp.status_code} {resp.text[:100]}")

        threads = [threading.Thread(target=client, args=("scheduled" if i % 2 else "async",))
                   for i in range(clients)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
    finally:
        common.stop(proc)
        common.drop_database(url)
    rows = []
    for kind, lat in results.items():
        rows.append([kind, clients // 2, len(lat), len(lat) / elapsed,
                     common.percentile(lat, 50), common.percentile(lat, 99)])
    table = common.print_table(
        f"API: {clients} concurrent clients for {seconds:g} s (one uvicorn process)",
        ["kind", "clients", "requests", "req/s", "p50 ms", "p99 ms"], rows)
    return {"rows": rows, "errors": len(errors), "error_samples": errors[:5], "table": table}

