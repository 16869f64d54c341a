"""Statements of the dispatch path: claiming due work, writing fires, the outbox.

All of them run inside the dispatcher's fenced transaction except the outbox
marks, which only record what was handed to the broker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, func, not_, select, tuple_, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from scheduler.rules import lifecycle
from scheduler.rules.overlap import Active
from scheduler.rules.states import ExecutionStatus, Trigger
from scheduler.store import bulkcopy
from scheduler.store.dialect import capabilities
from scheduler.store.models import Event, Execution, Schedule


@dataclass(frozen=True)
class DueSchedule:
    id: str
    project_id: str
    function_id: str
    cron: str
    timezone: str
    next_fire_at: datetime
    missed_policy: str
    misfire_grace: int
    catchup_window: int
    catchup_cap: int
    payload: dict[str, Any]
    overlap: str = "allow"
    jitter: int = 0


@dataclass(frozen=True)
class Advance:
    schedule_id: str
    next_fire_at: datetime
    last_fire_at: datetime | None
    skipped: int  # missed
    last_skipped_at: datetime | None
    overlap_skipped: int = 0
    last_overlap_at: datetime | None = None


_DUE_COLUMNS = (
    Schedule.id, Schedule.project_id, Schedule.function_id, Schedule.cron, Schedule.timezone,
    Schedule.next_fire_at, Schedule.missed_policy, Schedule.misfire_grace,
    Schedule.catchup_window, Schedule.catchup_cap, Schedule.payload, Schedule.overlap,
    Schedule.jitter,
)


Cursor = tuple[datetime, str]

# Runnable schedules, written as ``ix_schedules_due``'s predicate is (``NOT paused AND
# NOT disabled``) so PostgreSQL can prove the partial index applies: ``paused IS
# false`` reads the same but is not provably the same, and the due scan became a
# sequential scan and sort of every schedule (143 ms a 5,000 claim at 100,000; 7 ms).
RUNNABLE = (not_(Schedule.paused), not_(Schedule.disabled))

# A fire's own values (made by ``dispatcher.fire_row``); every other column is what
# ``lifecycle.new_execution`` gives every scheduled run, bound once per batch
# (``FIRE_CONSTANTS``), not once per row.
FIRE_COLUMNS = ("id", "project_id", "function_id", "schedule_id", "scheduled_for",
                "scheduled_at", "status", "request_method", "request_path",
                "request_headers", "request_body", "epoch", "enqueued_at", "created_at",
                "updated_at")
_A_FIRE = lifecycle.new_execution(id="", project_id="", function_id="",
                                  trigger=Trigger.SCHEDULE, now=datetime.min)
FIRE_CONSTANTS: dict[str, Any] = {
    name: value for name, value in _A_FIRE.items() if name not in FIRE_COLUMNS}


def plan_by_indexes(session: Session) -> None:
    """The dispatch transaction's statements use their indexes, whatever the
    statistics say (``bulkcopy.index_driven``); SQLite has no such choice to make."""
    if capabilities(session).bulk_copy:
        bulkcopy.index_driven(session)


def claim_due_schedules(session: Session, now: datetime, limit: int,
                        after: Cursor | None = None) -> list[DueSchedule]:
    """Due runnable schedules, earliest first, locked. ``after`` is where the previous
    batch of the same drain ended: each advanced row leaves a dead index entry at its
    old time until vacuum, and seeking past them keeps a 100k backlog linear."""
    # On the Core connection: the ORM's result machinery was half of a 5,000-row claim.
    return [DueSchedule(*row)
            for row in session.connection().execute(due_query(now, limit, after))]


def due_query(now: datetime, limit: int, after: Cursor | None = None) -> Select[Any]:
    query = (
        select(*_DUE_COLUMNS)
        .where(*RUNNABLE, Schedule.next_fire_at <= now)
        .order_by(Schedule.next_fire_at, Schedule.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if after is not None:
        query = query.where(tuple_(Schedule.next_fire_at, Schedule.id) > tuple_(*after))
    return query


def active_runs(session: Session, schedule_ids: Sequence[str]) -> dict[str, Active]:
    """The schedules' runs not yet ended, by kind (for their overlap policies)."""
    if not schedule_ids:
        return {}
    held = Execution.scheduled_at.is_(None)
    rows = session.execute(
        select(Execution.schedule_id, Execution.status, held, func.count())
        .where(Execution.schedule_id.in_(schedule_ids),
               Execution.status.in_((ExecutionStatus.WAITING, ExecutionStatus.PROCESSING,
                                     ExecutionStatus.SCHEDULED)))
        .group_by(Execution.schedule_id, Execution.status, held)).all()
    counts: dict[str, dict[str, int]] = {}
    for schedule_id, status, is_held, n in rows:
        kind = ("processing" if status == ExecutionStatus.PROCESSING else
                "buffered" if status == ExecutionStatus.SCHEDULED and is_held else "waiting")
        slot = counts.setdefault(str(schedule_id), {})
        slot[kind] = slot.get(kind, 0) + n
    return {sid: Active(**c) for sid, c in counts.items()}


def insert_fires(session: Session, rows: Sequence[dict[str, Any]]) -> list[str]:
    """Insert cron fires; a (schedule, nominal time) already written is ignored.

    Returns the ids actually inserted: only those may be published.
    """
    if not rows:
        return []
    if capabilities(session).bulk_copy:
        return bulkcopy.insert_fires(session, rows, FIRE_COLUMNS, FIRE_CONSTANTS)
    table = cast(Table, Execution.__table__)
    stmt = (
        sqlite_insert(table)
        .on_conflict_do_nothing(index_elements=["schedule_id", "scheduled_for"])
        .returning(table.c.id)
    )
    return list(session.connection().execute(
        stmt, [{**FIRE_CONSTANTS, **row} for row in rows]).scalars())


def advance_schedules(session: Session, advances: Sequence[Advance], now: datetime) -> None:
    if not advances:
        return
    if capabilities(session).bulk_copy:
        bulkcopy.advance_schedules(session, (
            (a.schedule_id, a.next_fire_at, a.last_fire_at, a.skipped, a.last_skipped_at,
             a.overlap_skipped, a.last_overlap_at)
            for a in advances), now)
        return
    tbl = cast(Table, Schedule.__table__)
    stmt = (
        update(tbl)
        .where(tbl.c.id == bindparam("b_id"))
        .values(
            next_fire_at=bindparam("b_next"),
            last_fire_at=func.coalesce(bindparam("b_last"), tbl.c.last_fire_at),
            skipped_missed=tbl.c.skipped_missed + bindparam("b_skipped"),
            last_skipped_at=func.coalesce(bindparam("b_last_overlap"),
                                          bindparam("b_last_skipped"), tbl.c.last_skipped_at),
            last_missed_at=func.coalesce(bindparam("b_last_skipped"), tbl.c.last_missed_at),
            skipped_overlap=tbl.c.skipped_overlap + bindparam("b_overlap"),
            last_overlap_at=func.coalesce(bindparam("b_last_overlap"), tbl.c.last_overlap_at),
            updated_at=bindparam("b_now"),
        )
    )
    session.execute(stmt, [
        {"b_id": a.schedule_id, "b_next": a.next_fire_at, "b_last": a.last_fire_at,
         "b_skipped": a.skipped, "b_last_skipped": a.last_skipped_at,
         "b_overlap": a.overlap_skipped, "b_last_overlap": a.last_overlap_at, "b_now": now}
        for a in advances
    ])
    for reason, ids in (("missed", [a.schedule_id for a in advances
                                    if a.skipped and not a.overlap_skipped]),
                        ("overlap", [a.schedule_id for a in advances if a.overlap_skipped])):
        if ids:
            session.execute(
                update(Schedule).where(Schedule.id.in_(ids)).values(last_skip_reason=reason))


def promote_due_oneshots(
    session: Session, now: datetime, epoch: int, limit: int, after: Cursor | None = None
) -> list[tuple[str, datetime]]:
    """scheduled -> waiting for due one-shots; returns (id, scheduledAt) pairs in order.

    The claim is a ``MATERIALIZED`` CTE joined by key: it runs once, so the planner
    can neither rescan it (a rescanned ``SKIP LOCKED ... LIMIT`` locks more rows than
    its limit, seen as a batch of 8,093 for a limit of 5,000) nor turn the join into
    a nested loop over a freshly filled table's bad statistics.
    """
    due = (
        select(Execution.id)
        .where(Execution.status == ExecutionStatus.SCHEDULED, Execution.scheduled_at <= now)
        .order_by(Execution.scheduled_at, Execution.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if after is not None:
        due = due.where(tuple_(Execution.scheduled_at, Execution.id) > tuple_(*after))
    if capabilities(session).row_locks:
        claimed = due.cte("due_oneshots").prefix_with("MATERIALIZED")
        target = update(Execution).where(Execution.id == claimed.c.id)
    else:  # SQLite has one writer at a time and no row locks to skip
        target = update(Execution).where(Execution.id.in_(due.scalar_subquery()),
                                         Execution.status == ExecutionStatus.SCHEDULED)
    rows = session.execute(
        target
        .values(status=lifecycle.RELEASE.target, epoch=epoch, updated_at=now, enqueued_at=now)
        .returning(Execution.id, Execution.scheduled_at)
        .execution_options(synchronize_session=False)
    ).all()
    return sorted(((r.id, r.scheduled_at) for r in rows), key=lambda r: (r[1], r[0]))


def earliest_due(session: Session) -> datetime | None:
    """When the dispatcher next has work: the earliest schedule or one-shot time, or
    an event not yet fanned out."""
    cron = session.execute(
        select(func.min(Schedule.next_fire_at))
        .where(*RUNNABLE)
    ).scalar()
    oneshot = session.execute(
        select(func.min(Execution.scheduled_at))
        .where(Execution.status == ExecutionStatus.SCHEDULED)
    ).scalar()
    # An event waiting to be fanned out is due now (at its recording).
    event = session.execute(
        select(func.min(Event.created_at)).where(Event.fanned_out_at.is_(None))
    ).scalar()
    candidates = [t for t in (cron, oneshot, event) if t is not None]
    if not candidates:
        return None
    # min() on SQLite returns a string, bypassing the column type.
    parsed = [t if isinstance(t, datetime) else datetime.fromisoformat(t) for t in candidates]
    return min(t if t.tzinfo else t.replace(tzinfo=UTC) for t in parsed)


def mark_enqueued(session: Session, ids: Sequence[str], now: datetime | None) -> None:
    """Record hand-over to the broker; ``None`` takes it back (publish failed)."""
    for start in range(0, len(ids), 5000):
        chunk = list(ids[start : start + 5000])
        session.execute(
            update(Execution)
            .where(Execution.id.in_(chunk))
            .values(enqueued_at=now)
            .execution_options(synchronize_session=False)
        )


def unpublished(session: Session, now: datetime, settle: float, limit: int) -> list[str]:
    """Synchronous outbox rows never handed to the broker, older than ``settle`` seconds
    (the API is about to publish younger ones itself). Asynchronous ones are handed
    over by ``admission.refill``, in their project's order."""
    fresh_cut = now - timedelta(seconds=settle)
    query = (
        select(Execution.id)
        .where(Execution.status == ExecutionStatus.WAITING, Execution.enqueued_at.is_(None),
               Execution.sync.is_(True), Execution.updated_at <= fresh_cut)
        .order_by(Execution.updated_at)
        .limit(limit)
    )
    return list(session.execute(query).scalars())


def handed_over(session: Session, before: datetime, after: Cursor | None,
                limit: int) -> list[tuple[str, datetime]]:
    """Waiting rows handed to the broker before ``before``, in hand-over order from
    ``after``: the relay asks the broker which of them it still holds."""
    query = (
        select(Execution.id, Execution.enqueued_at)
        .where(Execution.status == ExecutionStatus.WAITING, Execution.enqueued_at <= before)
        .order_by(Execution.enqueued_at, Execution.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(tuple_(Execution.enqueued_at, Execution.id) > tuple_(*after))
    return [(r.id, r.enqueued_at) for r in session.execute(query)]


def outbox_backlog(session: Session) -> int:
    return session.execute(
        select(func.count()).select_from(Execution)
        .where(Execution.status == ExecutionStatus.WAITING, Execution.enqueued_at.is_(None))
    ).scalar_one()
