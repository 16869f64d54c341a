"""What this node offers functions: /v1/functions/specifications. Registered before
/functions/{functionId}, which would otherwise take "specifications" for an id."""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter, Depends, Request

from scheduler import specs
from scheduler.api.auth import identify
from scheduler.api.context import Context, get_context
from scheduler.api.schemas import ERROR_RESPONSES

router = APIRouter(tags=["functions"], responses=ERROR_RESPONSES)


@router.get("/functions/specifications")
def list_specifications(request: Request, ctx: Context = Depends(get_context)
                        ) -> dict[str, Any]:
    """Appwrite's specifications; ``enabled`` when this node has the CPUs. Memory is
    enforced as the runner's address-space limit, CPUs as an affinity to that many
    cores (a fraction of one also runs at lower priority)."""
    identify(request, ctx).require("functions.read")
    cores = os.cpu_count() or 1
    rows = [{"memory": s.memory, "cpus": s.cpus, "enabled": specs.enabled(s, cores),
             "slug": s.slug} for s in specs.SPECS]
    return {"total": len(rows), "specifications": rows}
