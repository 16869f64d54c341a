"""The `python-3.*` runtimes: each execution runs in a runner process (tasks/runner),
with a clean environment, the function's variables and its specification's limits.
Appwrite's Python function context runs there unchanged (``tasks.runner.context``)."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path

from scheduler.rules import specifications
from tasks.runner import sandbox
from tasks.runner.context import Request
from tasks.runner.env import runner_env
from tasks.runner.outcome import Outcome
from tasks.runner.pool import Program, RunnerPool


def sandbox_from_settings() -> sandbox.Sandbox | None:
    """The worker's confinement, from ``TOCSIN_RUNNER_*`` (``tasks.runner.sandbox``)."""
    from scheduler.config import get_settings

    settings = get_settings()
    return sandbox.resolve(
        settings.runner_sandbox, settings.runner_network, settings.runner_user,
        settings.runner_tmp_mb, settings.entrypoint_prefixes,
        [p.strip() for p in settings.runner_writable.split(",") if p.strip()])


# The worker process's runners, confined as its settings say once the first one starts.
POOL = RunnerPool(configure=sandbox_from_settings)


@lru_cache(maxsize=4096)
def _empty_home(project_id: str, function_id: str) -> str:
    """Where a function with no code directory runs: its own empty directory, never the
    worker's, and never one another function (or project) writes to."""
    return tempfile.mkdtemp(prefix=f"tocsin-{project_id}-{function_id}-")


def _import_path() -> list[str]:
    return [p or os.getcwd() for p in sys.path]


def _version(code_dir: Path, entrypoint: str, version: str) -> str:
    """A file entrypoint's runners are recycled when the file changes."""
    path = code_dir / entrypoint
    try:
        return f"{version}@{path.stat().st_mtime_ns}" if path.is_file() else version
    except (OSError, ValueError):
        return version


def run(project_id: str, function_id: str, entrypoint: str, functions_dir: str,
        request: Request, timeout: float, allowed: tuple[str, ...], *,
        execution_id: str = "", function_name: str = "", runtime: str = "python-3.12",
        spec: str = specifications.DEFAULT, variables: Mapping[str, str] | None = None,
        api_endpoint: str = "", passed: Iterable[str] = (), version: str = "",
        pool: RunnerPool = POOL) -> Outcome:
    # Absolute: the runner starts in the function's folder (and a sandbox binds it at
    # this path), so a relative functions directory must not be resolved from there.
    functions_dir = str(Path(functions_dir).resolve()) if functions_dir else ""
    code_dir = Path(functions_dir or ".") / project_id / function_id
    own = bool(functions_dir) and code_dir.is_dir()
    cwd = str(code_dir) if own else _empty_home(project_id, function_id)
    chosen = specifications.get(spec)
    env = runner_env(os.environ, passed, variables or {}, project_id=project_id,
                     function_id=function_id, function_name=function_name or function_id,
                     runtime=runtime, spec=chosen, api_endpoint=api_endpoint,
                     import_path=_import_path(), home=cwd)
    program = Program(project_id, function_id, entrypoint, functions_dir, allowed, chosen,
                      tuple(sorted(env.items())), cwd,
                      _version(code_dir, entrypoint, version) if functions_dir else version,
                      code_dir=str(code_dir) if own else "")
    return pool.run(program, request, execution_id, timeout)
