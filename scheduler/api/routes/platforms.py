"""/v1/scheduler/platforms: the origins a project's browser apps are served from.

Beside ``TOCSIN_CORS_ORIGINS`` (every project), these decide which pages may read
the API's and the project's function domains' answers (see ``scheduler.api.cors``).
The CLI's ``tocsin platforms`` edits the same list.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request

from scheduler.api import errors
from scheduler.api.auth import identify
from scheduler.api.context import Context, get_context
from scheduler.api.schemas import ERROR_RESPONSES
from scheduler.rules import origins
from scheduler.store import projects
from scheduler.store.db import transaction

router = APIRouter(prefix="/scheduler", tags=["scheduler (Tocsin extensions)"],
                   responses=ERROR_RESPONSES)
MAX_PLATFORMS = 100


@router.get("/platforms")
def list_platforms(request: Request, ctx: Context = Depends(get_context)) -> dict[str, Any]:
    caller = identify(request, ctx)
    caller.require("platforms.read")
    with transaction(ctx.sessions) as session:
        found = projects.platforms(session, caller.project_id)
    return {"total": len(found), "platforms": found}


@router.put("/platforms")
def set_platforms(request: Request, payload: dict[str, Any] = Body(...),
                  ctx: Context = Depends(get_context)) -> dict[str, Any]:
    """Replace the project's platforms with ``platforms`` (a list of origins)."""
    caller = identify(request, ctx)
    caller.require("platforms.write")
    given = payload.get("platforms")
    if not isinstance(given, list) or len(given) > MAX_PLATFORMS or not all(
            isinstance(o, str) for o in given):
        raise errors.invalid_param("platforms", f"Value must be a list of at most "
                                                f"{MAX_PLATFORMS} origins")
    try:
        checked = [origins.check_origin(o) for o in given]
    except origins.OriginError as exc:
        raise errors.invalid_param("platforms", exc.message) from None
    with transaction(ctx.sessions) as session:
        projects.set_platforms(session, caller.project_id, checked)
        found = projects.platforms(session, caller.project_id)
    return {"total": len(found), "platforms": found}
