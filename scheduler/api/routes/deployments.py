"""/v1/functions/{id}/deployments: Appwrite's deployment routes, as the SDKs call them.

Upload (one multipart request, or 5 MiB chunks with ``content-range`` and
``x-appwrite-id``), list, get, delete, download, cancel a build, and activate one
(``PATCH /functions/{id}/deployment``). The rules of an upload are in
``rules.deployments``, its storage in ``store.deployments``; builds are the
workers' (``tasks.deploy``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, Depends, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from scheduler.api import errors, listqueries, validate
from scheduler.api.auth import Caller, identify
from scheduler.api.context import Context, get_context
from scheduler.api.routes.shared import bool_param, load_function
from scheduler.api.schemas import ERROR_RESPONSES, function_json
from scheduler.rules import deployments as rules
from scheduler.rules.errors import BuildNotReady, FileEmpty
from scheduler.rules.ids import new_id
from scheduler.store import deployments as store
from scheduler.store import variables
from scheduler.store.db import transaction
from scheduler.store.deployment_models import Deployment
from scheduler.store.documents import deployment_json
from scheduler.store.lists import list_rows

router = APIRouter(tags=["deployments"], responses=ERROR_RESPONSES)

FILTERABLE = {"buildSize": int, "sourceSize": int, "totalSize": int, "buildDuration": float,
              "status": str, "activate": bool, "type": str, "entrypoint": str, "$id": str,
              "$createdAt": datetime, "$updatedAt": datetime}
MAX_COMMANDS = 8192  # characters of build commands (Appwrite's limit)


def _caller(request: Request, ctx: Context, scope: str) -> Caller:
    caller = identify(request, ctx)
    caller.require(scope)
    return caller


@router.post("/functions/{functionId}/deployments", status_code=202)
async def create_deployment(functionId: str, request: Request,
                            ctx: Context = Depends(get_context)) -> dict[str, Any]:
    caller = await run_in_threadpool(_caller, request, ctx, "functions.write")
    validate.uid("functionId", functionId)
    if not _multipart(request):
        raise FileEmpty()
    form = await request.form(max_files=1, max_fields=16)
    code = form.get("code")
    if not isinstance(code, UploadFile):
        raise FileEmpty()
    data = await code.read()
    if not data:
        raise FileEmpty()
    chunk = rules.chunk_of(request.headers.get("content-range"), len(data))
    rules.check_file(code.filename or "", chunk.size, ctx.settings.deployment_max_bytes)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    deployment_id = request.headers.get("x-appwrite-id") or new_id()
    validate.uid("x-appwrite-id", deployment_id)
    kind = "cli" if request.headers.get("x-sdk-language") == "cli" else "manual"
    return await run_in_threadpool(_store_chunk, ctx, caller, functionId, deployment_id,
                                   fields, kind, chunk, data)


def _multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").lower().startswith("multipart/form-data")


def _store_chunk(ctx: Context, caller: Caller, function_id: str, deployment_id: str,
                 fields: dict[str, str], kind: str, chunk: rules.Chunk,
                 data: bytes) -> dict[str, Any]:
    commands = fields.get("commands")
    if commands is not None and len(commands) > MAX_COMMANDS:
        raise errors.invalid_param("commands", f"Value must be a valid string and at most "
                                               f"{MAX_COMMANDS} chars")
    activate = fields.get("activate", "false").lower() in ("true", "1")
    with transaction(ctx.sessions) as session:
        fn = load_function(session, caller.project_id, function_id)
        if fn.runtime == "http":
            raise errors.invalid_param("functionId", f"function '{fn.id}' has the http "
                                       "runtime, which runs no code of its own: deployments "
                                       "are for python-* and node-* functions")
        entrypoint = rules.entrypoint_of(fields.get("entrypoint") or fn.entrypoint)
        upload = store.Upload(deployment_id, entrypoint,
                              commands if commands is not None else fn.commands,
                              activate, kind)
        d, _ = store.upload_chunk(session, fn, upload, chunk, data)
        return deployment_json(d)


@router.get("/functions/{functionId}/deployments")
def list_deployments(functionId: str, request: Request,
                     ctx: Context = Depends(get_context)) -> dict[str, Any]:
    caller = _caller(request, ctx, "functions.read")
    query = listqueries.parse(listqueries.collect(request.query_params.multi_items()),
                              FILTERABLE, store.COLUMNS)
    search = request.query_params.get("search", "")
    if len(search) > 256:
        raise errors.invalid_param("search", "Value must be a valid string and no longer "
                                             "than 256 chars")
    with transaction(ctx.sessions) as session:
        fn = load_function(session, caller.project_id, functionId)
        where = [Deployment.project_id == fn.project_id, Deployment.function_id == fn.id]
        if search:
            where.append(Deployment.id.contains(search, autoescape=True)
                         | Deployment.entrypoint.contains(search, autoescape=True))
        rows, total = list_rows(session, Deployment, where, store.COLUMNS, query,
                                bool_param(request, "total", True))
        return {"total": total, "deployments": [deployment_json(d) for d in rows]}


@router.get("/functions/{functionId}/deployments/{deploymentId}")
def get_deployment(functionId: str, deploymentId: str, request: Request,
                   ctx: Context = Depends(get_context)) -> dict[str, Any]:
    caller = _caller(request, ctx, "functions.read")
    with transaction(ctx.sessions) as session:
        fn = load_function(session, caller.project_id, functionId)
        return deployment_json(store.get(session, fn, deploymentId))


@router.delete("/functions/{functionId}/deployments/{deploymentId}", status_code=204,
               response_class=Response)
def delete_deployment(functionId: str, deploymentId: str, request: Request,
                      ctx: Context = Depends(get_context)) -> Response:
    caller = _caller(request, ctx, "functions.write")
    with transaction(ctx.sessions) as session:
        fn = load_function(session, caller.project_id, functionId, lock=True)
        store.remove(session, fn, store.get(session, fn, deploymentId, lock=True))
    return Response(status_code=204, media_type="text/plain")


@router.get("/functions/{functionId}/deployments/{deploymentId}/download")
def download_deployment(functionId: str, deploymentId: str, request: Request,
                        ctx: Context = Depends(get_context)) -> Response:
    """``type=source`` (default): the archive as uploaded; ``output``: the build."""
    caller = _caller(request, ctx, "functions.read")
    kind = request.query_params.get("type", "source")
    if kind not in ("source", "output"):
        raise errors.invalid_param("type", "Value must be one of (source, output)")
    with transaction(ctx.sessions) as session:
        fn = load_function(session, caller.project_id, functionId)
        d = store.get(session, fn, deploymentId)
        if kind == "output" and d.status != rules.Status.READY:
            raise BuildNotReady()
        if d.chunks_uploaded < d.chunks_total:
            raise BuildNotReady("The deployment's upload is not complete.")
        data = store.bytes_of(session, d, rules.Kind.SOURCE if kind == "source"
                              else rules.Kind.BUILD)
    name = f"{d.id}{'' if kind == 'source' else '-output'}.tar.gz"
    return Response(data, media_type="application/gzip",
                    headers={"content-disposition": f'attachment; filename="{name}"'})


@router.patch("/functions/{functionId}/deployments/{deploymentId}/status")
def cancel_build(functionId: str, deploymentId: str, request: Request,
                 ctx: Context = Depends(get_context)) -> dict[str, Any]:
    caller = _caller(request, ctx, "functions.write")
    with transaction(ctx.sessions) as session:
        fn = load_function(session, caller.project_id, functionId)
        return deployment_json(store.cancel(session, store.get(session, fn, deploymentId,
                                                               lock=True)))


@router.patch("/functions/{functionId}/deployment")
def activate_deployment(functionId: str, request: Request,
                        payload: dict[str, Any] = Body(...),
                        ctx: Context = Depends(get_context)) -> dict[str, Any]:
    """Appwrite's ``updateFunctionDeployment``: runs claimed from now on run it."""
    caller = _caller(request, ctx, "functions.write")
    deployment_id = payload.get("deploymentId")
    if not isinstance(deployment_id, str) or not deployment_id:
        raise errors.invalid_param("deploymentId", "Param is required")
    with transaction(ctx.sessions) as session:
        fn = load_function(session, caller.project_id, functionId, lock=True)
        fn = store.activate(session, fn, store.get(session, fn, deployment_id))
        return function_json(fn, variables.all_of(session, caller.project_id, [fn.id]))


@router.api_route("/functions/{functionId}/deployments/{deploymentId}/{rest:path}",
                  methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
@router.api_route("/functions/{functionId}/deployments/{rest}",
                  methods=["POST", "PUT", "PATCH"], include_in_schema=False)
def not_offered(functionId: str, rest: str) -> None:
    raise errors.ApiError(
        errors.ROUTE_NOT_FOUND,
        "Tocsin takes deployments as uploaded archives only (createDeployment): no "
        "duplicate, template or VCS deployments, and no separate builds.")
