"""What the database can do, decided once per dialect (as APScheduler 4's SQL store does).

PostgreSQL is production: row locks with ``SKIP LOCKED``, ``COPY``, ``LISTEN/NOTIFY``,
session timeouts and its own clock. SQLite is the embedded default: one writer at a
time, so none of those are needed. Store code asks ``capabilities(session)`` instead
of comparing dialect names; the PostgreSQL-only statements live in ``store.bulkcopy``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Capabilities:
    name: str
    # FOR UPDATE SKIP LOCKED, MATERIALIZED CTEs, pg_terminate_backend: many writers.
    row_locks: bool
    # COPY into temp staging tables, then set-based INSERT/UPDATE ... FROM.
    bulk_copy: bool
    # LISTEN/NOTIFY wake-ups between processes.
    notify: bool
    # statement/lock/idle-in-transaction timeouts bound every transaction.
    session_timeouts: bool
    # clock_timestamp(): one clock for every node (else the local clock: one process).
    server_clock: bool


POSTGRESQL = Capabilities("postgresql", row_locks=True, bulk_copy=True, notify=True,
                          session_timeouts=True, server_clock=True)
SQLITE = Capabilities("sqlite", row_locks=False, bulk_copy=False, notify=False,
                      session_timeouts=False, server_clock=False)
_BY_NAME = {c.name: c for c in (POSTGRESQL, SQLITE)}


def capabilities(bind: Session | Engine | Connection) -> Capabilities:
    engine = bind.get_bind() if isinstance(bind, Session) else bind
    try:
        return _BY_NAME[engine.dialect.name]
    except KeyError:
        raise ValueError(f"unsupported database '{engine.dialect.name}': Tocsin runs on "
                         "PostgreSQL or SQLite") from None
