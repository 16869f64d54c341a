"""An execution's life, in one place: the columns a new row starts with, the moves its
status may make, and the lead a ``scheduledAt`` keeps. Pure.

Every writer of an execution row draws from here, in whichever language it writes:
the reference create (``broker.enqueue``) and the API's one-statement create
(``store.execution_statements``) take ``new_execution``'s row; the dispatcher's fires
and event fan-out too; the store's claim, release, finish, reap and cancel statements
take a ``Move``'s source and target. ``tests/unit/test_lifecycle.py`` reads the code
and fails on a status written anywhere else.

The moves (Appwrite's statuses; ``scheduled`` is a one-shot or a held fire)::

    (new) -> scheduled | waiting
    scheduled -> waiting            RELEASE: its time came (or the run it waited for ended)
    waiting -> processing           CLAIM: a worker starts it (the only way a run starts)
    waiting -> failed               NEVER_RAN: its function is gone; overlap cancel_other
    processing -> completed|failed  FINISH: the worker's outcome
    processing -> failed            LOST: no outcome within the timeout plus the margin
    waiting|processing -> failed    CANCEL: an operator's cancel (its runner is killed)

A failed attempt may be followed by a retry (``rules.retries``): a new row, written
``scheduled`` in the transaction that records the failure; no row ever leaves an end
state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypedDict

from scheduler.rules.states import ExecutionStatus, Trigger

# Appwrite's rule: a ``scheduledAt`` must be more than this far ahead when it is written
# (judged by the database clock; the API's statement restates it as this interval).
SCHEDULED_AT_LEAD = timedelta(seconds=60)
SCHEDULED_AT_LEAD_SQL = f"interval '{int(SCHEDULED_AT_LEAD.total_seconds())} seconds'"


@dataclass(frozen=True)
class Move:
    """One allowed change of status: from any of ``source`` to ``target``."""

    name: str
    source: tuple[ExecutionStatus, ...]
    target: ExecutionStatus

    @property
    def source_values(self) -> tuple[str, ...]:
        """The sources as stored text, for statements written in SQL."""
        return tuple(s.value for s in self.source)


_S = ExecutionStatus
RELEASE = Move("release", (_S.SCHEDULED,), _S.WAITING)
CLAIM = Move("claim", (_S.WAITING,), _S.PROCESSING)
NEVER_RAN = Move("never_ran", (_S.WAITING,), _S.FAILED)
COMPLETE = Move("complete", (_S.PROCESSING,), _S.COMPLETED)
FAIL = Move("fail", (_S.PROCESSING,), _S.FAILED)
LOST = Move("lost", (_S.PROCESSING,), _S.FAILED)
CANCEL = Move("cancel", (_S.WAITING, _S.PROCESSING), _S.FAILED)
MOVES = (RELEASE, CLAIM, NEVER_RAN, COMPLETE, FAIL, LOST, CANCEL)
INITIAL = (_S.SCHEDULED, _S.WAITING)


def may_move(source: ExecutionStatus | None, target: ExecutionStatus) -> bool:
    """Whether a row may go from ``source`` (None: not written yet) to ``target``."""
    if source is None:
        return target in INITIAL
    return any(source in m.source and target == m.target for m in MOVES)


def finished(failed: bool) -> Move:
    """The move a worker's outcome makes: FAIL for a failed run, COMPLETE otherwise."""
    return FAIL if failed else COMPLETE


class ExecutionRow(TypedDict):
    """Every column of a new ``executions`` row (``store.models.Execution``)."""

    id: str
    project_id: str
    function_id: str
    schedule_id: str | None
    trigger: str
    status: str
    sync: bool
    scheduled_for: datetime | None
    scheduled_at: datetime | None
    request_method: str
    request_path: str
    request_headers: dict[str, str]
    request_body: str
    request_body_base64: bool
    response_status_code: int
    response_headers: list[dict[str, str]]
    logs: str
    errors: str
    duration: float
    attempts: int
    timeout: int | None
    started_at: datetime | None
    finished_at: datetime | None
    deadline_at: datetime | None
    enqueued_at: datetime | None
    epoch: int | None
    event_id: str | None
    user_id: str | None
    depth: int
    origin_function_id: str | None
    attempt: int
    retry_of: str | None
    dead: bool
    deployment_id: str  # '' until a worker claims it (the deployment it then runs)
    created_at: datetime
    updated_at: datetime


def initial_state(waits: bool, now: datetime, handed_over: bool = True
                  ) -> tuple[str, datetime | None]:
    """A new row's status and hand-over mark. It starts ``scheduled`` when it waits for
    a time or for its schedule's running one, else ``waiting`` and (unless fair
    hand-over holds it back, ``rules.admission``) already marked handed over
    (``enqueued_at``): the writer publishes it after commit, and takes the mark back if
    that fails, so the relay sends it instead."""
    if waits:
        return _S.SCHEDULED.value, None
    return _S.WAITING.value, now if handed_over else None


def new_execution(
    *, id: str, project_id: str, function_id: str, trigger: Trigger, now: datetime,
    scheduled_at: datetime | None = None, held: bool = False, sync: bool = False,
    method: str = "POST", path: str = "/", headers: dict[str, str] | None = None,
    body: str = "", body_base64: bool = False, user_id: str | None = None,
    schedule_id: str | None = None, scheduled_for: datetime | None = None,
    event_id: str | None = None, depth: int = 0, origin_function_id: str | None = None,
    epoch: int | None = None, handed_over: bool = True,
    attempt: int = 1, retry_of: str | None = None, keep_trigger: bool = False,
) -> ExecutionRow:
    """A new row, every column (``initial_state`` for its status: ``held`` or a
    ``scheduled_at`` make it wait). A ``scheduledAt`` makes a ``schedule`` run, as
    Appwrite reports a delayed execution, unless ``keep_trigger`` (a retry waiting out
    its backoff is still the run its first attempt was). ``attempt``, ``retry_of``:
    its place among a run's attempts (``rules.retries``)."""
    status, enqueued_at = initial_state(held or scheduled_at is not None, now, handed_over)
    return ExecutionRow(
        id=id, project_id=project_id, function_id=function_id, schedule_id=schedule_id,
        trigger=(Trigger.SCHEDULE if scheduled_at is not None and not keep_trigger
                 else trigger).value,
        status=status, sync=sync,
        scheduled_for=scheduled_for, scheduled_at=scheduled_at,
        request_method=method, request_path=path, request_headers=dict(headers or {}),
        request_body=body, request_body_base64=body_base64,
        response_status_code=0, response_headers=[], logs="", errors="", duration=0.0,
        attempts=0, timeout=None, started_at=None, finished_at=None, deadline_at=None,
        enqueued_at=enqueued_at, epoch=epoch, event_id=event_id,
        user_id=user_id, depth=depth, origin_function_id=origin_function_id,
        attempt=attempt, retry_of=retry_of, dead=False, deployment_id="", created_at=now,
        updated_at=now)
