"""Who is calling: project from ``X-Appwrite-Project``, scopes from ``X-Appwrite-Key``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import Request

from scheduler.api import errors
from scheduler.api.context import Context
from scheduler.errors import ProjectNotFound
from scheduler.store.db import transaction
from scheduler.store.projects import find_key, project_exists


@dataclass(frozen=True)
class Caller:
    project_id: str
    scopes: frozenset[str]
    role: str  # "applications" for a key, "guests" without one

    @property
    def is_guest(self) -> bool:
        return self.role == "guests"

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise errors.missing_scope(scope, self.role)


# Appwrite serves a request without X-Appwrite-Project as its console project, where
# no key of a project is valid: the caller is a guest and gets the route's 401.
# Tocsin has no console project, so nothing is found there either.
CONSOLE = "console"


def identify(request: Request, ctx: Context) -> Caller:
    project = request.headers.get("x-appwrite-project", "")
    secret = request.headers.get("x-appwrite-key", "")
    if not project:
        return Caller(CONSOLE, frozenset(), "guests")
    with transaction(ctx.sessions) as session:
        if not project_exists(session, project):
            raise ProjectNotFound()
        key = find_key(session, secret) if secret else None
    if secret and key is None:
        # An unknown key, or another project's: treated as no key at all.
        return Caller(project, frozenset(), "guests")
    if key is None:
        return Caller(project, frozenset(), "guests")
    if key.project_id != project:
        return Caller(project, frozenset(), "guests")
    if key.expires_at is not None and key.expires_at <= datetime.now(UTC):
        raise errors.key_expired()
    return Caller(project, key.scopes, "applications")
