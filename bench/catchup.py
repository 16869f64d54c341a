"""Catch-up: N minutely schedules after a simulated outage (their next fire a day in
the past). Seconds from the scheduler's start until every schedule is decided per its
policy (advanced past now), with what was fired and what was counted as skipped."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import create_engine, text

from bench import common
from bench.burst import seed_tocsin


def catchup(n: int, outage_hours: float, policy: str) -> dict[str, Any]:
    url = common.fresh_database()
    broker = common.REDIS
    common.clean_redis(broker)
    seed_tocsin(url, n)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(
            "UPDATE schedules SET missed_policy = :p, next_fire_at = "
            "date_trunc('minute', clock_timestamp() - make_interval(secs => :s))"),
            {"p": policy, "s": outage_hours * 3600})
        started_at = conn.execute(text("SELECT clock_timestamp()")).scalar()
    t0 = time.time()
    proc = common.spawn([common.python(), "-m", "scheduler", "scheduler"],
                        common.tocsin_env(url, broker, **common.DISPATCH_ONLY),
                        "catchup-scheduler.log")
    try:
        done = common.wait_until(lambda: _behind(engine, started_at) == 0, 900, interval=0.5)
        took = time.time() - t0 if done else None
        with engine.connect() as conn:
            fired = conn.execute(text("SELECT count(*) FROM executions")).scalar()
            skipped = conn.execute(text("SELECT sum(skipped_missed) FROM schedules")).scalar()
        return {"n": n, "outage_h": outage_hours, "policy": policy, "seconds": took,
                "fired": fired, "skipped": skipped}
    finally:
        common.stop(proc)
        engine.dispose()
        common.drop_database(url)


def _behind(engine: Any, started_at: Any) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM schedules WHERE next_fire_at <= :t"),
                            {"t": started_at}).scalar()


def run(n: int = 100_000, outage_hours: float = 24) -> dict[str, Any]:
    results = [catchup(n, outage_hours, policy) for policy in ("latest", "skip")]
    table = common.print_table(
        f"Catch-up: {n:,} minutely schedules after a {outage_hours:g} h outage "
        "(seconds from scheduler start, incl. ~1-2 s start-up)",
        ["policy", "schedules", "caught up (s)", "fired", "counted skipped"],
        [[r["policy"], r["n"], r["seconds"] or "timeout", r["fired"], r["skipped"]]
         for r in results])
    return {"results": results, "table": table}


if __name__ == "__main__":
    run()
