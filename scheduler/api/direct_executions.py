"""The API's fast paths: creating an execution (asynchronous or synchronous) and
reading one.

For the common case (an API key with the scope, valid input, a function of the
project with no subscriber to its executions' ``create`` event) the row is written in
one asynchronous statement and handed to Redis on the event loop; a read is one
statement too: no thread, no ORM, one database round trip. A synchronous run waits
on the event loop as on the reference path, and its finished row is read the same
way; a list is one text statement for its page (``store.lists_pg``) after one for its
function and clock.
Anything else returns None and the route takes its reference path
(``routes.executions``), which gives every error its exact answer by the database
clock. PostgreSQL and Redis only; see
``store.execution_statements`` for the invariants both paths share.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from fastapi import Request

from scheduler.api import validate
from scheduler.api.auth import Caller, caller_headers, client_ip
from scheduler.api.context import Context
from scheduler.api.schemas import ExecutionCreate
from scheduler.broker.publish import AsyncRedisPublisher
from scheduler.config import Settings
from scheduler.logs import first_line, get_logger
from scheduler.rules.errors import TocsinError
from scheduler.rules.lifecycle import new_execution
from scheduler.rules.listquery import ListQuery
from scheduler.rules.states import Trigger
from scheduler.store.db import make_async_engine, make_async_sessionmaker
from scheduler.store.documents import execution_json
from scheduler.store.events import execution_event_names
from scheduler.store.execution_statements import FastStore
from scheduler.store.models import Execution
from scheduler.store.overdue import Overdue

log = get_logger(__name__)
T = TypeVar("T")


class FastPath:
    def __init__(self, settings: Settings) -> None:
        self.store = FastStore(settings.database_url, window=settings.project_window)
        self.publisher = AsyncRedisPublisher(settings.broker_url)
        self.read_engine = make_async_engine(settings.database_url)
        self.reads = make_async_sessionmaker(self.read_engine)

    @staticmethod
    def usable(settings: Settings) -> bool:
        return (not settings.is_sqlite
                and settings.broker_url.startswith(("redis://", "rediss://")))

    async def open(self) -> None:
        await self.store.open()

    async def close(self) -> None:
        await self.store.close()
        await self.publisher.close()
        await self.read_engine.dispose()

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        """``work(session, *args)``, a store-layer function written for a sync Session,
        in one transaction on the event loop (no thread hop, no thread-pool queue)."""
        async with self.reads() as session, session.begin():
            return await session.run_sync(work, *args)

    async def key_caller(self, request: Request, ctx: Context, scope: str
                         ) -> Caller | None:
        project = request.headers.get("x-appwrite-project", "")
        secret = request.headers.get("x-appwrite-key", "")
        if not project or not secret:
            return None
        known = ctx.keys.get(project, secret)
        if known is None:
            known = await self.store.key(project, secret)
            if known is None:  # the database dropped the connection: the reference path
                return None
            ctx.keys.put(project, secret, *known)
        exists, key = known
        # A run's own key: what it causes carries the run (``causes``), which the
        # reference path reads; never on this path.
        if (not exists or key is None or key.ephemeral or key.project_id != project
                or scope not in key.scopes
                or (key.expires_at is not None and key.expires_at <= datetime.now(UTC))):
            return None
        ctx.hosts.learn(request.headers.get("host", ""))  # a real API call came in on it
        return Caller(project, key.scopes, "applications")

    async def create(self, function_id: str, request: Request, payload: ExecutionCreate,
                     ctx: Context, execution_id: str) -> dict[str, Any] | None:
        """An asynchronous execution's document, or None: the reference path answers."""
        created = await self.insert(function_id, request, payload, ctx, execution_id)
        return None if created is None else execution_json(created)

    async def insert(self, function_id: str, request: Request, payload: ExecutionCreate,
                     ctx: Context, execution_id: str) -> Execution | None:
        """Write and hand over the execution (asynchronous, scheduled or synchronous);
        None when the reference path must decide, which it does under the same
        ``execution_id`` (a write this path began may still commit)."""
        caller = await self.key_caller(request, ctx, "executions.write")
        if caller is None:
            return None
        try:
            validate.uid("functionId", function_id)
            wanted = validate.execution(payload.body, payload.async_, payload.path,
                                      payload.method, payload.headers, payload.scheduledAt,
                                      datetime.now(UTC))
        except TocsinError:
            return None  # the reference path answers, judging scheduledAt by the db clock
        sync = not wanted.asynchronous
        row = new_execution(
            id=execution_id, project_id=caller.project_id, function_id=function_id,
            trigger=Trigger.HTTP, now=datetime.now(UTC), scheduled_at=wanted.scheduled_at,
            sync=sync, method=wanted.method, path=wanted.path, body=wanted.body,
            headers={**wanted.headers, **caller_headers(caller, client_ip(request))})
        written = await self.store.create(
            row, execution_event_names(function_id, row["id"], "create"))
        if written is None:
            return None
        if sync:
            ctx.results.expect(row["id"])
        if written["enqueued_at"] is not None:  # else held back: fair hand-over sends it
            try:
                await self.publisher.publish([row["id"]], sync=sync)
            except Exception as exc:  # the row stands; the relay republishes it
                log.warning("publish.failed", execution_id=row["id"], error=first_line(exc))
                await self.store.unmark(row["id"])
        times = {name: written[name] for name in ("created_at", "updated_at", "enqueued_at")}
        return Execution(**{**row, **times})

    async def reread(self, execution: Execution) -> Execution | None:
        """The row as it is now (a synchronous run's, once it has finished)."""
        found = await self.store.get(execution.project_id, execution.function_id,
                                     execution.id)
        return None if found is None else Execution(**found[0])

    async def list(self, caller: Caller, function_id: str, query: ListQuery, with_total: bool,
                   ctx: Context) -> bytes | None:
        """A page of executions for an API key (``caller``), as the response's body; or
        None: the reference path answers."""
        return await self.store.list(caller.project_id, function_id, query, with_total,
                                     ctx.settings.reap_margin)

    async def get(self, function_id: str, execution_id: str, request: Request,
                  ctx: Context) -> dict[str, Any] | None:
        caller = await self.key_caller(request, ctx, "executions.read")
        if caller is None:
            return None
        try:
            validate.uid("functionId", function_id)
            validate.uid("executionId", execution_id)
        except TocsinError:
            return None
        found = await self.store.get(caller.project_id, function_id, execution_id)
        if found is None:
            return None  # the reference path says which of the two is missing
        columns, function_timeout, now = found
        execution = Execution(**columns)
        overdue = Overdue(now, ctx.settings.reap_margin, function_timeout)
        return execution_json(execution, reported=overdue.reported(execution))
