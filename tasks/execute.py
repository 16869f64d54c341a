"""The execution task: claim the row, run the function, record the outcome.

A message only ever *asks* for an execution; the row decides. Moving the row
from ``waiting`` to ``processing`` is atomic, so a duplicate or stale message
(relay republish, broker redelivery) finds nothing to claim and does nothing.
"""

from __future__ import annotations

import base64

from sqlalchemy.orm import Session, sessionmaker

from scheduler.config import Settings
from scheduler.logs import first_line, get_logger
from scheduler.rules import lifecycle
from scheduler.rules.errors import EntrypointError
from scheduler.rules.timerules import iso
from scheduler.store.models import Function
from scheduler.store.worker_statements import RunFunction
from tasks import worker_process
from tasks.app import app
from tasks.claim import DISABLED_ERROR, claim
from tasks.deploy import cache as deploy_cache
from tasks.outcomes import RECORDER, as_ended, record_ended
from tasks.runner.context import Request
from tasks.runner.outcome import Outcome, timed
from tasks.runtimes import http as http_runtime
from tasks.runtimes import python as python_runtime

log = get_logger(__name__)


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


def run_execution(execution_id: str) -> str | None:
    """Returns the status the run ended with (an asynchronous run's outcome may still be
    on its way to the row, ``tasks.recorder``), or None when there was nothing to run."""
    settings, sessions, results = worker_process.resources()
    try:
        got = claim(sessions, settings, execution_id)
    finally:
        # Claimed, or failed to claim (this message is then acknowledged as failed and
        # gone): either way the broker no longer holds it for the relay's purposes.
        worker_process.bookkeeper().forget(execution_id)
    if got is None:
        log.info("execution.not_claimed", execution_id=execution_id)
        return None
    ex, fn = got.execution, got.function
    if got.refill:  # a credit returned: the project's next held runs go while this one runs
        worker_process.bookkeeper().refill(fn.project_id, at_least=settings.project_window // 2)
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
    ended = as_ended(got, lifecycle.finished(outcome.failed), outcome)
    if ex.sync:  # recorded before the answer: a caller reading its execution sees it final
        record_ended([ended])
    else:  # while Celery hands this process its next run (tasks.recorder)
        RECORDER.submit(ended)
    return ended.move.target


@app.task(name="tocsin.execute", ignore_result=True)
def execute(execution_id: str) -> None:
    run_execution(execution_id)
