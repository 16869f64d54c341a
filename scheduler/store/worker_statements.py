"""The worker's fast path: claiming a run in one statement, and recording the outcomes
its recorder has pending in one statement, on a pool of plain psycopg connections (no
ORM, no ping before each checkout).

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
  (the reference path records it in the same transaction), and, for a failure, of a
  function with no retry policy (the reference path writes its retry or dead letter).
  It records several outcomes at once (``tasks.recorder`` batches them) and says which
  it recorded; it changes nothing for the others, and the caller records each of them
  through the reference path.
* Both statements reach the row by its ``ctid`` (the claim by the one its lookup found,
  the finish by the one its claim wrote), never by an index the planner may pick on
  stale statistics (a partial index of every running row, walked to find one id).
  A row changed meanwhile (the reaper, a cancel, a concurrent delivery) has another
  ``ctid``, so the statement changes nothing and the reference path decides.
* The fast refill is ``store.admission.refill`` for a project with no limited function
  (it declines the others, returning None): under the same advisory lock, taken by its
  own statement first so that the count after it sees every earlier refill, it hands
  over the oldest held runs the window has room for, if that is at least ``at_least``.
* A statement that fails with its connection raises; the caller falls back to the
  reference path, whose pool pings first and whose record retries through outages.
  Each statement runs alone (autocommit), so it committed whole or not at all.

PostgreSQL only: the embedded SQLite store always takes the reference path.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from functools import lru_cache
from typing import Any

from psycopg_pool import ConnectionPool

from scheduler.rules import lifecycle
from scheduler.store.admission import LOCK_SQL, lock_key
from scheduler.store.db import PG_KEEPALIVES
from scheduler.store.events import execution_event_names
from scheduler.store.executions import USER_JWT_HEADER

# What a run needs of its row and its function, and no more. They are read into plain
# slotted records, not ORM objects: instrumented attribute sets were a tenth of a run's
# CPU. Each record answers to the same attribute names as the ORM model (``Execution``,
# ``Function``), so the worker reads a claimed run the same way on either path.


@dataclass(frozen=True, slots=True)
class RunRow:
    """``RUN_COLUMNS`` of a claimed execution."""

    id: str
    project_id: str
    function_id: str
    schedule_id: str | None
    trigger: str
    sync: bool
    scheduled_for: datetime | None
    request_method: str
    request_path: str
    request_headers: Any
    request_body: str
    request_body_base64: bool


@dataclass(frozen=True, slots=True)
class RunFunction:
    """``FUNCTION_COLUMNS`` of a claimed execution's function."""

    project_id: str
    id: str
    name: str
    enabled: bool
    runtime: str
    url: str
    entrypoint: str
    runtime_specification: str
    timeout: int
    logging: bool
    scopes: Any
    max_concurrency: int | None
    updated_at: datetime
    deployment_id: str


RUN_COLUMNS = tuple(f.name for f in fields(RunRow))
FUNCTION_COLUMNS = tuple(f.name for f in fields(RunFunction))
_EXECUTION = RUN_COLUMNS
_FUNCTION = FUNCTION_COLUMNS

_CLAIM = f"""
WITH t AS (SELECT clock_timestamp() AS now),
f AS (
  SELECT e.ctid AS row_ctid, f.* FROM executions e
  JOIN functions f ON f.project_id = e.project_id AND f.id = e.function_id
  WHERE e.id = %(id)s
),
c AS (
  UPDATE executions e SET
    status = %(target)s, started_at = t.now, updated_at = t.now, attempts = e.attempts + 1,
    deployment_id = f.deployment_id,
    timeout = CASE WHEN e.sync THEN LEAST(f.timeout, %(sync_limit)s) ELSE f.timeout END,
    deadline_at = t.now + make_interval(secs => CASE WHEN e.sync
                    THEN LEAST(f.timeout, %(sync_limit)s) ELSE f.timeout END)
  FROM t, f
  WHERE e.ctid = f.row_ctid AND e.id = %(id)s AND e.status = %(source)s AND f.enabled
    AND json_array_length(f.scopes) = 0 AND f.max_concurrency IS NULL
    AND NOT (json_typeof(e.request_headers) = 'object'
             AND e.request_headers::jsonb ? '{USER_JWT_HEADER}')
  RETURNING e.*, e.ctid AS new_ctid
),
h AS MATERIALIZED (
  -- the oldest held run, in the order of ix_executions_unmarked, so that the planner
  -- takes that index (on stale statistics an EXISTS walked every waiting row instead)
  SELECT (SELECT u.id FROM executions u WHERE u.project_id = f.project_id
          AND u.status = 'waiting' AND u.enqueued_at IS NULL AND NOT u.sync
          ORDER BY u.created_at, u.id LIMIT 1) IS NOT NULL AS holding
  FROM f
)
SELECT {", ".join(f"c.{name} AS e_{name}" for name in _EXECUTION)}, c.new_ctid::text AS new_ctid,
       {", ".join(f"f.{name} AS f_{name}" for name in _FUNCTION)},
       (SELECT coalesce(json_object_agg(v.key, v.value), '{{}}'::json) FROM variables v
        WHERE v.project_id = f.project_id AND v.function_id = f.id) AS variables,
       h.holding,
       CASE WHEN h.holding THEN (SELECT count(*) FROM (
          SELECT 1 FROM executions q WHERE q.project_id = f.project_id
          AND q.status = 'waiting' AND q.enqueued_at IS NOT NULL AND NOT q.sync
          LIMIT %(window)s) w) ELSE 0 END AS queued
FROM c, f, h
"""

# One statement for every outcome the recorder has pending (``tasks.recorder``): one
# parameter, a JSON array of them, so a batch costs one round trip and one commit.
_FINISH = """
WITH t AS (SELECT clock_timestamp() AS now),
v AS (
  SELECT * FROM json_to_recordset(%(outcomes)s::json) AS v(
    ctid text, id text, source text, target text, code int, headers json, logs text,
    errors text, duration float8, names text)
)
UPDATE executions e SET
  status = v.target, response_status_code = v.code, response_headers = v.headers,
  logs = v.logs, errors = v.errors, duration = v.duration, finished_at = t.now,
  updated_at = t.now
FROM t, v
WHERE e.ctid = ANY (ARRAY(SELECT v.ctid::tid FROM v)) AND e.ctid = v.ctid::tid
  AND e.id = v.id AND e.status = v.source
  -- spelled so that no index matches (the one of schedules' runs has every other row
  -- under ``schedule_id IS NULL``): the rows are the ctids' alone
  AND coalesce(e.schedule_id, '') = ''
  AND (e.deadline_at IS NULL OR e.deadline_at >= t.now - make_interval(secs => %(margin)s))
  AND NOT EXISTS (SELECT 1 FROM event_subscriptions s WHERE s.project_id = e.project_id
                  AND s.pattern = ANY(string_to_array(v.names, ' ')))
  AND (v.target <> 'failed' OR NOT EXISTS (
        SELECT 1 FROM functions f WHERE f.project_id = e.project_id
        AND f.id = e.function_id AND f.retry IS NOT NULL))
RETURNING e.id
"""


# Generic plans only: a plan made for ``status = 'processing'`` may scan the partial
# index of every processing run to find one id (measured: 0.45 ms at 2,000 running,
# growing with them); planned without the value, the primary key is the only way in.
_OPTIONS = "-c TimeZone=UTC -c plan_cache_mode=force_generic_plan"


(_CLAIM_SOURCE,) = lifecycle.CLAIM.source_values  # one text, not an array: cheaper to send


@dataclass(frozen=True)
class FastClaim:
    execution: RunRow
    function: RunFunction
    variables: dict[str, str]
    holding: bool  # the project has runs held back by fair hand-over
    queued: int  # the project's runs in the broker (up to the window; 0 unless holding)
    ctid: str  # where the claimed row version is: the finish goes straight to it


@dataclass(frozen=True, slots=True)
class Finish:
    """An outcome for the fast finish: the run as claimed, its move, and the row's
    outcome columns (``response_status_code``, ``response_headers``, ``logs``,
    ``errors``, ``duration``)."""

    claimed: FastClaim
    move: lifecycle.Move
    fields: dict[str, Any]


def _outcome(finish: Finish) -> dict[str, Any]:
    """One element of ``_FINISH``'s array (its ``v`` columns)."""
    execution, fields = finish.claimed.execution, finish.fields
    (source,) = finish.move.source_values  # a finish moves from ``processing`` only
    return {"ctid": finish.claimed.ctid, "id": execution.id, "source": source,
            "target": finish.move.target.value, "code": fields["response_status_code"],
            "headers": fields["response_headers"], "logs": fields["logs"],
            "errors": fields["errors"], "duration": fields["duration"],
            "names": " ".join(update_event_names(execution.function_id, execution.id))}


class WorkerStatements:
    """One per worker process (a prefork child opens its own on first use): a
    connection each for the run's claim, the recorder's finish (``tasks.recorder``) and
    the bookkeeper's refill, which may all be under way at once."""

    def __init__(self, database_url: str, max_size: int = 3) -> None:
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
                  "source": _CLAIM_SOURCE,
                  "sync_limit": int(sync_limit), "window": window}
        with self.pool.connection() as conn, conn.cursor() as cur:
            cur.execute(_CLAIM, params, prepare=True)
            row = cur.fetchone()
        if row is None:
            return None
        # In _CLAIM's order: the row's columns, its ctid, the function's columns, then
        # variables, holding and queued (plain tuples: a dict per row costs more).
        ne, nf = len(_EXECUTION), len(_FUNCTION)
        variables, holding, queued = row[ne + 1 + nf:]
        return FastClaim(RunRow(*row[:ne]), RunFunction(*row[ne + 1:ne + 1 + nf]),
                         dict(variables or {}), bool(holding), int(queued), row[ne])

    def finish(self, finishes: Sequence[Finish], margin: float) -> set[str]:
        """Each outcome's move with its fields, in one statement; the ids recorded. The
        others are the reference path's to record (a schedule's run, a late outcome, a
        subscribed event, a failure to retry)."""
        if not finishes:
            return set()
        outcomes = json.dumps([_outcome(f) for f in finishes])
        with self.pool.connection() as conn, conn.cursor() as cur:
            cur.execute(_FINISH, {"outcomes": outcomes, "margin": margin}, prepare=True)
            return {row[0] for row in cur.fetchall()}

    def refill(self, project_id: str, window: int, at_least: int) -> list[str] | None:
        """The held runs handed over (marked), oldest first; None: the project has a
        limited function, whose rooms the reference refill counts."""
        params = {"p": project_id, "window": window, "at_least": max(1, at_least)}
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.execute(LOCK_SQL, (lock_key(project_id),), prepare=True)
            cur.execute(_REFILL, params, prepare=True)
            row = cur.fetchone()
        if row is None or row[0]:
            return None
        return list(row[1] or [])


_REFILL = """
WITH l AS (
  SELECT EXISTS (SELECT 1 FROM functions f WHERE f.project_id = %(p)s
                 AND f.max_concurrency IS NOT NULL) AS limited
),
q AS (
  SELECT %(window)s - count(*) AS room FROM (
    SELECT 1 FROM executions WHERE project_id = %(p)s AND status = 'waiting'
    AND enqueued_at IS NOT NULL AND NOT sync LIMIT %(window)s) w
),
pick AS (
  SELECT e.ctid AS row_ctid FROM executions e
  WHERE e.project_id = %(p)s AND e.status = 'waiting' AND e.enqueued_at IS NULL
    AND NOT e.sync
    AND NOT (SELECT limited FROM l) AND (SELECT room FROM q) >= %(at_least)s
  ORDER BY e.created_at, e.id
  LIMIT (SELECT room FROM q)
),
u AS (
  UPDATE executions e SET enqueued_at = clock_timestamp()
  WHERE e.ctid = ANY (ARRAY(SELECT row_ctid FROM pick))
    -- rechecked on a row changed meanwhile; spelled so no partial index matches (the
    -- planner, on stale statistics, walked one rather than take the tid scan)
    AND coalesce(e.status, '') = 'waiting' AND e.enqueued_at IS NULL
  RETURNING e.id, e.created_at
)
SELECT (SELECT limited FROM l), (SELECT array_agg(u.id ORDER BY u.created_at, u.id) FROM u)
"""


def update_event_names(function_id: str, execution_id: str) -> list[str]:
    """``execution_event_names(function_id, execution_id, "update")``, with the
    function's part worked out once per function rather than once per run."""
    if _PLACEHOLDER in function_id:
        return execution_event_names(function_id, execution_id, "update")
    return [name.replace(_PLACEHOLDER, execution_id) for name in _update_names(function_id)]


_PLACEHOLDER = "0execution0placeholder0"  # an id no execution has (ids are hex, 20 long)


@lru_cache(maxsize=1024)
def _update_names(function_id: str) -> tuple[str, ...]:
    return tuple(execution_event_names(function_id, _PLACEHOLDER, "update"))
