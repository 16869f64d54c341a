"""CORS for the API and function domains.

Allowed origins are ``TOCSIN_CORS_ORIGINS`` (every project) plus each project's
platforms (``tocsin platforms``, ``PUT /v1/scheduler/platforms``). A preflight
to a function's domain is judged by that function's project (``api.targets``): one
project's ``*`` must not let other sites send credentialed requests to every
project's functions. A preflight to the API itself cannot say which project it is
for (browsers send no custom header values with it), so it is answered for an
origin some project allows; the real request is then judged by its own project
(``X-Appwrite-Project``), and the API's callers authenticate with headers a
cross-site page does not have, never with ambient cookies.
A disallowed origin gets no CORS headers, so the browser keeps the answer from the
page, and the request is logged (``cors.refused``).
"""

from __future__ import annotations

import time
from typing import Any

from starlette.concurrency import run_in_threadpool

from scheduler.api.asgi import PROJECT_KEY, header
from scheduler.api.context import Context
from scheduler.logs import get_logger
from scheduler.rules import origins
from scheduler.rules.errors import TocsinError
from scheduler.store.db import transaction
from scheduler.store.projects import all_platforms

log = get_logger(__name__)

# What the Web SDK sends (and Appwrite's server allows), for the preflight's answer.
ALLOW_HEADERS = (
    "Origin, Accept, Content-Type, Content-Range, Range, Cache-Control, Expires, Pragma, "
    "X-Requested-With, X-Fallback-Cookies, X-Appwrite-Project, X-Appwrite-Key, "
    "X-Appwrite-JWT, X-Appwrite-User-JWT, X-Appwrite-Locale, X-Appwrite-Mode, "
    "X-Appwrite-Response-Format, X-Appwrite-Session, X-Appwrite-Timeout, X-Appwrite-ID, "
    "X-Appwrite-Timestamp, X-Appwrite-Dev-Key, X-SDK-Version, X-SDK-Name, X-SDK-Language, "
    "X-SDK-Platform, X-SDK-GraphQL")
ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS, HEAD"
EXPOSE_HEADERS = "X-Appwrite-Session, X-Fallback-Cookies"
REFRESH_SECONDS = 5.0  # a platform added through the CLI is honoured within this


class Origins:
    """The operator's origins, and every project's platforms read every few seconds."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.everywhere = ctx.settings.cors_origin_list
        self._projects: dict[str, frozenset[str]] = {}
        self._fresh_until = 0.0

    async def allows(self, origin: str, project: str | None) -> bool:
        if origins.allows(self.everywhere, origin):
            return True
        table = await self._table()
        if project is None:
            return any(origins.allows(p, origin) for p in table.values())
        return origins.allows(table.get(project, frozenset()), origin)

    async def _table(self) -> dict[str, frozenset[str]]:
        if time.monotonic() >= self._fresh_until:
            self._projects = await run_in_threadpool(self._read)
            self._fresh_until = time.monotonic() + REFRESH_SECONDS
        return self._projects

    def _read(self) -> dict[str, frozenset[str]]:
        with transaction(self.ctx.sessions) as session:
            return all_platforms(session)


class Cors:
    """ASGI middleware, outermost: answers preflights and marks allowed answers."""

    def __init__(self, app: Any, ctx: Context) -> None:
        self.app = app
        self.ctx = ctx
        self.origins = Origins(ctx)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        origin = header(scope, b"origin") if scope["type"] == "http" else ""
        if not origin or _same_origin(scope, origin):  # e.g. the console: no CORS at all
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and header(scope, b"access-control-request-method"):
            await self._preflight(scope, origin, send)
            return

        async def marked(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                project = scope.get(PROJECT_KEY) or header(scope, b"x-appwrite-project")
                headers = list(message.get("headers") or [])
                already = any(k.lower() == b"access-control-allow-origin" for k, _ in headers)
                if already:
                    pass  # a function domain answering CORS itself
                elif await self.origins.allows(origin, project or ""):
                    headers += _allowed(origin)
                    message = {**message, "headers": headers}
                else:
                    _refused(origin, scope, project or "")
            await send(message)

        await self.app(scope, receive, marked)

    async def _project_of(self, scope: dict[str, Any]) -> str | None:
        """The project of the function a request names; None for the API's own
        requests; "" where no one function answers (only the operator's origins)."""
        try:
            target = await self.ctx.targets.target(scope)
            return None if target is None else (await self.ctx.targets.locate(target))[0]
        except TocsinError:
            return ""

    async def _preflight(self, scope: dict[str, Any], origin: str, send: Any) -> None:
        headers = [(b"vary", b"Origin"), (b"content-length", b"0")]
        project = await self._project_of(scope)
        if await self.origins.allows(origin, project):
            asked = header(scope, b"access-control-request-headers")
            allow = ALLOW_HEADERS + (", " + asked if asked else "")
            headers += [*_allowed(origin),
                        (b"access-control-allow-methods", ALLOW_METHODS.encode()),
                        (b"access-control-allow-headers", allow.encode("latin-1")),
                        (b"access-control-max-age", b"86400")]
        else:
            _refused(origin, scope, project)
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


def _same_origin(scope: dict[str, Any], origin: str) -> bool:
    return origin.lower() == f"{scope.get('scheme', 'http')}://{header(scope, b'host')}".lower()


def _allowed(origin: str) -> list[tuple[bytes, bytes]]:
    return [(b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-credentials", b"true"),
            (b"access-control-expose-headers", EXPOSE_HEADERS.encode()),
            (b"vary", b"Origin")]


def _refused(origin: str, scope: dict[str, Any], project: str | None) -> None:
    log.warning("cors.refused", origin=origin, path=scope.get("path", ""),
                method=scope.get("method", ""), project_id=project or "")
