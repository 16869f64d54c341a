"""/v1/scheduler/schedules/{id}: one schedule described, and its backfills.

Operator extensions (scopes ``scheduler.read`` / ``scheduler.write``). A backfill
creates a schedule's past fires in ``[from, to)``; the leader works through it in
paced steps, and ``GET /v1/scheduler/backfills/{id}`` shows how far it got.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Body, Depends, Request

from scheduler.api import errors
from scheduler.api.app_response import json_response
from scheduler.api.auth import identify
from scheduler.api.context import Context, get_context
from scheduler.api.schemas import ERROR_RESPONSES, schedule_json
from scheduler.rules import backfillwindow
from scheduler.rules.errors import ScheduleNotFound
from scheduler.rules.timerules import iso, next_fires, parse_cron
from scheduler.store import backfills as backfill_store
from scheduler.store import functions as store
from scheduler.store.db import db_now, transaction
from scheduler.store.models import Backfill

router = APIRouter(prefix="/scheduler", tags=["scheduler (Tocsin extensions)"],
                   responses=ERROR_RESPONSES)

SHOWN = 10
REASONS = ("missed", "paused", "disabled", "overlap")


@router.get("/schedules/{scheduleId}")
def describe(scheduleId: str, request: Request,
             ctx: Context = Depends(get_context)) -> dict[str, Any]:
    """The schedule, its last 10 fires with their outcome, its next 10 fires, and its
    skips by reason with the last time of each, in one call."""
    caller = identify(request, ctx)
    caller.require("scheduler.read")
    with transaction(ctx.sessions) as session:
        sched = store.get_schedule(session, caller.project_id, scheduleId)
        if sched is None:
            raise ScheduleNotFound()
        last = store.last_fires(session, sched.id, SHOWN)
        body = schedule_json(sched)
    upcoming = next_fires(parse_cron(sched.cron), ZoneInfo(sched.timezone),
                          sched.next_fire_at - timedelta(microseconds=1), SHOWN)
    return {
        **body,
        "lastFires": [{"scheduledFor": iso(e.scheduled_for), "executionId": e.id,
                       "status": e.status, "trigger": e.trigger,
                       "startedAt": iso(e.started_at), "duration": e.duration}
                      for e in last],
        "nextFires": [iso(t) for t in upcoming] if not (sched.paused or sched.disabled)
        else [],
        "skips": {r: {"count": body["skipped"][r], "last": body["lastSkipped"][r]}
                  for r in REASONS},
    }


def _instant(name: str, value: Any) -> datetime:
    if not isinstance(value, str):
        raise errors.invalid_param(name, "Value must be an ISO 8601 time, e.g. "
                                         "2026-11-01T00:00:00Z")
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise errors.invalid_param(name, "Value must be an ISO 8601 time, e.g. "
                                         "2026-11-01T00:00:00Z") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def backfill_json(b: Backfill, dry_run: bool = False,
                  fires: list[datetime] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"$id": b.id, "scheduleId": b.schedule_id, "from": iso(b.from_at),
           "to": iso(b.to_at), "total": b.total, "created": b.created,
           "existing": b.existing, "status": b.status, "dryRun": dry_run,
           "$createdAt": iso(b.created_at), "finishedAt": iso(b.finished_at)}
    if fires is not None:
        out["firstFires"] = [iso(t) for t in fires]
    return out


@router.post("/schedules/{scheduleId}/backfill", status_code=202)
def backfill(scheduleId: str, request: Request, payload: dict[str, Any] = Body(...),
             ctx: Context = Depends(get_context)) -> Any:
    """The schedule's fire times in ``[from, to)``, each created at most once. With
    ``dryRun``: how many and the first ten, nothing created (200)."""
    caller = identify(request, ctx)
    caller.require("scheduler.write")
    caller.require("executions.write")
    from_at, to_at = _instant("from", payload.get("from")), _instant("to", payload.get("to"))
    dry_run = payload.get("dryRun", False)
    if not isinstance(dry_run, bool):
        raise errors.invalid_param("dryRun", "Value must be a valid boolean")
    with transaction(ctx.sessions) as session:
        now = db_now(session)
        sched = store.get_schedule(session, caller.project_id, scheduleId)
        if sched is None:
            raise ScheduleNotFound()
        try:
            backfillwindow.check(from_at, to_at, now)
            total = backfill_store.window_fires(sched, from_at, to_at)
            backfillwindow.check_count(total)
        except backfillwindow.WindowError as exc:
            raise errors.invalid_param(exc.field, exc.message) from None
        first = backfill_store.first_fires(sched, from_at - timedelta(microseconds=1), to_at,
                                           SHOWN)
        if dry_run:
            preview = Backfill(id="", schedule_id=sched.id, from_at=from_at, to_at=to_at,
                               total=total, created=0, existing=0, status="dry_run",
                               created_at=now, finished_at=None)
            return json_response(backfill_json(preview, True, first), 200)
        made = backfill_store.create(session, sched, from_at, to_at, total, now)
        return json_response(backfill_json(made, False, first), 202)


@router.get("/backfills/{backfillId}")
def get_backfill(backfillId: str, request: Request,
                 ctx: Context = Depends(get_context)) -> dict[str, Any]:
    caller = identify(request, ctx)
    caller.require("scheduler.read")
    with transaction(ctx.sessions) as session:
        return backfill_json(backfill_store.require(session, caller.project_id, backfillId))


@router.delete("/backfills/{backfillId}")
def cancel_backfill(backfillId: str, request: Request,
                    ctx: Context = Depends(get_context)) -> dict[str, Any]:
    """Stop a running backfill; the fires it already created stay."""
    caller = identify(request, ctx)
    caller.require("scheduler.write")
    with transaction(ctx.sessions) as session:
        found = backfill_store.require(session, caller.project_id, backfillId)
        backfill_store.cancel(session, found, db_now(session))
        return backfill_json(found)
