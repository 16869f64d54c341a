"""Failover: the leader is killed K times while one-shots fire every 100 ms. Time from kill
to the next dispatch; missed and duplicate fires. RedBeat with its lock timeout at the
same TTL, for comparison."""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import create_engine, text

from bench import burst, common
from bench.peers import PEER_REDIS


def tocsin(kills: int = 3, ttl: float = 5.0, gap: float = 15.0) -> dict[str, Any]:
    url = common.fresh_database()
    r = common.clean_redis()
    burst.seed_tocsin(url, 0)
    engine = create_engine(url)
    env = common.tocsin_env(url, common.REDIS, **common.DISPATCH_ONLY, TOCSIN_LEASE_TTL=str(ttl),
                            TOCSIN_REQUEUE_AFTER="3600")
    procs = {f"n{i}": common.spawn([common.python(), "-m", "scheduler", "scheduler"],
                                   {**env, "TOCSIN_NODE_NAME": f"n{i}"}, f"failover-n{i}.log")
             for i in range(3)}
    takeovers: list[float] = []
    try:
        common.wait_until(lambda: burst._leader(engine), 30)
        start = datetime.now(UTC) + timedelta(seconds=2)
        total = (kills + 1) * gap
        times = [start + timedelta(seconds=k * 0.1) for k in range(int(total * 10))]
        ids = burst.seed_oneshots(url, times)
        with engine.begin() as conn:
            conn.execute(text("NOTIFY tocsin_wakeup"))
        for k in range(kills):
            time.sleep(gap)
            with engine.connect() as conn:
                holder, epoch = conn.execute(text("SELECT holder, epoch FROM leases")).one()
                holder = holder.rsplit("#", 1)[0]
            os.killpg(procs[holder].pid, signal.SIGKILL)
            killed = time.time()
            procs[f"{holder}r{k}"] = common.spawn(
                [common.python(), "-m", "scheduler", "scheduler"],
                {**env, "TOCSIN_NODE_NAME": f"{holder}r{k}"}, f"failover-{holder}r{k}.log")
            first = common.wait_until(lambda e=epoch: _first_dispatch_after(engine, e), 60)
            takeovers.append(first - killed if first else float("nan"))
        time.sleep(gap)
        messages = Counter(json.loads(m)["headers"]["id"] for m in r.lrange("tocsin", 0, -1))
        cutoff = datetime.now(UTC) - timedelta(seconds=2)
        due_ids = [i for i, at in zip(ids, times, strict=True) if at < cutoff]
        missed = sum(1 for i in due_ids if messages[i] == 0)
        duplicates = sum(c - 1 for c in messages.values() if c > 1)
    finally:
        for proc in procs.values():
            common.stop(proc)
        engine.dispose()
        common.drop_database(url)
    return {"system": "tocsin", "ttl_s": ttl, "kills": kills, "takeover_s": takeovers,
            "max_takeover_s": max(takeovers), "missed": missed, "duplicates": duplicates}


def _first_dispatch_after(engine: Any, epoch: int) -> float | None:
    with engine.connect() as conn:
        value = conn.execute(text(
            "SELECT extract(epoch FROM min(updated_at)) FROM executions "
            "WHERE epoch > :e"), {"e": epoch}).scalar()
    return float(value) if value is not None else None


def redbeat(kills: int = 3, ttl: int = 5, gap: float = 15.0) -> dict[str, Any]:
    from datetime import timedelta as td

    from celery.schedules import schedule
    from redbeat import RedBeatSchedulerEntry

    from bench import beatapp

    r = common.clean_redis(PEER_REDIS)
    for i in range(10):
        RedBeatSchedulerEntry(f"tick{i}", "tocsin.execute", schedule(td(seconds=1)),
                              args=[f"t{i}"], app=beatapp.app).save()
    env = {**os.environ, "PYTHONPATH": str(common.ROOT), "BENCH_PEER_REDIS": PEER_REDIS,
           "BENCH_REDBEAT_LOCK_TIMEOUT": str(ttl)}
    cmd = [common.python(), "-m", "celery", "-A", "bench.beatapp", "beat", "-S",
           "redbeat.RedBeatScheduler", "--max-interval", "1", "-l", "warning"]
    procs = [common.spawn(cmd, env, f"failover-beat{i}.log") for i in range(3)]
    takeovers = []
    try:
        common.wait_until(lambda: r.llen("tocsin") > 0, 30)
        for k in range(kills):
            time.sleep(gap)
            holder = _redbeat_holder(r, procs)
            if holder is None:
                takeovers.append(float("nan"))
                continue
            os.killpg(holder.pid, signal.SIGKILL)
            killed = time.time()
            procs.remove(holder)
            procs.append(common.spawn(cmd, env, f"failover-beat-r{k}.log"))
            base = r.llen("tocsin")
            # Only the lock holder sends, so the first new message is the new holder's.
            got = common.wait_until(lambda b=base: r.llen("tocsin") > b, 120, 0.02)
            takeovers.append(time.time() - killed if got else float("nan"))
    finally:
        for proc in procs:
            common.stop(proc)
        r.flushdb()
    return {"system": "celery beat + RedBeat", "ttl_s": ttl, "kills": kills,
            "takeover_s": takeovers, "max_takeover_s": max(takeovers),
            "missed": None, "duplicates": None}


def _redbeat_holder(r: Any, procs: list[Any]) -> Any:
    """The beat process that sent the latest messages (RedBeat's lock names no pid)."""
    import psutil

    before = {p.pid: psutil.Process(p.pid).cpu_times().user for p in procs}
    time.sleep(3)
    after = {p.pid: psutil.Process(p.pid).cpu_times().user for p in procs}
    busiest = max(procs, key=lambda p: after[p.pid] - before[p.pid])
    return busiest


def run(kills: int = 3, ttl: float = 5.0) -> dict[str, Any]:
    results = [tocsin(kills, ttl), redbeat(kills, int(ttl))]
    rows = [[x["system"], x["ttl_s"], x["kills"],
             ", ".join(f"{t:.2f}" for t in x["takeover_s"]), x["max_takeover_s"],
             x["missed"] if x["missed"] is not None else "n/a",
             x["duplicates"] if x["duplicates"] is not None else "n/a"] for x in results]
    table = common.print_table(
        "Failover: leader killed while fires are due (seconds from kill to next dispatch)",
        ["system", "TTL s", "kills", "takeover s (each)", "max s", "missed", "duplicates"],
        rows)
    return {"results": results, "table": table}
