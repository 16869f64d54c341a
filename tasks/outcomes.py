"""Recording a run's outcome: the fast finish for a batch of them
(``store.worker_statements``), the reference transaction for the rest and for any it
declines, then what follows each (the function's room, a synchronous caller's answer,
the log). A worker process's asynchronous outcomes go through its recorder thread
(``tasks.recorder``); a synchronous one is recorded before its answer is posted."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from celery.signals import worker_process_init, worker_process_shutdown
from sqlalchemy.orm import Session, sessionmaker

from scheduler.broker.results import ResultChannel
from scheduler.config import Settings, get_settings
from scheduler.logs import first_line, get_logger
from scheduler.rules import lifecycle
from scheduler.rules.retries import Failure, failure_of
from scheduler.store import executions as store
from scheduler.store import projects
from scheduler.store.db import db_now, through_outage, transaction
from scheduler.store.worker_statements import Finish
from tasks import worker_process
from tasks.claim import Claimed
from tasks.recorder import Recorder
from tasks.runner.outcome import Outcome

log = get_logger(__name__)

# Response headers Appwrite keeps on an execution.
KEPT_RESPONSE_HEADERS = ("content-type", "content-length")
RECORD_RETRIES = (0.2, 0.5, 1, 2, 4, 8, 15, 30)  # seconds between tries to record an outcome


@dataclass(frozen=True)
class Ended:
    """A run that ended, on its way to its row."""

    run: Claimed
    move: lifecycle.Move
    outcome: Outcome
    fields: dict[str, Any]  # the row's outcome columns


def as_ended(got: Claimed, move: lifecycle.Move, outcome: Outcome) -> Ended:
    """The row's columns for ``outcome``: the response headers Appwrite keeps, and no
    logs or errors for a function whose logging is off."""
    kept = [{"name": k.lower(), "value": v} for k, v in outcome.headers.items()
            if k.lower() in KEPT_RESPONSE_HEADERS]
    logging = got.function.logging
    return Ended(got, move, outcome, {
        "response_status_code": outcome.status_code, "response_headers": kept,
        "logs": outcome.logs if logging else "", "errors": outcome.errors if logging else "",
        "duration": outcome.duration})


def record_ended(batch: list[Ended]) -> None:
    """Record each outcome (those claimed by the fast path in one statement, the others
    and any it declines through the reference transaction), then what follows each: the
    function's room, a synchronous caller's answer, the log."""
    settings, sessions, results = worker_process.resources()
    fast_ones = [e for e in batch if e.run.fast is not None]
    recorded = _record_fast(fast_ones, settings.reap_margin) if fast_ones else set()
    for ended in batch:
        try:
            _after_record(ended, recorded, settings, sessions, results)
        except Exception:  # the next outcomes are still recorded; the reaper backs up
            log.error("execution.record_crashed", exc_info=True,
                      execution_id=ended.run.execution.id)


def _record_fast(batch: list[Ended], margin: float) -> set[str]:
    """The ids the fast finish recorded; a failure sends all of them to the reference."""
    fast = worker_process.fast()
    if fast is None:
        return set()
    try:
        return fast.finish([Finish(e.run.fast, e.move, e.fields) for e in batch
                            if e.run.fast is not None], margin)
    except Exception as exc:
        log.warning("execution.fast_record_failed", outcomes=len(batch),
                    error=first_line(exc))
        return set()


def _after_record(ended: Ended, recorded: set[str], settings: Settings,
                  sessions: sessionmaker[Session], results: ResultChannel) -> None:
    got, outcome, move = ended.run, ended.outcome, ended.move
    ex, fn = got.execution, got.function
    fast_record = ex.id in recorded
    done = fast_record or _record(sessions, ex.id, move, ended.fields, ex.schedule_id,
                                  settings.reap_margin, failure_of(outcome))
    if fn.max_concurrency is not None:  # its run ended: the function has room again
        worker_process.bookkeeper().refill(fn.project_id)
    if ex.sync:
        results.post(ex.id, {
            "status": move.target, "statusCode": outcome.status_code,
            "body": base64.b64encode(outcome.body).decode(),
            "headers": [{"name": k.lower(), "value": v} for k, v in outcome.headers.items()],
            "logs": ended.fields["logs"], "errors": ended.fields["errors"],
            "duration": outcome.duration,
            # The API answers 408 for a synchronous run cut off at its limit.
            "timedOut": got.capped and outcome.timed_out,
        })
    path = ("fast" if got.fast is not None else "reference") + (
        "/fast" if fast_record else "/reference")
    log.info("execution.finished", execution_id=ex.id, function_id=fn.id, status=move.target,
             code=outcome.status_code, duration=outcome.duration, recorded=done, path=path)


def _record(sessions: sessionmaker[Session], execution_id: str, move: lifecycle.Move,
            fields: dict[str, Any], schedule_id: str | None = None,
            margin: float | None = None, failure: Failure = Failure.ERROR) -> bool:
    """Record the outcome, retrying through a database outage: the function has run,
    and losing its outcome would leave the row to be reaped as "worker lost"."""
    def attempt() -> bool:
        with transaction(sessions) as session:
            projects.revoke_execution_key(session, execution_id)
            return store.finish(session, execution_id, move, fields, db_now(session),
                                schedule_id=schedule_id, margin=margin, failure=failure)

    return through_outage(attempt, RECORD_RETRIES, lambda pause, exc: log.warning(
        "execution.record_retry", execution_id=execution_id, retry_in=pause,
        error=first_line(exc)))


RECORDER: Recorder[Ended] = Recorder(record_ended)


@worker_process_init.connect
def _start_recorder(**_: Any) -> None:
    """Each prefork child records its asynchronous runs' outcomes off their path."""
    RECORDER.start(hold=get_settings().record_hold)


@worker_process_shutdown.connect
def _record_pending(**_: Any) -> None:
    """A child that ends on purpose (warm shutdown, recycled) records what is pending."""
    RECORDER.close()
