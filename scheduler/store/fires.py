"""Statements of the dispatch path: claiming due work, writing fires, the outbox.

All of them run inside the dispatcher's fenced transaction except the outbox
marks, which only record what was handed to the broker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from scheduler.store.models import Execution, Schedule


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


@dataclass(frozen=True)
class Advance:
    schedule_id: str
    next_fire_at: datetime
    last_fire_at: datetime | None
    skipped: int
    last_skipped_at: datetime | None


_DUE_COLUMNS = (
    Schedule.id, Schedule.project_id, Schedule.function_id, Schedule.cron, Schedule.timezone,
    Schedule.next_fire_at, Schedule.missed_policy, Schedule.misfire_grace,
    Schedule.catchup_window, Schedule.catchup_cap, Schedule.payload,
)


def claim_due_schedules(session: Session, now: datetime, limit: int) -> list[DueSchedule]:
    query = (
        select(*_DUE_COLUMNS)
        .where(Schedule.paused.is_(False), Schedule.disabled.is_(False),
               Schedule.next_fire_at <= now)
        .order_by(Schedule.next_fire_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [DueSchedule(*row) for row in session.execute(query)]


def insert_fires(session: Session, rows: Sequence[dict[str, Any]]) -> list[str]:
    """Insert cron fires; a (schedule, nominal time) already written is ignored.

    Returns the ids actually inserted: only those may be published.
    """
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    maker = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = (
        maker(Execution)
        .values(list(rows))
        .on_conflict_do_nothing(index_elements=["schedule_id", "scheduled_for"])
        .returning(Execution.id)
    )
    return list(session.execute(stmt).scalars())


def advance_schedules(session: Session, advances: Sequence[Advance], now: datetime) -> None:
    if not advances:
        return
    stmt = (
        update(Schedule.__table__)
        .where(Schedule.__table__.c.id == bindparam("b_id"))
        .values(
            next_fire_at=bindparam("b_next"),
            last_fire_at=func.coalesce(bindparam("b_last"), Schedule.__table__.c.last_fire_at),
            skipped_missed=Schedule.__table__.c.skipped_missed + bindparam("b_skipped"),
            last_skipped_at=func.coalesce(bindparam("b_last_skipped"),
                                          Schedule.__table__.c.last_skipped_at),
            updated_at=bindparam("b_now"),
        )
    )
    session.execute(stmt, [
        {"b_id": a.schedule_id, "b_next": a.next_fire_at, "b_last": a.last_fire_at,
         "b_skipped": a.skipped, "b_last_skipped": a.last_skipped_at, "b_now": now}
        for a in advances
    ])
    skipped_ids = [a.schedule_id for a in advances if a.skipped]
    if skipped_ids:
        session.execute(
            update(Schedule).where(Schedule.id.in_(skipped_ids)).values(last_skip_reason="missed")
        )


def promote_due_oneshots(
    session: Session, now: datetime, epoch: int, limit: int
) -> list[tuple[str, datetime]]:
    """scheduled -> waiting for due one-shots; returns (id, scheduledAt) pairs."""
    due = (
        select(Execution.id)
        .where(Execution.status == "scheduled", Execution.scheduled_at <= now)
        .order_by(Execution.scheduled_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    rows = session.execute(
        update(Execution)
        .where(Execution.id.in_(due), Execution.status == "scheduled")
        .values(status="waiting", epoch=epoch, updated_at=now)
        .returning(Execution.id, Execution.scheduled_at)
        .execution_options(synchronize_session=False)
    ).all()
    return [(r.id, r.scheduled_at) for r in rows]


def earliest_due(session: Session) -> datetime | None:
    """When the dispatcher next has work: the earliest schedule or one-shot time."""
    cron = session.execute(
        select(func.min(Schedule.next_fire_at))
        .where(Schedule.paused.is_(False), Schedule.disabled.is_(False))
    ).scalar()
    oneshot = session.execute(
        select(func.min(Execution.scheduled_at)).where(Execution.status == "scheduled")
    ).scalar()
    candidates = [t for t in (cron, oneshot) if t is not None]
    if not candidates:
        return None
    # min() on SQLite returns a string, bypassing the column type.
    parsed = [t if isinstance(t, datetime) else datetime.fromisoformat(t) for t in candidates]
    return min(t if t.tzinfo else t.replace(tzinfo=UTC) for t in parsed)


def mark_enqueued(session: Session, ids: Sequence[str], now: datetime) -> None:
    for start in range(0, len(ids), 5000):
        chunk = list(ids[start : start + 5000])
        session.execute(
            update(Execution)
            .where(Execution.id.in_(chunk))
            .values(enqueued_at=now)
            .execution_options(synchronize_session=False)
        )


def unpublished(session: Session, now: datetime, settle: float, requeue_after: float,
                limit: int) -> list[str]:
    """Outbox rows to (re)publish.

    Never handed to the broker and older than ``settle`` seconds (the
    dispatcher or API is about to publish younger ones itself), or handed over
    ``requeue_after`` seconds ago and still not started: a broker that lost
    its queue (Redis restarted without persistence) must not lose executions.
    """
    fresh_cut = now - timedelta(seconds=settle)
    stale_cut = now - timedelta(seconds=requeue_after)
    query = (
        select(Execution.id)
        .where(
            Execution.status == "waiting",
            ((Execution.enqueued_at.is_(None)) & (Execution.updated_at <= fresh_cut))
            | (Execution.enqueued_at <= stale_cut),
        )
        .order_by(Execution.updated_at)
        .limit(limit)
    )
    return list(session.execute(query).scalars())


def outbox_backlog(session: Session) -> int:
    return session.execute(
        select(func.count()).select_from(Execution)
        .where(Execution.status == "waiting", Execution.enqueued_at.is_(None))
    ).scalar_one()
