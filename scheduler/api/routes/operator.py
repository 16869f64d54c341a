"""Operator extensions under /v1/scheduler: status, schedules, pause/resume, trigger now,
extra schedules per function, and a preview of any cron's next fires."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from scheduler.api import errors, validate
from scheduler.api.app_response import json_response
from scheduler.api.auth import Caller, identify
from scheduler.api.context import Context, get_context
from scheduler.api.routes.shared import load_function
from scheduler.api.schemas import (
    ERROR_RESPONSES,
    PauseRequest,
    ScheduleCreate,
    execution_json,
    schedule_json,
)
from scheduler.broker import enqueue
from scheduler.rules import cronwords
from scheduler.rules.errors import CronError, ScheduleNotFound
from scheduler.rules.states import Trigger
from scheduler.rules.timerules import iso, next_fires, parse_cron, validate_timezone
from scheduler.store import functions as store
from scheduler.store.db import transaction
from scheduler.store.leases import status as lease_status
from scheduler.store.schedules import set_inactive

router = APIRouter(prefix="/scheduler", tags=["scheduler (Tocsin extensions)"],
                   responses=ERROR_RESPONSES)


def _caller(request: Request, ctx: Context, scope: str) -> Caller:
    caller = identify(request, ctx)
    caller.require(scope)
    return caller


PREVIEW_FROM = datetime(1970, 1, 1, tzinfo=UTC)
PREVIEW_UNTIL = datetime(9000, 1, 1, tzinfo=UTC)


def _tag(node: str | None) -> str | None:
    return None if node is None else "node-" + hashlib.sha256(node.encode()).hexdigest()[:10]


@router.get("/status")
def status(request: Request, ctx: Context = Depends(get_context)) -> dict[str, Any]:
    """Leader, epoch, lease expiry, standbys, last dispatch and unpublished backlog.

    Node names are the cluster's host names and pids: a project's key sees each as an
    opaque, stable tag (``node-<hash>``); `tocsin status` on an operator's machine
    shows the names."""
    _caller(request, ctx, "scheduler.read")
    with transaction(ctx.sessions) as session:
        view = lease_status(session, node_window=ctx.settings.lease_ttl * 3)
    return {
        "leader": _tag(view.leader), "epoch": view.epoch,
        "leaseExpiresAt": iso(view.lease_expires_at),
        "standbys": [_tag(n) for n in view.standbys],
        "lastDispatchAt": iso(view.last_dispatch_at),
        "dispatchLagMs": view.last_dispatch_lag_ms,
        "unpublishedBacklog": view.unpublished_backlog,
    }


@router.get("/schedules")
def list_schedules(request: Request, functionId: str | None = None,
                   ctx: Context = Depends(get_context)) -> dict[str, Any]:
    """Every schedule of the project (or of one function) with next/last fire and skips."""
    caller = _caller(request, ctx, "scheduler.read")
    if functionId is not None:
        validate.uid("functionId", functionId)
    with transaction(ctx.sessions) as session:
        rows = store.list_schedules(session, caller.project_id, functionId)
    return {"total": len(rows), "schedules": [schedule_json(s) for s in rows]}


@router.post("/functions/{functionId}/schedules", status_code=201)
def add_schedule(functionId: str, request: Request, payload: ScheduleCreate = Body(...),
                 ctx: Context = Depends(get_context)) -> Response:
    """An extra cron for a function, with its own request payload."""
    caller = _caller(request, ctx, "scheduler.write")
    validate.uid("functionId", functionId)
    validate.uid("key", payload.key)
    fields = validate.function_fields({
        "schedule": payload.schedule, "timezone": payload.timezone,
        "missedPolicy": payload.missedPolicy, "misfireGrace": payload.misfireGrace,
        "catchupWindow": payload.catchupWindow, "catchupCap": payload.catchupCap,
        "overlap": payload.overlap, "jitter": payload.jitter})
    if not fields["schedule"]:
        raise errors.invalid_param("schedule", validate.CRON_RULE)
    retry = validate.retry_policy(payload.retry)
    request_input = validate.execution(payload.body, True, payload.path, payload.method,
                                       payload.headers, None, datetime.now(UTC))
    definition = store.ScheduleDefinition(
        fields["schedule"], fields["timezone"], fields["missed_policy"], fields["misfire_grace"],
        fields["catchup_window"], fields["catchup_cap"], fields["overlap"], fields["jitter"])
    with transaction(ctx.sessions) as session:
        fn = load_function(session, caller.project_id, functionId)
        sched = store.add_schedule(session, fn, payload.key, definition, {
            "body": request_input.body, "path": request_input.path,
            "method": request_input.method, "headers": request_input.headers})
        sched.retry = retry
        return json_response(schedule_json(sched), 201)


def _schedule(session: Any, caller: Caller, schedule_id: str) -> Any:
    sched = store.get_schedule(session, caller.project_id, schedule_id)
    if sched is None:
        raise ScheduleNotFound()
    return sched


@router.delete("/schedules/{scheduleId}", status_code=204, response_class=Response)
def delete_schedule(scheduleId: str, request: Request,
                    ctx: Context = Depends(get_context)) -> Response:
    caller = _caller(request, ctx, "scheduler.write")
    with transaction(ctx.sessions) as session:
        sched = _schedule(session, caller, scheduleId)
        if sched.key == store.DEFAULT_KEY:
            raise errors.ApiError(errors.BAD_REQUEST,
                                  "This is the function's own schedule: clear the function's "
                                  "`schedule` with PUT /v1/functions/{functionId} instead.")
        store.delete_schedule(session, sched)
    return Response(status_code=204, media_type="text/plain")


@router.post("/schedules/{scheduleId}/pause")
def pause(scheduleId: str, request: Request, payload: PauseRequest | None = Body(None),
          ctx: Context = Depends(get_context)) -> dict[str, Any]:
    caller = _caller(request, ctx, "scheduler.write")
    with transaction(ctx.sessions) as session:
        sched = _schedule(session, caller, scheduleId)
        set_inactive(session, sched, "paused", True, note=(payload or PauseRequest()).note)
        return schedule_json(sched)


@router.post("/schedules/{scheduleId}/resume")
def resume(scheduleId: str, request: Request,
           ctx: Context = Depends(get_context)) -> dict[str, Any]:
    """Fires that passed while paused are counted as skipped (reason `paused`)."""
    caller = _caller(request, ctx, "scheduler.write")
    with transaction(ctx.sessions) as session:
        sched = _schedule(session, caller, scheduleId)
        set_inactive(session, sched, "paused", False)
        return schedule_json(sched)


@router.post("/schedules/{scheduleId}/trigger", status_code=202)
def trigger_now(scheduleId: str, request: Request,
                ctx: Context = Depends(get_context)) -> Response:
    """Run the schedule's payload once now, outside its cron (it keeps its next fire).
    Running a function is an execution: ``executions.write`` is needed as well."""
    caller = _caller(request, ctx, "scheduler.write")
    caller.require("executions.write")
    with transaction(ctx.sessions) as session:
        sched = _schedule(session, caller, scheduleId)
        payload = sched.payload or {}
        execution = enqueue.create(session, enqueue.Request(
            project_id=caller.project_id, function_id=sched.function_id,
            method=payload.get("method", "POST"), path=payload.get("path", "/"),
            headers=payload.get("headers", {}), body=payload.get("body", ""),
            trigger=Trigger.SCHEDULE, schedule_id=sched.id), window=ctx.settings.project_window)
    if enqueue.handed(execution):
        enqueue.hand_over(ctx.sessions, ctx.publisher, execution.id)
    return json_response(execution_json(execution), 202)


@router.get("/cron/preview")
def preview(request: Request, expression: str, timezone: str = "UTC",
            count: int = Query(5, ge=1, le=1000), after: str | None = None,
            ctx: Context = Depends(get_context)) -> dict[str, Any]:
    """The next ``count`` fires of any expression in any zone, local and UTC."""
    _caller(request, ctx, "scheduler.read")
    try:
        cron = parse_cron(expression)
        zone = validate_timezone(timezone)
    except CronError as exc:
        raise errors.invalid_param("expression", str(exc)) from None
    start = datetime.now(UTC)
    if after:
        try:
            start = datetime.fromisoformat(after)
        except ValueError:
            raise errors.invalid_param("after", "Value must be an ISO 8601 time") from None
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        if not PREVIEW_FROM <= start <= PREVIEW_UNTIL:
            raise errors.invalid_param("after", "Value must be a time between "
                                                f"{PREVIEW_FROM.year} and {PREVIEW_UNTIL.year}")
    try:
        fires = next_fires(cron, zone, start, count)
    except (OverflowError, ValueError):  # croniter walking off the calendar
        raise errors.invalid_param("after", "no fire times follow this instant within the "
                                            "calendar") from None
    return {"expression": cron.expression, "timezone": timezone,
            "description": cronwords.describe(cron.expression),
            "fires": [{"local": f.astimezone(zone).isoformat(), "utc": iso(f)} for f in fires]}


@router.get("/cron/check")
def check(request: Request, expression: str, timezone: str = "UTC",
          count: int = Query(5, ge=1, le=100),
          ctx: Context = Depends(get_context)) -> dict[str, Any]:
    """Live validation for forms: always 200, with ``valid`` and the reason, or the
    expression in words and its next fires (a 400 per keystroke would only be noise)."""
    try:
        return {"valid": True, **preview(request, expression, timezone, count, None, ctx)}
    except errors.ApiError as exc:
        if exc.status != 400:
            raise
        return {"valid": False, "error": exc.message.removeprefix(
            "Invalid `expression` param: ")}


@router.get("/whoami")
def whoami(request: Request, ctx: Context = Depends(get_context)) -> dict[str, Any]:
    """Who the request's credentials are and what they may do (the console greys out
    what a key cannot do instead of failing on click), and the generated functions
    domain (``TOCSIN_FUNCTIONS_DOMAIN``, empty when off) the console shows."""
    caller = identify(request, ctx)
    return {"projectId": caller.project_id, "role": caller.role,
            "scopes": sorted(caller.scopes), "userId": caller.user_id,
            "functionsDomain": ctx.settings.functions_domain.lower().strip(".")}
