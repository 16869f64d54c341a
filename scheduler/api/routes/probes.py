"""Liveness, readiness and Prometheus metrics, outside /v1 where orchestrators look."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from scheduler import metrics
from scheduler.api.app_response import json_response
from scheduler.api.context import Context, get_context
from scheduler.api.errors import UNAUTHORIZED_SCOPE, ApiError
from scheduler.logs import first_line, get_logger
from scheduler.rules.states import ExecutionStatus
from scheduler.store import executions as exec_store
from scheduler.store.db import transaction
from scheduler.store.fires import outbox_backlog
from scheduler.store.retries import dead_letter_counts

router = APIRouter(tags=["probes"])
log = get_logger(__name__)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "pass"}


@router.get("/readyz")
def readyz(ctx: Context = Depends(get_context)) -> Response:
    """Database and broker reachable: 200, else 503 naming which is not (the error
    itself goes to the log, not to whoever can reach this port)."""
    checks: dict[str, str] = {}
    try:
        with transaction(ctx.sessions) as session:
            session.execute(text("SELECT 1"))
        checks["database"] = "pass"
    except Exception as exc:
        checks["database"] = "fail"
        log.warning("readyz.database_failed", error=first_line(exc))
    try:
        ctx.publisher.ping()
        checks["broker"] = "pass"
    except Exception as exc:
        checks["broker"] = "fail"
        log.warning("readyz.broker_failed", error=first_line(exc))
    ok = all(v == "pass" for v in checks.values())
    return json_response({"status": "pass" if ok else "fail", "checks": checks},
                         200 if ok else 503)


@router.get("/metrics", response_class=PlainTextResponse,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "Prometheus text exposition format"}})
def prometheus(request: Request, ctx: Context = Depends(get_context)) -> Response:
    """This process's series, plus executions by status and the backlog read from the store.
    With ``TOCSIN_METRICS_TOKEN`` set, only for ``Authorization: Bearer <token>``."""
    token = ctx.settings.metrics_token
    if token and not hmac.compare_digest(request.headers.get("authorization", ""),
                                         f"Bearer {token}"):
        raise ApiError(UNAUTHORIZED_SCOPE,
                       "Metrics need 'Authorization: Bearer <TOCSIN_METRICS_TOKEN>'.")
    try:
        with transaction(ctx.sessions) as session:
            counts = exec_store.count_by_status(session)
            metrics.BACKLOG.set(outbox_backlog(session))
            metrics.DEAD_LETTERS.set(dead_letter_counts(session))
        for status in ExecutionStatus:
            metrics.EXECUTIONS.labels(status).set(counts.get(status, 0))
    except Exception:
        pass  # the series keep their last values; /readyz reports the database
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
