"""PostgreSQL's fast paths for the dispatch batch, in one place.

A batch writes thousands of rows; parameterised multi-row statements cost ~10x more
than ``COPY`` into a transaction-scoped staging table followed by one set-based
``INSERT ... SELECT`` or ``UPDATE ... FROM``. Callers check
``capabilities(session).bulk_copy`` first; SQLite takes the portable path in
``store.fires``. Runs inside the dispatcher's fenced transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, text
from sqlalchemy.orm import Session

from scheduler.faults import pause_point
from scheduler.store.models import Execution

ADVANCE_COLUMNS = ("id", "next_fire_at", "last_fire_at", "skipped", "last_skipped_at",
                   "overlap_skipped", "last_overlap_at")


def insert_fires(session: Session, rows: Sequence[dict[str, Any]]) -> list[str]:
    """Insert execution rows, ignoring a (schedule, nominal time) already written;
    returns the ids actually inserted."""
    table = Execution.__table__
    columns = [c.name for c in table.columns]
    pick = itemgetter(*columns)
    json_at = [i for i, c in enumerate(table.columns) if isinstance(c.type, JSON)]

    def as_copy_row(row: dict[str, Any]) -> list[Any]:
        values = list(pick(row))
        for i in json_at:
            values[i] = json.dumps(values[i])
        return values

    copy_rows(session, "tocsin_fires", "LIKE executions INCLUDING DEFAULTS", columns,
              map(as_copy_row, rows))
    return list(session.execute(text(
        "INSERT INTO executions SELECT * FROM tocsin_fires "
        "ON CONFLICT (schedule_id, scheduled_for) DO NOTHING RETURNING id")).scalars())


def advance_schedules(session: Session, rows: Iterable[Sequence[Any]], now: datetime) -> None:
    """Move schedules to their next fire; ``rows`` are ``ADVANCE_COLUMNS`` tuples."""
    copy_rows(session, "tocsin_advances",
              "id text, next_fire_at timestamptz, last_fire_at timestamptz, skipped bigint, "
              "last_skipped_at timestamptz, overlap_skipped bigint, "
              "last_overlap_at timestamptz", ADVANCE_COLUMNS, rows)
    session.execute(text(
        "UPDATE schedules s SET next_fire_at = a.next_fire_at, "
        "last_fire_at = coalesce(a.last_fire_at, s.last_fire_at), "
        "skipped_missed = s.skipped_missed + a.skipped, "
        "last_skipped_at = coalesce(a.last_overlap_at, a.last_skipped_at, s.last_skipped_at), "
        "last_missed_at = coalesce(a.last_skipped_at, s.last_missed_at), "
        "skipped_overlap = s.skipped_overlap + a.overlap_skipped, "
        "last_overlap_at = coalesce(a.last_overlap_at, s.last_overlap_at), "
        "last_skip_reason = CASE WHEN a.overlap_skipped > 0 THEN 'overlap' "
        "WHEN a.skipped > 0 THEN 'missed' ELSE s.last_skip_reason END, updated_at = :now "
        "FROM tocsin_advances a WHERE s.id = a.id"), {"now": now})


def copy_rows(session: Session, name: str, shape: str, columns: Sequence[str],
              rows: Iterable[Sequence[Any]]) -> None:
    """COPY rows into a temp table emptied at commit."""
    session.execute(text(
        f"CREATE TEMP TABLE IF NOT EXISTS {name} ({shape}) ON COMMIT DELETE ROWS"))
    raw = session.connection().connection.driver_connection
    assert raw is not None, "a live session has a driver connection"
    with raw.cursor() as cur, cur.copy(
            f"COPY {name} ({', '.join(columns)}) FROM STDIN") as copy:
        for i, row in enumerate(rows):
            copy.write_row(row)
            if i == 0:  # the server is in COPY IN now, waiting for our data
                pause_point(f"dispatch.copy.{name}")
