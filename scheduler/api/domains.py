"""Function domains: any HTTP request to a function's domain runs it synchronously.

Which function a request names (generated domain, Proxy API rule, or the path form
``/v1/run/<functionId>/<path>``) is ``api.targets``' to say. The request becomes a
synchronous execution (trigger ``http``) whose method, path and query, headers and
raw body the function sees; its status, headers and body are the answer. A guest unless it carries
``x-appwrite-user-jwt``; the function's ``execute`` roles decide.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool

from scheduler.api.app_response import AppwriteJSON
from scheduler.api.asgi import PROJECT_KEY, header
from scheduler.api.auth import Caller, as_user, caller_headers
from scheduler.api.context import Context
from scheduler.api.errors import (
    METHOD_NOT_ALLOWED,
    METHODS,
    PAYLOAD_TOO_LARGE,
    UNKNOWN,
    ApiError,
    envelope,
    sync_timeout,
)
from scheduler.api.targets import Target
from scheduler.broker import enqueue
from scheduler.logs import get_logger
from scheduler.rules import forwarding
from scheduler.rules.errors import FunctionNotFound, TocsinError, UserUnauthorized
from scheduler.rules.roles import permits
from scheduler.rules.states import Trigger
from scheduler.store import functions as functions_store
from scheduler.store.db import transaction

log = get_logger(__name__)

NOT_ANY = ("To execute a function through a domain, its execute roles must include "
           '"any" or "guests", or the request must carry a user\'s JWT '
           "(x-appwrite-user-jwt) that they grant.")


class Domains:
    """ASGI middleware in front of the API's routes."""

    def __init__(self, app: Any, ctx: Context) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            target = await self.ctx.targets.target(scope)
            if target is None:
                await self.app(scope, receive, send)
                return
            await self._run(target, scope, receive, send)
        except TocsinError as err:
            await _error(err, scope, receive, send)

    # ---------------------------------------------------------------- running it

    async def _run(self, target: Target, scope: dict[str, Any], receive: Any,
                   send: Any) -> None:
        method = scope["method"]
        if method not in METHODS:
            raise ApiError(METHOD_NOT_ALLOWED, f"Method {method} cannot run a function; allowed: "
                           f"{', '.join(METHODS)}.")
        body = await _read_body(scope, receive)
        project_id, function_id = await self.ctx.targets.locate(target)
        scope[PROJECT_KEY] = project_id
        with self.ctx.sync_gate.slot(project_id):
            execution_id = await run_in_threadpool(
                self._start, project_id, function_id, target.path, scope, body)
            result = await enqueue.wait_result(self.ctx.results, execution_id,
                                               self.ctx.settings.sync_timeout + 2, raw=True)
        if result is None or result.get("timedOut"):
            raise sync_timeout(self.ctx.settings.sync_timeout)
        await _respond(result, execution_id, method, send)

    def _start(self, project_id: str, function_id: str, path: str, scope: dict[str, Any],
               body: bytes) -> str:
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        caller = as_user(project_id, header(scope, b"x-appwrite-user-jwt"), self.ctx)
        client = scope.get("client")
        forwarded = forwarding.inbound_headers(headers, client[0] if client else "",
                                               scope.get("scheme", "http"))
        forwarded.update(caller_headers(caller, ""))  # the client IP is forwarding's
        kept, secret = forwarding.split_credentials(forwarded)
        text, encoded = forwarding.store_body(body)
        with transaction(self.ctx.sessions) as session:
            fn = functions_store.get_function(session, project_id, function_id)
            if fn is None or not fn.enabled:
                raise FunctionNotFound()
            _authorize(caller, fn.execute)
            execution = enqueue.create(session, enqueue.Request(
                project_id=project_id, function_id=fn.id, method=scope["method"], path=path,
                headers=kept, body=text, body_base64=encoded, trigger=Trigger.HTTP,
                sync=True, user_id=caller.user_id))
        self.ctx.results.expect(execution.id)
        self.ctx.results.stash(execution.id, secret)  # in memory only, never the row
        enqueue.hand_over(self.ctx.sessions, self.ctx.publisher, execution.id, sync=True)
        log.info("domain.executed", execution_id=execution.id, function_id=function_id,
                 project_id=project_id, user=caller.user_id or "")
        return execution.id


def _authorize(caller: Caller, execute: list[str]) -> None:
    if not permits(execute, caller.roles):
        raise UserUnauthorized(None if caller.user else NOT_ANY)


async def _respond(result: dict[str, Any], execution_id: str, method: str, send: Any) -> None:
    body: bytes = result["body"]
    status = int(result.get("statusCode") or 500)
    failed = result.get("status") == "failed"
    if failed and not body:  # it sent nothing of its own: say so, without its errors
        err = ApiError(UNKNOWN, f"The function failed (execution {execution_id}); its errors are "
                       "in the execution, readable with an API key.")
        await _send(send, 500, [("content-type", "application/json; charset=UTF-8")],
                    bytes(AppwriteJSON(envelope(err)).body), method)
        return
    if failed and status < 500:
        status = 500
    headers = forwarding.outbound_headers(result.get("headers") or [])
    await _send(send, status, headers, body, method)


async def _send(send: Any, status: int, headers: list[tuple[str, str]], body: bytes,
                method: str) -> None:
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})


async def _error(err: TocsinError, scope: dict[str, Any], receive: Any, send: Any) -> None:
    response = AppwriteJSON(envelope(err), status_code=err.status)
    await response(scope, receive, send)


async def _read_body(scope: dict[str, Any], receive: Any) -> bytes:
    """The whole body, refused (413) as soon as it is known to pass the limit."""
    declared = header(scope, b"content-length")
    if declared.isdigit() and int(declared) > forwarding.MAX_BODY:
        raise _too_large()
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > forwarding.MAX_BODY:
            raise _too_large()
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _too_large() -> ApiError:
    return ApiError(PAYLOAD_TOO_LARGE,
                    f"Request body is larger than the {forwarding.MAX_BODY:,} bytes a "
                    "function domain accepts.")
