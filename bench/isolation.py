"""Isolation: synchronous executions of a trivial python function end to end through the
API (request in, response out), with warm runners and cold ones, sandboxed (bubblewrap,
TOCSIN_RUNNER_SANDBOX=bwrap) and not (off), and with the in-process runtime of the last
version before runners (a git worktree at BASELINE), all in one run on one machine.

One `tocsin api` and one Celery worker (concurrency 1) per version, each on its own
fresh database; the function is a file entrypoint, which both versions run. A cold
run is forced by touching the file before it (a changed file gets a new runner).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench import common

BASELINE = "a616dcd"  # the last commit that ran python functions inside the worker
KEY = "bench-key-0123456789abcdef0123456789ab"
CODE = "def main(context):\n    return context.res.text('ok')\n"
NODE_CODE = "export default async ({ res }) => res.text('ok');\n"
# (runtime, file, code) of the function each version runs
PYTHON_FN = ("python-3.12", "main.py", CODE)
NODE_FN = ("node-22", "main.js", NODE_CODE)


def _stack(tree: Path, functions_dir: Path, tag: str,
           **extra: str) -> tuple[list[Any], str, str]:
    url = common.fresh_database(f"tocsin_iso_{tag}")
    env = common.tocsin_env(url, common.REDIS, PYTHONPATH=str(tree),
                            TOCSIN_BOOTSTRAP_PROJECT="b", TOCSIN_BOOTSTRAP_KEY=KEY,
                            TOCSIN_FUNCTIONS_DIR=str(functions_dir), **extra)
    subprocess.run([common.python(), "-m", "scheduler", "migrate"], env=env, cwd=tree,
                   check=True, capture_output=True)
    port = common.free_port()
    procs = [
        subprocess.Popen([common.python(), "-m", "scheduler", "api", "--port", str(port)],
                         env=env, cwd=tree, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True),
        subprocess.Popen([common.python(), "-m", "celery", "-A", "tasks.app", "worker", "-Q",
                          "tocsin", "-c", "1", "--without-gossip", "--without-mingle",
                          "--loglevel", "WARNING"], env=env, cwd=tree,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True),
    ]
    return procs, f"http://127.0.0.1:{port}/v1", url


def _measure(base: str, code: Path, runs: int, cold: bool) -> list[float]:
    headers = {"X-Appwrite-Project": "b", "X-Appwrite-Key": KEY}
    took = []
    with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
        for _ in range(runs):
            if cold:
                now = time.time_ns()
                os.utime(code, ns=(now, now))
            started = time.perf_counter()
            resp = http.post("/functions/t/executions", json={"async": False})
            took.append((time.perf_counter() - started) * 1000)
            assert resp.status_code == 201 and resp.json()["status"] == "completed", resp.text
    return took


def _version(tree: Path, tag: str, modes: list[tuple[str, int, bool]],
             function: tuple[str, str, str] = PYTHON_FN, **extra: str) -> dict[str, list[float]]:
    runtime, entrypoint, source = function
    with tempfile.TemporaryDirectory() as tmp:
        code = Path(tmp) / "b" / "t" / entrypoint
        code.parent.mkdir(parents=True)
        code.write_text(source)
        procs, base, url = _stack(tree, Path(tmp), tag, **extra)
        try:
            headers = {"X-Appwrite-Project": "b", "X-Appwrite-Key": KEY}
            common.wait_until(lambda: common.api_up(base), 30)
            httpx.post(base + "/functions", headers=headers, json={
                "functionId": "t", "name": "t", "runtime": runtime,
                "entrypoint": entrypoint, "timeout": 15}).raise_for_status()
            _measure(base, code, 20, cold=False)  # the worker's own first-use costs
            return {label: _measure(base, code, runs, cold) for label, runs, cold in modes}
        finally:
            for proc in procs:
                common.stop(proc)
            common.drop_database(url)


def run(runs: int = 300, cold_runs: int = 40) -> dict[str, Any]:
    common.clean_redis()
    baseline = Path(tempfile.mkdtemp(prefix="tocsin-baseline-"))
    subprocess.run(["git", "worktree", "add", "--detach", str(baseline), BASELINE],
                   cwd=common.ROOT, check=True, capture_output=True)
    try:
        inline = _version(baseline, "inline", [("in-process (before runners)", runs, False)])
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(baseline)],
                       cwd=common.ROOT, capture_output=True)
    isolated = {}
    for mode in ("off", "bwrap"):
        isolated.update(_version(
            common.ROOT, f"runner_{mode}", [(f"runner, warm, sandbox {mode}", runs, False),
                                            (f"runner, cold, sandbox {mode}", cold_runs, True)],
            TOCSIN_RUNNER_SANDBOX=mode))
    isolated.update(_version(
        common.ROOT, "runner_node", [("node runner, warm, sandbox bwrap", runs, False),
                                     ("node runner, cold, sandbox bwrap", cold_runs, True)],
        NODE_FN, TOCSIN_RUNNER_SANDBOX="bwrap"))
    base50 = common.percentile(next(iter(inline.values())), 50)
    rows = []
    for label, took in {**inline, **isolated}.items():
        p50 = common.percentile(took, 50)
        rows.append([label, len(took), p50, common.percentile(took, 99), p50 - base50])
    table = common.print_table(
        "Isolation: one synchronous execution of a trivial function (python; node last) "
        "through the API (ms)",
        ["runtime", "runs", "p50 ms", "p99 ms", "p50 over in-process"], rows)
    return {"rows": rows, "table": table}

