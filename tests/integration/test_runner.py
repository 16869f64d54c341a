"""Runner processes (tasks/runner), driven directly: real child processes, no mocks.

Each test names the promise it guards (issue #12); the mutation it kills is in its
docstring where that is not obvious.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from tasks.runner import sandbox
from tasks.runner.context import Request
from tasks.runner.pool import OUTPUT_LIMIT, RunnerPool
from tasks.runtimes import python as python_runtime

ALLOWED = ("tests.fixtures",)
FN = "tests.fixtures.functions:"


@pytest.fixture(params=["off", "bwrap"])
def pool(request):
    """Every runner test, unconfined and in the sandbox (#30)."""
    runners = RunnerPool(sandbox=sandbox.resolve(request.param, "host", "nobody", 64,
                                                 ALLOWED))
    yield runners
    runners.close()


def run(pool, name, timeout=10.0, query="", **kwargs):
    return python_runtime.run("p1", "f1", FN + name, "", Request("GET", "/" + query, {}, b""),
                              timeout, ALLOWED, pool=pool, execution_id="e1", **kwargs)


def body(outcome):
    assert not outcome.failed, outcome.errors
    return json.loads(outcome.body)


def test_runners_stay_warm_and_a_new_program_gets_its_own(pool):
    first = body(run(pool, "env_dump"))["runner"]
    assert body(run(pool, "env_dump"))["runner"] == first
    other = body(run(pool, "env_dump", variables={"A": "1"}))
    assert other["runner"] != first and other["pid"] != os.getpid()


def alive(marker: str) -> list[int]:
    """Host pids of processes whose last argument is ``marker`` (whatever namespace)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if marker.encode() in args and state != "Z":
            found.append(int(entry.name))
    return found


def test_the_environment_is_clean_and_carries_appwrite_and_variables(pool, monkeypatch):
    """Killed mutation: passing os.environ through (the worker's secrets leak)."""
    monkeypatch.setenv("TOCSIN_DATABASE_URL", "postgresql://secret@db/x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "hunter2")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")
    env = body(run(pool, "env_dump", variables={"GREETING": "hi", "APPWRITE_FUNCTION_ID": "x"},
                   function_name="Env", runtime="python-3.12", api_endpoint="http://api/v1",
                   passed=("HTTPS_PROXY", "TOCSIN_DATABASE_URL")))["env"]
    assert not [k for k in env if k.startswith("TOCSIN_")]
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert env["HTTPS_PROXY"] == "http://proxy:3128"  # passed on by the operator
    assert env["GREETING"] == "hi"
    assert {k: env[k] for k in env if k.startswith("APPWRITE_FUNCTION_")} == {
        "APPWRITE_FUNCTION_ID": "f1", "APPWRITE_FUNCTION_NAME": "Env",
        "APPWRITE_FUNCTION_PROJECT_ID": "p1", "APPWRITE_FUNCTION_RUNTIME_NAME": "Python",
        "APPWRITE_FUNCTION_RUNTIME_VERSION": "3.12",
        "APPWRITE_FUNCTION_API_ENDPOINT": "http://api/v1",
        "APPWRITE_FUNCTION_EXECUTION_ID": "e1", "APPWRITE_FUNCTION_CPUS": "1",
        "APPWRITE_FUNCTION_MEMORY": "512"}


def test_a_function_that_catches_everything_is_killed_with_its_children(pool):
    """Killed mutation: a catchable timeout (the old in-process FunctionTimeout) or a
    kill of the runner alone (its grandchild would live on)."""
    started = time.monotonic()
    marker = f"immortal-{os.urandom(6).hex()}"
    out = run(pool, "immortal", timeout=1.0, query=f"?marker={marker}")
    assert out.failed and out.timed_out and "timed out after 1 s" in out.errors
    assert time.monotonic() - started < 5
    assert re.search(r"grandchild (\d+)", out.logs)  # it did start one
    deadline = time.monotonic() + 5
    while alive(marker) and time.monotonic() < deadline:
        time.sleep(0.05)  # reaped by init once killed
    assert not alive(marker)


@pytest.mark.parametrize(("name", "message"), [
    ("segfault", "killed by SIGSEGV (Segmentation fault)"),
    ("exit_three", "exited with code 3 before returning a response"),
])
def test_a_crash_is_a_failed_run_and_the_next_run_works(pool, name, message):
    out = run(pool, name)
    assert out.failed and out.status_code == 500 and message in out.errors
    assert body(run(pool, "env_dump"))["pid"] != os.getpid()


def test_system_exit_fails_the_run_and_keeps_the_runner(pool):
    out = run(pool, "system_exit")
    assert out.failed and "Function raised SystemExit: 3" in out.errors
    assert not run(pool, "system_exit").errors.startswith("Runtime process")


def test_memory_beyond_the_specification_fails_with_the_limit(pool):
    out = run(pool, "hog", query="?mb=2048", spec="s-1vcpu-512mb")
    assert out.failed and "memory limit of 512 MB exceeded" in out.errors
    assert run(pool, "hog", query="?mb=600", spec="s-1vcpu-1gb").body == str(
        600 * 1024 * 1024).encode()


def test_cpus_of_the_specification_bound_the_cores(pool):
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs 2 cores to tell 1 from 2")
    assert body(run(pool, "env_dump", spec="s-1vcpu-512mb"))["cores"] == 1
    assert body(run(pool, "env_dump", spec="s-2vcpu-2gb"))["cores"] == 2


def test_runners_started_one_after_another_are_pinned_to_different_cores(pool):
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs 2 cores")
    # Two programs (their variables differ), so two runners, each of one core.
    first = body(run(pool, "env_dump", variables={"V": "1"}))["affinity"]
    second = body(run(pool, "env_dump", variables={"V": "2"}))["affinity"]
    assert len(first) == len(second) == 1 and first != second  # not both on the first


def test_prints_and_context_logs_keep_their_order(pool):
    out = run(pool, "chatty")
    assert out.logs == "out 1\nlog 2\nout 3"
    assert out.errors == "err 1\nerr 2"
    again = run(pool, "chatty")  # the same runner: nothing left over from the last run
    assert again.logs == "out 1\nlog 2\nout 3"


def test_output_is_capped(pool):
    out = run(pool, "loud")
    assert len(out.logs) < OUTPUT_LIMIT + 100
    assert out.logs.endswith(f"[{3 * 1024 * 1024 - OUTPUT_LIMIT:,} more bytes not kept]")


def test_a_runner_is_recycled_after_max_runs():
    pool = RunnerPool(max_runs=2)
    try:
        pids = [body(run(pool, "env_dump"))["pid"] for _ in range(3)]
    finally:
        pool.close()
    assert pids[0] == pids[1] != pids[2]


def test_changed_code_gets_a_new_runner(tmp_path, pool):
    code = tmp_path / "p1" / "f1" / "main.py"
    code.parent.mkdir(parents=True)
    code.write_text("def main(context):\n    return context.res.text('one')\n")

    def call():
        return python_runtime.run("p1", "f1", "main.py", str(tmp_path),
                                  Request("GET", "/", {}, b""), 5, (), pool=pool).body

    assert call() == b"one"
    code.write_text("def main(context):\n    return context.res.text('two')\n")
    os.utime(code, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert call() == b"two"


def test_closing_the_pool_ends_its_runners():
    pool = RunnerPool()
    pid = body(run(pool, "env_dump"))["pid"]
    pool.close()
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists()


def test_functions_without_code_get_their_own_working_directory(pool):
    """Module entrypoints of two functions never share a directory (files one writes
    are not the other's), and neither runs in the worker's own directory."""
    def home(project, function):
        out = python_runtime.run(project, function, FN + "note", "",
                                 Request("GET", "/", {}, b""), 10, ALLOWED, pool=pool)
        return json.loads(out.body)

    seen = [home("p1", "a"), home("p1", "b"), home("p2", "a")]
    assert [s["files"] for s in seen] == [["a"], ["b"], ["a"]]  # each its own files
    homes = {s["home"] for s in seen}
    assert os.getcwd() not in homes
    if pool.sandbox is None:  # a folder each; in a sandbox, each its own private /tmp
        assert len(homes) == 3


def test_garbage_on_the_runner_channel_fails_the_run_not_the_worker(pool):
    out = run(pool, "forge_reply")
    assert out.failed and "broke the runner protocol" in out.errors
    assert body(run(pool, "env_dump"))["pid"] != os.getpid()


# ------------------------------------------------------------------ #29 item 8: limits


def test_a_process_in_a_session_of_its_own_dies_with_its_runner(pool):
    """Kills the group kill alone: a grandchild that called setsid() survived the
    timeout's SIGKILL of the runner's process group, and ran on unbounded."""
    marker = f"daemon-{os.urandom(6).hex()}"
    out = run(pool, "daemonize", timeout=1.0, query=f"?marker={marker}")
    assert out.failed and out.timed_out
    assert not alive(marker)  # killed and reaped when its runner ended, not later


def test_file_size_and_process_limits_are_set_in_the_runner(tmp_path):
    """Kills a runner without RLIMIT_FSIZE and RLIMIT_NPROC: a function could fill the
    disk, and (as an unprivileged worker's user) fork without bound."""
    small = RunnerPool(max_file_bytes=1 << 20, max_processes=300)
    try:
        got = body(run(small, "limits", query="?bytes=2000000"))
        assert got["wrote"] == "File too large"
        limits = {line[:26].strip(): line[26:].split()[:2]
                  for line in got["limits"].splitlines()[1:]}
        assert limits["Max file size"] == [str(1 << 20)] * 2
        assert limits["Max processes"] == ["300", "300"]
        assert body(run(small, "limits", query="?bytes=1000"))["wrote"] == "yes"
    finally:
        small.close()


def test_a_module_in_the_functions_folder_cannot_stand_in_for_the_limits(tmp_path, pool):
    """Kills starting the runner with the function's folder first on its import path:
    a ``resource.py`` there replaced the module that applies the memory limit."""
    code = tmp_path / "p1" / "f1"
    (code / "src").mkdir(parents=True)
    (code / "resource.py").write_text(
        "RLIMIT_AS = RLIMIT_FSIZE = RLIMIT_NPROC = 0\n"
        "def setrlimit(*args):\n    pass\n")
    (code / "src" / "main.py").write_text(
        "def main(context):\n"
        "    hog = bytearray(700 * 1024 * 1024)\n"
        "    return context.res.text(str(len(hog)))\n")
    out = python_runtime.run("p1", "f1", "src/main.py", str(tmp_path),
                             Request("GET", "/", {}, b""), 10.0, (), pool=pool,
                             execution_id="e1")
    assert out.failed and "memory limit of 512 MB exceeded" in out.errors
