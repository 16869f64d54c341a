"""Wire compatibility (#16): queries the SDK builds, overdue runs, scopes, the project.

Query tests run on PostgreSQL and on SQLite (what `tocsin up` uses): each filter must
become SQL on both, returning exactly the rows Python's own reading of it picks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from appwrite.query import Query
from fastapi.testclient import TestClient

from scheduler.api.app import create_app
from scheduler.broker.publish import RedisPublisher
from scheduler.config import Settings
from scheduler.store.db import transaction
from scheduler.store.migrate import upgrade
from scheduler.store.models import Execution
from scheduler.store.projects import add_key
from tests.helpers import Store
from tests.integration.test_api import KEY, assert_error

MARGIN = 30.0


@pytest.fixture(params=["postgresql", "sqlite"])
def wire(request, tmp_path, broker_url) -> Iterator[tuple[TestClient, Store]]:
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
    else:
        url = f"sqlite:///{tmp_path}/wire.db"
        upgrade(url)
    settings = Settings(database_url=url, broker_url=broker_url, bootstrap_project="p1",
                        bootstrap_key=KEY, reap_margin=MARGIN)
    store = Store(url)
    app = create_app(settings, publisher=RedisPublisher(broker_url))
    with TestClient(app) as client:
        client.headers.update({"X-Appwrite-Project": "p1", "X-Appwrite-Key": KEY})
        r = client.post("/v1/functions", json={
            "functionId": "f1", "name": "F1", "runtime": "python-3.12", "timeout": 10,
            "entrypoint": "tests.fixtures.functions:hello"})
        assert r.status_code == 201, r.text
        yield client, store
    store.close()


# Five executions with distinct fields; each query is checked against Python's answer.
ROWS = [
    {"request_path": "/alpha", "request_method": "GET", "duration": 0.5,
     "response_status_code": 200, "status": "completed", "trigger": "http"},
    {"request_path": "/beta/report", "request_method": "POST", "duration": 1.5,
     "response_status_code": 500, "status": "failed", "trigger": "schedule"},
    {"request_path": "/gamma_%", "request_method": "PUT", "duration": 2.5,
     "response_status_code": 201, "status": "completed", "trigger": "http"},
    {"request_path": "/Alpha/Beta", "request_method": "GET", "duration": 3.5,
     "response_status_code": 404, "status": "failed", "trigger": "event"},
    {"request_path": "/delta", "request_method": "DELETE", "duration": 4.5,
     "response_status_code": 0, "status": "scheduled", "trigger": "schedule"},
]
BASE = datetime(2026, 1, 1, tzinfo=UTC)


def _seed(store: Store) -> list[str]:
    ids = []
    with transaction(store.sessions) as s:
        for i, fields in enumerate(ROWS):
            eid = f"e{i}"
            at = BASE + timedelta(hours=i)
            s.add(Execution(id=eid, project_id="p1", function_id="f1", request_headers={},
                            request_body="", created_at=at, updated_at=at + timedelta(days=1),
                            **fields))
            ids.append(eid)
    return ids


def _ids(client: TestClient, *queries: str) -> list[str]:
    params = {f"queries[{i}]": q for i, q in enumerate(queries)}
    r = client.get("/v1/functions/f1/executions", params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == len(body["executions"])
    return sorted(e["$id"] for e in body["executions"])


def _where(pick) -> list[str]:
    return sorted(f"e{i}" for i, row in enumerate(ROWS) if pick(row, BASE + timedelta(hours=i)))


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds")


CASES: list[tuple[str, str, Any]] = [
    ("startsWith", Query.starts_with("requestPath", "/beta"),
     lambda r, c: r["request_path"].startswith("/beta")),
    ("endsWith", Query.ends_with("requestPath", "_%"),  # wildcards are literal
     lambda r, c: r["request_path"].endswith("_%")),
    ("notStartsWith", Query.not_starts_with("requestPath", "/beta"),
     lambda r, c: not r["request_path"].startswith("/beta")),
    ("notEndsWith", Query.not_ends_with("requestPath", "ta"),
     lambda r, c: not r["request_path"].endswith("ta")),
    ("contains", Query.contains("requestPath", ["eta", "amm"]),
     lambda r, c: "eta" in r["request_path"] or "amm" in r["request_path"]),
    ("notContains", Query.not_contains("requestPath", "eta"),
     lambda r, c: "eta" not in r["request_path"]),
    ("search", Query.search("requestPath", "alpha BETA"),  # every word, any case
     lambda r, c: "alpha" in r["request_path"].lower() and "beta" in r["request_path"].lower()),
    ("notSearch", Query.not_search("requestPath", "alpha"),
     lambda r, c: "alpha" not in r["request_path"].lower()),
    ("between", Query.between("duration", 1.5, 3.5), lambda r, c: 1.5 <= r["duration"] <= 3.5),
    ("notBetween", Query.not_between("responseStatusCode", 200, 404),
     lambda r, c: not 200 <= r["response_status_code"] <= 404),
    ("isNull", Query.is_null("requestPath"), lambda r, c: False),
    ("isNotNull", Query.is_not_null("requestPath"), lambda r, c: True),
    ("createdAfter", Query.created_after(_iso(BASE + timedelta(hours=2))),
     lambda r, c: c > BASE + timedelta(hours=2)),
    ("createdBefore", Query.created_before(_iso(BASE + timedelta(hours=2))),
     lambda r, c: c < BASE + timedelta(hours=2)),
    ("createdBetween (an offset)", Query.created_between(
        "2026-01-01T02:00:00+01:00", "2026-01-01T03:00:00.000+00:00"),
     lambda r, c: BASE + timedelta(hours=1) <= c <= BASE + timedelta(hours=3)),
    ("updatedAfter", Query.updated_after(_iso(BASE + timedelta(days=1, hours=3))),
     lambda r, c: c + timedelta(days=1) > BASE + timedelta(days=1, hours=3)),
    ("or", Query.or_queries([Query.equal("trigger", "event"),
                             Query.greater_than("duration", 4)]),
     lambda r, c: r["trigger"] == "event" or r["duration"] > 4),
    ("and", Query.and_queries([Query.equal("status", "completed"),
                               Query.greater_than("duration", 1)]),
     lambda r, c: r["status"] == "completed" and r["duration"] > 1),
    ("or of and", Query.or_queries([
        Query.and_queries([Query.equal("requestMethod", "GET"), Query.less_than("duration", 1)]),
        Query.equal("responseStatusCode", 201)]),
     lambda r, c: (r["request_method"] == "GET" and r["duration"] < 1)
     or r["response_status_code"] == 201),
    ("deploymentId is ''", Query.equal("deploymentId", ""), lambda r, c: True),
    ("$id", Query.equal("$id", ["e1", "e3"]), lambda r, c: False),  # checked below
]


@pytest.mark.parametrize(("name", "query", "pick"), CASES, ids=[c[0] for c in CASES])
def test_each_query_method_is_sql_on_both_databases(wire, name, query, pick):
    client, store = wire
    _seed(store)
    want = ["e1", "e3"] if name == "$id" else _where(pick)
    assert _ids(client, query) == want
    assert want or name == "isNull", "a case that selects nothing proves little"


def test_select_is_accepted_and_order_and_queries_combine(wire):
    client, store = wire
    _seed(store)
    r = client.get("/v1/functions/f1/executions", params={
        "queries[0]": Query.select(["status", "$id"]),
        "queries[1]": Query.or_queries([Query.equal("status", "failed"),
                                        Query.equal("status", "scheduled")]),
        "queries[2]": Query.order_desc("duration")})
    assert [e["$id"] for e in r.json()["executions"]] == ["e4", "e3", "e1"]


def test_functions_filter_on_appwrite_attributes(wire):
    client, _ = wire
    client.post("/v1/functions", json={"functionId": "report-nightly", "name": "Nightly",
                                       "runtime": "python-3.11", "schedule": "0 3 * * *",
                                       "entrypoint": "tests.fixtures.functions:hello"})
    def names(*queries: str) -> list[str]:
        r = client.get("/v1/functions",
                       params={f"queries[{i}]": q for i, q in enumerate(queries)})
        assert r.status_code == 200, r.text
        return sorted(f["$id"] for f in r.json()["functions"])

    assert names(Query.starts_with("$id", "report")) == ["report-nightly"]
    assert names(Query.equal("deploymentId", "")) == ["f1", "report-nightly"]
    assert names(Query.is_not_null("schedule"), Query.not_equal("schedule", "")) == [
        "report-nightly"]
    assert names(Query.or_queries([Query.equal("runtime", "python-3.12"),
                                   Query.search("name", "night")])) == ["f1", "report-nightly"]
    assert names(Query.created_after("2000-01-01T00:00:00.000+00:00")) == [
        "f1", "report-nightly"]
    r = client.get("/v1/functions", params={"queries[0]": Query.equal("logs", "x")})
    body = assert_error(r, 400, "general_query_invalid")
    assert body["message"].startswith("Invalid query: Attribute not found in schema: logs")


@pytest.mark.parametrize(("query", "message"), [
    (Query.regex("requestPath", "a.*"), "Invalid query method: regex"),
    (Query.starts_with("duration", "1"),
     "Invalid query: 'startsWith' works on text attributes only, not \"duration\""),
    (Query.created_after("last tuesday"),
     "Invalid query: Query value for attribute \"$createdAt\" must be an ISO 8601 date-time, "
     "e.g. 2026-01-31T12:00:00.000+00:00"),
    (json.dumps({"method": "or", "values": [{"method": "equal", "attribute": "status",
                                              "values": ["failed"]}]}),
     "Invalid query: Or queries require at least two queries"),
])
def test_bad_queries_say_what_is_wrong(wire, query, message):
    client, _ = wire
    r = client.get("/v1/functions/f1/executions", params={"queries[0]": query})
    assert_error(r, 400, "general_query_invalid", message)


# ------------------------------------------------------------------ overdue runs


def _age(store: Store, eid: str, **fields: Any) -> None:
    """Make a row old, as an outage would leave it (no wall-clock wait)."""
    with transaction(store.sessions) as s:
        row = s.get(Execution, eid)
        for name, value in fields.items():
            setattr(row, name, value)


def test_a_run_past_its_timeout_reads_failed_lists_failed_and_can_be_deleted(wire):
    """Kills the mutations: no override on read; filters on the stored status; the
    deadline judged without the margin; delete refusing an overdue run; a waiting run
    reported failed by its age (#29: it would run afterwards)."""
    client, store = wire
    now = store.now()
    ids = {}
    for name in ("stuck", "fresh", "slow", "edge"):
        ids[name] = client.post("/v1/functions/f1/executions",
                                json={"async": True}).json()["$id"]
    # waiting since long before timeout (10 s) + margin: still waiting, it will run.
    _age(store, ids["stuck"], created_at=now - timedelta(seconds=10 + MARGIN + 5))
    # processing, deadline passed by less than the margin (the margin matters).
    _age(store, ids["edge"], status="processing", timeout=3,
         created_at=now - timedelta(minutes=5),
         deadline_at=now - timedelta(seconds=MARGIN - 5))
    # processing, deadline passed by more than the margin: overdue.
    _age(store, ids["slow"], status="processing", timeout=3,
         created_at=now - timedelta(minutes=5),
         deadline_at=now - timedelta(seconds=MARGIN + 5))

    def read(eid: str) -> dict:
        return client.get(f"/v1/functions/f1/executions/{eid}").json()

    assert read(ids["stuck"])["status"] == "waiting"
    assert read(ids["slow"])["status"] == "failed"
    assert "(3 s)" in read(ids["slow"])["errors"]  # the timeout the run started under
    assert read(ids["fresh"])["status"] == "waiting"
    assert read(ids["edge"])["status"] == "processing"
    failed = _ids(client, Query.equal("status", "failed"))
    assert failed == [ids["slow"]]
    waiting = _ids(client, Query.equal("status", "waiting"))
    assert waiting == sorted([ids["fresh"], ids["stuck"]])
    listed = {e["$id"]: e["status"] for e in
              client.get("/v1/functions/f1/executions").json()["executions"]}
    assert listed[ids["slow"]] == "failed" and listed[ids["stuck"]] == "waiting"

    assert client.delete(f"/v1/functions/f1/executions/{ids['slow']}").status_code == 204
    for eid in (ids["stuck"], ids["edge"]):
        assert_error(client.delete(f"/v1/functions/f1/executions/{eid}"), 400,
                     "execution_in_progress")


# ------------------------------------------------------------------ scopes and project


def test_legacy_scope_names_are_accepted(wire):
    client, store = wire
    with transaction(store.sessions) as s:
        add_key(s, "p1", "legacy-writer", ["execution.write"])
        add_key(s, "p1", "legacy-reader", ["execution.read"])
    r = client.post("/v1/functions/f1/executions", json={"async": True},
                    headers={"X-Appwrite-Key": "legacy-writer"})
    assert r.status_code == 202, r.text
    eid = r.json()["$id"]
    r = client.get(f"/v1/functions/f1/executions/{eid}",
                   headers={"X-Appwrite-Key": "legacy-reader"})
    assert r.status_code == 200, r.text
    r = client.get(f"/v1/functions/f1/executions/{eid}",
                   headers={"X-Appwrite-Key": "legacy-writer"})
    assert_error(r, 401, "general_unauthorized_scope",
                 'User (role: applications) missing scopes (["executions.read","execution.read"])')


def test_a_missing_project_header_is_appwrites_console_answer(wire):
    """Appwrite serves a request without X-Appwrite-Project as its console project,
    where the caller is a guest: the route's own 401 (not project_not_found)."""
    client, _ = wire
    no_project = {"X-Appwrite-Project": ""}
    assert_error(client.get("/v1/functions", headers=no_project), 401,
                 "general_unauthorized_scope",
                 'User (role: guests) missing scopes (["functions.read"])')
    assert_error(client.get("/v1/functions/f1/executions", headers=no_project), 401,
                 "general_unauthorized_scope",
                 'User (role: guests) missing scopes (["executions.read","execution.read"])')
    # A guest call has no scope to miss: the console project has no such function.
    assert_error(client.post("/v1/functions/f1/executions", json={},
                             headers={**no_project, "X-Appwrite-Key": ""}),
                 404, "function_not_found")
    assert_error(client.get("/v1/functions", headers={"X-Appwrite-Project": "nope"}), 404,
                 "project_not_found")



# ------------------------------------------------------------------ interval


def test_interval_is_stored_validated_and_exclusive_with_schedule(wire):
    client, _ = wire
    r = client.post("/v1/functions", json={"functionId": "every", "name": "Every",
                                           "runtime": "python-3.12", "interval": 15})
    assert r.status_code == 201, r.text
    assert r.json()["interval"] == 15
    assert client.get("/v1/functions/every").json()["interval"] == 15
    rule = ("Invalid `interval` param: Value must be 0 (no interval) or a whole number of "
            "minutes between 1 and 525600")
    for bad in (-1, 0.5, 1.5, 525_601, "15", True):
        assert_error(client.put("/v1/functions/every", json={"name": "Every", "interval": bad}),
                     400, "general_argument_invalid", rule)
    both = ("Invalid `interval` param: Cannot be combined with `schedule`: set one of them "
            "and leave the other empty (or 0)")
    # PUT keeps omitted fields, so a schedule added to an interval function conflicts.
    assert_error(client.put("/v1/functions/every", json={"name": "Every",
                                                         "schedule": "* * * * *"}),
                 400, "general_argument_invalid", both)
    assert_error(client.post("/v1/functions", json={
        "functionId": "both", "name": "Both", "runtime": "python-3.12",
        "schedule": "* * * * *", "interval": 5}), 400, "general_argument_invalid", both)
    r = client.put("/v1/functions/every", json={"name": "Every", "interval": 0,
                                                "schedule": "*/5 * * * *"})
    assert (r.status_code, r.json()["interval"], r.json()["schedule"]) == (
        200, 0, "*/5 * * * *")
