"""The `python-3.*` runtimes (and, with ``language="node"``, the `node-*` ones): each
execution runs in a runner process (tasks/runner), with a clean environment, the
function's variables and its specification's limits. Appwrite's Python function
context runs there unchanged (``tasks.runner.context``); a Node runner has Open
Runtimes' Node.js context (``tasks/runner/node_child.mjs``)."""

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
from tasks.runner.env import PASSED, runner_env
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
        pool: RunnerPool = POOL, language: str = "python") -> Outcome:
    functions_dir = _absolute(functions_dir)
    code_dir = Path(functions_dir or ".") / project_id / function_id
    own = bool(functions_dir) and code_dir.is_dir()  # looked at on every run: files come
    version = _version(code_dir, entrypoint, version) if functions_dir else version
    passed = tuple(passed)
    # What the runner may take from the worker's environment, read now (it can change).
    worker_env = tuple((k, os.environ[k]) for k in (*PASSED, *passed) if k in os.environ)
    program = _program(project_id, function_id, entrypoint, functions_dir, allowed, own,
                       function_name or function_id, runtime, spec,
                       tuple(sorted((variables or {}).items())), api_endpoint, passed,
                       worker_env, version, language)
    return pool.run(program, request, execution_id, timeout)


@lru_cache(maxsize=256)
def _absolute(functions_dir: str) -> str:
    """Absolute: the runner starts in the function's folder (and a sandbox binds it at
    this path), so a relative functions directory must not be resolved from there."""
    return str(Path(functions_dir).resolve()) if functions_dir else ""


@lru_cache(maxsize=4096)
def _program(project_id: str, function_id: str, entrypoint: str, functions_dir: str,
             allowed: tuple[str, ...], own: bool, function_name: str, runtime: str,
             spec: str, variables: tuple[tuple[str, str], ...], api_endpoint: str,
             passed: tuple[str, ...], worker_env: tuple[tuple[str, str], ...],
             version: str, language: str = "python") -> Program:
    """What runs a function, built once per distinct input (a run's own values, such as
    its id, reach the runner with the request): its environment, folder and limits."""
    code_dir = Path(functions_dir or ".") / project_id / function_id
    cwd = str(code_dir) if own else _empty_home(project_id, function_id)
    chosen = specifications.get(spec)
    env = runner_env(dict(worker_env), passed, dict(variables), project_id=project_id,
                     function_id=function_id, function_name=function_name, runtime=runtime,
                     spec=chosen, api_endpoint=api_endpoint, import_path=_import_path(),
                     home=cwd)
    return Program(project_id, function_id, entrypoint, functions_dir, allowed, chosen,
                   tuple(sorted(env.items())), cwd, version,
                   code_dir=str(code_dir) if own else "", language=language)
