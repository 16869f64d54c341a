"""`tocsin up` on a machine with nothing running: SQLite + in-process broker."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import timedelta

import httpx

from tests.helpers import ROOT, free_port, wait_for


def start_up(tmp_path, port, workers: int = 4):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("TOCSIN_") or k in ("TOCSIN_SYNC_TIMEOUT",
                                                   "TOCSIN_ENTRYPOINT_MODULES",
                                                   "TOCSIN_FUNCTIONS_DOMAIN")}
    env.update({"PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"})
    log = (tmp_path / "up.log").open("ab")
    proc = subprocess.Popen([sys.executable, "-m", "scheduler", "up", "--port", str(port),
                             "--workers", str(workers)],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=log)
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline().decode()
        lines.append(line)
        if line.startswith("project:"):
            break
    return proc, lines


def healthy(base: str) -> bool:
    try:
        return httpx.get(base + "/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def read_key(proc) -> str:
    line = proc.stdout.readline().decode()
    match = re.match(r"key: (\S+)", line)
    assert match, line
    return match.group(1)


FIRST_FUNCTION = ("import os\n\n\ndef main(context):\n"
                  "    return context.res.text(os.environ['APPWRITE_FUNCTION_API_ENDPOINT'])\n")


def test_up_runs_executes_stops_and_keeps_schedules(tmp_path):
    port = free_port()
    # A file function where the default (relative) functions directory puts it (#35).
    code = tmp_path / "functions" / "default" / "echo" / "src" / "main.py"
    code.parent.mkdir(parents=True)
    code.write_text(FIRST_FUNCTION)
    proc, lines = start_up(tmp_path, port)
    try:
        assert any(f"http://127.0.0.1:{port}/v1" in line for line in lines), lines
        key = read_key(proc)
        base = f"http://127.0.0.1:{port}/v1"
        headers = {"X-Appwrite-Project": "default", "X-Appwrite-Key": key}
        wait_for(lambda: healthy(base), 30, what="health")
        r = httpx.post(base + "/functions", headers=headers, json={
            "functionId": "f1", "name": "F", "runtime": "python-3.12",
            "entrypoint": "tests.fixtures.functions:hello", "schedule": "0 * * * *"})
        assert r.status_code == 201, r.text
        ex = httpx.post(base + "/functions/f1/executions", headers=headers,
                        json={"async": True}).json()
        assert ex["status"] == "waiting"
        done = wait_for(lambda: (e := httpx.get(f"{base}/functions/f1/executions/{ex['$id']}",
                                                headers=headers).json())["status"]
                        == "completed" and e, 30, what="the execution to complete")
        assert done["logs"] == "hello from POST /"
        # The file function runs with the relative default directory, and is told the
        # API's real port (#35 items 1 and 2: "not found", and :8080, before).
        r = httpx.post(base + "/functions", headers=headers, json={
            "functionId": "echo", "name": "echo", "runtime": "python-3.12",
            "entrypoint": "src/main.py"})
        assert r.status_code == 201, r.text
        r = httpx.post(base + "/functions/echo/executions", headers=headers,
                       json={"async": False}, timeout=30)
        assert (r.status_code, r.json()["status"]) == (201, "completed"), r.text
        assert r.json()["responseBody"] == f"http://127.0.0.1:{port}/v1"
        # A cron fire on SQLite: the hourly schedule is moved to a second from now (the
        # database's own clock), and the embedded scheduler's poll dispatches it.
        from scheduler.store.models import Schedule
        from tests.helpers import Store

        db = Store(f"sqlite:///{tmp_path}/tocsin.db")
        try:
            with db.session() as s, s.begin():
                for sched in s.query(Schedule).all():
                    sched.next_fire_at = db.now() + timedelta(seconds=1)
        finally:
            db.close()

        def cron_fired() -> dict | None:
            listed = httpx.get(f"{base}/functions/f1/executions", headers=headers, params={
                "queries[0]": '{"method":"equal","attribute":"trigger","values":["schedule"]}'
            }).json()["executions"]
            return listed[0] if listed and listed[0]["status"] == "completed" else None

        fired = wait_for(cron_fired, 30, what="the cron fire on SQLite")
        assert fired["logs"] == "hello from POST /"
        before = httpx.get(base + "/scheduler/schedules", headers=headers).json()
        assert before["total"] == 1
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (tmp_path / "tocsin.db").exists()

    proc, lines = start_up(tmp_path, port)
    try:
        assert proc.poll() is None
        wait_for(lambda: healthy(base), 30, what="health")
        after = httpx.get(base + "/scheduler/schedules", headers=headers).json()
        assert after["schedules"][0]["$id"] == before["schedules"][0]["$id"]
        assert after["schedules"][0]["nextFireAt"] == before["schedules"][0]["nextFireAt"]
        listed = httpx.get(base + "/functions/f1/executions", headers=headers).json()
        assert listed["total"] == 2
        assert {e["status"] for e in listed["executions"]} == {"completed"}
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_up_builds_and_runs_a_deployment_on_sqlite(tmp_path):
    """Deployments with the embedded default: chunks in SQLite, the build in-process."""
    from appwrite.client import Client
    from appwrite.input_file import InputFile
    from appwrite.services.functions import Functions

    from tests.fixtures.archives import BUILD, archive

    port = free_port()
    proc, _ = start_up(tmp_path, port, workers=2)
    try:
        key = read_key(proc)
        base = f"http://127.0.0.1:{port}/v1"
        wait_for(lambda: healthy(base), 30, what="health")
        functions = Functions(Client().set_endpoint(base).set_project("default").set_key(key))
        functions.create("web", "web", runtime="python-3.12", entrypoint="src/main.py")
        d = functions.create_deployment(
            "web", InputFile.from_bytes(archive("up", padding=6 * 1024 * 1024), "code.tar.gz"),
            activate=True, commands=BUILD)
        wait_for(lambda: functions.get("web").deploymentid == d.id, 60,
                 what="the deployment built and activated")
        run = functions.create_execution("web")
        assert run.responsebody == '{"version":"up","greeting":"hello Ada"}', run.errors
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
