"""Confinement of runner processes with bubblewrap (Debian's ``bubblewrap``, the tool
Flatpak uses), from what Linux offers without a container engine.

Each sandboxed runner gets its own PID, IPC and UTS namespaces and a mount namespace
holding only what it needs, read-only: the system's ``/usr`` (and the ``/bin``,
``/lib`` links into it), a few files of ``/etc`` (name resolution, certificates,
time zone), the interpreter and its site-packages, Tocsin's own runner code and the
packages of the allowed entrypoint modules, and its function's own folder
(``<functions dir>/<project>/<function>``, no other project's or function's). Its only
writable place is a private, size-capped ``/tmp``; ``/proc`` shows its own processes
only. With ``TOCSIN_RUNNER_NETWORK=none`` it has a network namespace of its own (its
own loopback, nothing else). It dies with its worker (``--die-with-parent``), runs in
a session of its own (``--new-session``: no terminal to inject into), and, when the
worker runs as root, as ``TOCSIN_RUNNER_USER`` (default ``nobody``) with no
capabilities and no way to gain any (``setpriv``, no-new-privs).

``TOCSIN_RUNNER_SANDBOX``: ``auto`` (default) uses it when it works here and logs
one ``runner.sandbox_unavailable`` warning otherwise; ``bwrap`` refuses to start a
worker without it; ``off`` runs runners as plain processes (isolation from
mistakes, not from an author who means harm).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePosixPath

from scheduler.logs import get_logger
from scheduler.rules.errors import ConfigError

log = get_logger(__name__)

# What of /etc a program needs to resolve names, verify TLS and know the time.
ETC = ("resolv.conf", "hosts", "nsswitch.conf", "host.conf", "gai.conf", "localtime",
       "ssl", "ca-certificates", "ca-certificates.conf", "passwd", "group", "mime.types")
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
RUNNER_PACKAGES = ("tasks", "scheduler")  # the runner's own code (tasks.runner.child)
SIGNALLED = 128  # bwrap exits 128 + n for a command killed by signal n
# The working directory and HOME of a runner without a folder of its own: inside its
# private /tmp, but apart from the folders bwrap makes there on the way to binds (when
# code lives under /tmp on the host).
HOME = "/tmp/home"


class Mode(StrEnum):
    AUTO = "auto"
    BWRAP = "bwrap"
    OFF = "off"


class Network(StrEnum):
    HOST = "host"  # the worker's network, as Appwrite functions reach the internet
    NONE = "none"  # its own loopback only


@dataclass(frozen=True)
class Sandbox:
    bwrap: str
    network: Network = Network.HOST
    uid: int | None = None  # drop to this user (the worker is root)
    gid: int | None = None
    tmp_bytes: int = 64 * 1024 * 1024
    allowed: tuple[str, ...] = ()  # readable code: directories of the allowed packages
    writable: tuple[str, ...] = ()  # directories the operator shares read-write

    def argv(self, command: list[str], cwd: str, code_dir: str | None,
             also_writable: tuple[str, ...] = ()) -> list[str]:
        """``command`` run inside the sandbox, in ``cwd``; ``code_dir``: the function's
        own folder, the only code of the functions directory it can read;
        ``also_writable``: folders this command alone may write (a build's own)."""
        args = [self.bwrap, "--unshare-pid", "--unshare-ipc", "--unshare-uts",
                "--unshare-cgroup-try", "--die-with-parent", "--new-session",
                "--proc", "/proc", "--dev", "/dev",
                "--perms", "01777", "--size", str(self.tmp_bytes), "--tmpfs", "/tmp",
                "--perms", "0777", "--dir", HOME]
        if self.network == Network.NONE:
            args.append("--unshare-net")
        for path in SYSTEM:
            if os.path.islink(path):
                args += ["--symlink", os.readlink(path), path]
            elif os.path.isdir(path):
                args += ["--ro-bind", path, path]
        # /etc readable by the runner's user (bwrap would make it 0700 on the way to the
        # binds below, and a runner dropped to another user could then resolve no name
        # nor verify a certificate).
        args += ["--perms", "0755", "--dir", "/etc"]
        for name in ETC:
            if os.path.exists(f"/etc/{name}"):
                args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
        readable = _merged(_python_dirs(), self.allowed, (code_dir,) if code_dir else ())
        # The folders leading to each bind, made traversable (bwrap would make them
        # 0700, closed to the runner's user, as /root is on the host).
        writable = (*self.writable, *also_writable)
        for folder in _ancestors([*readable, *writable]):
            args += ["--perms", "0755", "--dir", folder]
        for path in readable:
            args += ["--ro-bind", path, path]
        for path in writable:
            args += ["--bind", path, path]
        args += ["--chdir", cwd]
        if self.uid == 0:  # root by choice: at least without a capability
            args += ["--cap-drop", "ALL"]
        elif self.uid is not None:
            args += ["--", shutil.which("setpriv") or "/usr/bin/setpriv",
                     f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups",
                     "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all"]
        return [*args, "--", *command]


def returncode(code: int | None) -> int | None:
    """A sandboxed runner's exit as a plain process's: bwrap reports a command killed by
    signal n as 128 + n; ``subprocess`` says -n."""
    return -(code - SIGNALLED) if code is not None and code > SIGNALLED else code


def _ancestors(paths: Iterable[str]) -> list[str]:
    """Every folder above ``paths`` (not ``/``), outermost first."""
    found = {str(parent) for p in paths for parent in PurePosixPath(p).parents
             if str(parent) != "/"}
    return sorted(found, key=lambda f: (f.count("/"), f))


def _merged(*groups: Iterable[str]) -> list[str]:
    """Paths to bind, each once, none inside another already bound (a nested bind of
    the same files would only hide them again)."""
    chosen: list[str] = []
    for path in sorted({os.path.realpath(p) for g in groups for p in g if p}, key=len):
        if os.path.isdir(path) and not any(path == c or path.startswith(c + "/")
                                           for c in chosen):
            chosen.append(path)
    return chosen


@functools.cache
def _python_dirs() -> tuple[str, ...]:
    """The interpreter, its standard library and site-packages (every prefix, and the
    directories of sys.path inside them), and the runner's own packages."""
    dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
            os.path.dirname(os.path.realpath(sys.executable))}
    prefixes = tuple(os.path.realpath(p) for p in dirs)
    dirs.update(p for p in sys.path if p and os.path.realpath(p).startswith(prefixes))
    dirs.update(package_dirs(RUNNER_PACKAGES))
    return tuple(sorted(dirs))


def package_dirs(modules: Iterable[str]) -> tuple[str, ...]:
    """The directories of the top-level packages of ``modules`` (``myapp.jobs`` ->
    where ``myapp`` lives), found without importing them."""
    found: set[str] = set()
    for module in modules:
        top = module.split(".", 1)[0]
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            continue
        if spec is None:
            continue
        if spec.submodule_search_locations:
            found.update(spec.submodule_search_locations)
        elif spec.origin:
            found.add(os.path.dirname(spec.origin))
    return tuple(sorted(found))


@functools.cache
def _works(bwrap: str, uid: int | None) -> str:
    """"" when a trivial sandbox runs here, else why not (one line)."""
    probe = Sandbox(bwrap, uid=uid, gid=uid)
    try:
        done = subprocess.run(probe.argv(["/bin/true"], "/", None), capture_output=True,
                              timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return "" if done.returncode == 0 else (done.stderr.decode(errors="replace").strip()
                                            or f"exit {done.returncode}")


def resolve(mode: str, network: str, user: str, tmp_mb: int,
            allowed_modules: Iterable[str], writable: Iterable[str] = ()) -> Sandbox | None:
    """The sandbox this worker runs its runners in (None: off). ``bwrap`` mode raises
    ``ConfigError`` (one line, for the operator) when it cannot work here."""
    mode, network = Mode(mode), Network(network)
    if mode == Mode.OFF:
        return None
    uid = gid = None
    if os.geteuid() == 0:
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            raise ConfigError(f"TOCSIN_RUNNER_USER={user} is no user on this "
                              "machine") from None
        uid, gid = entry.pw_uid, entry.pw_gid
    bwrap = shutil.which("bwrap")
    why = "bwrap is not installed (Debian: apt-get install bubblewrap)" if bwrap is None \
        else _works(bwrap, uid)
    if why:
        if mode == Mode.BWRAP:
            raise ConfigError(f"TOCSIN_RUNNER_SANDBOX=bwrap, but the sandbox cannot run "
                              f"here: {why}")
        log.warning("runner.sandbox_unavailable", reason=why,
                    detail="runners run unconfined (TOCSIN_RUNNER_SANDBOX=auto)")
        return None
    assert bwrap is not None
    return Sandbox(bwrap, network, uid, gid, tmp_mb * 1024 * 1024,
                   package_dirs(allowed_modules),
                   tuple(os.path.realpath(p) for p in writable if os.path.isdir(p)))
