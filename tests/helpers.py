"""Seeding rows and running real Tocsin processes for integration tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from scheduler.rules.ids import new_id
from scheduler.store.db import db_now, make_engine, make_sessionmaker, transaction
from scheduler.store.models import Execution, Function, Project, Schedule

ROOT = Path(__file__).resolve().parents[1]


class Store:
    """Direct access to the test database (the API would normally write these rows)."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.sessions = make_sessionmaker(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def now(self) -> datetime:
        with transaction(self.sessions) as s:
            return db_now(s)

    def project(self, pid: str = "p1") -> str:
        with transaction(self.sessions) as s:
            if s.get(Project, pid) is None:
                s.add(Project(id=pid, name=pid))
        return pid

    def function(self, fid: str = "f1", project: str = "p1", **fields: Any) -> str:
        self.project(project)
        defaults: dict[str, Any] = {"name": fid, "runtime": "python-3.12",
                                    "entrypoint": "tests.fixtures.functions:hello",
                                    "execute": [], "events": []}
        defaults.update(fields)
        with transaction(self.sessions) as s:
            s.add(Function(project_id=project, id=fid, **defaults))
        return fid

    def schedule(self, function: str = "f1", cron: str = "* * * * *", *, at: datetime,
                 project: str = "p1", key: str | None = None, **fields: Any) -> str:
        sid = uuid.uuid4().hex[:20]
        with transaction(self.sessions) as s:
            s.add(Schedule(id=sid, project_id=project, function_id=function,
                           key=key or sid, cron=cron, next_fire_at=at, payload={},
                           **fields))
        return sid

    def oneshot(self, function: str = "f1", *, at: datetime, project: str = "p1",
                path: str = "/") -> str:
        eid = new_id()
        now = self.now()
        with transaction(self.sessions) as s:
            s.add(Execution(id=eid, project_id=project, function_id=function, trigger="schedule",
                            status="scheduled", scheduled_at=at, request_method="POST",
                            request_path=path, request_headers={}, request_body="",
                            created_at=now, updated_at=now))
        return eid

    def waiting(self, function: str = "f1", *, project: str = "p1", path: str = "/",
                sync: bool = False) -> str:
        eid = new_id()
        now = self.now()
        with transaction(self.sessions) as s:
            s.add(Execution(id=eid, project_id=project, function_id=function, trigger="http",
                            status="waiting", request_method="GET", request_path=path,
                            request_headers={"x-custom": "1"}, request_body="hi", sync=sync,
                            created_at=now, updated_at=now))
        return eid

    def executions(self) -> list[Execution]:
        with transaction(self.sessions) as s:
            return list(s.execute(select(Execution).order_by(Execution.created_at)).scalars())

    def get(self, model: Any, key: Any) -> Any:
        with transaction(self.sessions) as s:
            return s.get(model, key)

    def scalar(self, sql: str, **params: Any) -> Any:
        with transaction(self.sessions) as s:
            return s.execute(text(sql), params).scalar()

    def session(self) -> Session:
        return self.sessions()


def seed_schedules(url: str, n: int, at: datetime, function: str = "f1", project: str = "p1",
                   cron: str = "* * * * *", policy: str = "latest", grace: int = 60) -> None:
    """``n`` schedules due ``at``, loaded with COPY (a burst, as bench/ makes one)."""
    import psycopg

    cols = ("id", "project_id", "function_id", "key", "cron", "timezone", "next_fire_at",
            "paused", "pause_note", "disabled", "missed_policy", "misfire_grace",
            "catchup_window", "catchup_cap", "payload", "skipped_missed", "skipped_paused",
            "skipped_disabled", "last_skip_reason", "created_at", "updated_at")
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn, \
            conn.cursor() as cur, \
            cur.copy(f"COPY schedules ({', '.join(cols)}) FROM STDIN") as copy:
        for _ in range(n):
            sid = uuid.uuid4().hex[:20]
            copy.write_row((sid, project, function, sid, cron, "UTC", at, False, "", False,
                            policy, grace, 86400, 100, "{}", 0, 0, 0, "", at, at))


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.1,
             what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def tocsin_env(db_url: str, broker: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    env.update({"TOCSIN_DATABASE_URL": db_url, "TOCSIN_BROKER_URL": broker,
                "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1",
                # The test functions are modules; the test servers are on loopback.
                "TOCSIN_ENTRYPOINT_MODULES": "tests.fixtures",
                "TOCSIN_HTTP_DENY_PRIVATE": "false",
                # Fixtures count their runs in a ledger file named by FIXTURE_LEDGER.
                "TOCSIN_RUNNER_PASS_ENV": "FIXTURE_LEDGER"})
    env.update(extra)
    ledger = extra.get("FIXTURE_LEDGER")
    if ledger:  # sandboxed runners write it as TOCSIN_RUNNER_USER: a shared directory
        folder = Path(ledger).parent
        folder.chmod(0o777)
        env["TOCSIN_RUNNER_WRITABLE"] = str(folder)
    return env


class Proc:
    """A real child process with its output in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path,
                 stop_signal: int = signal.SIGTERM) -> None:
        self.log = log
        self.stop_signal = stop_signal
        self._fh = log.open("ab")
        self.popen = subprocess.Popen(args, env=env, cwd=ROOT, stdout=self._fh,
                                      stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def signal(self, sig: int) -> None:
        os.kill(self.popen.pid, sig)

    def kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)

    def stop(self, timeout: float = 10) -> None:
        if self.popen.poll() is None and self.stop_signal == signal.SIGKILL:
            self.kill_group()
        elif self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGCONT)
                self.popen.send_signal(self.stop_signal)
                self.popen.wait(timeout)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                self.kill_group()
        self._fh.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_scheduler(env: dict[str, str], name: str, tmp: Path) -> Proc:
    env = {**env, "TOCSIN_NODE_NAME": name}
    return Proc([sys.executable, "-m", "scheduler", "scheduler"], env, tmp / f"{name}.log")


def start_worker(env: dict[str, str], name: str, tmp: Path, concurrency: int = 2) -> Proc:
    # Killed with its children at the end: a test is done with it, and even Celery's
    # cold shutdown waits 2 s for its pool (workers are killed mid-run in chaos tests
    # anyway: nothing a test checks depends on a clean stop).
    return Proc([sys.executable, "-m", "celery", "-A", "tasks.app", "worker", "-Q", "tocsin",
                 "-c", str(concurrency), "-n", f"{name}@%h", "--without-gossip",
                 "--without-mingle", "--loglevel", "INFO"], env, tmp / f"{name}.log",
                stop_signal=signal.SIGKILL)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_api(env: dict[str, str], tmp: Path, name: str = "api",
              port: int | None = None) -> tuple[Proc, str]:
    """A real `tocsin api` process; returns it and its base URL (``.../v1``) once it serves."""
    import httpx

    port = port or free_port()
    proc = Proc([sys.executable, "-m", "scheduler", "api", "--port", str(port)], env,
                tmp / f"{name}.log")
    base = f"http://127.0.0.1:{port}/v1"

    def healthy() -> bool:
        try:
            return httpx.get(base + "/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(healthy, 30, what="the API to serve")
    return proc, base


def node_of(holder: str) -> str:
    """The node name a holder was started with (holders are ``name#random``)."""
    return holder.rsplit("#", 1)[0]


def leader(store: Store) -> tuple[str, int] | None:
    """(node name, epoch) of the live lease."""
    with transaction(store.sessions) as s:
        row = s.execute(text(
            "SELECT holder, epoch FROM leases WHERE name='leader' AND expires_at > :now"),
            {"now": db_now(s)}).first()
    return (node_of(row.holder), row.epoch) if row else None


def utc(seconds_from_now: float, now: datetime | None = None) -> datetime:
    return (now or datetime.now(UTC)) + timedelta(seconds=seconds_from_now)
