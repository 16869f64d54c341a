"""Deployments (#34) through the official Python SDK, on the production topology: a real
API, scheduler and Celery worker (whose builder builds in the sandbox) on PostgreSQL
and Redis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest
import redis
from appwrite.client import Client
from appwrite.exception import AppwriteException
from appwrite.input_file import InputFile
from appwrite.query import Query
from appwrite.services.functions import Functions

from scheduler.rules.deployments import CHUNK_SIZE
from scheduler.store.db import make_engine, make_sessionmaker, transaction
from scheduler.store.projects import add_key, ensure_project
from tests.conftest import REDIS_URL, empty_database
from tests.fixtures.archives import BUILD, NODE_BUILD, archive, node_archive
from tests.helpers import Proc, start_api, start_scheduler, start_worker, tocsin_env, wait_for

KEY = "deploy-key-0123456789abcdef0123456789"
OTHER_KEY = "deploy-other-0123456789abcdef01234567"
pytestmark = pytest.mark.slow


class Stack:
    """One stack for the module (its tests use functions of their own): API, scheduler
    and a worker, with builds leased for ``LEASE`` seconds."""

    def __init__(self, env: dict[str, str], tmp: Path) -> None:
        self.env, self.tmp = env, tmp
        api, self.base = start_api(env, tmp)
        self.procs = [api, start_scheduler(env, "s1", tmp)]
        self.worker = self.start_worker("w1")

    def start_worker(self, name: str) -> Proc:
        proc = start_worker(self.env, name, self.tmp)
        self.procs.append(proc)
        wait_for(lambda: " ready." in proc.output(), 30, what=f"worker {name}")
        return proc

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "scheduler", *args], env=self.env,
                              capture_output=True, text=True, timeout=60)

    def builds(self) -> list[str]:
        """What builds wrote to the shared ledger (each line: one build that started)."""
        path = self.tmp / "ledger" / "builds.txt"
        return path.read_text().split() if path.exists() else []


LEASE = 3


@pytest.fixture(scope="module")
def stack(pg_url_session, tmp_path_factory):
    empty_database(pg_url_session)
    broker = REDIS_URL.rsplit("/", 1)[0] + f"/{1 + os.getpid() % 14}"
    redis.Redis.from_url(broker).flushdb()
    tmp = tmp_path_factory.mktemp("deployments")
    (tmp / "ledger").mkdir()
    env = tocsin_env(pg_url_session, broker, TOCSIN_BOOTSTRAP_PROJECT="dp",
                     TOCSIN_BOOTSTRAP_KEY=KEY, TOCSIN_LEASE_TTL="2",
                     TOCSIN_BUILD_LEASE=str(LEASE), TOCSIN_DEPLOYMENT_CACHE=str(tmp / "cache"),
                     FIXTURE_LEDGER=str(tmp / "ledger" / "builds.txt"))
    s = Stack(env, tmp)
    engine = make_engine(pg_url_session)
    with transaction(make_sessionmaker(engine)) as session:
        ensure_project(session, "other")
        add_key(session, "other", OTHER_KEY, ["functions.read", "functions.write",
                                             "executions.read", "executions.write"])
    engine.dispose()
    yield s
    for proc in s.procs:
        proc.stop()
    empty_database(pg_url_session)


def sdk(stack: Stack, key: str = KEY, project: str = "dp") -> Functions:
    return Functions(Client().set_endpoint(stack.base).set_project(project).set_key(key))


def v(value: object) -> object:
    return getattr(value, "value", value)


def built(functions: Functions, deployment_id: str, fid: str = "web", timeout: float = 90):
    """The deployment once its build has ended."""
    def done():
        d = functions.get_deployment(fid, deployment_id)
        return d if v(d.status) in ("ready", "failed", "canceled") else None
    return wait_for(done, timeout, interval=0.3, what=f"deployment {deployment_id} built")


def body(execution) -> dict:
    assert v(execution.status) == "completed", (execution.errors, execution.logs)
    return json.loads(execution.responsebody)


def test_the_sdk_uploads_builds_activates_and_runs_deployments(stack):
    functions = sdk(stack)
    functions.create("web", "web", runtime="python-3.12", entrypoint="src/main.py",
                     execute=["any"])
    small = functions.create_deployment(
        "web", InputFile.from_bytes(archive("v1"), "code.tar.gz"), activate=True,
        commands=BUILD)
    assert v(small.status) == "waiting" and small.sourcesize < CHUNK_SIZE
    first = built(functions, small.id)
    assert v(first.status) == "ready", first.buildlogs
    assert "Successfully installed greeter-1.0" in first.buildlogs
    fn = functions.get("web")
    assert (fn.deploymentid, fn.latestdeploymentid) == (small.id, small.id)
    assert body(functions.create_execution("web")) == {"version": "v1",
                                                        "greeting": "hello Ada"}

    # Over 5 MiB: the SDK sends 5 MiB chunks, all after the first at once (up to 8).
    big_code = archive("v2", padding=22 * 1024 * 1024)
    big = functions.create_deployment(
        "web", InputFile.from_bytes(big_code, "code.tar.gz"), activate=False, commands=BUILD)
    assert big.sourcesize == len(big_code) and big.sourcesize > 4 * CHUNK_SIZE
    assert (big.chunksUploaded, big.chunksTotal) == (5, 5)  # the completing answer
    assert v(built(functions, big.id).status) == "ready"
    assert functions.get_deployment_download("web", big.id) == big_code
    assert functions.get("web").deploymentid == small.id  # not activated by itself
    listed = functions.list_deployments("web")
    assert listed.total == 2 and {d.id for d in listed.deployments} == {small.id, big.id}

    # A run started on v1 finishes on v1; runs claimed after the switch run v2.
    slow = functions.create_execution("web", xasync=True, path="/slow")
    wait_for(lambda: v(functions.get_execution("web", slow.id).status) == "processing", 30,
             what="the slow run to start")
    assert functions.update_function_deployment("web", big.id).deploymentid == big.id
    second = functions.create_execution("web")
    assert body(second)["version"] == "v2" and second.deploymentid == big.id
    finished = wait_for(lambda: (lambda e: e if v(e.status) != "processing" else None)(
        functions.get_execution("web", slow.id)), 30, what="the slow run to end")
    assert v(finished.status) == "completed" and finished.deploymentid == small.id
    assert finished.logs == "running v1"  # its code, not the one activated meanwhile
    on_big = functions.list_executions("web", queries=[Query.equal("deploymentId", big.id)])
    assert [e.id for e in on_big.executions] == [second.id]
    assert functions.get_deployment_download("web", big.id, type="output")[:2] == b"\x1f\x8b"


def test_a_switch_under_a_backlog_runs_each_run_on_the_code_it_claimed(stack):
    """Activation races the worker draining a backlog: every run ran exactly the
    deployment it records, once, and the switch splits the backlog in two."""
    functions = sdk(stack)
    functions.create("drain", "drain", runtime="python-3.12", entrypoint="src/main.py")
    old, new = (functions.create_deployment(
        "drain", InputFile.from_bytes(archive(version), "code.tar.gz"),
        activate=version == "v1", commands=BUILD) for version in ("v1", "v2"))
    for d in (old, new):
        assert v(built(functions, d.id, "drain").status) == "ready"
    assert functions.get("drain").deploymentid == old.id
    runs = [functions.create_execution("drain", xasync=True, path="/nap").id
            for _ in range(120)]

    def finished() -> list:
        page = functions.list_executions("drain", queries=[Query.limit(200)])
        return [e for e in page.executions if v(e.status) in ("completed", "failed")]

    wait_for(lambda: len(finished()) >= 10, 60, what="a tenth of the backlog")
    functions.update_function_deployment("drain", new.id)
    done = wait_for(lambda: (lambda f: f if len(f) == len(runs) else None)(finished()), 120,
                    what="the backlog to drain")
    assert sorted(e.id for e in done) == sorted(runs)
    ran = {old.id: "running v1", new.id: "running v2"}
    assert all(v(e.status) == "completed" and e.logs == ran[e.deploymentid] for e in done)
    counts = {d: sum(e.deploymentid == d for e in done) for d in ran}
    assert counts[old.id] >= 10 and counts[new.id] > 0, counts


def test_a_node_deployment_installs_its_package_json_dependencies(stack):
    functions = sdk(stack)
    functions.create("node", "node", runtime="node-20.0", entrypoint="src/main.js")
    d = functions.create_deployment("node", InputFile.from_bytes(node_archive(), "code.tar.gz"),
                                    activate=True, commands=NODE_BUILD)
    done = built(functions, d.id, "node")
    assert v(done.status) == "ready" and "added 1 package" in done.buildlogs, done.buildlogs
    assert body(functions.create_execution("node")) == {"greeting": "hello Ada"}


def test_a_failing_build_reports_its_logs_and_changes_nothing(stack):
    functions = sdk(stack)
    functions.create("broken", "broken", runtime="python-3.12", entrypoint="src/main.py")
    bad = functions.create_deployment(
        "broken", InputFile.from_bytes(archive("v1"), "code.tar.gz"), activate=True,
        commands="echo compiling the assets; echo oops >&2; exit 3")
    done = built(functions, bad.id, "broken")
    assert v(done.status) == "failed"
    assert "compiling the assets" in done.buildlogs and "oops" in done.buildlogs
    assert "exited with code 3" in done.buildlogs
    fn = functions.get("broken")
    assert fn.deploymentid == "" and fn.latestdeploymentstatus == "failed"
    with pytest.raises(AppwriteException) as refused:
        functions.update_function_deployment("broken", bad.id)
    assert (refused.value.code, refused.value.type) == (400, "build_not_ready")
    # A hostile build sees nothing of the worker: not its environment, not its processes.
    probe = functions.create_deployment(
        "broken", InputFile.from_bytes(archive("v1"), "code.tar.gz"), activate=False,
        commands="env; cat /proc/*/environ | tr '\\0' '\\n'; ls /proc | grep -c '^[0-9]'; "
                 "touch /usr/owned && echo WROTE-USR; setsid sleep 377 > /dev/null 2>&1 &")
    logs = built(functions, probe.id, "broken").buildlogs
    assert "PIP_TARGET=" in logs  # the probe ran
    assert "TOCSIN_" not in logs and KEY not in logs and "WROTE-USR" not in logs
    # What it left running in a session of its own ended with it.
    assert not [p for p in psutil.process_iter(["cmdline"])
                if p.info["cmdline"] == ["sleep", "377"]]
    # Operators read the same from the CLI.
    listed = json.loads(stack.cli("deployments", "--project", "dp", "--function", "broken",
                                  "--json").stdout)
    assert {d["$id"]: d["status"] for d in listed}[bad.id] == "failed"
    shown = stack.cli("deployments", "logs", bad.id)
    assert shown.returncode == 0 and "compiling the assets" in shown.stdout
    missing = stack.cli("deployments", "logs", "nope")
    assert missing.returncode == 1 and missing.stderr.strip() == (
        "error: no deployment with id 'nope' (see `tocsin deployments`)")
    # Not a tar.gz at all: the build says so.
    junk = functions.create_deployment(
        "broken", InputFile.from_bytes(b"\x1f\x8bjunk", "c.tar.gz"), activate=False)
    assert "not a readable tar.gz archive" in built(functions, junk.id, "broken").buildlogs


def test_one_projects_deployments_are_invisible_to_another(stack):
    mine, theirs = sdk(stack), sdk(stack, OTHER_KEY, "other")
    mine.create("iso", "iso", runtime="python-3.12", entrypoint="src/main.py")
    d = mine.create_deployment("iso", InputFile.from_bytes(archive("v1"), "code.tar.gz"),
                               activate=False, commands=BUILD)
    theirs.create("iso", "iso", runtime="python-3.12", entrypoint="src/main.py")
    for call in (lambda: theirs.get_deployment("iso", d.id),
                 lambda: theirs.get_deployment_download("iso", d.id),
                 lambda: theirs.update_function_deployment("iso", d.id),
                 lambda: theirs.delete_deployment("iso", d.id)):
        with pytest.raises(AppwriteException) as missing:
            call()
        assert (missing.value.code, missing.value.type) == (404, "deployment_not_found")
    assert theirs.list_deployments("iso").total == 0
    assert mine.get_deployment("iso", d.id).id == d.id


def test_uploads_are_checked_as_appwrite_checks_them(stack):
    client = httpx.Client(base_url=stack.base, timeout=30, headers={
        "X-Appwrite-Project": "dp", "X-Appwrite-Key": KEY})
    functions = sdk(stack)
    functions.create("checked", "checked", runtime="python-3.12", entrypoint="")
    files = {"code": ("code.tar.gz", archive("v1"), "application/gzip")}

    def post(**kwargs):
        return client.post("/functions/checked/deployments", **kwargs)

    cases = [
        (post(data={"activate": "false"}), 400, "storage_file_empty"),
        (post(files={"code": ("code.zip", b"PK", "application/zip")},
              data={"entrypoint": "main.py"}), 400, "storage_file_type_unsupported"),
        (post(files=files), 404, "function_entrypoint_missing"),
        (post(files=files, data={"entrypoint": "tests.fixtures.functions:ok"}), 400,
         "general_argument_invalid"),
        (post(files=files, data={"entrypoint": "src/main.py"},
              headers={"content-range": "bytes 0-9/100"}), 400,
         "storage_invalid_content_range"),
        (post(files={"code": ("c.tar.gz", b"x" * 100, "application/gzip")},
              data={"entrypoint": "src/main.py"},
              headers={"content-range": "bytes 0-99/40000000"}), 400,
         "storage_invalid_content_range"),
        (post(files={"code": ("c.tar.gz", b"x" * CHUNK_SIZE, "application/gzip")},
              data={"entrypoint": "src/main.py"},
              headers={"content-range": f"bytes 0-{CHUNK_SIZE - 1}/40000000"}), 400,
         "storage_invalid_file_size"),
    ]
    for answer, status, kind in cases:
        assert (answer.status_code, answer.json()["type"]) == (status, kind), answer.text
    assert "30,000,000" in cases[-1][0].json()["message"]
    ok = post(files=files, data={"entrypoint": "src/main.py", "activate": "true"})
    assert ok.status_code == 202 and ok.json()["status"] == "waiting", ok.text
    # A chunk naming another function's deployment does not reach it.
    functions.create("checked2", "checked2", runtime="python-3.12", entrypoint="src/main.py")
    stray = client.post("/functions/checked2/deployments", files=files, headers={
        "x-appwrite-id": ok.json()["$id"],
        "content-range": f"bytes 0-{len(files['code'][1]) - 1}/{len(files['code'][1])}"})
    assert (stray.status_code, stray.json()["type"]) == (404, "deployment_not_found")
    client.close()


def test_canceling_a_running_build_stops_it(stack):
    functions = sdk(stack)
    functions.create("slowbuild", "slowbuild", runtime="python-3.12", entrypoint="src/main.py")
    ledger = stack.tmp / "ledger" / "builds.txt"
    d = functions.create_deployment(
        "slowbuild", InputFile.from_bytes(archive("v1"), "code.tar.gz"), activate=True,
        commands=f"echo cancel-me >> {ledger}; sleep 60")
    wait_for(lambda: "cancel-me" in stack.builds(), 30, what="the build to start")
    canceled = functions.update_deployment_status("slowbuild", d.id)
    assert v(canceled.status) == "canceled"
    wait_for(lambda: f"build.stopped project_id=dp deployment_id={d.id}"
             in stack.worker.output(), LEASE + 5, what="the builder to stop the build")
    wait_for(lambda: f"deployment_id={d.id} ok=False" in stack.worker.output(), 10,
             what="the build's end")
    after = functions.get_deployment("slowbuild", d.id)
    assert v(after.status) == "canceled" and functions.get("slowbuild").deploymentid == ""
    with pytest.raises(AppwriteException) as again:
        functions.update_deployment_status("slowbuild", d.id)
    assert (again.value.code, again.value.type) == (400, "build_already_completed")


def test_a_build_whose_worker_is_killed_is_taken_over_and_built_once(stack):
    """kill -9 of the worker mid-build: its lease runs out, another worker builds it,
    and the deployment ends ready and active once."""
    functions = sdk(stack)
    functions.create("survivor", "survivor", runtime="python-3.12", entrypoint="src/main.py")
    ledger = stack.tmp / "ledger" / "builds.txt"
    d = functions.create_deployment(
        "survivor", InputFile.from_bytes(archive("v9"), "code.tar.gz"), activate=True,
        commands=f"echo survivor >> {ledger}; sleep 3; {BUILD}")
    wait_for(lambda: "survivor" in stack.builds(), 30, what="the build to start")
    stack.worker.kill_group()
    assert v(functions.get_deployment("survivor", d.id).status) == "building"
    stack.worker = stack.start_worker("w2")
    done = built(functions, d.id, "survivor", timeout=60)
    assert v(done.status) == "ready", done.buildlogs
    assert stack.builds().count("survivor") == 2  # the killed build, then the one that ended
    assert functions.get("survivor").deploymentid == d.id
    assert body(functions.create_execution("survivor"))["version"] == "v9"
