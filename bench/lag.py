"""Steady lag: a stream of one-shots and cron fires over a few minutes; p50/p95/p99/max of
(message on the broker - due time), measured by a consumer popping the queue."""

from __future__ import annotations

import json
import random
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import create_engine, text

from bench import burst, common

BACKFILL_SCHEDULE = "backfill-src"


def _start_backfill(engine: Any, fires: int) -> None:
    """A minutely schedule and a backfill of its ``fires`` past minutes, which the
    leader works through while the live lag is measured."""
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO schedules (id, project_id, function_id, key, cron, timezone, "
            "next_fire_at, paused, pause_note, disabled, missed_policy, misfire_grace, "
            "catchup_window, catchup_cap, payload, skipped_missed, skipped_paused, "
            "skipped_disabled, last_skip_reason, created_at, updated_at) VALUES (:id, 'b', "
            "'f', :id, '* * * * *', 'UTC', now() + interval '300 days', false, '', false, "
            "'latest', 60, 86400, 100, '{}', 0, 0, 0, '', now(), now())"),
            {"id": BACKFILL_SCHEDULE})
        conn.execute(text(
            "INSERT INTO backfills (id, project_id, schedule_id, from_at, to_at, cursor_at, "
            "total, created, existing, status, created_at) VALUES ('bf', 'b', :id, "
            "date_trunc('minute', now()) - make_interval(mins => :n + 10), "
            "date_trunc('minute', now()) - interval '10 minutes', "
            "date_trunc('minute', now()) - make_interval(mins => :n + 10) "
            "- interval '1 microsecond', :n, 0, 0, 'running', now())"),
            {"id": BACKFILL_SCHEDULE, "n": fires})


def run(seconds: int = 150, oneshots_per_s: float = 20.0, crons: int = 200,
        backfill: int = 0) -> dict[str, Any]:
    url = common.fresh_database()
    common.clean_redis()
    burst.seed_tocsin(url, crons)
    engine = create_engine(url)
    proc = common.spawn([common.python(), "-m", "scheduler", "scheduler"],
                        # No worker consumes here, so keep the relay from re-sending.
                        common.tocsin_env(url, common.REDIS, TOCSIN_REQUEUE_AFTER="3600",
                                          **common.DISPATCH_ONLY),
                        "lag-scheduler.log")
    arrivals: dict[str, float] = {}
    stop = threading.Event()

    def consume() -> None:
        import redis

        client = redis.Redis.from_url(common.REDIS)
        while not stop.is_set():
            got = client.brpop(["tocsin"], timeout=1)
            if got:
                # First arrival only: a re-send is not the dispatch being measured.
                arrivals.setdefault(json.loads(got[1])["headers"]["id"], time.time())

    consumer = threading.Thread(target=consume, daemon=True)
    try:
        common.wait_until(lambda: burst._leader(engine), 30)
        start = datetime.now(UTC) + timedelta(seconds=5)
        end = start + timedelta(seconds=seconds)
        n = int(seconds * oneshots_per_s)
        burst.seed_oneshots(url, [start + timedelta(seconds=random.uniform(0, seconds))
                                  for _ in range(n)])
        with engine.begin() as conn:
            conn.execute(text("UPDATE schedules SET next_fire_at = "
                              "date_trunc('minute', :s) + interval '1 minute'"), {"s": start})
            conn.execute(text("NOTIFY tocsin_wakeup"))
        consumer.start()
        if backfill:
            time.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds()))
            _start_backfill(engine, backfill)
        time.sleep(max(0.0, (end - datetime.now(UTC)).total_seconds()) + 3)
        stop.set()
        consumer.join(5)
        with engine.connect() as conn:
            due = dict(conn.execute(text(
                "SELECT id, extract(epoch FROM coalesce(scheduled_at, scheduled_for)) "
                "FROM executions WHERE schedule_id IS DISTINCT FROM :b"),
                {"b": BACKFILL_SCHEDULE}).all())
            took = conn.execute(text(
                "SELECT extract(epoch FROM finished_at - created_at), created FROM backfills"
            )).first()
        lags = [(arrivals[i] - float(d)) * 1000 for i, d in due.items() if i in arrivals]
        missing = sum(1 for i, d in due.items() if i not in arrivals and float(d) <
                      end.timestamp())
    finally:
        stop.set()
        common.stop(proc)
        engine.dispose()
        common.drop_database(url)
    result = {"fires": len(lags), "missing": missing, "backfill": backfill,
              "backfill_s": float(took[0]) if took and took[0] is not None else None,
              "backfill_created": took[1] if took else 0,
              "p50_ms": common.percentile(lags, 50), "p95_ms": common.percentile(lags, 95),
              "p99_ms": common.percentile(lags, 99), "max_ms": max(lags) if lags else None}
    table = common.print_table(
        f"Steady lag over {seconds} s ({oneshots_per_s:g} one-shots/s + {crons} minutely crons)",
        ["fires", "p50 ms", "p95 ms", "p99 ms", "max ms", "missing"],
        [[result["fires"], result["p50_ms"], result["p95_ms"], result["p99_ms"],
          result["max_ms"], result["missing"]]])
    return {"result": result, "table": table}
