"""One build: unpack a deployment's upload, run its ``commands`` in the sandbox with a
time limit, and pack what they leave as the artifact every worker runs.

The commands run as a runner does (``tasks.runner.sandbox``: its own namespaces, the
runner's user, the worker's network setting), with one difference: the build's own
folder is writable, since installing dependencies into it is the point. What they
see: ``PATH`` with the worker's interpreter first (``python``, ``pip``), ``HOME`` and
``TMPDIR`` of the build's own, and ``PIP_TARGET`` set to ``PACKAGES``, so Appwrite's
usual ``pip install -r requirements.txt`` installs beside the code, where the Python
runner finds it; ``npm install`` fills ``node_modules`` beside ``package.json``, where
Node finds it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from scheduler.rules.deployments import capped_logs
from tasks.deploy.archive import ArchiveError, pack, unpack
from tasks.runner import sandbox as sandboxes
from tasks.runner.context import PACKAGES
from tasks.runner.env import PASSED


@dataclass(frozen=True)
class Built:
    ok: bool
    logs: str
    artifact: bytes | None  # the built folder as a tar.gz; None when the build failed
    duration: float


def build(source: bytes, commands: str, timeout: float, sandbox: sandboxes.Sandbox | None,
          stop: threading.Event | None = None) -> Built:
    """``stop``: set when the build is no longer wanted (canceled, or its claim lost);
    its commands are then killed."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tocsin-build-", ignore_cleanup_errors=True) as at:
        root = Path(at)
        src, home, tmp = root / "src", root / "home", root / "tmp"
        for folder in (src, home, tmp):
            folder.mkdir()
        try:
            unpack(source, src)
        except ArchiveError as exc:
            return Built(False, str(exc), None, time.monotonic() - started)
        logs, ok = "", True
        if commands.strip():
            output, failure = _run(commands, root, timeout, sandbox, stop or threading.Event())
            logs = capped_logs(output).rstrip("\n")
            if failure:
                logs = f"{logs}\n{failure}" if logs else failure
                ok = False
        artifact = None
        if ok:
            try:
                artifact = pack(src)
            except ArchiveError as exc:
                logs, ok = f"{logs}\n{exc}" if logs else str(exc), False
        return Built(ok, logs, artifact, time.monotonic() - started)


def _environment(root: Path) -> dict[str, str]:
    env = {k: os.environ[k] for k in PASSED if k in os.environ}
    interpreter = os.path.dirname(sys.executable)
    env["PATH"] = ":".join(p for p in (interpreter, env.get("PATH", "/usr/bin:/bin")) if p)
    env.update({"HOME": str(root / "home"), "TMPDIR": str(root / "tmp"),
                "PIP_TARGET": str(root / "src" / PACKAGES), "PIP_NO_CACHE_DIR": "1",
                "PIP_DISABLE_PIP_VERSION_CHECK": "1", "npm_config_update_notifier": "false"})
    return env


def _run(commands: str, root: Path, timeout: float, sandbox: sandboxes.Sandbox | None,
         stop: threading.Event) -> tuple[bytes, str]:
    """The commands' output (stdout and stderr, interleaved) and why they failed ("" if
    they did not)."""
    command = ["/bin/sh", "-c", commands]
    cwd = str(root / "src")
    if sandbox is not None:
        if sandbox.uid is not None:  # the runner's user builds: its folder is its own
            _chown(root, sandbox.uid, sandbox.gid if sandbox.gid is not None else sandbox.uid)
        command = sandbox.argv(command, cwd, None, also_writable=(str(root),))
        cwd = "/"
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(command, cwd=cwd, env=_environment(root),
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True)
        code, failure = _wait(proc, time.monotonic() + timeout, stop)
        # What the commands left running in their group ends with them (in the sandbox,
        # everything does: its PID namespace dies with its shell).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        if failure == TIMED_OUT:
            failure = f"Build timed out after {timeout:g} s"
        if code is not None and sandbox is not None:
            code = sandboxes.returncode(code)
        if code:
            failure = (f"Build commands exited with code {code}" if code > 0 else
                       f"Build commands were killed by {signal.Signals(-code).name}")
        out.seek(0)
        return out.read(), failure


TIMED_OUT, STOPPED = "timed out", "Build canceled"


def _wait(proc: subprocess.Popen[bytes], deadline: float, stop: threading.Event
          ) -> tuple[int | None, str]:
    """The exit code, or None and why the commands were killed (their whole group)."""
    while True:
        try:
            return proc.wait(timeout=0.25), ""
        except subprocess.TimeoutExpired:
            why = STOPPED if stop.is_set() else TIMED_OUT if time.monotonic() > deadline else ""
            if why:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return None, why


def _chown(root: Path, uid: int, gid: int) -> None:
    for folder, dirs, files in os.walk(root):
        os.chown(folder, uid, gid, follow_symlinks=False)
        for name in (*dirs, *files):
            os.chown(os.path.join(folder, name), uid, gid, follow_symlinks=False)
