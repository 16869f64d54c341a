"""Backfills: a schedule's past fires in a window, created on an operator's request.

Invariants:
* Each fire is a normal schedule fire: the unique (schedule, nominal time) key means
  a fire the live schedule (or an earlier backfill) already wrote is counted as
  ``existing``, never written twice; a backfill run twice creates nothing more.
* The leader works through a backfill in steps (``cursor_at``: the last nominal time
  handled), each in a fenced transaction with its fires, so a kill mid-way resumes
  where the last committed step ended.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.rules.errors import BackfillNotFound
from scheduler.rules.firecount import count_fires
from scheduler.rules.ids import new_id
from scheduler.store.models import Backfill, Schedule

__all__ = ["Backfill", "cancel", "create", "get", "next_running"]
from scheduler.rules.timerules import iter_fires, parse_cron

RUNNING, DONE, CANCELLED = "running", "done", "cancelled"
_TICK = timedelta(microseconds=1)


def window_fires(sched: Schedule, from_at: datetime, to_at: datetime) -> int:
    """How many fire times of the schedule lie in ``[from_at, to_at)``."""
    return count_fires(parse_cron(sched.cron), ZoneInfo(sched.timezone), from_at - _TICK,
                       to_at - _TICK)


def first_fires(sched: Schedule, after: datetime, before: datetime, limit: int
                ) -> list[datetime]:
    """Up to ``limit`` fire times in ``(after, before)``, ascending."""
    fires = iter_fires(parse_cron(sched.cron), ZoneInfo(sched.timezone), after)
    return [t for t in islice(fires, limit) if t < before]


def create(session: Session, sched: Schedule, from_at: datetime, to_at: datetime,
           total: int, now: datetime) -> Backfill:
    backfill = Backfill(id=new_id(), project_id=sched.project_id, schedule_id=sched.id,
                        from_at=from_at, to_at=to_at, cursor_at=from_at - _TICK, total=total,
                        created=0, existing=0, status=RUNNING if total else DONE,
                        created_at=now, finished_at=None if total else now)
    session.add(backfill)
    session.flush()
    return backfill


def get(session: Session, project_id: str | None, backfill_id: str) -> Backfill | None:
    query = select(Backfill).where(Backfill.id == backfill_id)
    if project_id is not None:
        query = query.where(Backfill.project_id == project_id)
    return session.execute(query).scalar_one_or_none()


def require(session: Session, project_id: str, backfill_id: str) -> Backfill:
    found = get(session, project_id, backfill_id)
    if found is None:
        raise BackfillNotFound()
    return found


def next_running(session: Session) -> tuple[Backfill, Schedule] | None:
    """The oldest running backfill with its schedule, locked for this step."""
    row = session.execute(
        select(Backfill, Schedule).join(Schedule, Schedule.id == Backfill.schedule_id)
        .where(Backfill.status == RUNNING).order_by(Backfill.created_at)
        .limit(1).with_for_update(of=Backfill, skip_locked=True)).first()
    return (row[0], row[1]) if row else None


def advance(backfill: Backfill, handled: Sequence[datetime], created: int,
            now: datetime, finished: bool) -> None:
    if handled:
        backfill.cursor_at = handled[-1]
    backfill.created += created
    backfill.existing += len(handled) - created
    if finished:
        backfill.status = DONE
        backfill.finished_at = now


def cancel(session: Session, backfill: Backfill, now: datetime) -> None:
    if backfill.status == RUNNING:
        backfill.status = CANCELLED
        backfill.finished_at = now
