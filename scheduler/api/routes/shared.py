"""Helpers every route module uses: boolean query params, loading the path's function."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.orm import Session

from scheduler.api import errors, validate
from scheduler.rules.errors import FunctionNotFound
from scheduler.store import functions as functions_store
from scheduler.store.models import Function


def bool_param(request: Request, name: str, default: bool) -> bool:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise errors.invalid_param(name, "Value must be a valid boolean")


def load_function(session: Session, project_id: str, function_id: str,
                  lock: bool = False) -> Function:
    """The path's function in the caller's project, or 404 (another project's is missing)."""
    validate.uid("functionId", function_id)
    fn = functions_store.get_function(session, project_id, function_id, lock=lock)
    if fn is None:
        raise FunctionNotFound()
    return fn
