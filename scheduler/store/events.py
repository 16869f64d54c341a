"""Events: recorded in the transaction of their change, fanned out by the leader.

Invariants:
* An event row commits with the change it reports, or not at all (``emit`` runs in
  the caller's transaction): no change without its event, no event without its change.
* ``fanned_out_at`` NULL is the outbox. ``fan_out`` turns a pending event into one
  ``waiting`` execution per matching function and marks it fanned out, in one fenced
  transaction; ``UNIQUE(event_id, function_id)`` backs "exactly once" should two
  transactions ever try.
* Matching is a lookup of the event's names in ``(project_id, pattern)``: an event
  never scans the functions.
* Tocsin's own events are recorded only when some function of the project subscribes
  to one of their names (nothing would read them otherwise; a schedule's fires stay
  cheap). Events from outside are always recorded: their ``eventId`` must stay known.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scheduler.rules import lifecycle
from scheduler.rules.causes import Cause
from scheduler.rules.errors import EventNameError
from scheduler.rules.eventnames import variants
from scheduler.rules.ids import new_id
from scheduler.rules.states import Trigger
from scheduler.store.db import affected, db_now
from scheduler.store.documents import execution_json, function_json
from scheduler.store.models import Event, EventSubscription, Execution, Function
from scheduler.store.schedules import notify_wakeup

SOURCES = ("tocsin", "api", "webhook")
WEBHOOK_USER_HEADER = "x-appwrite-webhook-user-id"
STOPPED_DEPTH = "depth"
_CHUNK = 500  # names per IN (...): well inside SQLite's bound-parameter limit


def set_subscriptions(session: Session, fn: Function) -> None:
    """Make the index hold exactly ``fn.events``."""
    session.execute(delete(EventSubscription).where(
        EventSubscription.project_id == fn.project_id,
        EventSubscription.function_id == fn.id))
    session.add_all(EventSubscription(project_id=fn.project_id, function_id=fn.id,
                                      pattern=p) for p in sorted(set(fn.events or [])))
    session.flush()


def _subscribed(session: Session, project_id: str, names: list[str]) -> bool:
    return any(session.execute(select(exists().where(
        EventSubscription.project_id == project_id,
        EventSubscription.pattern.in_(names[i:i + _CHUNK])))).scalar()
        for i in range(0, len(names), _CHUNK))


@dataclass(frozen=True)
class Emitted:
    event: Event
    duplicate: bool = False  # the publisher's eventId was seen before: nothing new


def emit(session: Session, project_id: str, name: str, payload: str | dict[str, Any], *,
         source: str, names: list[str] | None = None, event_key: str | None = None,
         origin_function_id: str | None = None, depth: int = 0, user_id: str = "",
         only_if_subscribed: bool = False) -> Emitted | None:
    """Record an event in the caller's transaction; the leader is woken on commit.

    ``names``: every name it is published under (default: the variants of ``name``).
    Returns None when ``only_if_subscribed`` and nothing subscribes.
    """
    names = names or variants(name)
    if only_if_subscribed and not _subscribed(session, project_id, names):
        return None
    if event_key is not None:
        seen = _by_key(session, project_id, event_key)
        if seen is not None:
            return Emitted(seen, duplicate=True)
    event = Event(id=new_id(), project_id=project_id, name=name, names=names,
                  payload=payload if isinstance(payload, str) else json.dumps(payload),
                  source=source, event_key=event_key, origin_function_id=origin_function_id,
                  depth=depth, user_id=user_id, created_at=db_now(session), executions=0,
                  stopped="")
    try:
        with session.begin_nested():  # a concurrent repeat of the same eventId
            session.add(event)
            session.flush()
    except IntegrityError:
        seen = _by_key(session, project_id, event_key or "")
        if seen is None:
            raise
        return Emitted(seen, duplicate=True)
    notify_wakeup(session)
    return Emitted(event)


def _by_key(session: Session, project_id: str, event_key: str) -> Event | None:
    return session.execute(select(Event).where(
        Event.project_id == project_id, Event.event_key == event_key)).scalar_one_or_none()


# ------------------------------------------------------------------ Tocsin's own events


def _own_names(name: str) -> list[str] | None:
    """The variants of one of Tocsin's own event names, or None when the name cannot be
    read in the grammar: an id with a period (Appwrite allows them) would shift every
    segment after it. Such a resource emits no events; its change goes on regardless
    (an event must never fail the change it reports)."""
    try:
        return variants(name)
    except EventNameError:
        return None


def function_changed(session: Session, fn: Function, action: str,
                     cause: Cause | None = None) -> None:
    """``functions.[id].create|update|delete``, carrying the Function document;
    ``cause``: the run whose key made the change."""
    name = f"functions.{fn.id}.{action}"
    names = _own_names(name)
    if names is not None and "." not in fn.id:
        emit(session, fn.project_id, name, function_json(fn), source="tocsin", names=names,
             only_if_subscribed=True,
             origin_function_id=cause.function_id if cause else None,
             depth=cause.depth if cause else 0)


def execution_event_names(function_id: str, execution_id: str, action: str) -> list[str]:
    """Every name an execution's event is published under (none for a function id
    with periods, which emits no events)."""
    names = _own_names(f"functions.{function_id}.executions.{execution_id}.{action}")
    return [] if names is None or "." in function_id else names


def execution_changed(session: Session, execution: Execution, action: str) -> None:
    """``functions.[id].executions.[id].create|update|delete``, carrying the Execution
    as the API returns it; ``depth`` continues the chain of the event that made it."""
    name = f"functions.{execution.function_id}.executions.{execution.id}.{action}"
    names = _own_names(name)
    if names is None or "." in execution.function_id:
        return
    # The run's own function never hears of it, nor does a function whose run caused it.
    origin = execution.origin_function_id or execution.function_id
    emit(session, execution.project_id, name, execution_json(execution), source="tocsin",
         names=names, origin_function_id=origin,
         depth=execution.depth or 0, only_if_subscribed=True)


def execution_changed_by_id(session: Session, project_id: str, function_id: str,
                            execution_id: str, action: str) -> None:
    """As ``execution_changed``, for a row written by a set-based UPDATE: the row is
    read (for the payload) only when something subscribes."""
    names = _own_names(f"functions.{function_id}.executions.{execution_id}.{action}")
    if names is None or "." in function_id or not _subscribed(session, project_id, names):
        return
    execution = session.get(Execution, execution_id, populate_existing=True)
    if execution is not None:
        execution_changed(session, execution, action)


# ------------------------------------------------------------------ fan-out (leader)


@dataclass
class FanOut:
    events: int = 0
    stopped: int = 0
    execution_ids: list[str] = field(default_factory=list)
    by_source: dict[str, int] = field(default_factory=dict)


def _subscribers(session: Session, batch: list[Event]) -> dict[tuple[str, str], set[str]]:
    """(project, name) -> enabled functions subscribed to exactly that name."""
    names_of: dict[str, set[str]] = defaultdict(set)
    for event in batch:
        names_of[event.project_id].update(event.names)
    found: dict[tuple[str, str], set[str]] = defaultdict(set)
    for project_id, names in names_of.items():
        ordered = sorted(names)
        for i in range(0, len(ordered), _CHUNK):
            rows = session.execute(
                select(EventSubscription.pattern, EventSubscription.function_id)
                .join(Function, (Function.project_id == EventSubscription.project_id)
                      & (Function.id == EventSubscription.function_id))
                .where(EventSubscription.project_id == project_id,
                       EventSubscription.pattern.in_(ordered[i:i + _CHUNK]),
                       Function.enabled.is_(True)))
            for pattern, function_id in rows:
                found[(project_id, pattern)].add(function_id)
    return found


def _own_execution_event(event: Event, function_id: str) -> bool:
    """An execution's events never trigger the function that ran it, nor anything a run
    causes through its own key the function whose run it was (``origin_function_id``)."""
    return (event.origin_function_id == function_id
            or event.name.startswith(f"functions.{function_id}.executions."))


def fan_out(session: Session, now: datetime, epoch: int, limit: int,
            max_depth: int) -> FanOut:
    """Pending events, oldest first, into executions (marked handed over, as the
    dispatcher's are: the caller publishes them after commit)."""
    batch = list(session.execute(
        select(Event).where(Event.fanned_out_at.is_(None))
        .order_by(Event.created_at, Event.id).limit(limit)
        .with_for_update(skip_locked=True)).scalars())
    result = FanOut(events=len(batch))
    if not batch:
        return result
    subscribers = _subscribers(session, batch)
    for event in batch:
        result.by_source[event.source] = result.by_source.get(event.source, 0) + 1
        event.fanned_out_at = now
        functions = set().union(*(subscribers.get((event.project_id, n), set())
                                  for n in event.names))
        functions = {f for f in functions if not _own_execution_event(event, f)}
        if functions and event.depth >= max_depth:
            event.stopped = STOPPED_DEPTH
            result.stopped += 1
            continue
        headers = {"content-type": "application/json", "x-appwrite-event": event.name}
        if event.user_id:  # a webhook's is what its sender claims, never a verified user
            headers[WEBHOOK_USER_HEADER if event.source == "webhook"
                    else "x-appwrite-user-id"] = event.user_id
        for function_id in sorted(functions):
            execution = Execution(**lifecycle.new_execution(
                id=new_id(), project_id=event.project_id, function_id=function_id,
                trigger=Trigger.EVENT, now=now, headers=headers, body=event.payload,
                event_id=event.id, depth=event.depth + 1, epoch=epoch))
            session.add(execution)
            result.execution_ids.append(execution.id)
        event.executions = len(functions)
    session.flush()
    return result


# ------------------------------------------------------------------ operators


@dataclass(frozen=True)
class EventView:
    event: Event
    executions: list[tuple[str, str, str]]  # (function id, execution id, status)


def recent(session: Session, project_id: str | None = None, limit: int = 50) -> list[EventView]:
    query = select(Event).order_by(Event.created_at.desc(), Event.id.desc()).limit(limit)
    if project_id is not None:
        query = query.where(Event.project_id == project_id)
    events = list(session.execute(query).scalars())
    runs: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    ids = [e.id for e in events]
    if ids:
        for event_id, function_id, execution_id, status in session.execute(
                select(Execution.event_id, Execution.function_id, Execution.id,
                       Execution.status).where(Execution.event_id.in_(ids))
                .order_by(Execution.function_id)):
            runs[event_id or ""].append((function_id, execution_id, status))
    return [EventView(e, runs.get(e.id, [])) for e in events]


def prune(session: Session, older_than: datetime, limit: int = 10_000) -> int:
    """Fanned-out events past retention (a pending one is never pruned)."""
    victims = select(Event.id).where(Event.fanned_out_at.is_not(None),
                                     Event.created_at < older_than).limit(limit)
    return affected(session.execute(
        delete(Event).where(Event.id.in_(victims.scalar_subquery()))
        .execution_options(synchronize_session=False)))
