"""The API's fast paths for creating and reading executions: one statement each.

Invariants (as ``enqueue.create``'s, which stays the reference):
* A row is written only for an existing function of the caller's project, and a
  ``scheduledAt`` only when it is more than ``lifecycle.SCHEDULED_AT_LEAD`` ahead by
  the database clock; its columns are ``lifecycle.new_execution``'s, as on the
  reference path (``tests/integration/test_direct_executions.py`` compares the rows).
* When a function of the project subscribes to the execution's ``create`` event, the
  fast path writes nothing and the caller takes the reference path, which records the
  event in the same transaction: events are never lost to speed.
* An immediate execution is marked handed over (``enqueued_at``) in the statement
  that writes it; a failed publish takes the mark back (``unmark``), as ``hand_over``
  does. A one-shot wakes the leader (``pg_notify``) in the same statement.
* A statement that fails with its connection (PostgreSQL restarted, a backend
  terminated) is never a 500 for what can be known: a read answers None (the route's
  reference path, whose pool pings first, answers), and a create asks a new connection
  whether its row, by its own id, was written. Not written yet (it may still be: a
  statement the server has not finished, blocked on a lock), the reference path writes
  it **under the same id**, so the primary key lets one of the two commit, never both.
* No free connection within ``POOL_WAIT`` seconds is overload: ``Overloaded`` (503),
  never a new connection opened beside the pool (that would exhaust
  ``max_connections`` and starve the leader's lease renewals).

PostgreSQL only (the embedded SQLite store takes the reference path).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable
from datetime import datetime
from typing import Any, TypeVar

import psycopg
from psycopg.rows import dict_row, tuple_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from sqlalchemy import JSON
from sqlalchemy.dialects import postgresql

from scheduler.logs import first_line, get_logger
from scheduler.rules.admission import DEFAULT_WINDOW
from scheduler.rules.errors import Overloaded
from scheduler.rules.lifecycle import SCHEDULED_AT_LEAD_SQL, ExecutionRow
from scheduler.rules.listquery import ListQuery
from scheduler.rules.scopes import canonical
from scheduler.store import lists_pg
from scheduler.store.db import PG_KEEPALIVES
from scheduler.store.documents_pg import execution_document
from scheduler.store.models import Execution
from scheduler.store.overdue import EXECUTION_NAMES, Overdue
from scheduler.store.projects import KeyView, hash_key
from scheduler.store.schedules import WAKEUP_CHANNEL

log = get_logger(__name__)
T = TypeVar("T")


# ``admission.admit_new`` as text (no lock: the window is a bound of about ``window``;
# a limited function, whose limit is exact, takes the reference path): no older held
# run of the project, and room in its window.
_ADMITTED = """(NOT EXISTS (SELECT 1 FROM executions u WHERE u.project_id = %(project_id)s
    AND u.status = 'waiting' AND u.enqueued_at IS NULL AND NOT u.sync)
  AND (SELECT count(*) FROM (SELECT 1 FROM executions q WHERE q.project_id = %(project_id)s
    AND q.status = 'waiting' AND q.enqueued_at IS NOT NULL AND NOT q.sync
    LIMIT %(window)s) w) < %(window)s)"""


def _insert_statement() -> str:
    """The create statement, written from ``lifecycle.ExecutionRow`` (every column of a
    new row, as the reference path writes them) and the table's own column types: each
    value is a typed parameter, except the times, which are the database clock's."""
    table = Execution.__table__
    clock = {"created_at": "clock_timestamp()", "updated_at": "clock_timestamp()",
             # marked handed over only when it is not waiting for a time, and (an
             # asynchronous one) only when fair hand-over lets it go now
             "enqueued_at": f"CASE WHEN %(enqueued_at)s::timestamptz IS NOT NULL AND "
                            f"(%(sync)s OR {_ADMITTED}) THEN clock_timestamp() END"}
    names = list(ExecutionRow.__annotations__)
    values = [clock.get(name) or
              f"CAST(%({name})s AS {table.columns[name].type.compile(_PG)})"
              for name in names]
    return f"""
WITH ins AS (
  INSERT INTO executions ({", ".join(names)})
  SELECT {", ".join(values)}
  FROM functions f
  WHERE f.project_id = %(project_id)s AND f.id = %(function_id)s
    AND f.max_concurrency IS NULL
    AND (%(scheduled_at)s::timestamptz IS NULL
         OR %(scheduled_at)s::timestamptz > clock_timestamp() + {SCHEDULED_AT_LEAD_SQL})
    AND NOT EXISTS (SELECT 1 FROM event_subscriptions s
                    WHERE s.project_id = %(project_id)s AND s.pattern = ANY(%(names)s::text[]))
  RETURNING created_at, updated_at, enqueued_at, scheduled_at
)
SELECT ins.created_at, ins.updated_at, ins.enqueued_at,
       CASE WHEN ins.scheduled_at IS NOT NULL
            THEN pg_notify('{WAKEUP_CHANNEL}', '') END AS woke
FROM ins
"""


_PG = postgresql.dialect()
_INSERT = _insert_statement()
_JSON = [name for name in ExecutionRow.__annotations__
         if isinstance(Execution.__table__.columns[name].type, JSON)]
# The row by its primary key first (MATERIALIZED): the planner must not choose the
# listing index and filter a function's executions by id, as it does on fresh stats.
_GET = """
WITH e AS MATERIALIZED (SELECT * FROM executions WHERE id = %(id)s)
SELECT e.*, f.timeout AS function_timeout, clock_timestamp() AS database_now
FROM e JOIN functions f ON f.project_id = e.project_id AND f.id = e.function_id
WHERE e.project_id = %(project)s AND e.function_id = %(function)s
"""
# A list's first statement: the function (its timeout judges overdue runs), the
# database clock, and the cursor's row (its orderable columns) when there is one.
_LIST_CONTEXT = f"""
SELECT f.timeout AS function_timeout, clock_timestamp() AS database_now,
       {", ".join(f"a.{c}" for c in EXECUTION_NAMES.values())}
FROM functions f
LEFT JOIN executions a
  ON a.id = %(cursor)s AND a.project_id = f.project_id AND a.function_id = f.id
WHERE f.project_id = %(project)s AND f.id = %(function)s
"""
_LISTING = lists_pg.Listing(table="executions", orderable=EXECUTION_NAMES)
_UNMARK = "UPDATE executions SET enqueued_at = NULL WHERE id = %(id)s AND status = 'waiting'"
_KEY = """
SELECT EXISTS (SELECT 1 FROM projects WHERE id = %(project)s) AS project_exists,
       k.project_id, k.scopes, k.expires_at, k.name
FROM (SELECT 1) AS one
LEFT JOIN api_keys k ON k.secret_hash = %(digest)s
"""


POOL_WAIT = 5.0  # seconds a request waits for a free connection before 503


class FastStore:
    def __init__(self, database_url: str, max_size: int = 20,
                 pool_wait: float = POOL_WAIT, window: int = DEFAULT_WINDOW) -> None:
        self.window = window
        self.conninfo = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
        self.pool = AsyncConnectionPool(self.conninfo, min_size=min(2, max_size),
                                        max_size=max_size, open=False,
                                        timeout=pool_wait,
                                        kwargs={"autocommit": True, **PG_KEEPALIVES})

    async def open(self) -> None:
        await self.pool.open()

    async def close(self) -> None:
        await self.pool.close()

    async def create(self, row: ExecutionRow, names: list[str]) -> dict[str, datetime] | None:
        """Write the execution (``row``: ``lifecycle.new_execution``'s; its times are
        replaced by the database clock's); its database times, or None when the
        reference path must decide (no such function, a one-shot too soon, a
        subscribed event)."""
        params: dict[str, Any] = {**row, "names": names, "window": self.window}
        for name in _JSON:
            params[name] = json.dumps(params[name])
        try:
            async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(_INSERT, params, prepare=True)
                return await cur.fetchone()
        except PoolTimeout:  # an OperationalError too, but nothing was sent: overload
            log.warning("fastpath.pool_exhausted", execution_id=row["id"])
            raise Overloaded() from None
        except psycopg.OperationalError as exc:
            # The statement failed or its connection died (a restart, a terminated
            # backend). It ran alone (autocommit), so it committed whole or not at all,
            # and the server has finished with it: the row's own id says which.
            log.warning("fastpath.create_interrupted", execution_id=row["id"],
                        error=first_line(exc))
            return await self._written(row["id"])

    async def _written(self, execution_id: str) -> dict[str, datetime] | None:
        """The times of a row this process wrote, read on a new connection (the pool's
        others may be as dead as the one that failed); None if it was never written."""
        async with await psycopg.AsyncConnection.connect(
                self.conninfo, autocommit=True, **PG_KEEPALIVES) as conn,\
                conn.cursor(row_factory=dict_row) as cur:
            await cur.execute("SELECT created_at, updated_at, enqueued_at FROM executions"
                              " WHERE id = %(id)s", {"id": execution_id})
            return await cur.fetchone()

    async def key(self, project_id: str, secret: str
                  ) -> tuple[bool, KeyView | None] | None:
        """``_key``, or None on a dropped connection (see ``_guarded``)."""
        return await _guarded(self._key(project_id, secret))

    async def get(self, project_id: str, function_id: str, execution_id: str
                  ) -> tuple[dict[str, Any], int, datetime] | None:
        """``_get``; None also on a dropped connection (see ``_guarded``)."""
        return await _guarded(self._get(project_id, function_id, execution_id))

    async def list(self, project_id: str, function_id: str, query: ListQuery, with_total: bool,
                   margin: float) -> bytes | None:
        """``_list``; None also on a dropped connection (see ``_guarded``)."""
        return await _guarded(self._list(project_id, function_id, query, with_total, margin))

    async def _key(self, project_id: str, secret: str) -> tuple[bool, KeyView | None]:
        """As ``projects.project_exists`` and ``projects.find_key``, in one statement."""
        digest = hash_key(secret)
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(_KEY, {"project": project_id, "digest": digest}, prepare=True)
            got = await cur.fetchone()
        assert got is not None
        if got["project_id"] is None:
            return bool(got["project_exists"]), None
        run = KeyView.run_of(got["name"])
        return bool(got["project_exists"]), KeyView(
            got["project_id"], canonical(got["scopes"]), got["expires_at"],
            ephemeral=run is not None, execution_id=run)

    async def _get(self, project_id: str, function_id: str, execution_id: str
                   ) -> tuple[dict[str, Any], int, datetime] | None:
        """The execution's columns, its function's timeout and the database clock."""
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(_GET, {"project": project_id, "function": function_id,
                                     "id": execution_id}, prepare=True)
            row = await cur.fetchone()
        if row is None:
            return None
        timeout, now = row.pop("function_timeout"), row.pop("database_now")
        return row, int(timeout), now

    async def _list(self, project_id: str, function_id: str, query: ListQuery,
                    with_total: bool, margin: float) -> bytes | None:
        """The list's response body (``{"total", "executions"}``), its page selected as
        ``lists.list_rows`` selects it and each document built by PostgreSQL
        (``store.documents_pg``); None when the reference path must answer (no such
        function, a cursor that names no run of it)."""
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(_LIST_CONTEXT, {"project": project_id, "function": function_id,
                                              "cursor": query.cursor and query.cursor[1]},
                              prepare=True)
            context = await cur.fetchone()
            if context is None or (query.cursor is not None and context["id"] is None):
                return None
            overdue = Overdue(context["database_now"], margin,
                              int(context["function_timeout"]))
            filterable = overdue.sql_columns()
            where = [lists_pg.Sql("project_id = %s", (project_id,)),
                     lists_pg.Sql("function_id = %s", (function_id,))]
            document = execution_document(*overdue.reported_sql())
            statement, reverse = lists_pg.page(_LISTING, document, filterable, where, query,
                                              with_total, context)
            async with conn.cursor(row_factory=tuple_row) as pages:
                await pages.execute(statement.text, statement.params)
                rows = await pages.fetchall()
            total = 0
            if rows and with_total:
                total = int(rows[0][1])
            elif with_total:  # an empty page carries no count: ask for it alone
                alone = lists_pg.counted(_LISTING, filterable, where, query)
                await cur.execute(alone.text, alone.params)
                got = await cur.fetchone()
                assert got is not None
                total = int(got["count"])
        documents = [row[0] for row in rows]
        if reverse:
            documents.reverse()
        return f'{{"total":{total},"executions":[{",".join(documents)}]}}'.encode()

    async def unmark(self, execution_id: str) -> None:
        """Take back the hand-over mark after a failed publish. Best effort: the row is
        committed either way, and a row still marked is republished by the relay's
        requeue (``TOCSIN_REQUEUE_AFTER``) once the broker is found not to hold it."""
        try:
            async with self.pool.connection() as conn:
                await conn.execute(_UNMARK, {"id": execution_id})
        except Exception as exc:  # never a 500 for a row that stands
            log.warning("publish.unmark_failed", execution_id=execution_id,
                        error=first_line(exc))


async def _guarded(read: Awaitable[T]) -> T | None:
    """A read on a connection PostgreSQL has dropped (a restart, a terminated backend)
    answers None, so the route's reference path (whose pool pings before use) answers
    instead of a 500; the pool discards the dead connection. Reads only: a create
    that fails this way is not retried, since it may have committed."""
    try:
        return await read
    except PoolTimeout:
        raise Overloaded() from None
    except psycopg.OperationalError as exc:
        log.warning("fastpath.read_failed", error=first_line(exc))
        return None
