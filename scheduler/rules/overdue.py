"""When a run is reported failed for outliving its timeout. Pure.

Appwrite reports a run that outlived its timeout as ``failed`` when it is read, before
anything has written so (here: before the leader's reaper gets to it). Only a
``processing`` run is judged so, by the deadline it started under plus the reaper's
margin; ``store.executions.finish`` then never records another outcome for it (a
reported status is final). A ``waiting`` run is reported ``waiting`` however long it
has queued: it will still run (a backlog drains, a lost message is republished), so
reporting it failed would be a status that changes afterwards.

The rule is one table, ``OVERDUE`` (every test must hold), read by three interpreters:
``is_overdue`` here for a row in hand, and ``store.overdue`` for SQLAlchemy (filters on
every dialect) and for PostgreSQL text (the fast list path).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from scheduler.rules.states import ExecutionStatus

OVERDUE_ERROR = (
    "Execution timed out: no outcome was recorded within the function timeout "
    "({timeout} s) plus {margin:g} s."
)
REPORTED_AS = ExecutionStatus.FAILED


class Op(StrEnum):
    EQUALS = "="
    NOT_NULL = "is not null"
    BEFORE_CUT = "< cut"  # earlier than the clock minus the margin


@dataclass(frozen=True)
class Test:
    column: str
    op: Op
    value: str | None = None


OVERDUE: tuple[Test, ...] = (
    Test("status", Op.EQUALS, ExecutionStatus.PROCESSING.value),
    # Never unknown in SQL: NOT (overdue) is then true for a run with no deadline.
    Test("deadline_at", Op.NOT_NULL),
    Test("deadline_at", Op.BEFORE_CUT),
)
# What makes a run of ``OVERDUE[0]``'s status overdue (the tests after the status).
LATENESS = OVERDUE[1:]


def cut(now: datetime, margin: float) -> datetime:
    """The latest deadline a run may have passed and still be waited for."""
    return now - timedelta(seconds=margin)


class Row(Protocol):
    @property
    def status(self) -> str: ...
    @property
    def deadline_at(self) -> datetime | None: ...


def holds(test: Test, value: object, cut_at: datetime) -> bool:
    if test.op is Op.EQUALS:
        return value == test.value
    if test.op is Op.NOT_NULL:
        return value is not None
    return isinstance(value, datetime) and value < cut_at


def is_overdue(row: Row, cut_at: datetime) -> bool:
    """The table, read for a row in hand."""
    return all(holds(t, getattr(row, t.column), cut_at) for t in OVERDUE)


def overdue_error(timeout: int, margin: float) -> str:
    return OVERDUE_ERROR.format(timeout=timeout, margin=margin)
