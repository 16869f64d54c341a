"""The house's import rules (README, "Architecture"), read from the code itself.

Imports point one way: cli and api on top, then the daemon and the workers, then
the store, then pure rules. Each test names the rule it guards; a new import that
breaks one fails here with the offending file and line.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("scheduler", "tasks")

# Pure rules: no I/O, no framework; they take ``now`` and return decisions. The floor is
# a folder: every module under scheduler/rules (and the two pure helpers beside their
# users) is held to it, and pyproject's strict mypy names the same prefix.
PURE_PREFIXES = ("scheduler.rules", "scheduler.cli.humanize", "tasks.runner.env")
IO_LIBRARIES = ("sqlalchemy", "psycopg", "redis", "celery", "kombu", "fastapi", "starlette",
                "httpx", "uvicorn", "typer", "rich", "apscheduler")
# Floors above the store: the leader's duties, the broker adapters, the API, the CLI,
# the embedded runner and the workers.
ABOVE_STORE = ("scheduler.api", "scheduler.cli", "scheduler.leader", "scheduler.broker",
               "scheduler.up", "tasks")


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports(path: Path) -> Iterator[tuple[str, int]]:
    """(imported module, line) for every import in the file, function-level ones too:
    a deferred import still ties two modules together."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, node.lineno
            for alias in node.names:  # `from scheduler.store import fires` imports a module
                yield f"{node.module}.{alias.name}", node.lineno


def within(name: str, prefixes: tuple[str, ...] | set[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


MODULES = modules()
PURE = sorted(n for n in MODULES if within(n, PURE_PREFIXES))


def test_the_module_list_is_read() -> None:
    assert {"scheduler.store.fires", "scheduler.cli.jobs", "tasks.execute"} <= set(MODULES)


@pytest.mark.parametrize("name", sorted(n for n in MODULES if within(n, ("scheduler.store",))))
def test_store_imports_nothing_above_it(name: str) -> None:
    bad = [(m, line) for m, line in imports(MODULES[name]) if within(m, ABOVE_STORE)]
    assert not bad, f"{name} imports from a higher layer: {bad}"


@pytest.mark.parametrize("name", PURE)
def test_pure_rules_do_no_io(name: str) -> None:
    bad = [(m, line) for m, line in imports(MODULES[name])
           if within(m, IO_LIBRARIES) or within(m, ("scheduler.store", *ABOVE_STORE))]
    assert not bad, f"{name} is pure but imports {bad}"


@pytest.mark.parametrize("name", [n for n in PURE if within(n, ("scheduler.rules",))])
def test_rules_build_only_on_rules(name: str) -> None:
    """The bottom floor stands alone: settings, logging and metrics are I/O's."""
    bad = [(m, line) for m, line in imports(MODULES[name])
           if within(m, ("scheduler", "tasks")) and not within(m, ("scheduler.rules",))]
    assert not bad, f"{name} imports {bad}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("tasks.runner")))
def test_runners_never_load_the_celery_app_or_settings(name: str) -> None:
    """A runner process imports tasks.runner.*: none of it may pull in the worker's
    Celery app or its TOCSIN_* settings."""
    bad = [(m, line) for m, line in imports(MODULES[name])
           if within(m, ("tasks.app", "tasks.execute", "tasks.runtimes", "scheduler.config",
                         "scheduler.store", "celery"))]
    assert not bad, f"{name} imports {bad}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("tasks")))
def test_workers_do_not_reach_into_the_api_or_the_cli(name: str) -> None:
    bad = [(m, line) for m, line in imports(MODULES[name])
           if within(m, ("scheduler.api", "scheduler.cli", "scheduler.leader", "scheduler.up"))]
    assert not bad, f"{name} imports {bad}"


def test_routes_share_helpers_through_one_module() -> None:
    routes = [n for n in MODULES if n.startswith("scheduler.api.routes.")]
    for name in routes:
        for m, line in imports(MODULES[name]):
            if within(m, ("scheduler.api.routes",)) and not within(
                    m, ("scheduler.api.routes.shared",)):
                pytest.fail(f"{name}:{line} imports {m}; share through routes/shared.py")


def test_no_import_cycle() -> None:
    graph = {name: {m for m, _ in imports(path) if m in MODULES}
             for name, path in MODULES.items()}
    # A package's __init__ is imported before its submodules: not an edge back.
    for name in graph:
        graph[name].discard(name)
    state: dict[str, int] = {}
    trail: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        trail.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1 and not node.startswith(nxt + "."):
                cycle = [*trail[trail.index(nxt):], nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        trail.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)
