"""The execution task: claim the row, run the function, record the outcome.

A message only ever *asks* for an execution; the row decides. Moving the row
from ``waiting`` to ``processing`` is atomic, so a duplicate or stale message
(relay republish, broker redelivery) finds nothing to claim and does nothing.
"""

from __future__ import annotations

import base64
import threading
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from scheduler.config import Settings, get_settings
from scheduler.logs import get_logger
from scheduler.results import ResultChannel, make_results
from scheduler.store import executions as store
from scheduler.store.db import db_now, make_engine, make_sessionmaker, transaction
from scheduler.timerules import iso
from tasks.app import app
from tasks.runtimes import Outcome, Request, timed
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
        if not _state:
            settings = get_settings()
            _state["settings"] = settings
            _state["sessions"] = make_sessionmaker(make_engine(settings.database_url))
            _state["results"] = make_results(settings.result_backend_url)
        return _state["settings"], _state["sessions"], _state["results"]


def request_headers(headers: dict[str, str], execution_id: str, trigger: str,
                    scheduled_for: str | None) -> dict[str, str]:
    out = {k.lower(): str(v) for k, v in (headers or {}).items()}
    out["x-appwrite-trigger"] = trigger
    out["x-appwrite-execution-id"] = execution_id
    if scheduled_for:
        out["x-tocsin-scheduled-for"] = scheduled_for
    return out


def run_function(runtime: str, function_id: str, url: str, entrypoint: str,
                 functions_dir: str, request: Request, timeout: float) -> Outcome:
    if runtime == "http":
        return timed(lambda: http_runtime.run(url, request, timeout))
    if runtime.startswith("python"):
        return timed(lambda: python_runtime.run(function_id, entrypoint, functions_dir,
                                                request, timeout))
    return Outcome(status_code=500, failed=True,
                   errors=f"Runtime '{runtime}' is not supported by this worker")


def run_execution(execution_id: str) -> str | None:
    """Returns the final status, or None when there was nothing to run."""
    settings, sessions, results = _resources()
    with transaction(sessions) as session:
        claimed = store.claim(session, execution_id, db_now(session))
    if claimed is None:
        log.info("execution.not_claimed", execution_id=execution_id)
        return None
    ex, fn = claimed.execution, claimed.function
    timeout = float(fn.timeout)
    if ex.sync:
        timeout = min(timeout, settings.sync_timeout)
    request = Request(
        method=ex.request_method, path=ex.request_path,
        headers=request_headers(ex.request_headers, ex.id, ex.trigger, iso(ex.scheduled_for)),
        body=ex.request_body,
    )
    outcome = run_function(fn.runtime, fn.id, fn.url, fn.entrypoint, settings.functions_dir,
                           request, timeout)
    status = "failed" if outcome.failed else "completed"
    kept = [{"name": k.lower(), "value": v} for k, v in outcome.headers.items()
            if k.lower() in KEPT_RESPONSE_HEADERS]
    fields = {
        "status": status, "response_status_code": outcome.status_code,
        "response_headers": kept, "logs": outcome.logs if fn.logging else "",
        "errors": outcome.errors if fn.logging else "", "duration": outcome.duration,
    }
    with transaction(sessions) as session:
        recorded = store.finish(session, ex.id, fields, db_now(session))
    if ex.sync:
        results.post(ex.id, {
            "status": status, "statusCode": outcome.status_code,
            "body": base64.b64encode(outcome.body).decode(),
            "headers": [{"name": k.lower(), "value": v} for k, v in outcome.headers.items()],
            "logs": fields["logs"], "errors": fields["errors"], "duration": outcome.duration,
        })
    log.info("execution.finished", execution_id=ex.id, function_id=fn.id, status=status,
             code=outcome.status_code, duration=outcome.duration, recorded=recorded)
    return status


@app.task(name="tocsin.execute", ignore_result=True)
def execute(execution_id: str) -> None:
    run_execution(execution_id)
