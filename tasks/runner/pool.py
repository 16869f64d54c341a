"""Warm runner processes, and the one place a function's run is bounded.

A ``Program`` is what a runner is warm for: one function's code, entrypoint,
variables and specification. ``RunnerPool.run`` takes an idle runner for the
program (or starts one), sends the request, and waits at most the timeout; then:

* a reply: the outcome, with the runner's stdout and stderr as logs and errors
  (in order, each capped); the runner goes back to the pool unless it has run
  ``max_runs`` times;
* no reply in time: the runner's process group gets SIGTERM, then SIGKILL after
  ``KILL_GRACE``: no exception the function could catch;
* the process died (segfault, ``os._exit``, out of memory, killed): a failed outcome
  that says how, and a fresh runner next time.

A process the function started in a session of its own (``setsid``) is beyond the
group kill. So the process that starts runners is their subreaper
(``PR_SET_CHILD_SUBREAPER``): whatever a runner leaves behind becomes its child, and
when a runner ends, every child of ours in another session that is not a runner is
killed and reaped (``tasks.runner.orphans``).

Runners are children of the worker process; one that loses its worker reads EOF
and exits. Thread-safe: ``tocsin up`` runs executions from several threads.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from scheduler.logs import get_logger
from scheduler.rules.specifications import Spec
from tasks.runner import orphans
from tasks.runner import sandbox as sandboxes
from tasks.runner.child import EXIT_MEMORY, memory_message
from tasks.runner.context import Request
from tasks.runner.node_start import address_limit_supported
from tasks.runner.outcome import Outcome

log = get_logger(__name__)

KILL_GRACE = 0.5  # seconds between SIGTERM and SIGKILL at a timeout
OUTPUT_LIMIT = 1_000_000  # bytes of stdout (logs) and of stderr (errors) kept per run
MAX_FILE_BYTES = 1 << 30  # the largest file a function may write (RLIMIT_FSIZE)
MAX_PROCESSES = 512  # processes and threads of the runner's user (RLIMIT_NPROC)


@dataclass(frozen=True)
class Program:
    project_id: str
    function_id: str
    entrypoint: str
    functions_dir: str
    allowed: tuple[str, ...]
    spec: Spec
    env: tuple[tuple[str, str], ...]
    cwd: str
    version: str = ""  # changes when the code does (function update, file mtime)
    code_dir: str = ""  # the function's own folder, if it has one (cwd is then it)
    language: str = "python"  # which runner: "python" (child.py) or "node" (node_start.py)


def _capture_file() -> int:
    """An anonymous append-only file for one stream of a runner: appends land at the
    end even after the worker truncates it between runs."""
    fd, path = tempfile.mkstemp(prefix="tocsin-runner-")
    os.close(fd)
    fd = os.open(path, os.O_RDWR | os.O_APPEND)
    os.unlink(path)
    return fd


def _take(fd: int) -> str:
    """What the runner wrote since the last run, as text the database can hold."""
    size = os.fstat(fd).st_size
    if size == 0:  # most runs print nothing: no read, no truncate
        return ""
    data = os.pread(fd, min(size, OUTPUT_LIMIT), 0)
    os.ftruncate(fd, 0)
    # PostgreSQL text cannot hold NUL: one printed would make the outcome unrecordable.
    text = data.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    if size > OUTPUT_LIMIT:
        text += f"\n[{size - OUTPUT_LIMIT:,} more bytes not kept]"
    return text[:-1] if text.endswith("\n") else text


# How V8 starts its report when the heap limit (or RLIMIT_DATA) stops it.
V8_REPORTS = ("\n<--- Last few GCs --->", "<--- Last few GCs --->", "FATAL ERROR:",
              "\n#\n# Fatal process out of memory", "# Fatal process out of memory")


def _v8_out_of_memory(fd: int) -> bool:
    """Whether a Node runner's stderr ends with V8's out-of-memory report; if so, the
    report (GC traces and a native stack, nothing a function's author can use) is cut
    off, and what the function wrote before it stays."""
    data = os.pread(fd, min(os.fstat(fd).st_size, OUTPUT_LIMIT), 0).decode(
        "utf-8", errors="replace")
    if "out of memory" not in data.lower():
        return False
    cut = min((at for at in (data.find(mark) for mark in V8_REPORTS) if at >= 0),
              default=len(data))
    kept = data[:cut].encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, kept, 0)
    return True


def death_message(returncode: int | None, memory_mb: int) -> str:
    if returncode == EXIT_MEMORY:
        return memory_message(memory_mb)
    if returncode is not None and returncode < 0:
        sig = signal.Signals(-returncode)
        return f"Runtime process was killed by {sig.name} ({signal.strsignal(sig)})"
    return f"Runtime process exited with code {returncode} before returning a response"


class Runner:
    """One runner process and its pipes."""

    def __init__(self, program: Program, max_file_bytes: int = MAX_FILE_BYTES,
                 max_processes: int = MAX_PROCESSES,
                 sandbox: sandboxes.Sandbox | None = None, turn: int = 0) -> None:
        if sandbox is None:  # a sandbox's PID namespace ends what it leaves behind
            orphans.become_subreaper()
        self.program = program
        self.sandbox = sandbox
        self.runs = 0
        self.ready = False
        self.out, self.err = _capture_file(), _capture_file()
        ours, theirs = socket.socketpair()
        spec = program.spec
        start = "tasks.runner.node_start" if program.language == "node" else "tasks.runner.child"
        command = [sys.executable, "-P", "-m", start, str(theirs.fileno())]
        env, cwd = dict(program.env), program.cwd
        if sandbox is not None:  # its own folder, or its private /tmp, and nothing else
            cwd = program.code_dir or sandboxes.HOME
            env["HOME"] = cwd
            command = sandbox.argv(command, cwd, program.code_dir or None)
            cwd = "/"
        try:
            self.proc = subprocess.Popen(
                command, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                stdout=self.out, stderr=self.err, pass_fds=(theirs.fileno(),),
                start_new_session=True, close_fds=True)
        except BaseException:  # nothing started: leave no descriptor behind
            ours.close()
            for fd in (self.out, self.err):
                os.close(fd)
            raise
        finally:
            theirs.close()
        orphans.RUNNERS.add(self.proc.pid)
        self.conn = Connection(ours.detach())
        self.conn.send_bytes(json.dumps({
            "projectId": program.project_id, "functionId": program.function_id,
            "entrypoint": program.entrypoint, "functionsDir": program.functions_dir,
            "allowed": list(program.allowed), "memory": spec.memory, "cores": spec.cores,
            "cpus": spec.cpus, "maxFileBytes": max_file_bytes,
            "maxProcesses": max_processes, "turn": turn,
            "addressLimit": program.language == "node" and address_limit_supported()},
        ).encode())

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def call(self, request: Request, execution_id: str, timeout: float) -> tuple[Outcome, bool]:
        """The outcome, and whether this runner may serve again."""
        deadline = time.monotonic() + timeout
        try:
            if not self.ready:
                hello = self._receive(deadline)
                if hello is None:
                    return self._timed_out(timeout), False
                if not hello.get("ready"):
                    return self._failed(str(hello.get("error", "cannot load"))), False
                self.ready = True
            self.conn.send_bytes(json.dumps({
                "executionId": execution_id,
                "request": {"method": request.method, "path": request.path,
                            "headers": request.headers,
                            "body": base64.b64encode(request.body).decode()}}).encode())
            reply = self._receive(deadline)
        except (EOFError, OSError):
            return self._died(), False
        except (ValueError, TypeError):  # not our protocol: user code wrote to the socket
            self.kill()
            return self._failed("Runtime process broke the runner protocol"), False
        if reply is None:
            return self._timed_out(timeout), False
        self.runs += 1
        code = reply.get("statusCode", 500)
        if type(code) is not int or not 100 <= code <= 599:  # Node's server refuses it too
            return self._failed(f"Function returned status code {code!r}; "
                                "allowed: 100 to 599"), True
        outcome = Outcome(status_code=code,
                          failed=bool(reply.get("failed")),
                          responded=not reply.get("error"),
                          body=base64.b64decode(reply.get("body", "")),
                          headers=dict(reply.get("headers") or {}))
        self._collect(outcome, reply.get("error", ""))
        return outcome, True

    def _receive(self, deadline: float) -> dict[str, Any] | None:
        if not self.conn.poll(max(0.0, deadline - time.monotonic())):
            return None
        reply: dict[str, Any] = json.loads(self.conn.recv_bytes())
        return reply

    def _collect(self, outcome: Outcome, error: str = "") -> Outcome:
        outcome.logs = _take(self.out)
        error = error.replace("\x00", "\ufffd")  # a traceback quotes the function's text
        outcome.errors = "\n".join(e for e in (_take(self.err), error) if e)
        return outcome

    def _failed(self, error: str) -> Outcome:
        return self._collect(Outcome(status_code=500, failed=True), error)

    def _timed_out(self, timeout: float) -> Outcome:
        self.kill()
        outcome = self._failed(f"Operation timed out after {timeout:g} s")
        outcome.timed_out = True
        return outcome

    def _died(self) -> Outcome:
        code: int | None
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # closed its end but lives on: end it
            self.kill()
            code = self.proc.returncode
        if self.sandbox is not None:
            code = sandboxes.returncode(code)
        if self.program.language == "node" and _v8_out_of_memory(self.err):
            return self._failed(memory_message(self.program.spec.memory))
        return self._failed(death_message(code, self.program.spec.memory))

    def kill(self, grace: float = KILL_GRACE) -> None:
        """SIGTERM to the runner's process group, SIGKILL after the grace (none: SIGKILL
        at once); then what it left in sessions of their own."""
        steps = ((signal.SIGTERM, grace),) if grace > 0 else ()
        for sig, wait in (*steps, (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        self._ended()

    def _ended(self) -> None:
        if self.proc.poll() is not None:
            orphans.RUNNERS.discard(self.proc.pid)
            orphans.end_orphans()

    def close(self) -> None:
        self.conn.close()  # a warm runner reads EOF and exits
        if self.alive:
            try:
                self.proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                self.kill()
        self._ended()
        for fd in (self.out, self.err):
            os.close(fd)


class RunnerPool:
    """``sandbox``: how runners are confined (``tasks.runner.sandbox``); None runs them
    as plain processes. ``configure``: decides it instead, when the first runner starts
    in this process (the worker's pool reads ``TOCSIN_RUNNER_*`` so)."""

    def __init__(self, max_idle_per_program: int = 2, max_idle: int = 16,
                 max_runs: int = 1000, max_file_bytes: int = MAX_FILE_BYTES,
                 max_processes: int = MAX_PROCESSES,
                 sandbox: sandboxes.Sandbox | None = None,
                 configure: Callable[[], sandboxes.Sandbox | None] | None = None) -> None:
        self.sandbox = sandbox
        self._configure = configure
        self.max_idle_per_program = max_idle_per_program
        self.max_idle = max_idle
        self.max_runs = max_runs
        self.max_file_bytes = max_file_bytes
        self.max_processes = max_processes
        self._idle: OrderedDict[Program, list[Runner]] = OrderedDict()
        self._running: dict[str, Runner] = {}  # execution id -> the runner running it
        self._lock = threading.Lock()
        self._started = itertools.count()  # runners started: their cores are taken in turn

    def run(self, program: Program, request: Request, execution_id: str,
            timeout: float) -> Outcome:
        runner = self._checkout(program)
        if runner is None:
            if self._configure is not None:
                self.sandbox, self._configure = self._configure(), None
            # In turn from this process's id: the pool is made before Celery forks its
            # children, and each child's runners must not start on the same core.
            turn = os.getpid() + next(self._started)
            runner = Runner(program, self.max_file_bytes, self.max_processes, self.sandbox,
                            turn)
            log.info("runner.started", function_id=program.function_id, pid=runner.proc.pid)
        reusable = False
        with self._lock:
            self._running[execution_id] = runner
        try:
            outcome, reusable = runner.call(request, execution_id, timeout)
        finally:
            with self._lock:
                self._running.pop(execution_id, None)
            if reusable and runner.runs < self.max_runs and runner.alive:
                self._checkin(runner)
            else:
                runner.close()
        return outcome

    def cancel(self, execution_id: str) -> bool:
        """Stop the runner running ``execution_id`` at once (SIGKILL to its process
        group, from any thread): its call then ends as a killed run. False when this
        pool runs no such execution."""
        with self._lock:
            runner = self._running.get(execution_id)
        if runner is None:
            return False
        runner.kill(grace=0.0)
        return True

    def _checkout(self, program: Program) -> Runner | None:
        with self._lock:
            idle = self._idle.get(program, [])
            while idle:
                runner = idle.pop()
                if runner.alive:
                    self._idle.move_to_end(program)
                    return runner
                runner.close()
        return None

    def _checkin(self, runner: Runner) -> None:
        evicted: list[Runner] = []
        with self._lock:
            idle = self._idle.setdefault(runner.program, [])
            idle.append(runner)
            self._idle.move_to_end(runner.program)
            while len(idle) > self.max_idle_per_program:
                evicted.append(idle.pop(0))
            while sum(len(v) for v in self._idle.values()) > self.max_idle:
                program, oldest = next(iter(self._idle.items()))
                evicted.append(oldest.pop(0))
                if not oldest:
                    del self._idle[program]
        for old in evicted:
            old.close()

    def close(self) -> None:
        with self._lock:
            runners = [r for idle in self._idle.values() for r in idle]
            self._idle.clear()
        for runner in runners:
            runner.close()


