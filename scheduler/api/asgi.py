"""Small helpers for the API's ASGI middlewares (domains, CORS)."""

from __future__ import annotations

from typing import Any

# Set in the ASGI scope by the domains middleware: the project a function domain's
# request belongs to, which the CORS middleware (outside it) judges the origin by.
PROJECT_KEY = "tocsin.project"


def header(scope: dict[str, Any], name: bytes) -> str:
    """The first value of header ``name`` (lower-case bytes), or ""."""
    for key, value in scope.get("headers") or []:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return ""
