"""What every scenario needs: fresh databases, a clean broker, processes, tables, JSON."""

from __future__ import annotations

import io
import json
import os
import platform
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil
import redis
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PG_ADMIN = os.environ.get("TOCSIN_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("TOCSIN_BENCH_REDIS", "redis://127.0.0.1:6379/13")


def machine() -> dict[str, Any]:
    engine = create_engine(PG_ADMIN)
    with engine.connect() as conn:
        pg = conn.execute(text("SHOW server_version")).scalar()
    engine.dispose()
    versions = {}
    for pkg in ("apscheduler", "celery", "celery-redbeat", "sqlalchemy", "psycopg", "croniter",
                "fastapi", "uvicorn", "redis"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "cores": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu": platform.processor() or platform.machine(), "python": platform.python_version(),
        "postgresql": pg, "redis": redis.Redis.from_url(REDIS).info()["redis_version"],
        "packages": versions, "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def fresh_database(prefix: str = "tocsin_bench") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    engine = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def drop_database(url: str) -> None:
    engine = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    engine.dispose()


def clean_redis(url: str = REDIS) -> redis.Redis:
    client = redis.Redis.from_url(url)
    client.flushdb()
    return client


def copy_rows(url: str, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Bulk load with COPY: seeding 1M schedules must not dominate a run."""
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    buf = io.StringIO()
    for row in rows:
        buf.write("\t".join("\\N" if v is None else str(v) for v in row) + "\n")
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            copy.write(buf.getvalue())
        conn.commit()


# Scenarios that time the scheduler's hand-over with no worker running (burst, failover,
# catch-up, lag, memory) count what reaches the broker: one project's fires must all go
# there, not a fair window of them (``rules.admission``; the fairness scenario measures
# that).
DISPATCH_ONLY = {"TOCSIN_PROJECT_WINDOW": "100000"}


def tocsin_env(db_url: str, broker: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    env.update({"TOCSIN_DATABASE_URL": db_url, "TOCSIN_BROKER_URL": broker,
                "PYTHONPATH": str(ROOT), "TOCSIN_LOG_LEVEL": "WARNING"})
    env.update(extra)
    return env


def spawn(args: list[str], env: dict[str, str], log: str) -> subprocess.Popen[bytes]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = (RESULTS / log).open("wb")
    return subprocess.Popen(args, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [f"### {title}", "",
             "| " + " | ".join(c.ljust(w) for c, w in zip(cells[0], widths, strict=True)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    for r in cells[1:]:
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
    out = "\n".join(lines)
    print(out + "\n", flush=True)
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if value < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def save(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str))
    return path


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def python() -> str:
    return sys.executable


def api_up(base: str) -> bool:
    """Whether a `tocsin api` at ``base`` (``…/v1``) answers its health check."""
    import httpx

    try:
        return httpx.get(base + "/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
