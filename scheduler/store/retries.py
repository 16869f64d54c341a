"""What follows a failed attempt: its retry, or its dead letter; and a re-run on demand.

Invariants:
* ``after_failure`` runs in the transaction whose guarded statement moved the rows to
  ``failed`` (``FAIL`` or ``LOST``, each only from ``processing``), so it sees each row
  once; the retry it writes commits or rolls back with that failure. The pair
  (``retry_of``, ``attempt``) is unique besides: no crash or replay writes a second.
* A retry is a new row, ``scheduled`` at the time its backoff ends: the one-shot path
  (``fires.promote_due_oneshots``) releases it, so a leader failover between the
  failure and the retry only delays it. It keeps the first attempt's trigger, request
  and schedule, but not its ``scheduled_for`` or ``event_id`` (they identify the fire
  or the event, and stay unique to the first attempt).
* A dead letter is the failed row marked ``dead``, its function's ``dead_letters``
  counted in the same transaction, and its ``dead`` event emitted.
* A re-run is a new attempt of a finished run (``broker.enqueue`` writes it), numbered
  after every attempt before it under a lock on the first attempt's row.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, aliased

from scheduler.logs import get_logger
from scheduler.rules import lifecycle, retries
from scheduler.rules.ids import new_id
from scheduler.rules.retries import Failure, RetryPolicy
from scheduler.rules.states import Trigger
from scheduler.store import events
from scheduler.store.models import Execution, Function, Schedule
from scheduler.store.schedules import notify_wakeup

log = get_logger(__name__)

DEAD_EVENT = "dead"  # functions.<id>.executions.<id>.dead


def policy_of(doc: Any) -> RetryPolicy | None:
    """A stored policy document (validated when written); one that no longer parses
    (written by a newer version) counts as none rather than stopping the record."""
    try:
        return retries.parse(doc)
    except retries.RetryPolicyError:
        return None


def after_failure(session: Session, execution_ids: list[str], failure: Failure,
                  now: datetime, r: Callable[[], float] = random.random) -> list[str]:
    """Retry or dead-letter each of the just-failed ``execution_ids`` whose schedule or
    function has a policy; the ids of the retries written."""
    if not execution_ids:
        return []
    first = aliased(Execution)
    rows = session.execute(
        select(Execution, Function.retry.label("function_retry"),
               Schedule.retry.label("schedule_retry"),
               func.coalesce(first.created_at, Execution.created_at).label("first_created"))
        .join(Function, (Function.project_id == Execution.project_id)
              & (Function.id == Execution.function_id))
        .outerjoin(Schedule, Schedule.id == Execution.schedule_id)
        .outerjoin(first, first.id == Execution.retry_of)
        .where(Execution.id.in_(execution_ids), Execution.sync.is_(False),
               (Function.retry.is_not(None)) | (Schedule.retry.is_not(None)))
        .order_by(Execution.id)
    ).all()
    written: list[str] = []
    for ex, function_retry, schedule_retry, first_created in rows:
        policy = policy_of(schedule_retry if schedule_retry is not None else function_retry)
        decision = retries.decide(policy, attempt=ex.attempt or 1, failure=failure,
                                  sync=ex.sync, first_created=first_created, now=now, r=r())
        if decision.retry_at is not None:
            written.append(_write_retry(session, ex, decision.retry_at, now))
        elif decision.dead:
            _dead_letter(session, ex, decision.reason, now)
    if written:
        notify_wakeup(session)
    return written


def _write_retry(session: Session, ex: Execution, at: datetime, now: datetime,
                 attempt: int | None = None) -> str:
    row = lifecycle.new_execution(
        id=new_id(), project_id=ex.project_id, function_id=ex.function_id,
        trigger=Trigger(ex.trigger), now=now, scheduled_at=at, keep_trigger=True,
        method=ex.request_method, path=ex.request_path,
        headers=dict(ex.request_headers or {}), body=ex.request_body,
        body_base64=ex.request_body_base64, user_id=ex.user_id, schedule_id=ex.schedule_id,
        depth=ex.depth or 0, origin_function_id=ex.origin_function_id,
        attempt=attempt or (ex.attempt or 1) + 1, retry_of=ex.retry_of or ex.id)
    retry = Execution(**row)
    session.add(retry)
    session.flush()
    events.execution_changed(session, retry, "create")
    log.info("execution.retry_planned", execution_id=retry.id, retry_of=retry.retry_of,
             attempt=retry.attempt, at=at.isoformat())
    return retry.id


def _dead_letter(session: Session, ex: Execution, reason: str, now: datetime) -> None:
    errors = "\n".join(e for e in (ex.errors, f"Dead letter: {reason}.") if e)
    session.execute(update(Execution).where(Execution.id == ex.id)
                    .values(dead=True, errors=errors, updated_at=now)
                    .execution_options(synchronize_session=False))
    session.execute(update(Function)
                    .where(Function.project_id == ex.project_id, Function.id == ex.function_id)
                    .values(dead_letters=Function.dead_letters + 1)
                    .execution_options(synchronize_session=False))
    events.execution_changed_by_id(session, ex.project_id, ex.function_id, ex.id, DEAD_EVENT)
    log.warning("execution.dead_letter", execution_id=ex.id, function_id=ex.function_id,
                attempt=ex.attempt, reason=reason)


def next_attempt(session: Session, ex: Execution) -> tuple[str, int]:
    """For a re-run of ``ex``: the first attempt's id and the new attempt's number,
    after every attempt so far. Numbered under a lock on the first attempt's row, so
    two re-runs at once get two numbers."""
    first_id = ex.retry_of or ex.id
    session.execute(select(Execution.id).where(Execution.id == first_id).with_for_update())
    last = session.execute(
        select(func.max(Execution.attempt))
        .where((Execution.retry_of == first_id) | (Execution.id == first_id))
    ).scalar_one()
    return first_id, max(last or 1, ex.attempt or 1) + 1


def dead_letter_counts(session: Session) -> list[tuple[str, str, int]]:
    """(project, function, dead letters) of every function that has had one."""
    return [(p, f, n) for p, f, n in session.execute(
        select(Function.project_id, Function.id, Function.dead_letters)
        .where(Function.dead_letters > 0)).all()]
