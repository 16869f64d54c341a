"""A Node.js runner's start: ``python -P -m tasks.runner.node_start FD``, started by
``pool.Runner`` as a Python runner is. It reads the runner's first message, applies the
same limits (``child.apply_limits``), then becomes ``node node_child.mjs FD INIT``.

Memory is bounded in two layers. ``RLIMIT_DATA`` (the private memory it writes) is the
specification's size, with V8's own heap limit below it, so a function that hoards
memory is ended by V8 (SIGABRT) or the kernel, as a Python runner is by its
address-space limit. ``RLIMIT_DATA`` does not count shared mappings (a native addon's
``mmap(MAP_SHARED)``), so the whole address space is bounded too, at the size plus
what Node maps before any function code runs (``ADDRESS_OVERHEAD_MB``). That second
limit needs V8's WebAssembly trap handler off: with it on, each WebAssembly memory
reserves ~10 GB of guard pages; off, bounds are checked in code, slightly slower. A
Node without the switch (before 20.15) runs with the first layer only, and the worker
says so once (``runner.node_address_unbounded``).
"""

from __future__ import annotations

import functools
import json
import os
import resource
import shutil
import subprocess
import sys
from multiprocessing.connection import Connection
from pathlib import Path

from scheduler.logs import get_logger
from tasks.runner.child import apply_limits

CHILD = Path(__file__).with_name("node_child.mjs")
WASM_FLAG = "--disable-wasm-trap-handler"
# What Node 20 reserves before a function allocates anything is ~730 MB (the binary,
# code ranges, thread stacks, heap reservations), and ~860 MB more for each worker
# thread's isolate: room for the runner and two worker threads, on top of the
# specification's memory. Reserved is not used: RLIMIT_DATA bounds what is written.
ADDRESS_OVERHEAD_MB = 3072

log = get_logger(__name__)


@functools.cache
def address_limit_supported(node: str | None = None) -> bool:
    """Whether this worker's ``node`` can run under an address-space limit (it has
    ``WASM_FLAG``); asked once per worker process, not at each runner's start."""
    node = node or shutil.which("node")
    if node is None:
        return False
    try:
        out = subprocess.run(
            [node, "-p", f"process.allowedNodeEnvironmentFlags.has('{WASM_FLAG}')"],
            capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    supported = out.stdout.strip() == "true"
    if not supported:
        log.warning("runner.node_address_unbounded", node=node, missing=WASM_FLAG,
                    why="shared mappings of Node runners are not bounded")
    return supported


def node_argv(init: dict[str, object], fd: int, node: str) -> list[str]:
    heap = max(16, int(int(str(init["memory"])) * 0.75))  # V8's heap, under RLIMIT_DATA
    flags = [WASM_FLAG] if init.get("addressLimit") else []
    return [node, f"--max-old-space-size={heap}", *flags, str(CHILD), str(fd),
            json.dumps(init)]


def main() -> None:
    fd = int(sys.argv[1])
    conn = Connection(fd)
    init = json.loads(conn.recv_bytes())
    node = shutil.which("node")
    if node is None:
        conn.send_bytes(json.dumps({"ready": False, "error": (
            "Node.js is not installed on this worker: install node (18 or newer) on "
            "every worker that runs node-* functions")}).encode())
        return
    apply_limits(init["memory"], init["cores"], init["cpus"], init["maxFileBytes"],
                 init["maxProcesses"], address_space=False, turn=init.get("turn", 0))
    limit = int(init["memory"]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    if init.get("addressLimit"):
        whole = limit + ADDRESS_OVERHEAD_MB * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (whole, whole))
    os.set_inheritable(fd, True)
    os.execv(node, node_argv(init, fd, node))


if __name__ == "__main__":
    main()
