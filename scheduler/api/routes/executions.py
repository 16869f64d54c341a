"""/v1/functions/{functionId}/executions, with Appwrite's rules and answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from scheduler import metrics
from scheduler.api import errors, listqueries, validate
from scheduler.api.app_response import JSON_TYPE, json_response
from scheduler.api.auth import Caller, caller_headers, client_ip, identify
from scheduler.api.context import Context, get_context
from scheduler.api.routes.shared import bool_param, load_function
from scheduler.api.schemas import ERROR_RESPONSES, ErrorBody, ExecutionCreate, execution_json
from scheduler.broker import enqueue
from scheduler.logs import get_logger
from scheduler.rules import forwarding
from scheduler.rules.causes import too_deep, too_deep_message
from scheduler.rules.errors import ExecutionNotFound, FunctionNotFound, UserUnauthorized
from scheduler.rules.ids import new_id
from scheduler.rules.listquery import ListQuery
from scheduler.rules.roles import permits
from scheduler.store import executions as store
from scheduler.store import functions as functions_store
from scheduler.store.db import db_now, transaction
from scheduler.store.lists import list_rows
from scheduler.store.models import Execution, Function
from scheduler.store.overdue import EXECUTION_COLUMNS, EXECUTION_ORDERABLE, Overdue

router = APIRouter(tags=["executions"], responses=ERROR_RESPONSES)
log = get_logger(__name__)

FILTERABLE = {"trigger": str, "status": str, "responseStatusCode": int, "duration": float,
              "requestMethod": str, "requestPath": str, "deploymentId": str, "$id": str,
              "$createdAt": datetime, "$updatedAt": datetime,
              "attempt": int, "retryOf": str, "dead": bool}
@dataclass(frozen=True)
class _Created:
    execution: Execution
    private: bool  # the caller may read logs and errors (an API key)
    sync: bool
    scheduled: bool

    def json(self, finished: Execution | None = None,
             result: dict[str, Any] | None = None) -> dict[str, Any]:
        return execution_json(finished or self.execution, result, private=self.private)


def _create(functionId: str, request: Request, payload: ExecutionCreate,
            ctx: Context, execution_id: str | None = None) -> _Created:
    """Validate, insert and hand over (in a worker thread: it does blocking I/O).

    ``execution_id``: the id the fast path tried first. If its write committed after
    all, the primary key refuses this one and the row it wrote is the answer."""
    try:
        return _insert(functionId, request, payload, ctx, execution_id)
    except IntegrityError:
        if execution_id is None:
            raise
        with transaction(ctx.sessions) as session:
            existing = session.get(Execution, execution_id)
        if existing is None or existing.function_id != functionId:
            raise
        log.info("execution.created_once", execution_id=execution_id)
        created = _Created(existing, private=True, sync=existing.sync,
                           scheduled=existing.scheduled_at is not None)
    if enqueue.handed(created.execution):  # it may never have reached the broker: again is
        # harmless
        if created.sync:
            ctx.results.expect(execution_id)
        enqueue.hand_over(ctx.sessions, ctx.publisher, execution_id, sync=created.sync)
    return created


def _insert(functionId: str, request: Request, payload: ExecutionCreate,
            ctx: Context, execution_id: str | None) -> _Created:
    caller = identify(request, ctx)
    if caller.is_key:
        caller.require("executions.write")
    validate.uid("functionId", functionId)
    with transaction(ctx.sessions) as session:
        now = db_now(session)  # once: the scheduledAt rule and the hand-over mark share it
        wanted = validate.execution(payload.body, payload.async_, payload.path, payload.method,
                                  payload.headers, payload.scheduledAt, now)
        fn = functions_store.get_function(session, caller.project_id, functionId)
        if fn is None or (not caller.is_key and not fn.enabled):
            raise FunctionNotFound()
        if not caller.is_key and not permits(fn.execute, caller.roles):
            if caller.user is None:  # Appwrite's answer to a guest: the scope it lacks
                raise errors.missing_scope("executions.write", caller.role)
            raise UserUnauthorized()
        sync = not wanted.asynchronous
        cause = caller.cause
        depth = cause.next_depth if cause else 0
        if too_deep(depth, ctx.settings.event_max_depth):
            raise errors.ApiError(errors.ARGUMENT_INVALID,
                                  too_deep_message(depth, ctx.settings.event_max_depth))
        who = caller_headers(caller, client_ip(request))
        secret: dict[str, str] = {}
        if sync:  # the user's token goes to the run in memory (an async one waits at rest)
            who, secret = forwarding.split_credentials(who)
        execution = enqueue.create(session, enqueue.Request(
            project_id=caller.project_id, function_id=fn.id, method=wanted.method,
            path=wanted.path, body=wanted.body, headers={**wanted.headers, **who},
            scheduled_at=wanted.scheduled_at, sync=sync, user_id=caller.user_id,
            execution_id=execution_id, depth=depth,
            origin_function_id=cause.function_id if cause else None), now,
            window=ctx.settings.project_window)
    scheduled = wanted.scheduled_at is not None
    if sync:
        ctx.results.expect(execution.id)
        ctx.results.stash(execution.id, secret)
    if enqueue.handed(execution):
        enqueue.hand_over(ctx.sessions, ctx.publisher, execution.id, sync=sync)
    return _Created(execution, caller.is_key, sync, scheduled)


def _finished(ctx: Context, created: _Created) -> Execution | None:
    with transaction(ctx.sessions) as session:
        ex = created.execution
        return store.get(session, ex.project_id, ex.function_id, ex.id)


@router.post("/functions/{functionId}/executions", status_code=202, responses={
    201: {"description": "Synchronous execution finished"},
    408: {"model": ErrorBody, "description": "Synchronous execution took over 30 s"},
    429: {"model": ErrorBody, "description": "Too many synchronous executions waiting"}})
async def create_execution(functionId: str, request: Request,
                           payload: ExecutionCreate | None = Body(None),
                           ctx: Context = Depends(get_context)) -> JSONResponse:
    payload = payload or ExecutionCreate()
    execution_id = new_id()  # both paths write under it: one row, whichever commits
    if payload.async_:
        fast = (await ctx.fast.create(functionId, request, payload, ctx, execution_id)
                if ctx.fast else None)
        if fast is not None:
            metrics.API_PATHS.labels("create", "fast").inc()
            return json_response(fast, 202)
        created = await run_in_threadpool(_create, functionId, request, payload, ctx,
                                          execution_id)
        metrics.API_PATHS.labels("create", "reference").inc()
        return json_response(created.json(), 202)
    # A synchronous call holds a slot (never a thread) while it waits; the slot is
    # taken before the row exists, so a 429 leaves nothing behind.
    with ctx.sync_gate.slot(request.headers.get("x-appwrite-project", "")):
        fast = (await ctx.fast.insert(functionId, request, payload, ctx, execution_id)
                if ctx.fast else None)
        if fast is not None:
            created = _Created(fast, private=True, sync=True, scheduled=False)
        else:
            created = await run_in_threadpool(_create, functionId, request, payload, ctx,
                                              execution_id)
            if created.scheduled:
                return json_response(created.json(), 202)
        metrics.API_PATHS.labels("create", "reference" if fast is None else "fast").inc()
        result = await enqueue.wait_result(ctx.results, created.execution.id,
                                           ctx.settings.sync_timeout + 2)
    if result is None or result.get("timedOut"):
        raise errors.sync_timeout(ctx.settings.sync_timeout)
    if fast is not None and ctx.fast is not None:
        finished = await ctx.fast.reread(fast)
    else:
        finished = await run_in_threadpool(_finished, ctx, created)
    body = created.json(finished, result)
    body["responseHeaders"] = result.get("headers", [])
    return json_response(body, 201)


@router.get("/functions/{functionId}/executions")
async def list_executions(functionId: str, request: Request,
                          ctx: Context = Depends(get_context)) -> Response:
    # An API key's list is text statements on the event loop (the function and the
    # clock, then the page: store.lists_pg); what they cannot answer (a missing
    # function, a cursor naming no run, a dropped connection) runs the reference code
    # in an async session. Anyone else (users, guests, a key that lacks the scope) is
    # identified in a thread, as before.
    caller = (await ctx.fast.key_caller(request, ctx, "executions.read")
              if ctx.fast else None)
    if caller is not None and ctx.fast is not None:
        validate.uid("functionId", functionId)
        query, with_total = _list_query(request)
        text = await ctx.fast.list(caller, functionId, query, with_total, ctx)
        if text is not None:
            metrics.API_PATHS.labels("list", "fast").inc()
            return Response(text, media_type=JSON_TYPE)
        metrics.API_PATHS.labels("list", "reference").inc()
        body = await ctx.fast.run(_list, caller, functionId, request, ctx)
    else:
        metrics.API_PATHS.labels("list", "reference").inc()
        body = await run_in_threadpool(_list_as_identified, functionId, request, ctx)
    # Answered as it is (no second pass through the response model): the documents
    # are already in their wire form.
    return json_response(body)


def _list_query(request: Request) -> tuple[ListQuery, bool]:
    """The list's queries and whether to count (both paths parse them here)."""
    query = listqueries.parse(listqueries.collect(request.query_params.multi_items()), FILTERABLE,
                         EXECUTION_ORDERABLE)
    return query, bool_param(request, "total", True)


def _list_as_identified(functionId: str, request: Request, ctx: Context) -> dict[str, Any]:
    caller = identify(request, ctx)
    caller.require("executions.read")
    with transaction(ctx.sessions) as session:
        return _list(session, caller, functionId, request, ctx)


def _list(session: Session, caller: Caller, functionId: str, request: Request,
          ctx: Context) -> dict[str, Any]:
    validate.uid("functionId", functionId)
    query, with_total = _list_query(request)
    fn = load_function(session, caller.project_id, functionId)
    overdue = _overdue(session, ctx, fn)
    where = [Execution.project_id == caller.project_id, Execution.function_id == functionId]
    if not caller.is_key:  # a user reads the runs it asked for, nothing else
        where.append(Execution.user_id == caller.user_id)
    rows, total = list_rows(session, Execution, where, EXECUTION_COLUMNS, query,
                            with_total, filter_columns=overdue.filter_columns())
    return {"total": total, "executions": [
        execution_json(e, reported=overdue.reported(e), private=caller.is_key) for e in rows]}


def _overdue(session: Session, ctx: Context, fn: Function) -> Overdue:
    return Overdue(db_now(session), ctx.settings.reap_margin, fn.timeout)


def _one_execution(request: Request, ctx: Context, scope: str, function_id: str,
                   execution_id: str) -> Caller:
    """The caller of a route on one execution, checked in Appwrite's order."""
    caller = identify(request, ctx)
    caller.require(scope)
    validate.uid("functionId", function_id)
    validate.uid("executionId", execution_id)
    return caller


@router.get("/functions/{functionId}/executions/{executionId}")
async def get_execution(functionId: str, executionId: str, request: Request,
                        ctx: Context = Depends(get_context)) -> dict[str, Any]:
    fast = await ctx.fast.get(functionId, executionId, request, ctx) if ctx.fast else None
    if fast is not None:
        metrics.API_PATHS.labels("get", "fast").inc()
        return fast
    metrics.API_PATHS.labels("get", "reference").inc()
    return await run_in_threadpool(_get_execution, functionId, executionId, request, ctx)


def _get_execution(functionId: str, executionId: str, request: Request,
                   ctx: Context) -> dict[str, Any]:
    caller = _one_execution(request, ctx, "executions.read", functionId, executionId)
    with transaction(ctx.sessions) as session:
        fn = load_function(session, caller.project_id, functionId)
        execution = store.get(session, caller.project_id, functionId, executionId)
        if execution is None or not (caller.is_key or execution.user_id == caller.user_id):
            raise ExecutionNotFound()
        return execution_json(execution, reported=_overdue(session, ctx, fn).reported(execution),
                              private=caller.is_key)


@router.delete("/functions/{functionId}/executions/{executionId}", status_code=204,
               response_class=Response)
def delete_execution(functionId: str, executionId: str, request: Request,
                     ctx: Context = Depends(get_context)) -> Response:
    caller = _one_execution(request, ctx, "executions.write", functionId, executionId)
    with transaction(ctx.sessions) as session:
        fn = load_function(session, caller.project_id, functionId)
        deleted = store.delete_one(session, caller.project_id, functionId, executionId,
                                   _overdue(session, ctx, fn))
    if not deleted:
        raise ExecutionNotFound()
    return Response(status_code=204, media_type="text/plain")
