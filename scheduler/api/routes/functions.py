"""/v1/functions: Appwrite's CRUD plus Tocsin's url, timezone and missed-run policy."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, Depends, Request, Response

from scheduler.api import errors, listqueries, validate
from scheduler.api.auth import identify
from scheduler.api.context import Context, get_context
from scheduler.api.routes.shared import bool_param, load_function
from scheduler.api.schemas import ERROR_RESPONSES, FunctionWrite, function_json
from scheduler.rules.ids import new_id
from scheduler.store import functions as store
from scheduler.store import variables
from scheduler.store.db import transaction
from scheduler.store.lists import list_rows
from scheduler.store.models import Function, Variable

router = APIRouter(tags=["functions"], responses=ERROR_RESPONSES)

FILTERABLE = {"name": str, "enabled": bool, "runtime": str, "deploymentId": str,
              "schedule": str, "timeout": int, "entrypoint": str, "commands": str,
              "installationId": str, "$id": str, "$createdAt": datetime,
              "$updatedAt": datetime}


@router.post("/functions", status_code=201)
def create_function(request: Request, payload: FunctionWrite = Body(...),
                    ctx: Context = Depends(get_context)) -> dict[str, Any]:
    caller = identify(request, ctx)
    caller.require("functions.write")
    data = payload.model_dump(exclude_unset=True)
    for required in ("functionId", "name", "runtime"):
        if data.get(required) in (None, ""):
            raise errors.invalid_param(required, "Param is required")
    function_id = data.pop("functionId")
    if function_id == "unique()":
        function_id = new_id()
    validate.uid("functionId", function_id)
    fields = validate.function_fields(data, ctx.settings.entrypoint_prefixes)
    validate.schedule_or_interval(fields.get("schedule", ""), fields.get("interval", 0))
    with transaction(ctx.sessions) as session:
        fn = store.create_function(session, caller.project_id, function_id, fields,
                                   caller.cause)
    return function_json(fn)


@router.get("/functions")
def list_functions(request: Request, ctx: Context = Depends(get_context)) -> dict[str, Any]:
    caller = identify(request, ctx)
    caller.require("functions.read")
    query = listqueries.parse(listqueries.collect(request.query_params.multi_items()), FILTERABLE,
                         store.COLUMNS)
    search = request.query_params.get("search", "")
    where = [Function.project_id == caller.project_id]
    if search:
        if len(search) > 256:
            raise errors.invalid_param("search", "Value must be a valid string and no longer "
                                                 "than 256 chars")
        where.append(Function.name.contains(search, autoescape=True)
                     | Function.id.contains(search, autoescape=True))
    with transaction(ctx.sessions) as session:
        rows, total = list_rows(session, Function, where, store.COLUMNS, query,
                                bool_param(request, "total", True),
                                filter_columns=store.FILTER_COLUMNS)
        vars_of: dict[str, list[Variable]] = {}
        for v in variables.all_of(session, caller.project_id, [f.id for f in rows]):
            vars_of.setdefault(v.function_id, []).append(v)
    return {"total": total, "functions": [function_json(f, vars_of.get(f.id)) for f in rows]}


@router.get("/functions/{functionId}")
def get_function(functionId: str, request: Request,
                 ctx: Context = Depends(get_context)) -> dict[str, Any]:
    caller = identify(request, ctx)
    caller.require("functions.read")
    with transaction(ctx.sessions) as session:
        fn = load_function(session, caller.project_id, functionId)
        return function_json(fn, variables.all_of(session, caller.project_id, [fn.id]))


@router.put("/functions/{functionId}")
def update_function(functionId: str, request: Request, payload: FunctionWrite = Body(...),
                    ctx: Context = Depends(get_context)) -> dict[str, Any]:
    caller = identify(request, ctx)
    caller.require("functions.write")
    data = payload.model_dump(exclude_unset=True)
    data.pop("functionId", None)
    if not data.get("name"):
        raise errors.invalid_param("name", "Param is required")
    fields = validate.function_fields(data, ctx.settings.entrypoint_prefixes)
    with transaction(ctx.sessions) as session:
        fn = load_function(session, caller.project_id, functionId, lock=True)
        validate.schedule_or_interval(fields.get("schedule", fn.schedule),
                                      fields.get("interval", fn.interval))
        fn = store.update_function(session, fn, fields, caller.cause)
        return function_json(fn, variables.all_of(session, caller.project_id, [fn.id]))


@router.delete("/functions/{functionId}", status_code=204, response_class=Response)
def delete_function(functionId: str, request: Request,
                    ctx: Context = Depends(get_context)) -> Response:
    caller = identify(request, ctx)
    caller.require("functions.write")
    with transaction(ctx.sessions) as session:
        fn = load_function(session, caller.project_id, functionId, lock=True)
        store.delete_function(session, fn, caller.cause)
    return Response(status_code=204, media_type="text/plain")
