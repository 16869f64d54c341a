"""The worker's fast statements (``store.worker_statements``) on the real PostgreSQL:
the fast refill hands over what ``store.admission.refill`` would, and every statement
reaches its rows by ``ctid`` whatever the planner's statistics say."""

from __future__ import annotations

import json
from typing import Any

import psycopg
from sqlalchemy import text, update

from scheduler.store import worker_statements as ws
from scheduler.store.db import db_now, transaction
from scheduler.store.migrate import upgrade
from scheduler.store.models import Execution, Function
from tests.conftest import create_pg_database, drop_pg_database
from tests.helpers import Store


def _held(store: Any, n: int) -> list[str]:
    store.function("f1")
    return [store.waiting("f1") for _ in range(n)]


def _mark(store: Any, ids: list[str]) -> None:
    with transaction(store.sessions) as s:
        s.execute(update(Execution).where(Execution.id.in_(ids))
                  .values(enqueued_at=db_now(s)))


def _marked(store: Any) -> set[str]:
    with transaction(store.sessions) as s:
        return set(s.execute(text(
            "SELECT id FROM executions WHERE enqueued_at IS NOT NULL")).scalars())


def test_fast_refill_hands_over_the_oldest_held_runs_the_window_has_room_for(pg_url, store):
    ids = _held(store, 40)
    _mark(store, ids[30:])  # 10 in the broker
    fast = ws.WorkerStatements(pg_url)
    try:
        assert fast.refill("p1", 32, 23) == []  # room for 22 only: not a half-window yet
        assert _marked(store) == set(ids[30:])
        assert fast.refill("p1", 32, 16) == ids[:22]  # oldest first, in order
        assert _marked(store) == set(ids[:22]) | set(ids[30:])
        assert fast.refill("p1", 32, 1) == []  # the window is full
    finally:
        fast.close()


def test_fast_refill_leaves_a_project_with_a_limited_function_to_the_reference(pg_url, store):
    ids = _held(store, 5)
    with transaction(store.sessions) as s:
        s.execute(update(Function).values(max_concurrency=1))
    fast = ws.WorkerStatements(pg_url)
    try:
        assert fast.refill("p1", 32, 1) is None
        assert _marked(store) == set()
    finally:
        fast.close()
    assert len(ids) == 5


def _plan(conn: psycopg.Connection[Any], sql: str, params: dict[str, Any]) -> list[str]:
    return [r[0] for r in conn.execute("EXPLAIN " + sql, params)]


def _node(plan: list[str], title: str) -> str:
    """The plan node whose line holds ``title``, with everything under it."""
    at = next(i for i, line in enumerate(plan) if title in line)
    depth = len(plan[at]) - len(plan[at].lstrip())
    below = []
    for line in plan[at + 1:]:
        if len(line) - len(line.lstrip()) <= depth:
            break
        below.append(line)
    return "\n".join([plan[at], *below])


def test_every_fast_statement_takes_its_row_by_ctid_on_a_table_never_analyzed():
    """On a table of a backlog never analyzed, PostgreSQL guessed one row everywhere and
    preferred a partial index (every waiting or running row) filtered by id: a walk that
    grows with the backlog (95 ms for one refill of 5,000 held runs). Each statement must
    update through a tid scan instead."""
    url = create_pg_database()
    try:
        upgrade(url)
        store = Store(url)
        ids = _held(store, 1)
        with transaction(store.sessions) as s:  # a backlog: 5,000 held runs, 150 handed over
            s.execute(text(
                "INSERT INTO executions (id, project_id, function_id, trigger, status, sync,"
                " request_method, request_path, request_headers, request_body,"
                " request_body_base64, response_status_code, response_headers, logs, errors,"
                " duration, attempts, depth, created_at, updated_at)"
                " SELECT md5(g::text), 'p1', 'f1', 'http', 'waiting', false, 'GET', '/',"
                " '{}', '', false, 0, '[]', '', '', 0, 0, 0, now(), now()"
                " FROM generate_series(1, 5000) g"))
            s.execute(text("UPDATE executions SET enqueued_at = now() WHERE id IN"
                           " (SELECT id FROM executions ORDER BY id LIMIT 150)"))
        conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"),
                               autocommit=True, options=ws._OPTIONS)
        claim = _plan(conn, ws._CLAIM, {
            "id": ids[0], "target": "processing", "sync_limit": 30, "window": 32,
            "source": "waiting"})
        outcome = {"ctid": "(0,1)", "id": ids[0], "source": "processing",
                   "target": "completed", "code": 200, "headers": [], "logs": "",
                   "errors": "", "duration": 0.1,
                   "names": " ".join(ws.update_event_names("f1", ids[0]))}
        finish = _plan(conn, ws._FINISH, {"outcomes": json.dumps([outcome]), "margin": 15})
        refill = _plan(conn, ws._REFILL, {"p": "p1", "window": 32, "at_least": 16})
        for name, plan in (("claim", claim), ("finish", finish), ("refill", refill)):
            updated = _node(plan, "Update on executions")
            assert "Tid Scan on executions" in updated, (name, plan)
            for walk in ("ix_executions_handed_over", "ix_executions_running",
                         "ix_executions_deadline", "ix_executions_waiting"):
                assert walk not in updated, (name, plan)
        # The claim's look for held runs, and the refill's pick, take the held-runs index.
        assert "ix_executions_unmarked" in _node(claim, "CTE h"), claim
        assert "ix_executions_unmarked" in _node(refill, "Subquery Scan on pick"), refill
        conn.close()
        store.close()
    finally:
        drop_pg_database(url)
