"""What this node offers functions: /v1/functions/runtimes and /specifications.
Registered before /functions/{functionId}, which would otherwise take them for ids."""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter, Depends, Request

from scheduler.api import errors
from scheduler.api.auth import identify
from scheduler.api.context import Context, get_context
from scheduler.api.schemas import ERROR_RESPONSES
from scheduler.rules import runtime_names, specifications

router = APIRouter(tags=["functions"], responses=ERROR_RESPONSES)


@router.get("/functions/runtimes")
def list_runtimes(request: Request, ctx: Context = Depends(get_context)) -> dict[str, Any]:
    """Appwrite's Runtime models for what this node runs: every Python value of the
    SDKs' Runtime enum (all run in the python runner) and Tocsin's ``http``."""
    identify(request, ctx).require("functions.read")
    rows = [runtime_names.describe(r).as_appwrite() for r in runtime_names.SUPPORTED]
    return {"total": len(rows), "runtimes": rows}


@router.get("/functions/templates")
@router.get("/functions/templates/{templateId}")
def templates(request: Request, ctx: Context = Depends(get_context)) -> dict[str, Any]:
    raise errors.ApiError(
        errors.ROUTE_NOT_FOUND,
        "Tocsin has no function templates: create a function with POST /v1/functions and "
        "a module or file entrypoint (GET /v1/functions/runtimes lists the runtimes).")


@router.get("/functions/specifications")
def list_specifications(request: Request, ctx: Context = Depends(get_context)
                        ) -> dict[str, Any]:
    """Appwrite's specifications; ``enabled`` when this node has the CPUs. Memory is
    enforced as the runner's address-space limit, CPUs as an affinity to that many
    cores (a fraction of one also runs at lower priority)."""
    identify(request, ctx).require("functions.read")
    cores = os.cpu_count() or 1
    rows = [{"memory": s.memory, "cpus": s.cpus, "enabled": specifications.enabled(s, cores),
             "slug": s.slug} for s in specifications.SPECS]
    return {"total": len(rows), "specifications": rows}
