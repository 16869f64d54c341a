from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy import text

from scheduler.api.context import Context, get_context
from scheduler.api.errors import UNAVAILABLE, ApiError
from scheduler.api.schemas import ERROR_RESPONSES
from scheduler.store.db import transaction

router = APIRouter(tags=["health"], responses=ERROR_RESPONSES)


@router.get("/health")
def health(ctx: Context = Depends(get_context)) -> dict[str, str]:
    """200 once the API serves and its database answers."""
    try:
        with transaction(ctx.sessions) as session:
            session.execute(text("SELECT 1"))
    except Exception:
        raise ApiError(UNAVAILABLE, "The database is not reachable.") from None
    return {"status": "pass"}
