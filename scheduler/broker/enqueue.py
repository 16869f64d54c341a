"""Creating executions on request (API, operator "trigger now") and handing them over.

The row commits first; then it is published (and marked). A failed publish
leaves the row to the leader's relay, so a 202 never loses an execution.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from scheduler.broker.publish import Publisher
from scheduler.broker.results import ResultChannel
from scheduler.logs import first_line, get_logger
from scheduler.rules.admission import DEFAULT_WINDOW
from scheduler.rules.ids import new_id
from scheduler.rules.lifecycle import new_execution
from scheduler.rules.states import Trigger
from scheduler.store import admission, events
from scheduler.store import executions as store
from scheduler.store.db import db_now, transaction
from scheduler.store.fires import mark_enqueued
from scheduler.store.models import Execution
from scheduler.store.schedules import notify_wakeup

log = get_logger(__name__)


@dataclass(frozen=True)
class Request:
    project_id: str
    function_id: str
    method: str
    path: str
    headers: dict[str, str]
    body: str
    trigger: Trigger = Trigger.HTTP
    scheduled_at: datetime | None = None
    sync: bool = False
    schedule_id: str | None = None
    user_id: str | None = None
    body_base64: bool = False  # ``body`` is base64 of raw bytes (a domain's binary body)
    # The row's id when the caller chose it (the API's fast path tried it first: the
    # primary key then keeps the two attempts to one row).
    execution_id: str | None = None
    # Links in its chain of runs, and the function whose run created it with its own
    # key (``scheduler.rules.causes``); none for a run a person or a schedule asked for.
    depth: int = 0
    origin_function_id: str | None = None
    # A re-run: its attempt number and the first attempt's id (``store.retries``).
    attempt: int = 1
    retry_of: str | None = None


def again(old: Execution, retry_of: str, attempt: int) -> Request:
    """A re-run of ``old``: its original request, as attempt ``attempt`` of the run
    whose first attempt is ``retry_of`` (``store.retries.next_attempt``)."""
    return Request(
        project_id=old.project_id, function_id=old.function_id, method=old.request_method,
        path=old.request_path, headers=dict(old.request_headers or {}), body=old.request_body,
        body_base64=old.request_body_base64, trigger=Trigger(old.trigger),
        schedule_id=old.schedule_id, user_id=old.user_id, depth=old.depth or 0,
        origin_function_id=old.origin_function_id, attempt=attempt, retry_of=retry_of)


def create(session: Session, req: Request, now: datetime | None = None,
           window: int = DEFAULT_WINDOW) -> Execution:
    """The row; an immediate one is marked handed over already (see hand_over) unless
    its project's ``window`` or its function's limit holds it back (``rules.admission``:
    ``handed(execution)`` says which). ``now``: the database clock, if the caller has
    read it in this transaction."""
    immediate = req.scheduled_at is None
    admitted = not immediate or req.sync or admission.admit_new(
        session, req.project_id, req.function_id, window)
    execution = store.create(session, new_execution(
        id=req.execution_id or new_id(), project_id=req.project_id,
        function_id=req.function_id, trigger=req.trigger, now=now or db_now(session),
        scheduled_at=req.scheduled_at, sync=req.sync, method=req.method, path=req.path,
        headers=req.headers, body=req.body, body_base64=req.body_base64,
        user_id=req.user_id, schedule_id=req.schedule_id, depth=req.depth,
        origin_function_id=req.origin_function_id, handed_over=admitted,
        attempt=req.attempt, retry_of=req.retry_of))
    if req.scheduled_at:
        notify_wakeup(session)
    events.execution_changed(session, execution, "create")
    return execution


def handed(execution: Execution) -> bool:
    """Whether ``create`` marked the run for the broker (publish it after commit)."""
    return execution.enqueued_at is not None


def hand_over(sessions: sessionmaker[Session], publisher: Publisher, execution_id: str,
              sync: bool = False) -> bool:
    """Publish a committed row that ``create`` marked as handed over (``sync``: in the
    synchronous lane). On failure the mark is taken back, so the relay republishes it
    within seconds."""
    try:
        publisher.publish([execution_id], sync=sync)
        return True
    except Exception as exc:
        log.warning("publish.failed", execution_id=execution_id, error=first_line(exc))
    try:
        with transaction(sessions) as session:
            mark_enqueued(session, [execution_id], None)
    except Exception as exc:
        # Still marked: the relay's requeue (TOCSIN_REQUEUE_AFTER) sends it later.
        log.warning("publish.unmark_failed", execution_id=execution_id, error=first_line(exc))
    return False


async def wait_result(results: ResultChannel, execution_id: str, timeout: float,
                      raw: bool = False) -> dict[str, Any] | None:
    """The worker's response for a synchronous execution, body decoded to text (or,
    ``raw``, the bytes as the function sent them). Awaited: a waiting caller holds no
    thread."""
    got = await results.wait_async(execution_id, timeout)
    if got is None:
        return None
    body = base64.b64decode(got.get("body", ""))
    return {**got, "body": body if raw else body.decode("utf-8", errors="replace")}
