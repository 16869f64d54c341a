"""Confinement (#30): a hostile function, run by the production topology with default
settings (API, scheduler and Celery worker processes on PostgreSQL and Redis), tries
every escape from inside its runner and reports what worked. Nothing may have."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from scheduler.store.models import Execution
from tasks.runner import sandbox
from tasks.runner.context import Request
from tasks.runner.pool import RunnerPool
from tasks.runtimes import python as python_runtime
from tests.helpers import ROOT, start_api, start_scheduler, start_worker, tocsin_env, wait_for

KEY = "confinement-key-0123456789abcdef012345"

# What a hostile author would try, reported rather than raised: every probe returns
# what it got, so one test shows every escape at once.
HOSTILE = '''
import json, os, signal, socket, glob

def attempt(fn):
    try:
        return fn()
    except Exception as exc:
        return "refused: " + type(exc).__name__

def environ_of(pid):
    with open(f"/proc/{pid}/environ", "rb") as fh:
        return fh.read().decode(errors="replace")

def writes(path):
    with open(path, "a") as fh:
        fh.write("owned")
    return "wrote"

def main(context):
    orders = json.loads(context.req.body_text)
    me = os.getpid()
    pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    leaked = [p for p in pids if p != me and "TOCSIN_" in (attempt(lambda: environ_of(p)) or "")]
    signalled = [p for p in orders["pids"] + [q for q in pids if q != me]
                 if attempt(lambda: os.kill(p, 0)) is None]
    report = {
        "visiblePids": pids,
        "leakedEnvironments": leaked,
        "signalled": signalled,
        "operatorFile": attempt(lambda: open(orders["operatorFile"]).read()),
        "otherProjectCode": attempt(lambda: open(orders["otherCode"]).read()),
        "otherFunctionCode": attempt(lambda: open(orders["siblingCode"]).read()),
        "writes": {path: attempt(lambda: writes(path)) for path in orders["writes"]},
        "installedCode": {path: attempt(lambda: writes(path)) for path in orders["installed"]},
        "tmp": attempt(lambda: writes("/tmp/scratch")),
        "variable": os.environ.get("GREETING"),
        "user": os.getuid(),
    }
    return context.res.json(report)
'''

# The same probes written for the Node runner (node-*), which starts differently.
HOSTILE_NODE = '''
import fs from "node:fs";

const attempt = (fn) => {
  try { const got = fn(); return got === undefined ? null : got; }
  catch (err) { return "refused: " + (err.code || err.name); }
};
const writes = (path) => { fs.appendFileSync(path, "owned"); return "wrote"; };
const each = (paths) => Object.fromEntries(paths.map((p) => [p, attempt(() => writes(p))]));

export default async ({ req, res }) => {
  const orders = JSON.parse(req.bodyText);
  const me = process.pid;
  const pids = fs.readdirSync("/proc").filter((p) => /^[0-9]+$/.test(p)).map(Number);
  const environOf = (pid) => fs.readFileSync(`/proc/${pid}/environ`).toString();
  return res.json({
    visiblePids: pids,
    leakedEnvironments: pids.filter(
      (p) => p !== me && String(attempt(() => environOf(p))).includes("TOCSIN_")),
    signalled: [...orders.pids, ...pids.filter((q) => q !== me)].filter(
      (p) => attempt(() => process.kill(p, 0)) === true),
    operatorFile: attempt(() => fs.readFileSync(orders.operatorFile, "utf8")),
    otherProjectCode: attempt(() => fs.readFileSync(orders.otherCode, "utf8")),
    otherFunctionCode: attempt(() => fs.readFileSync(orders.siblingCode, "utf8")),
    writes: each(orders.writes),
    installedCode: each(orders.installed),
    tmp: attempt(() => writes("/tmp/scratch")),
    variable: process.env.GREETING ?? null,
    user: process.getuid(),
  });
};
'''


@pytest.fixture
def hostile_stack(pg_url, broker_url, tmp_path):
    functions = tmp_path / "functions"
    for project, function, name, text in (
            ("pa", "hostile", "main.py", HOSTILE), ("pa", "hostile", "main.js", HOSTILE_NODE),
            ("pa", "sibling", "main.py", "SIBLING = 'secret'\n"),
            ("pb", "other", "main.py", "OTHER_PROJECT = 'secret'\n")):
        folder = functions / project / function / "src"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    secret = tmp_path / "operator-secret.env"
    secret.write_text("TOCSIN_DATABASE_URL=postgresql://operator:hunter2@db/prod\n")
    secret.chmod(0o644)
    env = tocsin_env(pg_url, broker_url, TOCSIN_BOOTSTRAP_PROJECT="pa",
                     TOCSIN_BOOTSTRAP_KEY=KEY, TOCSIN_FUNCTIONS_DIR=str(functions))
    for name in [n for n in env if n.startswith("TOCSIN_RUNNER_")]:
        if name != "TOCSIN_RUNNER_PASS_ENV":  # the defaults, as an operator gets them
            del env[name]
    api, base = start_api(env, tmp_path)
    procs = [api, start_scheduler(env, "s1", tmp_path), start_worker(env, "w1", tmp_path)]
    client = httpx.Client(base_url=base, timeout=30,
                          headers={"X-Appwrite-Project": "pa", "X-Appwrite-Key": KEY})
    yield client, procs, functions, secret
    client.close()
    for proc in procs:
        proc.stop()


@pytest.mark.parametrize(("runtime", "entrypoint", "code"), [
    ("python-3.12", "src/main.py", HOSTILE), ("node-22", "src/main.js", HOSTILE_NODE)])
def test_a_hostile_function_reaches_nothing_of_the_worker_or_other_projects(
        hostile_stack, store, runtime, entrypoint, code):
    client, procs, functions, secret = hostile_stack
    api, _, worker = procs
    r = client.post("/functions", json={"functionId": "hostile", "name": "hostile",
                                        "runtime": runtime, "entrypoint": entrypoint})
    assert r.status_code == 201, r.text
    r = client.post("/functions/hostile/variables", json={"key": "GREETING", "value": "hi"})
    assert r.status_code == 201, r.text
    installed = [str(Path(sandbox.__file__)), str(ROOT / "scheduler" / "__init__.py"),
                 str(Path(httpx.__file__))]
    orders = {
        "pids": [api.pid, worker.pid, os.getpid()],
        "operatorFile": str(secret),
        "otherCode": str(functions / "pb" / "other" / "src" / "main.py"),
        "siblingCode": str(functions / "pa" / "sibling" / "src" / "main.py"),
        "writes": [str(functions / "pa" / "hostile" / entrypoint), "/dev/shm/planted",
                   str(functions / "pa" / "hostile" / "planted.py"),
                   str(ROOT / "planted.txt"), "/var/tmp/planted", str(secret.parent / "x")],
        "installed": installed,
    }
    wait_for(lambda: " ready." in worker.output(), 30, what="the worker")
    r = client.post("/functions/hostile/executions",
                    json={"async": False, "body": json.dumps(orders)})
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "completed", r.json()["errors"]
    report = json.loads(r.json()["responseBody"])
    assert report["leakedEnvironments"] == []
    assert report["signalled"] == []
    assert max(report["visiblePids"]) < 10  # its own PID namespace: a handful of pids
    for probe in ("operatorFile", "otherProjectCode", "otherFunctionCode"):
        assert report[probe].startswith("refused"), (probe, report[probe])
    assert all(v.startswith("refused") for v in report["writes"].values()), report["writes"]
    assert all(v.startswith("refused") for v in report["installedCode"].values())
    assert report["tmp"] == "wrote"  # its private /tmp
    assert report["variable"] == "hi"  # an ordinary function still has its variables
    assert report["user"] == 65534  # nobody, the default TOCSIN_RUNNER_USER
    assert not (ROOT / "planted.txt").exists()
    assert (functions / "pa" / "hostile" / entrypoint).read_text() == code
    assert store.get(Execution, r.json()["$id"]).status == "completed"


def _confined(tmp_path: Path, name: str, code: str, network: str = "host") -> dict:
    """Run ``code`` (a main.py) once in a runner confined as a root worker confines it
    (bubblewrap, as nobody, on ``network``); its JSON answer."""
    folder = tmp_path / "p1" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "main.py").write_text(code)
    pool = RunnerPool(sandbox=sandbox.resolve("bwrap", network, "nobody", 64, ()))
    try:
        out = python_runtime.run("p1", name, "main.py", str(tmp_path),
                                 Request("GET", "/", {}, b""), 10, (), pool=pool)
    finally:
        pool.close()
    assert not out.failed, out.errors
    return json.loads(out.body)


def test_without_a_network_a_function_reaches_no_local_service(tmp_path):
    """TOCSIN_RUNNER_NETWORK=none: its own loopback, so PostgreSQL's and Redis' ports on
    the host are out of reach; with host, they answer (and need their passwords)."""
    probe = ("import json, socket\n"
             "def main(context):\n"
             "    out = {}\n"
             "    for port in (5432, 6379):\n"
             "        s = socket.socket(); s.settimeout(2)\n"
             "        try:\n"
             "            s.connect(('127.0.0.1', port)); out[port] = 'connected'\n"
             "        except OSError as exc:\n"
             "            out[port] = type(exc).__name__\n"
             "        finally:\n"
             "            s.close()\n"
             "    return context.res.json(out)\n")
    for network, expected in (("none", "ConnectionRefusedError"), ("host", "connected")):
        got = _confined(tmp_path, f"probe{network}", probe, network)
        assert got == {"5432": expected, "6379": expected}, network


def test_bwrap_mode_refuses_to_start_a_worker_without_a_sandbox(tmp_path):
    """One line, exit non-zero; auto mode starts with one warning instead."""
    env = {**os.environ, "PATH": str(tmp_path), "TOCSIN_RUNNER_SANDBOX": "bwrap",
           "PYTHONPATH": str(ROOT)}  # no bwrap on this PATH
    out = subprocess.run([sys.executable, "-m", "scheduler", "worker"], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "TOCSIN_RUNNER_SANDBOX=bwrap" in lines[0], out.stderr
    assert "bubblewrap" in lines[0]


def test_a_confined_function_can_resolve_names_and_verify_certificates(tmp_path):
    """As another user in its sandbox, a function still reads what name resolution and
    TLS need (bwrap made /etc 0700 on the way to its binds: every lookup of a host name
    and every certificate check failed for a runner dropped to nobody)."""
    got = _confined(tmp_path, "net", (
        "import os, socket, ssl\n"
        "def main(context):\n"
        "    return context.res.json({\n"
        "        'uid': os.getuid(),\n"
        "        'resolv': os.access('/etc/resolv.conf', os.R_OK),\n"
        "        'hosts': os.access('/etc/hosts', os.R_OK),\n"
        "        'localhost': socket.getaddrinfo('localhost', 80)[0][4][0],\n"
        "        'certs': len(ssl.create_default_context().get_ca_certs()) > 0\n"
        "                 or bool(os.listdir('/etc/ssl/certs')),\n"
        "    })\n"))
    assert got["uid"] != 0 and got["resolv"] and got["hosts"] and got["certs"], got
    assert got["localhost"] in ("127.0.0.1", "::1"), got
