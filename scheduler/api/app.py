"""The FastAPI application: error envelope everywhere, routes under /v1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from scheduler import __version__, gcfreeze
from scheduler.api.app_response import AppwriteJSON
from scheduler.api.bodylimit import BodyLimit
from scheduler.api.context import Context
from scheduler.api.cors import Cors
from scheduler.api.direct_executions import FastPath
from scheduler.api.domains import Domains
from scheduler.api.errors import (
    ARGUMENT_INVALID,
    PAYLOAD_TOO_LARGE,
    ROUTE_NOT_FOUND,
    UNKNOWN,
    ApiError,
    envelope,
)
from scheduler.api.hosts import ApiHosts
from scheduler.api.keycache import KeyCache
from scheduler.api.limits import SyncGate
from scheduler.api.routes import (
    catalog,
    console,
    deployments,
    events,
    execution_actions,
    executions,
    functions,
    health,
    operator,
    platforms,
    probes,
    proxy,
    schedules,
    variables,
)
from scheduler.api.targets import Targets
from scheduler.api.users import Verifier
from scheduler.broker.publish import Publisher, make_publisher
from scheduler.broker.results import ResultChannel, make_results
from scheduler.config import Settings
from scheduler.logs import first_line, get_logger
from scheduler.rules.errors import TocsinError
from scheduler.store.db import make_engine, make_sessionmaker, transaction
from scheduler.store.projects import ensure_key, ensure_project

log = get_logger(__name__)


def error_response(err: TocsinError) -> JSONResponse:
    return AppwriteJSON(envelope(err), status_code=err.status)


def _param_name(loc: tuple[object, ...]) -> str:
    # loc is (where, field, ...): "where" is body/query/path/header, and a field
    # may itself be called "path" or "body", so only the first element is dropped.
    return str(loc[1]) if len(loc) > 1 else str(loc[0]) if loc else "body"


def bootstrap(ctx: Context) -> None:
    s = ctx.settings
    if not s.bootstrap_project:
        return
    for attempt in (1, 2):  # API processes started together race to insert the same rows
        try:
            with transaction(ctx.sessions) as session:
                ensure_project(session, s.bootstrap_project)
                if s.bootstrap_key:
                    ensure_key(session, s.bootstrap_project, s.bootstrap_key)
            break
        except IntegrityError:
            if attempt == 2:
                raise
    log.info("api.bootstrap", project=s.bootstrap_project, key=bool(s.bootstrap_key))


def create_app(settings: Settings, publisher: Publisher | None = None,
               results: ResultChannel | None = None, settle_heap: bool = False) -> FastAPI:
    """``settle_heap``: a serving process's own app freezes its start-up heap
    (``scheduler.gcfreeze``); tests building many apps in one process do not."""
    # As many connections as concurrent requests commonly need (anyio's thread pool
    # runs up to 40): a request should not queue for a connection at 16 clients.
    engine = make_engine(settings.database_url, pool_size=20)
    sessions = make_sessionmaker(engine)
    hosts = ApiHosts(settings.api_host_names)
    ctx = Context(settings=settings, engine=engine, sessions=sessions,
                  publisher=publisher or make_publisher(settings.broker_url),
                  results=results or make_results(settings.result_backend_url),
                  sync_gate=SyncGate(settings.sync_concurrency),
                  verifier=Verifier(settings), keys=KeyCache(settings.key_cache_seconds),
                  hosts=hosts, targets=Targets(settings, sessions, hosts))

    if publisher is None and FastPath.usable(settings):
        ctx.fast = FastPath(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        bootstrap(ctx)
        if ctx.fast is not None:
            await ctx.fast.open()
        if not settings.is_sqlite and not settings.api_host_names:
            log.warning("api.hosts_unset", detail=(
                "neither TOCSIN_API_HOSTS nor TOCSIN_PUBLIC_URL is set: the API's own host "
                "names are learned from requests, so a function domain rule could take "
                "one before it is first used; set TOCSIN_API_HOSTS"))
        if settle_heap:
            gcfreeze.settle()
        yield
        if ctx.fast is not None:
            await ctx.fast.close()
        engine.dispose()

    app = FastAPI(title="Tocsin", version=__version__, lifespan=lifespan,
                  default_response_class=AppwriteJSON,
                  description="Appwrite-compatible Functions executions API, plus "
                              "scheduler operator extensions under /v1/scheduler.")
    app.state.ctx = ctx

    @app.exception_handler(TocsinError)
    async def _tocsin_error(_r: Request, exc: TocsinError) -> JSONResponse:
        # Every domain error carries its status and Appwrite type: routes only raise.
        if exc.status >= 500:
            log.error("api.failed", error=type(exc).__name__, detail=exc.message)
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_r: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid"}
        if first.get("type") == "json_invalid":
            return error_response(ApiError(ARGUMENT_INVALID, "Request body is not valid JSON."))
        name = _param_name(tuple(first.get("loc", ())))
        return error_response(ApiError(ARGUMENT_INVALID,
                                       f"Invalid `{name}` param: {first.get('msg')}"))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_r: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Appwrite has no 405: a route is a method and a path, so a wrong method is a 404.
        if exc.status_code in (404, 405):
            return error_response(ApiError(
                ROUTE_NOT_FOUND,
                "The requested route was not found. Please refer to the API docs and try again."))
        if exc.status_code == 413:
            return error_response(ApiError(PAYLOAD_TOO_LARGE, str(exc.detail)))
        return error_response(ApiError(UNKNOWN, str(exc.detail), status=exc.status_code))

    @app.exception_handler(DataError)
    async def _data(_r: Request, exc: DataError) -> JSONResponse:
        # The database refused a value (e.g. a NUL byte in text): the input's fault.
        return error_response(ApiError(
            ARGUMENT_INVALID,
            f"Invalid input: the database cannot store it ({first_line(exc.orig or exc)})"))

    @app.exception_handler(Exception)
    async def _unexpected(_r: Request, exc: Exception) -> JSONResponse:
        log.error("api.unhandled", exc_info=True, error=type(exc).__name__)
        return error_response(ApiError(UNKNOWN,
                                       "Server Error: the request could not be completed."))

    for module in (health, catalog, functions, deployments, variables, executions,
                   execution_actions, operator, events, proxy, platforms, schedules):
        app.include_router(module.router, prefix="/v1")
    app.include_router(probes.router)
    app.include_router(console.router)
    # Outermost last: CORS marks every answer, domains answer before the routes do.
    app.add_middleware(BodyLimit, limit=settings.max_request_bytes)
    app.add_middleware(Domains, ctx=ctx)
    app.add_middleware(Cors, ctx=ctx)
    return app


def app_from_env() -> FastAPI:
    """The app from ``TOCSIN_*`` settings: what each of ``tocsin api --workers N``'s
    processes serves."""
    from scheduler.config import get_settings

    return create_app(get_settings(), settle_heap=True)
