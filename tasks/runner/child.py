"""A runner process: ``python -P -m tasks.runner.child FD``, started by ``pool.Runner``.

``-P``: the function's folder (the runner's working directory) is not on the import
path, so a ``resource.py`` of its own cannot stand in for the module that applies its
limits. It applies its limits first (address space for memory, file size,
processes, CPU affinity), loads the
function once, then runs one request at a time as the worker sends them over the
socket ``FD``, and stays warm for the next. Messages are JSON both ways: the worker
never unpickles what user code could have written.

Whatever the function does is this process's business: an exception, ``SystemExit``
or ``MemoryError`` becomes a failed reply; a segfault or ``os._exit`` ends the
process, which the worker reports as a failed execution.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import os
import resource
import sys
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from scheduler.rules.errors import EntrypointError
from scheduler.rules.specifications import cores_for
from tasks.runner.context import Context, Request, load_entrypoint
from tasks.runner.env import EXECUTION_ID

EXIT_MEMORY = 86  # the process ran out of memory outside the function's own call
NO_RETURN = "Return statement missing. return context.res.empty() if no response is expected."


def memory_message(memory_mb: int) -> str:
    return f"memory limit of {memory_mb} MB exceeded"


def apply_limits(memory_mb: int, cores: int, cpus: float, max_file_bytes: int,
                 max_processes: int, address_space: bool = True, turn: int = 0) -> None:
    """Memory as an address-space limit, the largest file it may write, and how many
    processes its user may have (all hard too: the function cannot raise them back
    unless the worker runs as root, for whom the kernel does not count processes);
    CPUs as an affinity to ``cores`` cores, chosen in ``turn`` (``cores_for``)."""
    limit = memory_mb * 1024 * 1024
    if address_space:  # a Node runner bounds its data instead (tasks.runner.node_start)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))
    resource.setrlimit(resource.RLIMIT_NPROC, (max_processes, max_processes))
    os.sched_setaffinity(0, cores_for(list(os.sched_getaffinity(0)), cores, turn))
    if cpus < 1:
        os.nice(10)  # a fraction of a core: yield to the others under contention


def _failed(message: str) -> dict[str, Any]:
    return {"statusCode": 500, "failed": True, "error": message}


def call(main: Callable[..., Any], job: dict[str, Any], memory_mb: int) -> dict[str, Any]:
    sent = job["request"]
    context = Context(Request(method=sent["method"], path=sent["path"], headers=sent["headers"],
                              body=base64.b64decode(sent["body"])))
    try:
        response = main(context)
        if inspect.iscoroutine(response):  # ``async def main(context)``, as Open Runtimes
            response = asyncio.run(response)
    except MemoryError:
        return _failed(memory_message(memory_mb))
    except Exception:
        return _failed(traceback.format_exc())
    except BaseException as exc:  # SystemExit, KeyboardInterrupt: a failed run
        return _failed(f"Function raised {type(exc).__name__}: {exc}")
    if response is None:
        return _failed(NO_RETURN)
    if not isinstance(response, dict):
        return _failed(f"Function returned {type(response).__name__}, not a response: "
                       "return context.res.send(...), .json(...), .text(...) or .empty()")
    body = response.get("body", "")
    raw = body if isinstance(body, bytes) else str(body).encode()
    status = int(response.get("statusCode", 200))
    return {"statusCode": status, "failed": status >= 500,
            "headers": response_headers(dict(response.get("headers") or {})),
            "body": base64.b64encode(raw).decode()}


def response_headers(headers: dict[Any, Any]) -> dict[str, str]:
    """As Open Runtimes' server sends them: lower-case names, none of its own
    ``x-open-runtimes-*``, and a content type that is always there (``text/plain`` by
    default) and names its charset (``; charset=utf-8`` unless it has one, or is
    multipart)."""
    out = {str(k).lower(): str(v) for k, v in headers.items()
           if not str(k).lower().startswith("x-open-runtimes-")}
    kind = out.get("content-type", "text/plain").lower()
    if not kind.startswith("multipart/") and "charset=" not in kind:
        kind += "; charset=utf-8"
    out["content-type"] = kind
    return out


def serve(conn: Connection) -> None:
    init = json.loads(conn.recv_bytes())
    apply_limits(init["memory"], init["cores"], init["cpus"], init["maxFileBytes"],
                 init["maxProcesses"], turn=init.get("turn", 0))
    try:
        main = load_entrypoint(init["projectId"], init["functionId"], init["entrypoint"],
                               init["functionsDir"], tuple(init["allowed"]))
    except MemoryError:
        conn.send_bytes(json.dumps({"ready": False,
                                    "error": memory_message(init["memory"])}).encode())
        return
    except BaseException as exc:  # an import that fails in any way is this run's failure
        detail = str(exc) if isinstance(exc, EntrypointError) else traceback.format_exc()
        conn.send_bytes(json.dumps({"ready": False, "error": detail}).encode())
        return
    conn.send_bytes(b'{"ready": true}')
    while True:
        try:
            job = json.loads(conn.recv_bytes())
        except EOFError:  # the worker is gone (or done with us)
            return
        os.environ[EXECUTION_ID] = job["executionId"]
        reply = call(main, job, init["memory"])
        sys.stdout.flush()
        sys.stderr.flush()
        conn.send_bytes(json.dumps(reply).encode())


def main() -> None:
    conn = Connection(int(sys.argv[1]))
    try:
        serve(conn)
    except MemoryError:
        os._exit(EXIT_MEMORY)
    except (EOFError, BrokenPipeError, ConnectionResetError):
        pass


if __name__ == "__main__":
    main()
