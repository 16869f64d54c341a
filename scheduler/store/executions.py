"""Execution statements of the worker side: claim, record, reap, prune.

Invariants:
* A run starts only by moving its row ``waiting -> processing`` in one statement.
* Whatever ends a run of a schedule first takes a share lock on the schedule row
  (``lock_schedules``), then ends the row, then releases the fire ``buffer_one`` held
  for it. The dispatcher holds the schedule row ``FOR UPDATE`` while it decides and
  writes a hold, so the two are ordered: either the dispatcher sees the run ended, or
  the run's end sees the committed hold. A hold neither can release (written before
  this rule, or by a crash between) is released by the leader's sweep
  (``release_orphaned_holds``) and by the schedule's next decision.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, false, func, or_, select, update
from sqlalchemy.orm import Session

from scheduler.rules import lifecycle
from scheduler.rules.causes import Cause
from scheduler.rules.errors import ExecutionInProgress
from scheduler.rules.lifecycle import ExecutionRow
from scheduler.rules.retries import Failure
from scheduler.rules.states import FINISHED, ExecutionStatus
from scheduler.store import admission, events, retries
from scheduler.store.db import affected, db_now
from scheduler.store.dialect import capabilities
from scheduler.store.models import Execution, Function, Schedule
from scheduler.store.overdue import Overdue
from scheduler.store.schedules import notify_wakeup

# The signed-in user's token, passed to the function it asked to run (Appwrite's header).
USER_JWT_HEADER = "x-appwrite-user-jwt"
LOST_WORKER_ERROR = (
    "Execution failed: the worker running it was lost (killed or crashed) and did not "
    "report within the function timeout plus {margin:g} s."
)


@dataclass(frozen=True)
class Claimed:
    execution: Execution
    function: Function


def claim(session: Session, execution_id: str, now: datetime,
          limit_for: Callable[[Execution, Function], int]) -> Claimed | None:
    """waiting -> processing, atomically; None when another delivery got there first.

    Records the timeout the run starts under (``limit_for``) and its deadline in the
    same statement: the reaper judges the run by these, never by a timeout changed later.
    """
    execution = session.get(Execution, execution_id)
    if execution is None or execution.status not in lifecycle.CLAIM.source:
        return None
    function = session.get(Function, (execution.project_id, execution.function_id))
    if function is None:
        return None
    if function.max_concurrency is not None and not execution.sync and _at_limit(
            session, function):
        admission.hold(session, execution_id)  # handed over again when one of its runs ends
        return None
    timeout = limit_for(execution, function)
    values: dict[str, Any] = {
        "status": lifecycle.CLAIM.target, "started_at": now, "updated_at": now,
        "attempts": Execution.attempts + 1, "timeout": timeout,
        "deadline_at": now + timedelta(seconds=timeout),
        "deployment_id": function.deployment_id}  # the code this run runs
    headers = execution.request_headers or {}
    if USER_JWT_HEADER in headers:
        # The user's token goes to this run (``execution`` keeps it in memory) and to
        # nothing after it: a claimed run never runs again, so it is not kept at rest.
        values["request_headers"] = {k: v for k, v in headers.items()
                                     if k != USER_JWT_HEADER}
    claimed = affected(session.execute(
        update(Execution)
        .where(Execution.id == execution_id, Execution.status.in_(lifecycle.CLAIM.source))
        .values(**values)
        .execution_options(synchronize_session=False)
    ))
    return Claimed(execution, function) if claimed else None


def _at_limit(session: Session, function: Function) -> bool:
    """Whether the function already runs ``maxConcurrency`` runs. The function's row is
    locked first, so two claims of it count one after the other: the limit is exact."""
    session.execute(select(Function.id).where(
        Function.project_id == function.project_id, Function.id == function.id)
        .with_for_update())
    running = session.execute(
        select(func.count()).select_from(Execution)
        .where(Execution.project_id == function.project_id,
               Execution.function_id == function.id,
               Execution.status == ExecutionStatus.PROCESSING)).scalar_one()
    return bool(function.max_concurrency is not None and running >= function.max_concurrency)


def _ended(session: Session, rows: Any) -> list[str]:
    """Emit the ``update`` event of each row that reached an end state, and start the
    fire its schedule held back for it (overlap ``buffer_one``); their ids."""
    ids = []
    schedules = set()
    for execution_id, project_id, function_id, schedule_id in rows:
        events.execution_changed_by_id(session, project_id, function_id, execution_id,
                                       "update")
        ids.append(execution_id)
        if schedule_id is not None:
            schedules.add(schedule_id)
    if schedules:
        release_buffered(session, sorted(schedules))
    return ids


_ENDED = (Execution.id, Execution.project_id, Execution.function_id, Execution.schedule_id)


def lock_schedules(session: Session, schedule_ids: list[str | None]) -> None:
    """Share-lock the schedules whose runs this transaction is about to end (in id
    order, as every taker does): it waits for a dispatch transaction deciding them,
    so a hold that transaction writes is committed before ``release_buffered`` looks."""
    ids = sorted({i for i in schedule_ids if i is not None})
    if ids and capabilities(session).row_locks:  # SQLite: one writer, nothing to order
        session.execute(select(Schedule.id).where(Schedule.id.in_(ids))
                        .order_by(Schedule.id).with_for_update(read=True))


def _lock_schedules_of(session: Session, execution_ids: list[str]) -> None:
    if not execution_ids or not capabilities(session).row_locks:
        return
    owners = select(Execution.schedule_id).where(Execution.id.in_(execution_ids),
                                                 Execution.schedule_id.is_not(None))
    session.execute(select(Schedule.id).where(Schedule.id.in_(owners.scalar_subquery()))
                    .order_by(Schedule.id).with_for_update(read=True))


def release_orphaned_holds(session: Session, limit: int = 500) -> int:
    """Release held fires (``buffer_one``) whose schedule has nothing left waiting or
    running: nothing else would ever start them. Each schedule is locked first
    (skipping one a dispatcher or a finishing run holds), then judged afresh."""
    held = select(Execution.schedule_id).where(
        Execution.status == ExecutionStatus.SCHEDULED, Execution.scheduled_at.is_(None),
        Execution.schedule_id.is_not(None)).limit(limit)
    candidates = sorted({s for s in session.execute(held).scalars() if s is not None})
    if not candidates:
        return 0
    lock = select(Schedule.id).where(Schedule.id.in_(candidates)).order_by(Schedule.id)
    if capabilities(session).row_locks:
        lock = lock.with_for_update(skip_locked=True)
    locked = list(session.execute(lock).scalars())
    busy = set(session.execute(select(Execution.schedule_id).where(
        Execution.schedule_id.in_(locked) if locked else false(),
        Execution.status.in_((ExecutionStatus.WAITING, ExecutionStatus.PROCESSING))
    )).scalars())
    orphaned = [s for s in locked if s not in busy]
    return release_buffered(session, orphaned) if orphaned else 0


def release_buffered(session: Session, schedule_ids: list[str]) -> int:
    """A held fire (status ``scheduled`` with no time) becomes due now: the one-shot
    path dispatches it. Runs in the transaction that ended the run it waited for."""
    now = db_now(session)
    released = affected(session.execute(
        update(Execution)
        .where(Execution.schedule_id.in_(schedule_ids),
               Execution.status == ExecutionStatus.SCHEDULED,
               Execution.scheduled_at.is_(None))
        .values(scheduled_at=now, updated_at=now)
        .execution_options(synchronize_session=False)))
    if released:
        notify_wakeup(session)
    return released


OVERLAP_CANCELLED = ("Cancelled before it started: a newer fire of its schedule replaced "
                     "it (overlap policy cancel_other).")


def cancel_waiting(session: Session, schedule_ids: list[str], now: datetime) -> list[str]:
    """Fail the schedules' runs that have not started (overlap ``cancel_other``)."""
    return _ended(session, session.execute(
        update(Execution)
        .where(Execution.schedule_id.in_(schedule_ids),
               Execution.status.in_(lifecycle.NEVER_RAN.source))
        .values(status=lifecycle.NEVER_RAN.target, errors=OVERLAP_CANCELLED, finished_at=now,
                updated_at=now)
        .returning(*_ENDED)
        .execution_options(synchronize_session=False)
    ).all())


LATE_OUTCOME_ERROR = (
    "Execution failed: its outcome ({status}) arrived after the function timeout plus "
    "{margin:g} s, when the run had already been reported failed.")


def finish(session: Session, execution_id: str, move: lifecycle.Move, fields: dict[str, Any],
           now: datetime, schedule_id: str | None = None, margin: float | None = None,
           failure: Failure | None = Failure.ERROR) -> bool:
    """Record the outcome (``move``: ``lifecycle.finished(failed)``; ``fields``: the
    response, logs and errors) unless the reaper already gave up on this run.

    ``schedule_id``: the run's schedule, locked first (see the module's invariants).
    ``margin``: the reaper's; an outcome arriving after the deadline plus it finds the
    run already reported ``failed`` (``Overdue``), so ``failed`` is what is recorded,
    with the outcome's logs: a reported status never changes. False then.
    ``failure``: why a failed run failed, for its retry policy (``store.retries``);
    None: a failure no policy retries (its function was disabled)."""
    lock_schedules(session, [schedule_id])
    mine = [Execution.id == execution_id, Execution.status.in_(move.source)]
    on_time = mine if margin is None else [*mine, or_(
        Execution.deadline_at.is_(None),
        Execution.deadline_at >= now - timedelta(seconds=margin))]
    ended = _ended(session, session.execute(
        update(Execution).where(*on_time)
        .values(**fields, status=move.target, finished_at=now, updated_at=now)
        .returning(*_ENDED)
        .execution_options(synchronize_session=False)
    ).all())
    if ended and move.target == ExecutionStatus.FAILED and failure is not None:
        retries.after_failure(session, ended, failure, now)
    if ended or margin is None:
        return bool(ended)
    late = {**fields, "status": lifecycle.LOST.target,
            "errors": "\n".join(e for e in (LATE_OUTCOME_ERROR.format(
                status=move.target, margin=margin), fields.get("errors", "")) if e)}
    retries.after_failure(session, _ended(session, session.execute(
        update(Execution).where(*mine)
        .values(**late, finished_at=now, updated_at=now)
        .returning(*_ENDED)
        .execution_options(synchronize_session=False)
    ).all()), Failure.LOST, now)
    return False


def fail_waiting(session: Session, execution_id: str, error: str, now: datetime) -> bool:
    """A waiting execution that can never run (its function is gone or disabled)."""
    _lock_schedules_of(session, [execution_id])
    return bool(_ended(session, session.execute(
        update(Execution)
        .where(Execution.id == execution_id, Execution.status.in_(lifecycle.NEVER_RAN.source))
        .values(status=lifecycle.NEVER_RAN.target, errors=error, finished_at=now,
                updated_at=now)
        .returning(*_ENDED)
        .execution_options(synchronize_session=False)
    ).all()))


CANCELLED_ERROR = "Cancelled by {by} while {status}: its runner was stopped."


def cancel(session: Session, execution_id: str, by: str, now: datetime) -> bool:
    """``lifecycle.CANCEL``: a waiting or running execution fails now, "cancelled by
    ``by``", and is never retried (no retry policy is asked). False when it was not
    waiting or processing any more. The worker running it is told separately
    (``broker.cancels``) and finds, when it records, nothing left to record."""
    _lock_schedules_of(session, [execution_id])
    status = session.execute(select(Execution.status).where(Execution.id == execution_id)
                             ).scalar_one_or_none()
    return bool(_ended(session, session.execute(
        update(Execution)
        .where(Execution.id == execution_id, Execution.status.in_(lifecycle.CANCEL.source))
        .values(status=lifecycle.CANCEL.target, finished_at=now, updated_at=now,
                errors=CANCELLED_ERROR.format(by=by, status=status))
        .returning(*_ENDED)
        .execution_options(synchronize_session=False)
    ).all()))


def reap_lost(session: Session, now: datetime, margin: float, limit: int = 1000) -> list[str]:
    """Fail executions stuck in processing past their deadline + margin, the most
    overdue first: each run is judged by the timeout it started under."""
    overdue = list(session.execute(
        select(Execution.id)
        .where(Execution.status == ExecutionStatus.PROCESSING,
               Execution.deadline_at < now - timedelta(seconds=margin))
        .order_by(Execution.deadline_at)
        .limit(limit)
    ).scalars())
    # Runs started before deadlines were recorded (upgrade): the function's timeout.
    legacy = session.execute(
        select(Execution.id, Execution.started_at, Function.timeout)
        .join(Function, (Function.project_id == Execution.project_id)
              & (Function.id == Execution.function_id))
        .where(Execution.status == ExecutionStatus.PROCESSING, Execution.deadline_at.is_(None))
        .limit(limit)
    ).all()
    lost = overdue + [r.id for r in legacy
                      if r.started_at is None
                      or now - r.started_at > timedelta(seconds=r.timeout + margin)]
    if not lost:
        return []
    _lock_schedules_of(session, lost)
    reaped = _ended(session, session.execute(
        update(Execution)
        .where(Execution.id.in_(lost), Execution.status.in_(lifecycle.LOST.source))
        .values(status=lifecycle.LOST.target, errors=LOST_WORKER_ERROR.format(margin=margin),
                finished_at=now, updated_at=now)
        .returning(*_ENDED)
        .execution_options(synchronize_session=False)
    ).all())
    retries.after_failure(session, reaped, Failure.LOST, now)
    return reaped


def prune(session: Session, older_than: datetime, limit: int = 10_000) -> int:
    victims = select(Execution.id).where(
        Execution.status.in_(FINISHED), Execution.finished_at < older_than
    ).limit(limit).scalar_subquery()
    return affected(session.execute(
        delete(Execution).where(Execution.id.in_(victims))
        .execution_options(synchronize_session=False)
    ))


def create(session: Session, row: ExecutionRow) -> Execution:
    """Writes a row ``lifecycle.new_execution`` made (every column, its times the
    database clock's as read in this transaction)."""
    execution = Execution(**row)
    session.add(execution)
    session.flush()
    return execution


def cause_of(session: Session, execution_id: str) -> Cause | None:
    """The run behind a key of its own: its function and depth (None once it is gone,
    when its key is revoked anyway)."""
    row = session.execute(select(Execution.function_id, Execution.depth)
                          .where(Execution.id == execution_id)).first()
    return None if row is None else Cause(row.function_id, row.depth or 0)


def get(session: Session, project_id: str, function_id: str, execution_id: str,
        lock: bool = False) -> Execution | None:
    query = select(Execution).where(Execution.project_id == project_id,
                                    Execution.function_id == function_id,
                                    Execution.id == execution_id)
    if lock:
        query = query.with_for_update()
    return session.execute(query).scalar_one_or_none()


def delete_one(session: Session, project_id: str, function_id: str,
               execution_id: str, overdue: Overdue) -> bool:
    """Delete (cancel, for a scheduled one). Locks the row first, so a dispatcher that
    is promoting it either finished (-> ExecutionInProgress) or will skip it (-> deleted).
    A run reported failed for outliving its timeout can be deleted, as in Appwrite."""
    execution = get(session, project_id, function_id, execution_id, lock=True)
    if execution is None:
        return False
    if ExecutionStatus(execution.status).in_progress and not overdue.applies(execution):
        raise ExecutionInProgress()
    events.execution_changed(session, execution, "delete")
    session.delete(execution)
    return True


def recent(session: Session, function_id: str | None = None, status: str | None = None,
           trigger: str | None = None, since: datetime | None = None,
           limit: int = 50, dead: bool = False) -> list[Execution]:
    """Newest first, across projects: the operators' view (``dead``: dead letters only)."""
    query = select(Execution)
    if dead:
        query = query.where(Execution.dead.is_(True))
    if function_id:
        query = query.where(Execution.function_id == function_id)
    if status:
        query = query.where(Execution.status == status)
    if trigger:
        query = query.where(Execution.trigger == trigger)
    if since:
        query = query.where(Execution.created_at >= since)
    return list(session.execute(
        query.order_by(Execution.created_at.desc(), Execution.id.desc()).limit(limit)).scalars())


def count_by_status(session: Session) -> dict[str, int]:
    from sqlalchemy import func

    rows = session.execute(
        select(Execution.status, func.count()).group_by(Execution.status)).all()
    return {status: count for status, count in rows}
