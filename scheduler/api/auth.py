"""Who is calling: project from ``X-Appwrite-Project``; an application with
``X-Appwrite-Key``, a signed-in user with ``X-Appwrite-JWT``, otherwise a guest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import Request

from scheduler.api import errors
from scheduler.api.context import Context
from scheduler.rules.causes import Cause
from scheduler.rules.errors import ProjectNotFound
from scheduler.rules.roles import Identity, roles_of
from scheduler.store.db import transaction
from scheduler.store.executions import USER_JWT_HEADER, cause_of
from scheduler.store.projects import find_key, project_exists

# What a caller without a key may do at all; which functions and executions is then
# decided by the function's ``execute`` roles and the execution's owner.
USER_SCOPES = frozenset({"executions.read"})


@dataclass(frozen=True)
class Caller:
    project_id: str
    scopes: frozenset[str]
    role: str  # "applications" for a key, "users" with a JWT, "guests" otherwise
    user: Identity | None = None
    jwt: str = ""  # the user's token, passed on to the function as x-appwrite-user-jwt
    cause: Cause | None = None  # the run whose own key this is (``scheduler.rules.causes``)
    key_name: str = ""  # the API key's name, for a key

    @property
    def is_key(self) -> bool:
        return self.role == "applications"

    @property
    def roles(self) -> frozenset[str]:
        return roles_of(self.user)

    @property
    def user_id(self) -> str | None:
        return self.user.user_id if self.user else None

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
    known = ctx.keys.get(project, secret)
    if known is None:
        with transaction(ctx.sessions) as session:
            exists = project_exists(session, project)
            key = find_key(session, secret) if secret and exists else None
        ctx.keys.put(project, secret, exists, key)
    else:
        exists, key = known
    if not exists:
        raise ProjectNotFound()
    if key is None or key.project_id != project:
        # No key, an unknown one, or another project's: the caller is who the JWT says.
        return as_user(project, request.headers.get("x-appwrite-jwt", ""), ctx)
    if key.expires_at is not None and key.expires_at <= datetime.now(UTC):
        raise errors.key_expired()
    ctx.hosts.learn(request.headers.get("host", ""))  # a real API call came in on it
    cause = None
    if key.execution_id is not None:  # a run's own key: never cached, read each time
        with transaction(ctx.sessions) as session:
            cause = cause_of(session, key.execution_id)
    return Caller(project, key.scopes, "applications", cause=cause, key_name=key.name)


def as_user(project: str, token: str, ctx: Context) -> Caller:
    """A guest without a token; with one, the user it names (or 401 user_jwt_invalid)."""
    if not token:
        return Caller(project, frozenset(), "guests")
    return Caller(project, USER_SCOPES, "users", ctx.verifier.identify(token, project), token)


def client_ip(request: Request) -> str:
    """The peer's address (behind a reverse proxy, the proxy's: see the README)."""
    return request.client.host if request.client else ""


def caller_headers(caller: Caller, ip: str) -> dict[str, str]:
    """What the function is told about who asked, as Appwrite tells it. Callers can
    never send ``x-appwrite-*`` headers themselves, so these are always Tocsin's."""
    out = {"x-appwrite-client-ip": ip} if ip else {}
    if caller.user is not None:
        out["x-appwrite-user-id"] = caller.user.user_id
        out[USER_JWT_HEADER] = caller.jwt
    return out
