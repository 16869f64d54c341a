"""Functions and their schedules, as the API changes them.

A function's ``schedule`` (cron) lives in the schedules table as the row with
key ``default``; operators may add more rows per function, each with its own
payload. Every change that can move the earliest due time notifies the leader.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, literal, select
from sqlalchemy.orm import Session

from scheduler.rules import intervals
from scheduler.rules.causes import Cause
from scheduler.rules.errors import FunctionAlreadyExists, ScheduleAlreadyExists
from scheduler.rules.ids import new_id
from scheduler.rules.policies import (
    DEFAULT_CATCHUP_CAP,
    DEFAULT_CATCHUP_WINDOW,
    DEFAULT_MISFIRE_GRACE,
    Policy,
)
from scheduler.rules.states import ExecutionStatus
from scheduler.rules.timerules import next_fire, parse_cron
from scheduler.store import events
from scheduler.store.db import db_now
from scheduler.store.models import Execution, Function, Schedule
from scheduler.store.schedules import notify_wakeup, set_inactive

# Attribute -> column, for order and cursors (Appwrite's names).
COLUMNS: dict[str, Any] = {
    "name": Function.name, "enabled": Function.enabled, "runtime": Function.runtime,
    "schedule": Function.schedule, "timeout": Function.timeout,
    "entrypoint": Function.entrypoint, "commands": Function.commands,
    "$createdAt": Function.created_at, "$updatedAt": Function.updated_at, "$id": Function.id,
    "deploymentId": Function.deployment_id,
}
# What filters see besides: fields of Appwrite's model that Tocsin has no use for are
# constants (no VCS), so a filter on them answers as Appwrite would.
FILTER_COLUMNS: dict[str, Any] = {"installationId": literal("")}

DEFAULT_KEY = "default"
POLICY_FIELDS = ("missed_policy", "misfire_grace", "catchup_window", "catchup_cap", "overlap",
                 "jitter")


@dataclass(frozen=True)
class ScheduleDefinition:
    cron: str
    timezone: str
    missed_policy: str = Policy.LATEST
    misfire_grace: int = DEFAULT_MISFIRE_GRACE
    catchup_window: int = DEFAULT_CATCHUP_WINDOW
    catchup_cap: int = DEFAULT_CATCHUP_CAP
    overlap: str = "allow"
    jitter: int = 0


def get_function(session: Session, project_id: str, function_id: str,
                 lock: bool = False) -> Function | None:
    query = select(Function).where(Function.project_id == project_id, Function.id == function_id)
    if lock:
        query = query.with_for_update()
    return session.execute(query).scalar_one_or_none()


def named_anywhere(session: Session, function_id: str) -> list[tuple[str, str]]:
    """(project, id) of every function whose id is ``function_id`` in any case: a
    generated domain (host names have no case) or the path form names one this way."""
    rows = session.execute(select(Function.project_id, Function.id).where(
        func.lower(Function.id) == function_id.lower()).limit(2)).all()
    return [(r[0], r[1]) for r in rows]


def create_function(session: Session, project_id: str, function_id: str,
                    fields: dict[str, Any], cause: Cause | None = None) -> Function:
    if get_function(session, project_id, function_id) is not None:
        raise FunctionAlreadyExists()
    now = db_now(session)
    fn = Function(project_id=project_id, id=function_id, created_at=now, updated_at=now,
                  **fields)
    session.add(fn)
    session.flush()
    sync_default_schedule(session, fn)
    events.set_subscriptions(session, fn)
    events.function_changed(session, fn, "create", cause)
    return fn


def update_function(session: Session, fn: Function, fields: dict[str, Any],
                    cause: Cause | None = None) -> Function:
    was_enabled = fn.enabled
    for name, value in fields.items():
        setattr(fn, name, value)
    fn.updated_at = db_now(session)
    session.flush()
    sync_default_schedule(session, fn)
    if was_enabled != fn.enabled:
        for sched in schedules_of(session, fn.project_id, fn.id):
            set_inactive(session, sched, "disabled", not fn.enabled)
    if "events" in fields:
        events.set_subscriptions(session, fn)
    events.function_changed(session, fn, "update", cause)
    return fn


def delete_function(session: Session, fn: Function, cause: Cause | None = None) -> None:
    """One transaction: its schedules and pending one-shots go with it."""
    events.function_changed(session, fn, "delete", cause)
    session.execute(delete(Execution).where(
        Execution.project_id == fn.project_id, Execution.function_id == fn.id,
        Execution.status == ExecutionStatus.SCHEDULED))
    session.execute(delete(Schedule).where(
        Schedule.project_id == fn.project_id, Schedule.function_id == fn.id))
    session.delete(fn)


def schedules_of(session: Session, project_id: str, function_id: str) -> list[Schedule]:
    return list(session.execute(
        select(Schedule).where(Schedule.project_id == project_id,
                               Schedule.function_id == function_id)
        .order_by(Schedule.created_at)
    ).scalars())


def sync_default_schedule(session: Session, fn: Function) -> None:
    current = session.execute(select(Schedule).where(
        Schedule.project_id == fn.project_id, Schedule.function_id == fn.id,
        Schedule.key == DEFAULT_KEY)).scalar_one_or_none()
    cron = fn.schedule or (intervals.for_function(fn.project_id, fn.id, int(fn.interval))
                           .expression if fn.interval else "")
    if not cron:
        if current is not None:
            session.delete(current)
        return
    definition = ScheduleDefinition(cron, fn.timezone, fn.missed_policy, fn.misfire_grace,
                        fn.catchup_window, fn.catchup_cap, fn.overlap, fn.jitter)
    if current is None:
        add_schedule(session, fn, DEFAULT_KEY, definition, {})
    else:
        change_schedule(session, current, definition)


def add_schedule(session: Session, fn: Function, key: str,
                 definition: ScheduleDefinition,
                 payload: dict[str, Any]) -> Schedule:
    if session.execute(select(Schedule.id).where(
            Schedule.project_id == fn.project_id, Schedule.function_id == fn.id,
            Schedule.key == key)).first():
        raise ScheduleAlreadyExists(
            f"Function '{fn.id}' already has a schedule with key '{key}'.")
    now = db_now(session)
    sched = Schedule(
        id=new_id(), project_id=fn.project_id, function_id=fn.id, key=key,
        cron=definition.cron, timezone=definition.timezone,
        next_fire_at=next_fire(parse_cron(definition.cron), ZoneInfo(definition.timezone), now),
        disabled=not fn.enabled, payload=payload, created_at=now, updated_at=now,
        **{f: getattr(definition, f) for f in POLICY_FIELDS},
    )
    session.add(sched)
    session.flush()
    notify_wakeup(session)
    return sched


def change_schedule(session: Session, sched: Schedule,
                    definition: ScheduleDefinition) -> None:
    for name in POLICY_FIELDS:
        setattr(sched, name, getattr(definition, name))
    if (sched.cron, sched.timezone) != (definition.cron, definition.timezone):
        # A new expression starts from now: nothing "missed" under the old one.
        sched.cron, sched.timezone = definition.cron, definition.timezone
        sched.next_fire_at = next_fire(parse_cron(definition.cron), ZoneInfo(definition.timezone),
                                       db_now(session))
        notify_wakeup(session)


def get_schedule(session: Session, project_id: str | None, schedule_id: str
                 ) -> Schedule | None:
    query = select(Schedule).where(Schedule.id == schedule_id)
    if project_id is not None:
        query = query.where(Schedule.project_id == project_id)
    return session.execute(query).scalar_one_or_none()


def list_schedules(session: Session, project_id: str | None, function_id: str | None = None,
                   limit: int = 1000) -> list[Schedule]:
    """Earliest next fire first; ``project_id=None`` (operators' CLI) means all projects."""
    query = select(Schedule)
    if project_id is not None:
        query = query.where(Schedule.project_id == project_id)
    if function_id:
        query = query.where(Schedule.function_id == function_id)
    return list(session.execute(query.order_by(Schedule.next_fire_at).limit(limit)).scalars())


def last_fires(session: Session, schedule_id: str, limit: int) -> list[Execution]:
    """The schedule's latest fires by nominal time (runs triggered by hand last)."""
    return list(session.execute(
        select(Execution).where(Execution.schedule_id == schedule_id)
        .order_by(Execution.scheduled_for.desc().nulls_last(), Execution.created_at.desc())
        .limit(limit)).scalars())


def recent_executions(session: Session, schedule_id: str, limit: int) -> list[Execution]:
    return list(session.execute(
        select(Execution).where(Execution.schedule_id == schedule_id)
        .order_by(Execution.created_at.desc()).limit(limit)).scalars())


def delete_schedule(session: Session, sched: Schedule) -> None:
    session.delete(sched)
