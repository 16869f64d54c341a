"""/v1/functions/{functionId}/variables: Appwrite's function variables.

A variable reaches the function's runner as an environment variable; a ``secret``
one's value is accepted and used but never returned (``value`` reads as ``""``), and
cannot be made non-secret again (re-create it instead), as in Appwrite.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request, Response

from scheduler.api import errors, listqueries, validate
from scheduler.api.app_response import json_response
from scheduler.api.auth import Caller, identify
from scheduler.api.context import Context, get_context
from scheduler.api.routes.shared import bool_param, load_function
from scheduler.api.schemas import ERROR_RESPONSES, VariableWrite, variable_json
from scheduler.rules.ids import new_id
from scheduler.store import variables as store
from scheduler.store.db import transaction
from scheduler.store.lists import list_rows
from scheduler.store.models import Variable

router = APIRouter(tags=["variables"], responses=ERROR_RESPONSES)

FILTERABLE = {"key": str, "secret": bool}
CANNOT_UNSET_SECRET = errors.ApiError(
    errors.CANNOT_UNSET_SECRET,
    "Secret variables cannot be marked as non-secret. Please re-create the variable if "
    "this is your intention.")


def _caller(request: Request, ctx: Context, scope: str, *ids: tuple[str, str]) -> Caller:
    caller = identify(request, ctx)
    caller.require(scope)
    for name, value in ids:
        validate.uid(name, value)
    return caller


@router.post("/functions/{functionId}/variables", status_code=201)
def create_variable(functionId: str, request: Request, payload: VariableWrite = Body(...),
                    ctx: Context = Depends(get_context)) -> Response:
    caller = _caller(request, ctx, "functions.write", ("functionId", functionId))
    data = payload.model_dump()
    variable_id = data.get("variableId") or "unique()"
    if variable_id == "unique()":
        variable_id = new_id()
    validate.uid("variableId", variable_id)
    fields = validate.variable_fields(data, creating=True)
    with transaction(ctx.sessions) as session:
        fn = load_function(session, caller.project_id, functionId, lock=True)
        variable = store.create(session, fn, variable_id, fields)
        return json_response(variable_json(variable), 201)


@router.get("/functions/{functionId}/variables")
def list_variables(functionId: str, request: Request,
                   ctx: Context = Depends(get_context)) -> dict[str, Any]:
    caller = _caller(request, ctx, "functions.read", ("functionId", functionId))
    query = listqueries.parse(listqueries.collect(request.query_params.multi_items()), FILTERABLE,
                         store.COLUMNS)
    with transaction(ctx.sessions) as session:
        load_function(session, caller.project_id, functionId)
        rows, total = list_rows(session, Variable,
                                store.of_function(caller.project_id, functionId),
                                store.COLUMNS, query, bool_param(request, "total", True))
    return {"total": total, "variables": [variable_json(v) for v in rows]}


@router.get("/functions/{functionId}/variables/{variableId}")
def get_variable(functionId: str, variableId: str, request: Request,
                 ctx: Context = Depends(get_context)) -> dict[str, Any]:
    caller = _caller(request, ctx, "functions.read", ("functionId", functionId),
                     ("variableId", variableId))
    with transaction(ctx.sessions) as session:
        fn = load_function(session, caller.project_id, functionId)
        return variable_json(store.get(session, fn, variableId))


@router.put("/functions/{functionId}/variables/{variableId}")
def update_variable(functionId: str, variableId: str, request: Request,
                    payload: VariableWrite = Body(...),
                    ctx: Context = Depends(get_context)) -> dict[str, Any]:
    caller = _caller(request, ctx, "functions.write", ("functionId", functionId),
                     ("variableId", variableId))
    fields = validate.variable_fields(payload.model_dump(), creating=False)
    with transaction(ctx.sessions) as session:
        fn = load_function(session, caller.project_id, functionId, lock=True)
        variable = store.get(session, fn, variableId, lock=True)
        if variable.secret and fields.get("secret") is False:
            raise CANNOT_UNSET_SECRET
        return variable_json(store.update(session, fn, variable, fields))


@router.delete("/functions/{functionId}/variables/{variableId}", status_code=204,
               response_class=Response)
def delete_variable(functionId: str, variableId: str, request: Request,
                    ctx: Context = Depends(get_context)) -> Response:
    caller = _caller(request, ctx, "functions.write", ("functionId", functionId),
                     ("variableId", variableId))
    with transaction(ctx.sessions) as session:
        fn = load_function(session, caller.project_id, functionId, lock=True)
        store.delete(session, store.get(session, fn, variableId, lock=True))
    return Response(status_code=204, media_type="text/plain")
