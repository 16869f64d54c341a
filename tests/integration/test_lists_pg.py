"""The fast list path (``store.lists_pg`` for the page, ``store.documents_pg`` for its
documents) against the reference (``lists.list_rows`` and ``execution_json``), on
the real PostgreSQL: for generated specs over varied rows, the same documents in the
same order and the same total, parsed JSON compared whole."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.api.listqueries import ARITY, FOR_BOOLEANS, TEXT_ONLY
from scheduler.api.routes.executions import FILTERABLE
from scheduler.rules.listquery import Filter, Group, ListQuery, escape_like
from scheduler.store.db import db_now, transaction
from scheduler.store.documents import execution_json
from scheduler.store.execution_statements import FastStore
from scheduler.store.functions import get_function
from scheduler.store.lists import list_rows
from scheduler.store.models import Execution
from scheduler.store.overdue import EXECUTION_COLUMNS, EXECUTION_ORDERABLE, Overdue

MARGIN = 30.0
TIMEOUT = 600  # the function's: runs created minutes ago are not overdue, hours ago are
BASE = datetime(2026, 11, 1, 12, 0, 0, 123999, tzinfo=UTC)  # .123999: ms truncate
TEXTS = ["GET", "POST", "/", "/a/b", "/50%_off", "/x//y", "Http", "http", "schedule",
         "event", "waiting", "failed", "processing", "completed", "scheduled", "cancelled",
         "é", "A B", "", "%", "_", "/", "o", "ted"]
CODES = [0, 200, 404, 500]
DURATIONS = [0.0, 0.01, 1.5, 100.0, 1e-05, 0.1 + 0.2]


def _rows(now: datetime, schedule_id: str) -> list[dict[str, Any]]:
    """Thirty runs that differ in every field a document or a filter reads."""
    statuses = ["waiting", "processing", "completed", "failed", "scheduled", "cancelled"]
    methods = ["GET", "POST", "PUT"]
    paths = ["/", "/a/b", "/50%_off", "/x//y", "/É"]
    rows = []
    for i in range(30):
        status = statuses[i % len(statuses)]
        recent = i % 4 != 0  # every fourth: created two hours ago (overdue if running)
        created = (now - timedelta(minutes=5) + timedelta(seconds=i) if recent
                   else BASE + timedelta(seconds=i // 3))  # repeats: the id tiebreaks
        rows.append({
            "id": f"run{i:02d}{'ab'[i % 2]}", "trigger": ["http", "schedule", "event"][i % 3],
            "status": status, "request_method": methods[i % 3], "request_path": paths[i % 5],
            "request_headers": json.dumps(
                None if i == 7 else {"Content-Type": "text/plain", "authorization": "x",
                                     "x-appwrite-client-ip": f"10.0.0.{i}"} if i % 2
                else {"agent": "sdk", "Host": "h"}),
            "response_status_code": CODES[i % 4],
            "response_headers": json.dumps(None if i % 5 == 0 else
                                           [{"name": "x-r", "value": str(i)}]),
            "logs": f"line {i}\n\t\"quoted\" \\ é 🙂 \x01", "errors": "" if i % 3 else "boom",
            "duration": DURATIONS[i % len(DURATIONS)], "created_at": created,
            "updated_at": created + timedelta(microseconds=1500 * i),
            "user_id": None if i % 4 else ("" if i == 4 else f"user{i}"),
            # Processing runs 1 and 25 are past their deadline (under their own timeout
            # 0, so the function's, and 5); 7 and 19 are not; 13 has none.
            "timeout": {1: 0, 25: 5, 19: 5}.get(i) if status == "processing" else None,
            "deadline_at": {1: now - timedelta(hours=1), 25: now - timedelta(hours=1),
                            7: now + timedelta(hours=1), 19: now + timedelta(hours=1)}.get(i)
            if status == "processing" else None,
            "scheduled_at": BASE + timedelta(minutes=i) if status == "scheduled" else None,
            "schedule_id": schedule_id if i % 6 == 1 else None,
            "scheduled_for": BASE + timedelta(minutes=i) if i % 6 == 1 else None,
            # Retries: every fifth run is a later attempt of run 0 (its number is its
            # index, so each is unique), and a dead letter.
            "attempt": i if i % 5 == 4 else 1,
            "retry_of": f"run{0:02d}" if i % 5 == 4 else None,
            "dead": i % 5 == 4,
        })
    return rows


@pytest.fixture
def seeded(store, pg_url) -> Iterator[tuple[Any, list[str], list[datetime]]]:
    store.function("f", "p", timeout=TIMEOUT)
    store.function("other", "p", timeout=TIMEOUT)
    schedule_id = store.schedule("f", at=BASE, project="p")
    rows = _rows(store.now(), schedule_id)
    with transaction(store.sessions) as session:
        for row in rows:
            session.execute(Execution.__table__.insert().values(
                project_id="p", function_id="f", sync=False, request_body="",
                request_body_base64=False, attempts=0, depth=0, **{
                    **row, "request_headers": json.loads(row["request_headers"]),
                    "response_headers": json.loads(row["response_headers"])}))
        # Another function's run: never in f's lists.
        session.execute(Execution.__table__.insert().values(
            id="elsewhere", project_id="p", function_id="other", trigger="http",
            status="waiting", request_method="GET", request_path="/",
            request_headers={}, request_body="", response_status_code=0,
            response_headers=[], logs="", errors="", duration=0.0, sync=False,
            created_at=rows[0]["created_at"], updated_at=rows[0]["created_at"]))
    loop = asyncio.new_event_loop()
    fast = FastStore(pg_url)
    loop.run_until_complete(fast.open())

    def run(query: ListQuery, with_total: bool, function: str = "f") -> Any:
        got = loop.run_until_complete(fast.list("p", function, query, with_total, MARGIN))
        return None if got is None else json.loads(got)

    yield run, [r["id"] for r in rows], sorted({r["created_at"] for r in rows})
    loop.run_until_complete(fast.close())
    loop.close()


def _reference(store: Any, query: ListQuery, with_total: bool) -> dict[str, Any]:
    """What the route's reference path answers an API key."""
    with transaction(store.sessions) as session:
        fn = get_function(session, "p", "f")
        overdue = Overdue(db_now(session), MARGIN, fn.timeout)
        where = [Execution.project_id == "p", Execution.function_id == "f"]
        rows, total = list_rows(session, Execution, where, EXECUTION_COLUMNS, query,
                                with_total, filter_columns=overdue.filter_columns())
        body = {"total": total, "executions": [
            execution_json(e, reported=overdue.reported(e)) for e in rows]}
    parsed: dict[str, Any] = json.loads(json.dumps(body))
    return parsed


def test_every_document_matches_the_reference_field_for_field(seeded, store):
    run, ids, _ = seeded
    query = ListQuery(limit=100)
    got = run(query, True)
    assert got == _reference(store, query, True)
    assert got["total"] == len(ids) == len(got["executions"])
    by_id = {e["$id"]: e for e in got["executions"]}
    # The cases the rows were made for, checked by value, not only by agreement.
    assert by_id["run00a"]["$createdAt"] == "2026-11-01T12:00:00.123+00:00"
    assert by_id["run01b"]["requestHeaders"] == [
        {"name": "Content-Type", "value": "text/plain"},
        {"name": "x-appwrite-client-ip", "value": "10.0.0.1"}]
    assert by_id["run07b"]["requestHeaders"] == [] == by_id["run00a"]["responseHeaders"]
    assert by_id["run08a"]["$permissions"] == ['read("user:user8")']
    assert by_id["run04a"]["$permissions"] == [] == by_id["run01b"]["$permissions"]
    assert by_id["run05b"]["duration"] == 0.1 + 0.2
    for run_id, timeout in (("run01b", TIMEOUT), ("run25b", 5)):  # past their deadlines
        assert by_id[run_id]["status"] == "failed", run_id
        assert f"({timeout} s)" in by_id[run_id]["errors"], run_id
    assert by_id["run07b"]["status"] == "processing"
    assert by_id["run13b"]["status"] == "processing"  # no deadline: never overdue
    assert by_id["run06a"]["errors"] == "boom"
    # Waiting for two hours: still waiting (it will run; #29), its stored errors as they are.
    assert by_id["run00a"]["status"] == "waiting" and by_id["run00a"]["errors"] == "boom"


def test_a_cursor_naming_no_run_and_a_missing_function_go_to_the_reference(seeded):
    run, ids, _ = seeded
    assert run(ListQuery(cursor=("cursorAfter", "nope")), True) is None
    assert run(ListQuery(cursor=("cursorAfter", "elsewhere")), True) is None
    assert run(ListQuery(), True, function="missing") is None
    assert run(ListQuery(cursor=("cursorBefore", ids[3])), True) is not None


def test_an_empty_page_still_counts(seeded, store):
    run, ids, _ = seeded
    query = ListQuery(offset=100)
    assert run(query, True) == _reference(store, query, True) == {
        "total": len(ids), "executions": []}


def _pool(attribute: str, times: list[datetime]) -> list[Any]:
    """Values worth filtering ``attribute`` by: what the rows hold (so bounds fall on
    rows), a case change, LIKE's own characters."""
    kind = FILTERABLE[attribute]
    if attribute == "attempt":
        return [1, 4, 9, 10]
    if kind is bool:
        return [True, False]
    if kind is int:
        return [*CODES, 199]
    if kind is float:
        return [*DURATIONS, 0.5]
    if kind is datetime:
        return [times[0], times[3], times[3] + timedelta(microseconds=1), times[-1]]
    held = {"trigger": ["http", "event"], "status": ["waiting", "processing", "failed"],
            "requestMethod": ["GET", "get"], "requestPath": ["/50%_off", "/x//y", "/É"],
            "deploymentId": [""], "$id": ["run03b", "RUN03B"],
            "retryOf": ["run00", "RUN00"]}[attribute]
    return [*held, "%", "_", "/", "o", "E"]


def test_every_method_on_every_attribute_matches_the_reference(seeded, store):
    """One filter at a time, exhaustively: each method on each attribute with each
    value of its pool (pairs for ranges, where a bound equal to a row's value tells
    ``<`` from ``<=``)."""
    run, _, times = seeded
    cases = 0
    for attribute, kind in FILTERABLE.items():
        pool = _pool(attribute, times)
        for method, (low, high) in ARITY.items():
            if (method in TEXT_ONLY and kind is not str) or (
                    kind is bool and method not in FOR_BOOLEANS):
                continue
            if low == 0:
                choices: list[tuple[Any, ...]] = [()]
            elif low == 2:
                choices = [(a, b) for a in pool for b in pool]
            elif high == 1:
                choices = [(v,) for v in pool]
            else:
                choices = [(v,) for v in pool] + [tuple(pool[:3])]
            for values in choices:
                query = ListQuery(filters=[Filter(attribute, method, values)], limit=30)
                assert run(query, True) == _reference(store, query, True), (
                    attribute, method, values)
                cases += 1
    assert cases > 500


def _values(kind: type, times: list[datetime]) -> st.SearchStrategy[Any]:
    if kind is str:
        return st.sampled_from(TEXTS + [t.upper() for t in TEXTS])
    if kind is int:
        return st.sampled_from([*CODES, 199, 201])
    if kind is float:
        return st.sampled_from([*DURATIONS, 0.5, 2.0])
    if kind is bool:
        return st.booleans()
    return st.sampled_from(times).flatmap(lambda t: st.sampled_from(
        [t, t - timedelta(microseconds=1), t + timedelta(seconds=1)]))


def _filter(times: list[datetime]) -> st.SearchStrategy[Filter]:
    def build(attribute: str) -> st.SearchStrategy[Filter]:
        kind = FILTERABLE[attribute]
        methods = [m for m in ARITY if (kind is str or m not in TEXT_ONLY)
                   and (kind is not bool or m in FOR_BOOLEANS)]

        def with_values(method: str) -> st.SearchStrategy[Filter]:
            low, high = ARITY[method]
            values = st.lists(_values(kind, times), min_size=low,
                              max_size=high if high is not None else 3)
            return values.map(lambda v: Filter(attribute, method, tuple(v)))
        return st.sampled_from(methods).flatmap(with_values)
    return st.sampled_from(sorted(FILTERABLE)).flatmap(build)


def _condition(times: list[datetime]) -> st.SearchStrategy[Any]:
    return st.recursive(_filter(times), lambda inner: st.builds(
        Group, st.sampled_from(["and", "or"]),
        st.lists(inner, min_size=2, max_size=3).map(tuple)), max_leaves=4)


@st.composite
def _specs(draw: Any, ids: list[str], times: list[datetime]) -> tuple[ListQuery, bool]:
    orderable = sorted(EXECUTION_ORDERABLE)
    query = ListQuery(
        filters=draw(st.lists(_condition(times), max_size=3)),
        limit=draw(st.integers(1, 30)), offset=draw(st.integers(0, 5)),
        order=draw(st.lists(st.tuples(st.sampled_from(orderable), st.booleans()),
                            max_size=2)),
        cursor=draw(st.none() | st.tuples(st.sampled_from(["cursorAfter", "cursorBefore"]),
                                          st.sampled_from(ids))))
    return query, draw(st.booleans())


def test_generated_lists_match_the_reference(seeded, store):
    """Filters of every method on every attribute (with LIKE's own characters in the
    values), and/or groups, orders in mixed directions, cursors both ways, offsets,
    with and without the count."""
    run, ids, times = seeded

    @settings(max_examples=150, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow])
    @given(_specs(ids, times))
    def agree(case: tuple[ListQuery, bool]) -> None:
        query, with_total = case
        assert run(query, with_total) == _reference(store, query, with_total)

    agree()


def test_escape_like_escapes_as_autoescape_does():
    assert escape_like("50%_off/x") == "50/%/_off//x"
