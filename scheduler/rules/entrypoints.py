"""Which entrypoints a function may name. Pure.

A module entrypoint (``package.module:callable``) runs whatever that callable does
with the worker's privileges, and importing a module can run code of its own, so
only modules under the operator's prefixes (``TOCSIN_ENTRYPOINT_MODULES``) are
allowed; with none set, only file entrypoints (``src/main.py`` under the
function's own directory) are. Checked when a function is written (API) and again
before a worker imports anything.
"""

from __future__ import annotations

import re

from scheduler.rules.errors import EntrypointNotAllowed

SETTING = "TOCSIN_ENTRYPOINT_MODULES"
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_ATTR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_prefixes(setting: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in setting.split(",") if p.strip())


def module_of(entrypoint: str) -> tuple[str, str] | None:
    """(module, callable) of a module entrypoint; None for a file entrypoint."""
    if ":" not in entrypoint or entrypoint.endswith(".py"):
        return None
    module, _, attr = entrypoint.partition(":")
    return module, attr


def check(entrypoint: str, prefixes: tuple[str, ...]) -> None:
    """Raise EntrypointNotAllowed (with a message for the caller) unless allowed."""
    parts = module_of(entrypoint)
    if parts is None:
        return
    module, attr = parts
    if not _MODULE.match(module) or not _ATTR.match(attr) or attr.startswith("_"):
        raise EntrypointNotAllowed(
            f"'{entrypoint}' is not a valid module entrypoint: use package.module:callable "
            "(a public name), or a file such as src/main.py")
    if not any(module == p or module.startswith(p + ".") for p in prefixes):
        allowed = ", ".join(prefixes) if prefixes else "none: file entrypoints only"
        raise EntrypointNotAllowed(
            f"module '{module}' is not allowed as an entrypoint on this server; the "
            f"operator allows module prefixes in {SETTING} (now: {allowed})")
