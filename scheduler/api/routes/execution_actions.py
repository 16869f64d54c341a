"""Tocsin's own actions on one execution, beyond Appwrite: cancel a run in progress,
re-run a finished one with its original request (``rules.retries``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from scheduler.api.app_response import json_response
from scheduler.api.auth import Caller, identify
from scheduler.api.context import Context, get_context
from scheduler.api.routes.shared import load_function
from scheduler.api.schemas import ERROR_RESPONSES, execution_json
from scheduler.api.validate import uid
from scheduler.broker import cancels, enqueue
from scheduler.logs import get_logger
from scheduler.rules.errors import (
    ExecutionNotFinished,
    ExecutionNotFound,
    ExecutionNotRunning,
    UserUnauthorized,
)
from scheduler.rules.states import ExecutionStatus
from scheduler.store import executions as store
from scheduler.store import retries
from scheduler.store.db import db_now, transaction
from scheduler.store.models import Execution

router = APIRouter(tags=["executions"], responses=ERROR_RESPONSES)
log = get_logger(__name__)


def _caller(request: Request, ctx: Context, function_id: str, execution_id: str) -> Caller:
    """An API key with ``executions.write``: these are operators' actions, never a
    signed-in user's (users do not hold that scope; refused here too should they)."""
    caller = identify(request, ctx)
    caller.require("executions.write")
    if not caller.is_key:
        raise UserUnauthorized()
    uid("functionId", function_id)
    uid("executionId", execution_id)
    return caller


def _who(caller: Caller) -> str:
    if caller.cause is not None:  # a run's own key
        return f"a run of function {caller.cause.function_id}"
    return f"API key '{caller.key_name}'" if caller.key_name else "an API key"


@router.post("/functions/{functionId}/executions/{executionId}/cancel")
def cancel_execution(functionId: str, executionId: str, request: Request,
                     ctx: Context = Depends(get_context)) -> Response:
    """Fail a waiting or processing run now, "cancelled by <key name>", and stop its
    runner; never retried. 400 ``execution_not_running`` for any other."""
    caller = _caller(request, ctx, functionId, executionId)
    with transaction(ctx.sessions) as session:
        load_function(session, caller.project_id, functionId)
        execution = store.get(session, caller.project_id, functionId, executionId)
        if execution is None:
            raise ExecutionNotFound()
        if not store.cancel(session, execution.id, _who(caller), db_now(session)):
            raise ExecutionNotRunning()
    # After commit: the worker that stops the runner finds the row already failed.
    try:
        cancels.announce(cancels.redis_url(ctx.settings.broker_url,
                                           ctx.settings.result_backend_url), executionId)
    except Exception as exc:  # the row is failed; the runner ends at its timeout instead
        log.warning("cancels.announce_failed", execution_id=executionId, error=str(exc))
    with transaction(ctx.sessions) as session:
        done = store.get(session, caller.project_id, functionId, executionId)
        log.info("execution.cancel", execution_id=executionId, by=_who(caller))
        return json_response(execution_json(done) if done else {}, 200)


@router.post("/functions/{functionId}/executions/{executionId}/rerun", status_code=202)
def rerun_execution(functionId: str, executionId: str, request: Request,
                    ctx: Context = Depends(get_context)) -> Response:
    """A new attempt of a finished run, with its original request, linked to it
    (``retryOf``: the first attempt; ``attempt``: after every one so far). The user's
    token a run was asked with is not kept, so a re-run carries none."""
    caller = _caller(request, ctx, functionId, executionId)
    with transaction(ctx.sessions) as session:
        load_function(session, caller.project_id, functionId)
        old: Execution | None = store.get(session, caller.project_id, functionId, executionId)
        if old is None:
            raise ExecutionNotFound()
        if not ExecutionStatus(old.status).finished:
            raise ExecutionNotFinished()
        first_id, attempt = retries.next_attempt(session, old)
        execution = enqueue.create(session, enqueue.again(old, first_id, attempt),
                                   window=ctx.settings.project_window)
    if enqueue.handed(execution):
        enqueue.hand_over(ctx.sessions, ctx.publisher, execution.id)
    log.info("execution.rerun", execution_id=execution.id, retry_of=first_id, attempt=attempt)
    return json_response(execution_json(execution), 202)
