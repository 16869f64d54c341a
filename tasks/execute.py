"""The execution task: claim the row, run the function, record the outcome.

A message only ever *asks* for an execution; the row decides. Moving the row
from ``waiting`` to ``processing`` is atomic, so a duplicate or stale message
(relay republish, broker redelivery) finds nothing to claim and does nothing.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from celery.signals import worker_process_init, worker_process_shutdown
from sqlalchemy.orm import Session, sessionmaker

from scheduler.broker.publish import Publisher, make_publisher
from scheduler.broker.results import ResultChannel, make_results
from scheduler.config import Settings, get_settings
from scheduler.logs import first_line, get_logger
from scheduler.rules import lifecycle
from scheduler.rules.errors import EntrypointError
from scheduler.rules.retries import Failure, failure_of
from scheduler.rules.timerules import iso
from scheduler.store import admission, projects, variables
from scheduler.store import executions as store
from scheduler.store.db import (
    db_now,
    make_engine,
    make_sessionmaker,
    through_outage,
    transaction,
)
from scheduler.store.fires import mark_enqueued
from scheduler.store.models import Execution, Function
from scheduler.store.worker_statements import (
    FastClaim,
    Finish,
    RunFunction,
    RunRow,
    WorkerStatements,
)
from tasks import cancel
from tasks.app import app
from tasks.bookkeeping import Bookkeeper
from tasks.deploy import cache as deploy_cache
from tasks.recorder import Recorder
from tasks.runner.context import Request
from tasks.runner.outcome import Outcome, timed
from tasks.runtimes import http as http_runtime
from tasks.runtimes import python as python_runtime

log = get_logger(__name__)

# Response headers Appwrite keeps on an execution.
KEPT_RESPONSE_HEADERS = ("content-type", "content-length")

_lock = threading.Lock()
_state: dict[str, Any] = {}


def _resources() -> tuple[Settings, sessionmaker[Session], ResultChannel]:
    """Per process, created lazily: prefork children must not share connections."""
    with _lock:
        if "settings" not in _state:
            settings = get_settings()
            _state["settings"] = settings
            cancel.listen(settings)
            _state["sessions"] = make_sessionmaker(make_engine(settings.database_url))
            _state["results"] = make_results(settings.result_backend_url)
            # The broker's hand-over record (Redis only; the embedded broker keeps its own).
            _state["ledger"] = (make_publisher(settings.broker_url)
                                if settings.broker_url.startswith(("redis://", "rediss://"))
                                else None)
            fast = settings.worker_fast_path and settings.database_url.startswith(
                "postgresql")
            _state["fast"] = WorkerStatements(settings.database_url) if fast else None
        return _state["settings"], _state["sessions"], _state["results"]


def _bookkeeper() -> Bookkeeper:
    """This process's bookkeeping thread (``tasks.bookkeeping``), made with its resources."""
    with _lock:
        if "bookkeeper" not in _state:
            ledger = _state.get("ledger")
            _state["bookkeeper"] = Bookkeeper(
                ledger.forget if ledger is not None else None, _refill_now)
        return _state["bookkeeper"]


def _refill_now(project_id: str, at_least: int) -> None:
    settings, sessions, _ = _resources()
    refill(sessions, settings, project_id, at_least)


def request_headers(headers: dict[str, str], execution_id: str, trigger: str,
                    scheduled_for: str | None,
                    secrets: dict[str, str] | None = None) -> dict[str, str]:
    """What the function sees: the stored headers (never an ``x-tocsin-*`` one a row
    from before the rule may hold), the run's credentials handed over in memory, and
    Tocsin's own."""
    out = {k.lower(): str(v) for k, v in (headers or {}).items()
           if not k.lower().startswith("x-tocsin-")}
    out.update(secrets or {})
    out["x-appwrite-trigger"] = trigger
    out["x-appwrite-execution-id"] = execution_id
    if scheduled_for:
        out["x-tocsin-scheduled-for"] = scheduled_for
    return out


def run_function(settings: Settings, fn: Function | RunFunction, request: Request, timeout: float,
                 execution_id: str = "", variables: dict[str, str] | None = None,
                 sessions: sessionmaker[Session] | None = None) -> Outcome:
    """Run one function; whatever its code does (even SystemExit, a segfault) is a
    failed run, never an escaped exception that leaves the row ``processing``.
    ``sessions``: where its active deployment, if it has one, is read from."""
    try:
        if fn.runtime == "http":
            return timed(lambda: http_runtime.run(fn.url, request, timeout,
                                                  deny_private=settings.http_deny_private))
        if fn.runtime.startswith(("python", "node-")):  # python: also older stored values
            functions_dir, entrypoint = settings.functions_dir, fn.entrypoint
            if fn.deployment_id and sessions is not None:  # its deployment, not the folder
                functions_dir, entrypoint = deploy_cache.prepared(
                    sessions, deploy_cache.root(settings.deployment_cache), fn.project_id,
                    fn.id, fn.deployment_id)
            return timed(lambda: python_runtime.run(
                fn.project_id, fn.id, entrypoint, functions_dir, request, timeout,
                settings.entrypoint_prefixes, execution_id=execution_id,
                function_name=fn.name, runtime=fn.runtime, spec=fn.runtime_specification,
                variables=variables, api_endpoint=settings.function_api_endpoint,
                passed=settings.runner_passed_env, version=iso(fn.updated_at) or "",
                language="node" if fn.runtime.startswith("node-") else "python"))
        return Outcome(status_code=500, failed=True,
                       errors=f"Runtime '{fn.runtime}' is not supported by this worker")
    except EntrypointError as exc:  # its deployment cannot be had
        return Outcome(status_code=500, failed=True, errors=exc.message)
    except BaseException as exc:  # a runtime's own bug, or SystemExit from user code
        log.error("execution.runtime_crashed", exc_info=True, function_id=fn.id)
        return Outcome(status_code=500, failed=True,
                       errors=f"The runtime failed: {type(exc).__name__}: {first_line(exc)}")


DISABLED_ERROR = "Function is disabled: executions already queued for it are not run."
RECORD_RETRIES = (0.2, 0.5, 1, 2, 4, 8, 15, 30)  # seconds between tries to record an outcome


@dataclass(frozen=True)
class _Run:
    execution: Execution | RunRow
    function: Function | RunFunction
    timeout: float  # what this run may take
    capped: bool  # the timeout is the synchronous limit, not the function's own
    variables: dict[str, str]
    key: str | None  # the run's own API key (x-appwrite-key), if the function has scopes
    fast: FastClaim | None = None  # claimed by the fast path: it may record the outcome
    refill: bool = False  # the project's window has room and it has runs held back


def _timeout(settings: Settings, ex: Execution | RunRow, fn: Function | RunFunction
             ) -> tuple[float, bool]:
    """What this run may take, and whether that is the synchronous limit (a cut-off
    run then answers 408) rather than the function's own timeout."""
    capped = ex.sync and settings.sync_timeout < float(fn.timeout)
    return (settings.sync_timeout if capped else float(fn.timeout)), capped


def _claim(sessions: sessionmaker[Session], settings: Settings, execution_id: str
           ) -> _Run | None:
    """Claim the row, recording the timeout it runs under, and read the function's
    variables with it: one statement on the fast path (``store.worker_statements``),
    else one transaction. A disabled function's queued run is failed here, not run."""
    fast: WorkerStatements | None = _state.get("fast")
    if fast is not None:
        try:
            got = fast.claim(execution_id, settings.sync_timeout, settings.project_window)
        except Exception as exc:  # its connection failed: the reference path decides
            log.warning("execution.fast_claim_failed", execution_id=execution_id,
                        error=first_line(exc))
            got = None
        if got is not None:
            timeout, capped = _timeout(settings, got.execution, got.function)
            return _Run(got.execution, got.function, timeout, capped,
                        got.variables, None, fast=got,
                        refill=got.holding and _low(got.queued, settings.project_window))

    def limit(ex: Execution, fn: Function) -> int:
        return int(min(float(fn.timeout), settings.sync_timeout) if ex.sync else fn.timeout)

    with transaction(sessions) as session:
        now = db_now(session)
        claimed = store.claim(session, execution_id, now, limit)
        if claimed is None:
            return None
        ex, fn = claimed.execution, claimed.function
        if not fn.enabled:
            store.finish(session, ex.id, lifecycle.FAIL,
                         {"errors": DISABLED_ERROR, "response_status_code": 500}, now,
                         failure=None)  # retrying a disabled function helps nobody
            return _Run(ex, fn, 0.0, False, {}, None)
        env = variables.environment(session, fn.project_id, fn.id)
        timeout, capped = _timeout(settings, ex, fn)
        key = projects.add_execution_key(session, fn.project_id, ex.id, fn.scopes,
                                         now + timedelta(seconds=timeout + 5))
        refill = admission.holding(session, fn.project_id) and _low(
            admission.queued(session, [fn.project_id]).get(fn.project_id, 0),
            settings.project_window)
    return _Run(ex, fn, timeout, capped, env, key, refill=refill)


def _low(queued: int, window: int) -> bool:
    """A project's window is refilled in halves: one refill per half a window of claims,
    not one per claim (the claimed run still counts in ``queued`` here)."""
    return queued - 1 <= window // 2


def refill(sessions: sessionmaker[Session], settings: Settings, project_id: str,
           at_least: int = 1) -> None:
    """Hand over the project's held runs its window and functions now allow (a claim
    returned a credit, or a limited function's run ended) and publish them. A failure
    leaves them to the leader's relay, which refills every project as a backstop."""
    publisher = _publisher(settings)
    if publisher is None:
        return
    try:
        ids = _refill_fast(project_id, settings.project_window, at_least)
        if ids is None:
            with transaction(sessions) as session:
                ids = admission.refill(session, project_id, settings.project_window,
                                       db_now(session), at_least)
    except Exception as exc:
        log.warning("admission.refill_failed", project_id=project_id, error=first_line(exc))
        return
    if not ids:
        return
    try:
        publisher.publish(ids)
    except Exception as exc:
        log.warning("publish.failed", count=len(ids), error=first_line(exc))
        try:
            with transaction(sessions) as session:
                mark_enqueued(session, ids, None)
        except Exception as unmark:  # still marked: the relay's requeue sends them later
            log.warning("publish.unmark_failed", count=len(ids), error=first_line(unmark))
    log.info("admission.refilled", project_id=project_id, count=len(ids))


def _refill_fast(project_id: str, window: int, at_least: int) -> list[str] | None:
    """The fast path's refill (one transaction, no ORM; it was a third of a held
    backlog's worker CPU); None sends it to the reference refill."""
    fast: WorkerStatements | None = _state.get("fast")
    if fast is None:
        return None
    try:
        return fast.refill(project_id, window, at_least)
    except Exception as exc:
        log.warning("admission.fast_refill_failed", project_id=project_id,
                    error=first_line(exc))
        return None


def use_publisher(publisher: Publisher) -> None:
    """The in-process broker of ``tocsin up`` hands refilled runs to itself."""
    _state["publisher"] = publisher


def _publisher(settings: Settings) -> Publisher | None:
    with _lock:
        if "publisher" not in _state:
            memory = settings.broker_url.startswith("memory://")
            _state["publisher"] = None if memory else make_publisher(settings.broker_url)
        return _state["publisher"]


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


def run_execution(execution_id: str) -> str | None:
    """Returns the status the run ended with (an asynchronous run's outcome may still be
    on its way to the row, ``tasks.recorder``), or None when there was nothing to run."""
    settings, sessions, results = _resources()
    try:
        got = _claim(sessions, settings, execution_id)
    finally:
        # Claimed, or failed to claim (this message is then acknowledged as failed and
        # gone): either way the broker no longer holds it for the relay's purposes.
        _bookkeeper().forget(execution_id)
    if got is None:
        log.info("execution.not_claimed", execution_id=execution_id)
        return None
    ex, fn = got.execution, got.function
    if got.refill:  # a credit returned: the project's next held runs go while this one runs
        _bookkeeper().refill(fn.project_id, at_least=settings.project_window // 2)
    if not fn.enabled:
        log.info("execution.disabled", execution_id=ex.id, function_id=fn.id)
        if ex.sync:
            results.post(ex.id, {"status": lifecycle.FAIL.target, "statusCode": 500,
                                 "body": "", "headers": [], "logs": "", "errors": DISABLED_ERROR,
                                 "duration": 0.0})
        return lifecycle.FAIL.target
    secrets = results.take_stash(ex.id) if ex.sync else {}
    headers = request_headers(ex.request_headers, ex.id, ex.trigger, iso(ex.scheduled_for),
                              secrets)
    if got.key:  # callers can never send x-appwrite-* headers: this one is ours
        headers["x-appwrite-key"] = got.key
    body = (base64.b64decode(ex.request_body) if ex.request_body_base64
            else ex.request_body.encode())
    request = Request(method=ex.request_method, path=ex.request_path, headers=headers,
                      body=body)
    outcome = run_function(settings, fn, request, got.timeout, ex.id, got.variables, sessions)
    ended = _as_ended(got, lifecycle.finished(outcome.failed), outcome)
    if ex.sync:  # recorded before the answer: a caller reading its execution sees it final
        record_ended([ended])
    else:  # while Celery hands this process its next run (tasks.recorder)
        RECORDER.submit(ended)
    return ended.move.target


@dataclass(frozen=True)
class Ended:
    """A run that ended, on its way to its row."""

    run: _Run
    move: lifecycle.Move
    outcome: Outcome
    fields: dict[str, Any]  # the row's outcome columns


def _as_ended(got: _Run, move: lifecycle.Move, outcome: Outcome) -> Ended:
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
    settings, sessions, results = _resources()
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
    fast: WorkerStatements | None = _state.get("fast")
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
        _bookkeeper().refill(fn.project_id)
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


RECORDER: Recorder[Ended] = Recorder(record_ended)


@worker_process_init.connect
def _start_recorder(**_: Any) -> None:
    """Each prefork child records its asynchronous runs' outcomes off their path."""
    RECORDER.start(hold=get_settings().record_hold)


@worker_process_shutdown.connect
def _record_pending(**_: Any) -> None:
    """A child that ends on purpose (warm shutdown, recycled) records what is pending."""
    RECORDER.close()


@app.task(name="tocsin.execute", ignore_result=True)
def execute(execution_id: str) -> None:
    run_execution(execution_id)
