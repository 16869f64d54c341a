"""Liveness, readiness and Prometheus metrics, outside /v1 where orchestrators look."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from scheduler import metrics
from scheduler.api.app_response import json_response
from scheduler.api.context import Context, get_context
from scheduler.store import executions as exec_store
from scheduler.store.db import transaction
from scheduler.store.fires import outbox_backlog

router = APIRouter(tags=["probes"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "pass"}


@router.get("/readyz")
def readyz(ctx: Context = Depends(get_context)) -> Response:
    """Database and broker reachable: 200, else 503 naming what is not."""
    checks: dict[str, str] = {}
    try:
        with transaction(ctx.sessions) as session:
            session.execute(text("SELECT 1"))
        checks["database"] = "pass"
    except Exception as exc:
        checks["database"] = f"fail: {str(exc).splitlines()[0][:200]}"
    try:
        ctx.publisher.ping()
        checks["broker"] = "pass"
    except Exception as exc:
        checks["broker"] = f"fail: {str(exc).splitlines()[0][:200]}"
    ok = all(v == "pass" for v in checks.values())
    return json_response({"status": "pass" if ok else "fail", "checks": checks},
                         200 if ok else 503)


@router.get("/metrics", response_class=PlainTextResponse,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "Prometheus text exposition format"}})
def prometheus(ctx: Context = Depends(get_context)) -> Response:
    """This process's series, plus executions by status and the backlog read from the store."""
    try:
        with transaction(ctx.sessions) as session:
            counts = exec_store.count_by_status(session)
            metrics.BACKLOG.set(outbox_backlog(session))
        for status in ("scheduled", "waiting", "processing", "completed", "failed"):
            metrics.EXECUTIONS.labels(status).set(counts.get(status, 0))
    except Exception:
        pass  # the series keep their last values; /readyz reports the database
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
