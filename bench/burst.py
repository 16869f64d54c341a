"""Burst: N cron schedules due in the same instant. Seconds from the due instant until
all N execution messages are on the broker (and, for Tocsin, all N rows committed)."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import create_engine, text

from bench import common
from scheduler.store.migrate import upgrade

FAR = "2100-01-01 00:00:00+00"


def seed_tocsin(url: str, n: int, cron: str = "* * * * *") -> None:
    upgrade(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO projects (id, name, created_at) VALUES ('b','b',now())"))
        conn.execute(text(
            "INSERT INTO functions (project_id, id, name, runtime, execute, events, schedule, "
            "timeout, enabled, logging, entrypoint, url, timezone, missed_policy, misfire_grace,"
            " catchup_window, catchup_cap, created_at, updated_at) VALUES ('b','f','f',"
            "'python-3.12','[]','[]','',15,true,true,'x:y','','UTC','latest',60,86400,100,"
            "now(),now())"))
    engine.dispose()
    now = datetime.now(UTC).isoformat()
    cols = ("id", "project_id", "function_id", "key", "cron", "timezone", "next_fire_at",
            "paused", "pause_note", "disabled", "missed_policy", "misfire_grace",
            "catchup_window", "catchup_cap", "payload", "skipped_missed", "skipped_paused",
            "skipped_disabled", "last_skip_reason", "created_at", "updated_at")
    for start in range(0, n, 100_000):
        rows = []
        for _ in range(start, min(n, start + 100_000)):
            sid = uuid.uuid4().hex[:20]
            rows.append((sid, "b", "f", sid, cron, "UTC", FAR, "f", "", "f", "latest", 60, 86400,
                         100, "{}", 0, 0, 0, "", now, now))
        common.copy_rows(url, "schedules", cols, rows)


def seed_oneshots(url: str, times: list[datetime]) -> list[str]:
    """One-shots (status scheduled) due at ``times``, loaded with COPY; returns their ids."""
    now = datetime.now(UTC).isoformat()
    ids = [uuid.uuid4().hex[:20] for _ in times]
    rows = [(eid, "b", "f", "schedule", "scheduled", "f", "POST", "/", "{}", "", 0, "[]", "",
             "", 0.0, 0, at.isoformat(), now, now) for eid, at in zip(ids, times, strict=True)]
    common.copy_rows(url, "executions", (
        "id", "project_id", "function_id", "trigger", "status", "sync", "request_method",
        "request_path", "request_headers", "request_body", "response_status_code",
        "response_headers", "logs", "errors", "duration", "attempts", "scheduled_at",
        "created_at", "updated_at"), rows)
    return ids


def tocsin(n: int, batch: int = 5000, kind: str = "cron") -> dict[str, Any]:
    """``kind`` cron: N schedules due at once; oneshot: N ``scheduledAt`` rows due at once
    (made through the store as the API makes them, in a freshly filled table)."""
    url = common.fresh_database()
    broker = common.REDIS
    r = common.clean_redis(broker)
    seed_tocsin(url, 0 if kind == "oneshot" else n)
    if kind == "oneshot":
        seed_oneshots(url, [datetime(2100, 1, 1, tzinfo=UTC)] * n)
    proc = common.spawn([common.python(), "-m", "scheduler", "scheduler"],
                        common.tocsin_env(url, broker, TOCSIN_DISPATCH_BATCH=str(batch),
                                          **common.DISPATCH_ONLY),
                        "burst-scheduler.log")
    engine = create_engine(url)
    try:
        held = common.wait_until(lambda: _leader(engine), 30)
        assert held, "no leader"
        time.sleep(1)
        with engine.begin() as conn:
            # A whole minute at least 3 s ahead: `* * * * *` fires there once, and its
            # next fire (a minute later) stays out of the measurement.
            due = conn.execute(text(
                "SELECT date_trunc('minute', clock_timestamp() + interval '63 second')")).scalar()
            if kind == "oneshot":
                conn.execute(text("UPDATE executions SET scheduled_at = :d"), {"d": due})
            else:
                conn.execute(text("UPDATE schedules SET next_fire_at = :d"), {"d": due})
            conn.execute(text("NOTIFY tocsin_wakeup"))
        due_ts = due.timestamp()
        done_sql = ("SELECT count(*) = 0 FROM executions WHERE status = 'scheduled'"
                    if kind == "oneshot" else f"SELECT count(*) >= {n} FROM executions")
        t_rows = t_msgs = None
        time.sleep(max(0.0, due_ts - time.time() - 0.5))
        deadline = time.time() + 600
        while time.time() < deadline and (t_rows is None or t_msgs is None):
            if t_msgs is None and r.llen("tocsin") >= n:
                t_msgs = time.time() - due_ts
            if t_rows is None:
                with engine.connect() as conn:
                    if conn.execute(text(done_sql)).scalar():
                        t_rows = time.time() - due_ts
            time.sleep(0.05)
        messages = r.lrange("tocsin", 0, -1)
        dupes = len(messages) - len({json.loads(m)["headers"]["id"] for m in messages})
        return {"system": "tocsin" if kind == "cron" else "tocsin one-shots", "n": n,
                "rows_s": t_rows, "broker_s": t_msgs,
                "fires_per_s": n / t_msgs if t_msgs else None, "duplicates": dupes}
    finally:
        common.stop(proc)
        engine.dispose()
        common.drop_database(url)


def _leader(engine: Any) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(text(
            "SELECT 1 FROM leases WHERE expires_at > clock_timestamp()")).first())


def run(ns: list[int], peers: list[str]) -> dict[str, Any]:
    results = []
    for n in ns:
        results.append(tocsin(n))
        results.append(tocsin(n, kind="oneshot"))
        for peer in peers:
            from bench import peers as peer_mod

            results.append(getattr(peer_mod, f"burst_{peer}")(n))
    rows = []
    for res in results:
        base = next(x for x in results if x["system"] == "tocsin" and x["n"] == res["n"])
        ratio = (res["broker_s"] / base["broker_s"]) if res.get("broker_s") and base[
            "broker_s"] else None
        rows.append([res["system"], res["n"], res.get("rows_s") or "-", res.get("broker_s") or
                     "timeout", res.get("fires_per_s") or "-",
                     f"{ratio:.1f}x" if ratio else "-"])
    table = common.print_table(
        "Burst: N cron schedules (or N scheduledAt one-shots) due at once "
        "(seconds from due instant)",
        ["system", "N", "rows committed (s)", "all on broker (s)", "fires/s",
         "time vs Tocsin"], rows)
    return {"results": results, "table": table}


if __name__ == "__main__":
    print(run([10_000, 100_000], []))
