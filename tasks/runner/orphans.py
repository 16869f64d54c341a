"""What unconfined runners leave behind: processes in sessions of their own, ended
with them. (A sandboxed runner needs none of this: its PID namespace ends with it.)

A runner's process group is killed at a timeout, but a process the function started
with ``setsid`` (a daemon) is in no group of the runner's and would live on. Linux
lets the process that starts runners be their *subreaper*: whatever a runner's
descendants orphan becomes its child instead of init's. When a runner ends, every
child of ours that is no live runner, lives in another session than ours and carries
a function's environment (``APPWRITE_FUNCTION_ID``, which every runner is started
with) is one of those: it is killed and reaped. Other orphans this process adopts (a
daemon some other code of ours started: a test restarting Redis) are not a runner's,
and are left alone. A function that means harm can shed that environment; against it
there is the sandbox.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

from scheduler.logs import get_logger

log = get_logger(__name__)

PR_SET_CHILD_SUBREAPER = 36
RUNNERS: set[int] = set()  # pids of this process's live runners, every pool's
_subreaper_pid = 0  # the process that made itself subreaper (a forked child must again)


def become_subreaper() -> None:
    """Orphans of our runners become our children, not init's (Linux; once per process:
    the flag is not inherited across fork)."""
    global _subreaper_pid
    if _subreaper_pid == os.getpid() or not sys.platform.startswith("linux"):
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        log.warning("runner.subreaper_unavailable", errno=ctypes.get_errno())
    _subreaper_pid = os.getpid()


def _children() -> list[int]:
    """Our children's pids, read from /proc (zombies included)."""
    me, found = os.getpid(), []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()  # after "pid (comm) "
        if len(fields) > 1 and int(fields[1]) == me:
            found.append(int(entry))
    return found


MARKER = b"APPWRITE_FUNCTION_ID="  # in every runner's environment (tasks.runner.env)


def _a_functions(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            return any(v.startswith(MARKER) for v in fh.read().split(b"\0"))
    except OSError:
        return False


def end_orphans() -> int:
    """Kill and reap what runners left behind: our children that are no runner, live in
    another session than ours (a runner's, or one they made with setsid) and carry a
    function's environment."""
    if _subreaper_pid != os.getpid():
        return 0
    mine = os.getsid(0)
    orphans = []
    for pid in _children():
        try:
            if pid not in RUNNERS and os.getsid(pid) != mine and _a_functions(pid):
                os.kill(pid, signal.SIGKILL)
                orphans.append(pid)
        except (ProcessLookupError, PermissionError):
            continue
    for pid in orphans:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    if orphans:
        log.warning("runner.orphans_killed", count=len(orphans))
    return len(orphans)
