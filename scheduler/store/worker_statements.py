"""The worker's fast path: claiming a run and recording its outcome, one statement each,
on a pool of plain psycopg connections (no ORM, no ping before each checkout).

Invariants (``store.executions``' ``claim`` and ``finish`` stay the reference, and
``tests/integration/test_worker_paths.py`` holds the two to the same rows and events):
* A run starts only by moving its row ``waiting -> processing`` (``lifecycle.CLAIM``)
  in one statement, which also records the timeout it runs under and its deadline,
  and returns everything the run needs: the row, its function and its variables.
* The fast claim takes only the common case: an enabled function with no scopes (so no
  run key to write) and no ``maxConcurrency`` (whose claim counts under a lock), and a
  request without a user's token (which the claim strips). It also says whether the
  project has runs held back by fair hand-over, and how many it has in the broker.
  For anything else it changes nothing and returns None: the caller takes the
  reference path, which decides (and finds nothing to claim if another delivery got
  there first).
* The fast finish records an outcome only for a run of no schedule (the reference path
  locks the schedule and releases a held fire), on time (before its deadline plus the
  reaper's margin), whose ``update`` event no function of the project subscribes to
  (the reference path records it in the same transaction). Otherwise it changes
  nothing and returns False; the caller records through the reference path.
* A statement that fails with its connection raises; the caller falls back to the
  reference path, whose pool pings first and whose record retries through outages.
  Each statement runs alone (autocommit), so it committed whole or not at all.

PostgreSQL only: the embedded SQLite store always takes the reference path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from scheduler.rules import lifecycle
from scheduler.store.db import PG_KEEPALIVES
from scheduler.store.events import execution_event_names
from scheduler.store.executions import USER_JWT_HEADER
from scheduler.store.models import Execution, Function

# What a run needs of its row and its function, and no more: each column read is one
# more attribute set on an ORM object per run (all of them were a tenth of a run's CPU).
RUN_COLUMNS = ("id", "project_id", "function_id", "schedule_id", "trigger", "sync",
               "scheduled_for", "request_method", "request_path", "request_headers",
               "request_body", "request_body_base64")
FUNCTION_COLUMNS = ("project_id", "id", "name", "enabled", "runtime", "url", "entrypoint",
                    "runtime_specification", "timeout", "logging", "scopes", "max_concurrency",
                    "updated_at")
_EXECUTION = RUN_COLUMNS
_FUNCTION = FUNCTION_COLUMNS

_CLAIM = f"""
WITH t AS (SELECT clock_timestamp() AS now),
f AS (
  SELECT f.* FROM executions e
  JOIN functions f ON f.project_id = e.project_id AND f.id = e.function_id
  WHERE e.id = %(id)s
),
c AS (
  UPDATE executions e SET
    status = %(target)s, started_at = t.now, updated_at = t.now, attempts = e.attempts + 1,
    timeout = CASE WHEN e.sync THEN LEAST(f.timeout, %(sync_limit)s) ELSE f.timeout END,
    deadline_at = t.now + make_interval(secs => CASE WHEN e.sync
                    THEN LEAST(f.timeout, %(sync_limit)s) ELSE f.timeout END)
  FROM t, f
  WHERE e.id = %(id)s AND e.status = ANY(%(source)s) AND f.enabled
    AND json_array_length(f.scopes) = 0 AND f.max_concurrency IS NULL
    AND NOT (json_typeof(e.request_headers) = 'object'
             AND e.request_headers::jsonb ? '{USER_JWT_HEADER}')
  RETURNING e.*
)
SELECT {", ".join(f"c.{name} AS e_{name}" for name in _EXECUTION)},
       {", ".join(f"f.{name} AS f_{name}" for name in _FUNCTION)},
       (SELECT coalesce(json_object_agg(v.key, v.value), '{{}}'::json) FROM variables v
        WHERE v.project_id = f.project_id AND v.function_id = f.id) AS variables,
       EXISTS (SELECT 1 FROM executions u WHERE u.project_id = f.project_id
               AND u.status = 'waiting' AND u.enqueued_at IS NULL AND NOT u.sync) AS holding,
       (SELECT count(*) FROM (SELECT 1 FROM executions q WHERE q.project_id = f.project_id
          AND q.status = 'waiting' AND q.enqueued_at IS NOT NULL AND NOT q.sync
          LIMIT %(window)s) w) AS queued
FROM c, f
"""

_FINISH = """
WITH t AS (SELECT clock_timestamp() AS now)
UPDATE executions e SET
  status = %(target)s, response_status_code = %(response_status_code)s,
  response_headers = %(response_headers)s::json, logs = %(logs)s, errors = %(errors)s,
  duration = %(duration)s, finished_at = t.now, updated_at = t.now
FROM t
WHERE e.id = %(id)s AND e.status = ANY(%(source)s) AND e.schedule_id IS NULL
  AND (e.deadline_at IS NULL OR e.deadline_at >= t.now - make_interval(secs => %(margin)s))
  AND NOT EXISTS (SELECT 1 FROM event_subscriptions s
                  WHERE s.project_id = e.project_id AND s.pattern = ANY(%(names)s::text[]))
RETURNING e.id
"""


# Generic plans only: a plan made for ``status = 'processing'`` may scan the partial
# index of every processing run to find one id (measured: 0.45 ms at 2,000 running,
# growing with them); planned without the value, the primary key is the only way in.
_OPTIONS = "-c TimeZone=UTC -c plan_cache_mode=force_generic_plan"


@dataclass(frozen=True)
class FastClaim:
    # Not attached to any session, and holding only ``RUN_COLUMNS`` and
    # ``FUNCTION_COLUMNS`` (the worker reads nothing else of a claimed run).
    execution: Execution
    function: Function
    variables: dict[str, str]
    holding: bool  # the project has runs held back by fair hand-over
    queued: int  # the project's runs in the broker (up to the window), this one included


class WorkerStatements:
    """One per worker process (a prefork child opens its own on first use)."""

    def __init__(self, database_url: str, max_size: int = 2) -> None:
        conninfo = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
        self.pool = ConnectionPool(
            conninfo, min_size=1, max_size=max_size, open=True,
            kwargs={"autocommit": True, "options": _OPTIONS, **PG_KEEPALIVES})

    def close(self) -> None:
        self.pool.close()

    def claim(self, execution_id: str, sync_limit: float, window: int) -> FastClaim | None:
        """``lifecycle.CLAIM`` in one statement; None: not the common case, or nothing
        to claim (the reference path decides which)."""
        params = {"id": execution_id, "target": lifecycle.CLAIM.target.value,
                  "source": list(lifecycle.CLAIM.source_values),
                  "sync_limit": int(sync_limit), "window": window}
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(_CLAIM, params, prepare=True)
            row = cur.fetchone()
        if row is None:
            return None
        return FastClaim(
            Execution(**{name: row[f"e_{name}"] for name in _EXECUTION}),
            Function(**{name: row[f"f_{name}"] for name in _FUNCTION}),
            dict(row["variables"] or {}), bool(row["holding"]), int(row["queued"]))

    def finish(self, execution: Execution, move: lifecycle.Move, fields: dict[str, Any],
               margin: float) -> bool:
        """``move`` with the outcome's ``fields``; False when the reference path must
        record it (a schedule's run, a late outcome, a subscribed event)."""
        params = {**fields, "id": execution.id, "target": move.target.value,
                  "source": list(move.source_values), "margin": margin,
                  "response_headers": json.dumps(fields.get("response_headers", [])),
                  "names": execution_event_names(execution.function_id, execution.id,
                                                 "update")}
        with self.pool.connection() as conn, conn.cursor() as cur:
            cur.execute(_FINISH, params, prepare=True)
            return cur.fetchone() is not None

