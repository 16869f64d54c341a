"""The states and kinds a row can have, as ``StrEnum``s. Pure.

Members are ``str``: they compare equal to the strings stored in the database and
sent on the wire, so columns stay plain text (SQLite and PostgreSQL alike) and the
partial indexes' predicates (``status = 'waiting'``) keep matching.
The missed-run policy lives with its rules, in ``scheduler.rules.policies``.
"""

from __future__ import annotations

from enum import StrEnum


class ExecutionStatus(StrEnum):
    """Appwrite's execution statuses, in the order a run passes through them."""

    SCHEDULED = "scheduled"  # a one-shot waiting for its scheduledAt
    WAITING = "waiting"  # handed to (or about to be handed to) the broker
    PROCESSING = "processing"  # claimed by a worker
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in FINISHED

    @property
    def in_progress(self) -> bool:
        return self in (ExecutionStatus.WAITING, ExecutionStatus.PROCESSING)


FINISHED = frozenset({ExecutionStatus.COMPLETED, ExecutionStatus.FAILED})


class Trigger(StrEnum):
    """What started an execution (Appwrite's ``trigger``)."""

    HTTP = "http"
    SCHEDULE = "schedule"
    EVENT = "event"
