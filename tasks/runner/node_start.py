"""A Node.js runner's start: ``python -P -m tasks.runner.node_start FD``, started by
``pool.Runner`` as a Python runner is. It reads the runner's first message, applies the
same limits (``child.apply_limits``), then becomes ``node node_child.mjs FD INIT``.

Memory is bounded differently: V8 reserves far more address space than it uses, so
an address-space limit (``RLIMIT_AS``) stops Node before it starts. A Node runner gets
``RLIMIT_DATA`` (the memory it actually writes) at the specification's size, and V8's
own heap limit below it, so a function that hoards memory is ended by V8 (SIGABRT)
or the kernel, as a Python runner is by its address-space limit.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
from multiprocessing.connection import Connection
from pathlib import Path

from tasks.runner.child import apply_limits

CHILD = Path(__file__).with_name("node_child.mjs")


def node_argv(init: dict[str, object], fd: int, node: str) -> list[str]:
    heap = max(16, int(int(str(init["memory"])) * 0.75))  # V8's heap, under RLIMIT_DATA
    return [node, f"--max-old-space-size={heap}", str(CHILD), str(fd), json.dumps(init)]


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
                 init["maxProcesses"], address_space=False)
    limit = int(init["memory"]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    os.set_inheritable(fd, True)
    os.execv(node, node_argv(init, fd, node))


if __name__ == "__main__":
    main()
