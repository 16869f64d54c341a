"""The API's fast paths for creating and reading executions: one statement each.

Invariants (as ``enqueue.create``'s, which stays the reference):
* A row is written only for an existing function of the caller's project, and a
  ``scheduledAt`` only when it is more than 60 s ahead by the database clock.
* When a function of the project subscribes to the execution's ``create`` event, the
  fast path writes nothing and the caller takes the reference path, which records the
  event in the same transaction: events are never lost to speed.
* An immediate execution is marked handed over (``enqueued_at``) in the statement
  that writes it; a failed publish takes the mark back (``unmark``), as ``hand_over``
  does. A one-shot wakes the leader (``pg_notify``) in the same statement.

PostgreSQL only (the embedded SQLite store takes the reference path).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from scheduler.scopes import canonical
from scheduler.store.projects import EXECUTION_KEY_PREFIX, KeyView, hash_key
from scheduler.store.schedules import WAKEUP_CHANNEL

_INSERT = f"""
WITH ins AS (
  INSERT INTO executions (
    id, project_id, function_id, trigger, status, sync, request_method, request_path,
    request_headers, request_body, request_body_base64, response_status_code,
    response_headers, logs, errors, duration, attempts, depth, scheduled_at, enqueued_at,
    created_at, updated_at)
  SELECT %(id)s, f.project_id, f.id, %(trigger)s, %(status)s, %(sync)s, %(method)s,
    %(path)s,
    %(headers)s::json, %(body)s, false, 0, '[]'::json, '', '', 0, 0, 0,
    %(scheduled_at)s::timestamptz,
    CASE WHEN %(scheduled_at)s::timestamptz IS NULL THEN clock_timestamp() END,
    clock_timestamp(), clock_timestamp()
  FROM functions f
  WHERE f.project_id = %(project)s AND f.id = %(function)s
    AND (%(scheduled_at)s::timestamptz IS NULL
         OR %(scheduled_at)s::timestamptz > clock_timestamp() + interval '60 seconds')
    AND NOT EXISTS (SELECT 1 FROM event_subscriptions s
                    WHERE s.project_id = %(project)s AND s.pattern = ANY(%(names)s::text[]))
  RETURNING created_at, updated_at, enqueued_at, scheduled_at
)
SELECT ins.created_at, ins.updated_at, ins.enqueued_at,
       CASE WHEN ins.scheduled_at IS NOT NULL
            THEN pg_notify('{WAKEUP_CHANNEL}', '') END AS woke
FROM ins
"""
# The row by its primary key first (MATERIALIZED): the planner must not choose the
# listing index and filter a function's executions by id, as it does on fresh stats.
_GET = """
WITH e AS MATERIALIZED (SELECT * FROM executions WHERE id = %(id)s)
SELECT e.*, f.timeout AS function_timeout, clock_timestamp() AS database_now
FROM e JOIN functions f ON f.project_id = e.project_id AND f.id = e.function_id
WHERE e.project_id = %(project)s AND e.function_id = %(function)s
"""
_UNMARK = "UPDATE executions SET enqueued_at = NULL WHERE id = %(id)s AND status = 'waiting'"
_KEY = """
SELECT EXISTS (SELECT 1 FROM projects WHERE id = %(project)s) AS project_exists,
       k.project_id, k.scopes, k.expires_at, k.name
FROM (SELECT 1) AS one
LEFT JOIN api_keys k ON k.secret_hash = %(digest)s
"""


class FastStore:
    def __init__(self, database_url: str, max_size: int = 20) -> None:
        conninfo = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
        self.pool = AsyncConnectionPool(conninfo, min_size=2, max_size=max_size, open=False,
                                        kwargs={"autocommit": True})

    async def open(self) -> None:
        await self.pool.open()

    async def close(self) -> None:
        await self.pool.close()

    async def create(self, row: dict[str, Any], names: list[str]) -> dict[str, datetime] | None:
        """Write the execution; its database times, or None when the reference path
        must decide (no such function, a one-shot too soon, a subscribed event)."""
        params = {**row, "headers": json.dumps(row["headers"]), "names": names}
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(_INSERT, params, prepare=True)
            return await cur.fetchone()

    async def key(self, project_id: str, secret: str) -> tuple[bool, KeyView | None]:
        """As ``projects.project_exists`` and ``projects.find_key``, in one statement."""
        digest = hash_key(secret)
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(_KEY, {"project": project_id, "digest": digest}, prepare=True)
            got = await cur.fetchone()
        assert got is not None
        if got["project_id"] is None:
            return bool(got["project_exists"]), None
        return bool(got["project_exists"]), KeyView(
            got["project_id"], canonical(got["scopes"]), got["expires_at"],
            ephemeral=got["name"].startswith(EXECUTION_KEY_PREFIX))

    async def get(self, project_id: str, function_id: str, execution_id: str
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

    async def unmark(self, execution_id: str) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(_UNMARK, {"id": execution_id})
