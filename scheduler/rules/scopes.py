"""API key scopes, with Appwrite's legacy names. Pure.

Appwrite renamed ``execution.read``/``execution.write`` to ``executions.*`` and still
accepts both: a route that needs ``executions.write`` lists both names in its 401.
Keys may be created with either name; they are stored and judged by the current one.
"""

from __future__ import annotations

from collections.abc import Iterable

SCOPES = ("functions.read", "functions.write", "executions.read", "executions.write",
          "events.read", "events.write", "rules.read", "rules.write", "platforms.read",
          "platforms.write", "scheduler.read", "scheduler.write")
LEGACY = {"execution.read": "executions.read", "execution.write": "executions.write"}
ACCEPTED = SCOPES + tuple(LEGACY)


def canonical(scopes: Iterable[str]) -> frozenset[str]:
    """Current names for ``scopes``: legacy names mapped, unknown names kept as given."""
    return frozenset(LEGACY.get(scope, scope) for scope in scopes)


def names_of(scope: str) -> list[str]:
    """Every name a route's scope is accepted under, current first (for the 401)."""
    return [scope] + [old for old, new in LEGACY.items() if new == scope]
