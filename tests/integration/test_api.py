"""The admin API against real PostgreSQL and Redis: Appwrite's rules, exactly."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from scheduler.api.app import create_app
from scheduler.api.errors import HEADERS_RULE, UID_RULE
from scheduler.broker.publish import RedisPublisher
from scheduler.config import Settings
from scheduler.rules.timerules import SCHEDULED_AT_MESSAGE, SCHEDULED_AT_SYNC_MESSAGE, iso
from scheduler.store.db import transaction
from scheduler.store.models import Execution, Schedule
from scheduler.store.projects import add_key

KEY = "test-bootstrap-key-0123456789abcdef012"


@pytest.fixture
def client(pg_url, broker_url):
    settings = Settings(database_url=pg_url, broker_url=broker_url, bootstrap_project="p1",
                        bootstrap_key=KEY, sync_timeout=2)
    app = create_app(settings, publisher=RedisPublisher(broker_url))
    with TestClient(app) as c:
        c.headers.update({"X-Appwrite-Project": "p1", "X-Appwrite-Key": KEY})
        yield c


@pytest.fixture
def fn(client):
    r = client.post("/v1/functions", json={"functionId": "f1", "name": "F1",
                                           "runtime": "python-3.12",
                                           "entrypoint": "tests.fixtures.functions:hello"})
    assert r.status_code == 201, r.text
    return "f1"


def assert_error(r, status: int, type_: str, message: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"message", "code", "type", "version"}
    assert body["code"] == status and body["type"] == type_
    if message is not None:
        assert body["message"] == message
    return body


def future(store, minutes: int = 5) -> str:
    return iso(store.now().replace(second=0, microsecond=0) + timedelta(minutes=minutes))


# ------------------------------------------------------------------ executions: results


def test_async_execution_is_202_waiting_and_readable_at_once(client, fn, store):
    r = client.post(f"/v1/functions/{fn}/executions", json={"async": True, "body": "x"})
    assert r.status_code == 202 and r.headers["content-type"].startswith("application/json")
    ex = r.json()
    assert (ex["status"], ex["trigger"], ex["functionId"], ex["resourceId"]) == (
        "waiting", "http", fn, fn)
    assert ex["scheduledAt"] is None and ex["responseBody"] == ""
    got = client.get(f"/v1/functions/{fn}/executions/{ex['$id']}")
    assert got.status_code == 200 and got.json()["$id"] == ex["$id"]
    assert store.get(Execution, ex["$id"]).enqueued_at is not None


def test_scheduled_execution_is_202_scheduled(client, fn, store):
    when = future(store)
    r = client.post(f"/v1/functions/{fn}/executions",
                    json={"async": True, "scheduledAt": when, "path": "/x"})
    assert r.status_code == 202
    ex = r.json()
    assert (ex["status"], ex["trigger"], ex["scheduledAt"]) == ("scheduled", "schedule", when)
    for field in ("$id", "$createdAt", "$updatedAt", "$permissions", "deploymentId",
                  "requestMethod", "requestPath", "requestHeaders", "responseStatusCode",
                  "responseHeaders", "logs", "errors", "duration", "resourceType"):
        assert field in ex


def test_sync_without_worker_times_out_with_408(client, fn):
    r = client.post(f"/v1/functions/{fn}/executions", json={"async": False})
    assert_error(r, 408, "function_synchronous_timeout")


def test_request_headers_are_filtered_like_appwrite(client, fn, store):
    r = client.post(f"/v1/functions/{fn}/executions",
                    json={"async": True, "headers": {"X-Custom": "1", "content-type": "a/b"}})
    # Appwrite's allow-list, plus the client's address it adds (as its e2e tests show).
    assert r.json()["requestHeaders"] == [{"name": "content-type", "value": "a/b"},
                                          {"name": "x-appwrite-client-ip", "value": "testclient"}]
    # ...but the function itself still receives the custom header.
    assert store.get(Execution, r.json()["$id"]).request_headers["X-Custom"] == "1"


# ------------------------------------------------------------------ validation catalogue


@pytest.mark.parametrize(
    ("payload", "status", "type_", "message"),
    [
        ({"async": False, "scheduledAt": "2099-01-01T00:00:00+00:00"}, 400,
         "general_bad_request", SCHEDULED_AT_SYNC_MESSAGE),
        ({"async": True, "scheduledAt": "2000-01-01T00:00:00+00:00"}, 400,
         "general_bad_request", SCHEDULED_AT_MESSAGE),
        ({"async": True, "scheduledAt": "2099-01-01T00:00:30+00:00"}, 400,
         "general_bad_request", SCHEDULED_AT_MESSAGE),
        ({"async": True, "scheduledAt": "2099-01-01T00:00:00.250+00:00"}, 400,
         "general_bad_request", SCHEDULED_AT_MESSAGE),
        ({"async": True, "scheduledAt": "not a date"}, 400, "general_bad_request",
         SCHEDULED_AT_MESSAGE),
        ({"async": True, "scheduledAt": "10000-01-01T00:00:00+00:00"}, 400,
         "general_bad_request", SCHEDULED_AT_MESSAGE),
        ({"async": True, "method": "TRACE"}, 400, "general_argument_invalid",
         "Invalid `method` param: Value must be one of "
         "(GET, POST, PUT, PATCH, DELETE, OPTIONS, HEAD)"),
        ({"async": True, "path": "/" + "a" * 2048}, 400, "general_argument_invalid",
         "Invalid `path` param: Value must be a valid string and no longer than 2048 chars"),
        ({"async": True, "headers": {"x-appwrite-key": "steal"}}, 400,
         "general_argument_invalid", HEADERS_RULE),
        ({"async": True, "headers": {"X-Appwrite-Trigger": "event"}}, 400,
         "general_argument_invalid", HEADERS_RULE),
        ({"async": True, "headers": {"bad header": "1"}}, 400, "general_argument_invalid",
         HEADERS_RULE),
        ({"async": True, "headers": {f"h{i}": "1" for i in range(101)}}, 400,
         "general_argument_invalid", HEADERS_RULE),
        ({"async": True, "headers": {"big": "x" * 16384}}, 400, "general_argument_invalid",
         HEADERS_RULE),
        ({"async": True, "headers": "not json"}, 400, "general_argument_invalid",
         "Invalid `headers` param: Value must be a valid object."),
        ({"async": "sometimes"}, 400, "general_argument_invalid", None),
        ({"async": True, "body": 12}, 400, "general_argument_invalid", None),
    ],
)
def test_execution_validation(client, fn, payload, status, type_, message):
    assert_error(client.post(f"/v1/functions/{fn}/executions", json=payload), status, type_,
                 message)


def test_body_over_10_mib(client, fn):
    r = client.post(f"/v1/functions/{fn}/executions",
                    json={"async": True, "body": "x" * (10 * 1024 * 1024 + 1)})
    assert_error(r, 400, "general_argument_invalid",
                 "Invalid `body` param: Value must be a valid string and no longer than "
                 "10485760 chars")


def test_scheduled_at_naive_means_utc_and_loose_async(client, fn, store):
    when = store.now().replace(second=0, microsecond=0) + timedelta(minutes=3)
    r = client.post(f"/v1/functions/{fn}/executions",
                    json={"async": "true", "scheduledAt": when.strftime("%Y-%m-%d %H:%M:%S")})
    assert r.status_code == 202, r.text
    assert r.json()["scheduledAt"] == iso(when)


def test_malformed_json(client, fn):
    r = client.post(f"/v1/functions/{fn}/executions", content=b"{not json",
                    headers={"content-type": "application/json"})
    assert_error(r, 400, "general_argument_invalid", "Request body is not valid JSON.")


@pytest.mark.parametrize("bad", ["-starts-with-dash", "a" * 37, "has space", "ünïcode"])
def test_illegal_function_ids(client, bad):
    r = client.get(f"/v1/functions/{bad}/executions")
    assert_error(r, 400, "general_argument_invalid", f"Invalid `functionId` param: {UID_RULE}")


def test_unknown_function_and_execution(client, fn):
    assert_error(client.post("/v1/functions/nope/executions", json={"async": True}), 404,
                 "function_not_found", "Function with the requested ID could not be found.")
    assert_error(client.get(f"/v1/functions/{fn}/executions/nope"), 404,
                 "execution_not_found", "Execution with the requested ID could not be found.")
    assert_error(client.delete(f"/v1/functions/{fn}/executions/nope"), 404,
                 "execution_not_found")


def test_unknown_route_is_enveloped(client):
    assert_error(client.get("/v1/nothing-here"), 404, "general_route_not_found")


# ------------------------------------------------------------------ delete / cancel


def test_delete_scheduled_is_204_text_plain_then_404(client, fn, store):
    ex = client.post(f"/v1/functions/{fn}/executions",
                     json={"async": True, "scheduledAt": future(store)}).json()
    r = client.delete(f"/v1/functions/{fn}/executions/{ex['$id']}")
    assert r.status_code == 204 and r.content == b""
    assert not r.headers["content-type"].startswith("application/json")
    assert_error(client.delete(f"/v1/functions/{fn}/executions/{ex['$id']}"), 404,
                 "execution_not_found")


def test_delete_waiting_is_execution_in_progress(client, fn):
    ex = client.post(f"/v1/functions/{fn}/executions", json={"async": True}).json()
    assert_error(client.delete(f"/v1/functions/{fn}/executions/{ex['$id']}"), 400,
                 "execution_in_progress",
                 "Can't delete ongoing execution. Please wait for execution to finish before "
                 "deleting it.")


def test_delete_finished_is_204(client, fn, store):
    eid = store.waiting(fn)
    with store.session() as s, s.begin():
        s.get(Execution, eid).status = "completed"
    assert client.delete(f"/v1/functions/{fn}/executions/{eid}").status_code == 204


def test_deleting_a_function_takes_its_schedules_one_shots_and_variables(client, store):
    """Nothing is cleared first: the delete itself must take every row of the function
    (its own schedule, an operator's extra one, a pending one-shot, a variable), and
    nothing of another function. The store deletes them and the foreign keys cascade;
    killed mutation: a delete that leaves rows behind (neither of the two), or one
    that reaches another function's rows."""
    for fid in ("doomed", "kept"):
        assert client.post("/v1/functions", json={
            "functionId": fid, "name": fid, "runtime": "python-3.12", "schedule": "0 * * * *",
            "entrypoint": "tests.fixtures.functions:hello"}).status_code == 201
        assert client.post(f"/v1/scheduler/functions/{fid}/schedules", json={
            "key": "extra", "schedule": "*/5 * * * *"}).status_code == 201
        assert client.post(f"/v1/functions/{fid}/executions", json={
            "async": True, "scheduledAt": future(store)}).status_code == 202
        assert client.post(f"/v1/functions/{fid}/variables", json={
            "key": "K", "value": "v"}).status_code == 201

    def count(table: str, fid: str) -> int:
        return store.scalar(f"SELECT count(*) FROM {table} WHERE function_id = '{fid}'")

    assert [count(t, "doomed") for t in ("schedules", "executions", "variables")] == [2, 1, 1]
    assert client.delete("/v1/functions/doomed").status_code == 204
    assert [count(t, "doomed") for t in ("schedules", "executions", "variables")] == [0, 0, 0]
    assert [count(t, "kept") for t in ("schedules", "executions", "variables")] == [2, 1, 1]


# ------------------------------------------------------------------ queries


def _q(**query) -> str:
    return json.dumps(query)


OPS = {"equal": lambda a, b: a == b, "notEqual": lambda a, b: a != b,
       "greaterThan": lambda a, b: a > b, "greaterThanEqual": lambda a, b: a >= b,
       "lessThan": lambda a, b: a < b, "lessThanEqual": lambda a, b: a <= b}


@pytest.mark.parametrize("method", sorted(OPS))
@pytest.mark.parametrize(("attribute", "column", "values"), [
    ("responseStatusCode", "response_status_code", [200, 201, 404, 500, 503]),
    ("duration", "duration", [0.1, 0.5, 1.0, 2.5, 10.0]),
])
def test_every_comparison_reaches_sql_on_every_numeric_attribute(
        client, fn, store, method, attribute, column, values):
    """Each method against a pivot in the middle of five distinct values must return
    exactly the rows Python's own comparison picks (so `<` for `>` or a dropped filter
    fails: #21.4)."""
    ids = []
    for value in values:
        eid = store.waiting(fn)
        with store.session() as s, s.begin():
            setattr(s.get(Execution, eid), column, value)
        ids.append(eid)
    pivot = values[2]
    r = client.get(f"/v1/functions/{fn}/executions", params={
        "queries[0]": _q(method=method, attribute=attribute, values=[pivot])})
    assert r.status_code == 200, r.text
    want = {eid for eid, v in zip(ids, values, strict=True) if OPS[method](v, pivot)}
    assert {e["$id"] for e in r.json()["executions"]} == want
    assert r.json()["total"] == len(want)


def test_list_queries_filter_order_limit_offset_cursor_total(client, fn, store):
    ids = [client.post(f"/v1/functions/{fn}/executions",
                       json={"async": True, "scheduledAt": future(store, 5 + i)}).json()["$id"]
           for i in range(5)]
    client.post(f"/v1/functions/{fn}/executions", json={"async": True})
    url = f"/v1/functions/{fn}/executions"
    r = client.get(url, params={"queries[0]": _q(method="equal", attribute="status",
                                                 values=["scheduled"])})
    assert r.json()["total"] == 5
    assert {e["$id"] for e in r.json()["executions"]} == set(ids)
    r = client.get(url, params={"queries[0]": _q(method="notEqual", attribute="status",
                                                 values=["scheduled"]),
                                "total": "false"})
    assert r.json()["total"] == 0 and len(r.json()["executions"]) == 1
    params = {"queries[0]": _q(method="equal", attribute="trigger", values=["schedule"]),
              "queries[1]": _q(method="orderAsc", attribute="$id"),
              "queries[2]": _q(method="limit", values=[2])}
    page1 = [e["$id"] for e in client.get(url, params=params).json()["executions"]]
    assert page1 == sorted(ids)[:2]
    params["queries[3]"] = _q(method="cursorAfter", values=[page1[-1]])
    page2 = [e["$id"] for e in client.get(url, params=params).json()["executions"]]
    assert page2 == sorted(ids)[2:4]
    params["queries[3]"] = _q(method="cursorBefore", values=[page2[0]])
    assert [e["$id"] for e in client.get(url, params=params).json()["executions"]] == page1
    params["queries[3]"] = _q(method="offset", values=[4])
    assert [e["$id"] for e in client.get(url, params=params).json()["executions"]] == [
        sorted(ids)[4]]
    desc = client.get(url, params={"queries[0]": _q(method="orderDesc", attribute="$id")})
    got = [e["$id"] for e in desc.json()["executions"]]
    assert got == sorted(got, reverse=True)
    r = client.get(url, params={"queries[0]": _q(method="greaterThan",
                                                 attribute="responseStatusCode", values=[0])})
    assert r.json()["total"] == 0


def test_list_total_stops_at_appwrites_count_limit(client, fn, store):
    """Appwrite counts matches up to APP_LIMIT_COUNT (5,000); so does Tocsin, and the
    page beside it is still the first 25 in order (the listing index ends with the id,
    the tiebreak of rows created in the same instant)."""
    with store.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO executions (id, project_id, function_id, trigger, status, sync,"
            " request_method, request_path, request_headers, request_body,"
            " response_status_code, response_headers, logs, errors, duration, attempts,"
            " created_at, updated_at) SELECT 'bulk' || lpad(g::text, 6, '0'), 'p1', :fn,"
            " 'http', 'completed', false, 'POST', '/', '{}', '', 200, '[]', '', '', 0, 1,"
            " now(), now() FROM generate_series(1, 5003) g"), {"fn": fn})
    url = f"/v1/functions/{fn}/executions"
    status = _q(method="equal", attribute="status", values=["completed"])
    r = client.get(url, params={"queries[0]": status})
    assert r.json()["total"] == 5000
    assert [e["$id"] for e in r.json()["executions"]] == [
        f"bulk{n:06d}" for n in range(1, 26)]
    r = client.get(url, params={"queries[0]": status,
                                "queries[1]": _q(method="greaterThan", attribute="$id",
                                                 values=["bulk004990"])})
    assert r.json()["total"] == 13


@pytest.mark.parametrize(
    "query",
    [
        "not json",
        _q(method="equal", attribute="secret", values=["x"]),
        _q(method="equal", attribute="status", values=[]),
        _q(method="equal", attribute="responseStatusCode", values=["200"]),
        _q(method="limit", values=[0]),
        _q(method="limit", values=[100000]),
        _q(method="regex", attribute="status", values=["x"]),
        _q(method="orderAsc", attribute="logs"),
        json.dumps(["equal"]),
    ],
)
def test_invalid_queries(client, fn, query):
    r = client.get(f"/v1/functions/{fn}/executions", params={"queries[0]": query})
    body = assert_error(r, 400, "general_query_invalid")
    assert body["message"].startswith(("Invalid query: ", "Invalid query method: "))


def test_cursor_not_found(client, fn):
    r = client.get(f"/v1/functions/{fn}/executions",
                   params={"queries[0]": _q(method="cursorAfter", values=["missing"])})
    assert_error(r, 400, "general_cursor_not_found")


# ------------------------------------------------------------------ auth and isolation


def test_missing_and_wrong_keys(client, fn):
    url = f"/v1/functions/{fn}/executions"
    assert_error(client.get(url, headers={"X-Appwrite-Key": ""}), 401,
                 "general_unauthorized_scope",
                 'User (role: guests) missing scopes (["executions.read","execution.read"])')
    assert_error(client.post(url, json={"async": True}, headers={"X-Appwrite-Key": "wrong"}),
                 401, "general_unauthorized_scope",
                 'User (role: guests) missing scopes (["executions.write","execution.write"])')


def test_unknown_or_missing_project(client, fn):
    assert_error(client.get("/v1/functions", headers={"X-Appwrite-Project": "nope"}), 404,
                 "project_not_found")
    # A missing header is Appwrite's console project: see test_wire.


def test_scope_missing(client, fn, store):
    with transaction(store.sessions) as s:
        add_key(s, "p1", "read-only", ["executions.read"])
    r = client.post(f"/v1/functions/{fn}/executions", json={"async": True},
                    headers={"X-Appwrite-Key": "read-only"})
    assert_error(r, 401, "general_unauthorized_scope", 'User (role: applications) missing '
                 'scopes (["executions.write","execution.write"])')
    ok = client.get(f"/v1/functions/{fn}/executions", headers={"X-Appwrite-Key": "read-only"})
    assert ok.status_code == 200


def test_expired_key(client, fn, store):
    with transaction(store.sessions) as s:
        add_key(s, "p1", "old", ["executions.read"], expires_at=store.now() - timedelta(1))
    assert_error(client.get(f"/v1/functions/{fn}/executions",
                            headers={"X-Appwrite-Key": "old"}), 401, "project_key_expired")


def test_projects_are_isolated(client, fn, store):
    store.project("p2")
    with transaction(store.sessions) as s:
        add_key(s, "p2", "p2-key", ["executions.read", "executions.write", "functions.read"])
    ex = client.post(f"/v1/functions/{fn}/executions", json={"async": True}).json()
    other = {"X-Appwrite-Project": "p2", "X-Appwrite-Key": "p2-key"}
    assert_error(client.get(f"/v1/functions/{fn}", headers=other), 404, "function_not_found")
    assert_error(client.get(f"/v1/functions/{fn}/executions/{ex['$id']}", headers=other), 404,
                 "function_not_found")
    assert client.get("/v1/functions", headers=other).json() == {"total": 0, "functions": []}
    # p1's key presented for p2: no scopes there.
    assert_error(client.get(f"/v1/functions/{fn}/executions",
                            headers={"X-Appwrite-Project": "p2"}), 401,
                 "general_unauthorized_scope")
    # p2's key presented for p1: none either.
    assert_error(client.get(f"/v1/functions/{fn}/executions",
                            headers={"X-Appwrite-Key": "p2-key"}), 401,
                 "general_unauthorized_scope")


def test_guest_execution_only_when_execute_has_any(client, fn):
    client.post("/v1/functions", json={"functionId": "public", "name": "P",
                                       "runtime": "python-3.12", "execute": ["any"]})
    guest = {"X-Appwrite-Key": ""}
    assert client.post("/v1/functions/public/executions", json={"async": True},
                       headers=guest).status_code == 202
    assert_error(client.post(f"/v1/functions/{fn}/executions", json={"async": True},
                             headers=guest), 401, "general_unauthorized_scope")
    assert_error(client.get("/v1/functions/public/executions", headers=guest), 401,
                 "general_unauthorized_scope")


# ------------------------------------------------------------------ functions


def test_function_crud_and_schedule_sync(client, store):
    r = client.post("/v1/functions", json={"functionId": "unique()", "name": "Cron",
                                           "runtime": "http", "url": "http://127.0.0.1:9/",
                                           "schedule": "*/5 * * * *",
                                           "timezone": "Europe/Berlin", "missedPolicy": "all"})
    assert r.status_code == 201, r.text
    fid = r.json()["$id"]
    assert len(fid) == 20 and r.json()["schedule"] == "*/5 * * * *"
    [sched] = client.get("/v1/scheduler/schedules").json()["schedules"]
    assert (sched["schedule"], sched["timezone"], sched["missedPolicy"], sched["key"]) == (
        "*/5 * * * *", "Europe/Berlin", "all", "default")
    assert client.get(f"/v1/functions/{fid}").json()["name"] == "Cron"
    assert client.get("/v1/functions").json()["total"] == 1
    # Appwrite's rule (and the README's): `name` is required; the rest keep their value.
    r = client.put(f"/v1/functions/{fid}", json={"enabled": False})
    assert_error(r, 400, "general_argument_invalid")
    assert r.json()["message"] == "Invalid `name` param: Param is required"
    r = client.put(f"/v1/functions/{fid}", json={"name": "Cron", "enabled": False})
    assert r.status_code == 200 and r.json()["enabled"] is False
    assert (r.json()["schedule"], r.json()["timezone"]) == ("*/5 * * * *", "Europe/Berlin")
    assert store.get(Schedule, sched["$id"]).disabled is True
    client.put(f"/v1/functions/{fid}", json={"name": "Cron", "schedule": ""})
    assert client.get("/v1/scheduler/schedules").json()["total"] == 0
    pending = client.post(f"/v1/functions/{fid}/executions",
                          json={"async": True, "scheduledAt": future(store)}).json()
    r = client.delete(f"/v1/functions/{fid}")
    assert r.status_code == 204 and r.content == b""
    assert store.get(Execution, pending["$id"]) is None
    assert_error(client.get(f"/v1/functions/{fid}"), 404, "function_not_found")


@pytest.mark.parametrize(
    ("payload", "param", "fragment"),
    [
        ({"schedule": "61 * * * *"}, "schedule", "String must be a valid cron expression"),
        ({"schedule": "* * * * * *"}, "schedule", "seconds are not supported"),
        ({"schedule": "@reboot"}, "schedule", "@reboot"),
        ({"timezone": "Mars/Base"}, "timezone", "unknown timezone"),
        ({"timeout": 0}, "timeout", "between 1 and 900"),
        ({"timeout": 901}, "timeout", "between 1 and 900"),
        ({"runtime": "deno-1.40"}, "runtime", "python-3.8, python-3.9"),  # not one Tocsin runs
        ({"missedPolicy": "sometimes"}, "missedPolicy", "skip, latest, all"),
        ({"url": "ftp://x"}, "url", "http or https"),
        ({"functionId": "bad id"}, "functionId", "UID must contain"),
    ],
)
def test_function_validation(client, payload, param, fragment):
    base = {"functionId": "f9", "name": "n", "runtime": "http"}
    body = assert_error(client.post("/v1/functions", json={**base, **payload}), 400,
                        "general_argument_invalid")
    assert body["message"].startswith(f"Invalid `{param}` param: ")
    assert fragment in body["message"]


def test_function_conflict(client, fn):
    r = client.post("/v1/functions", json={"functionId": fn, "name": "x", "runtime": "http"})
    assert_error(r, 409, "function_already_exists")


# ------------------------------------------------------------------ operator extensions


def test_operator_schedules_pause_resume_trigger_preview(client, fn, store, broker_url):
    r = client.post(f"/v1/scheduler/functions/{fn}/schedules",
                    json={"key": "nightly", "schedule": "0 3 * * *", "timezone": "UTC",
                          "body": "{\"report\": true}", "path": "/report"})
    assert r.status_code == 201, r.text
    sid = r.json()["$id"]
    assert r.json()["payload"]["path"] == "/report"
    assert client.post(f"/v1/scheduler/functions/{fn}/schedules",
                       json={"key": "nightly", "schedule": "0 3 * * *"}).status_code == 409
    p = client.post(f"/v1/scheduler/schedules/{sid}/pause", json={"note": "db migration"})
    assert p.json()["paused"] is True and p.json()["pauseNote"] == "db migration"
    assert client.post(f"/v1/scheduler/schedules/{sid}/resume").json()["paused"] is False
    t = client.post(f"/v1/scheduler/schedules/{sid}/trigger")
    assert t.status_code == 202
    ex = store.get(Execution, t.json()["$id"])
    assert (ex.trigger, ex.schedule_id, ex.request_path, ex.status) == (
        "schedule", sid, "/report", "waiting")
    prev = client.get("/v1/scheduler/cron/preview",
                      params={"expression": "30 2 * * *", "timezone": "Europe/Berlin",
                              "after": "2026-03-28T12:00:00+01:00", "count": 2}).json()
    assert prev["fires"][0]["local"] == "2026-03-29T03:00:00+02:00"
    bad = client.get("/v1/scheduler/cron/preview", params={"expression": "61 * * * *"})
    assert_error(bad, 400, "general_argument_invalid")
    assert client.delete(f"/v1/scheduler/schedules/{sid}").status_code == 204
    assert client.get("/v1/scheduler/status").status_code == 200


def test_health_and_openapi(client):
    assert client.get("/v1/health").json() == {"status": "pass"}
    spec = client.get("/openapi.json").json()
    assert "/v1/functions/{functionId}/executions" in spec["paths"]
    assert "/v1/scheduler/schedules/{scheduleId}/pause" in spec["paths"]


# ------------------------------------------------------------------ wire (#16)


def test_runtimes_are_the_sdks_python_values_plus_http(client):
    r = client.get("/v1/functions/runtimes")
    assert r.status_code == 200
    ids = [rt["$id"] for rt in r.json()["runtimes"]]
    assert {"python-3.8", "python-3.12", "python-3.14", "python-ml-3.11", "http"} <= set(ids)
    assert r.json()["total"] == len(ids)
    one = next(rt for rt in r.json()["runtimes"] if rt["$id"] == "python-ml-3.11")
    assert (one["key"], one["name"], one["version"]) == ("python-ml", "Python (ML)", "3.11")
    ok = client.post("/v1/functions", json={"functionId": "ml", "name": "ml",
                                            "runtime": "python-ml-3.11"})
    assert ok.status_code == 201
    body = assert_error(client.post("/v1/functions", json={
        "functionId": "made-up", "name": "x", "runtime": "python-3.11-ml"}), 400,
        "general_argument_invalid")
    assert body["message"].startswith("Invalid `runtime` param: Value must be one of (python-3.8")


def test_routes_tocsin_lacks_say_so_and_wrong_methods_are_404(client, fn):
    for path in ("/v1/functions/templates", "/v1/functions/templates/starter"):
        body = assert_error(client.get(path), 404, "general_route_not_found")
        assert "Tocsin has no" in body["message"], path
    # Deployments are uploads: the other ways Appwrite makes one say so.
    for path in (f"/v1/functions/{fn}/deployments/duplicate",
                 f"/v1/functions/{fn}/deployments/template",
                 f"/v1/functions/{fn}/deployments/vcs"):
        body = assert_error(client.post(path, json={}), 404, "general_route_not_found")
        assert "uploaded archives only" in body["message"], path
    assert_error(client.get(f"/v1/functions/{fn}/deployments/d1"), 404, "deployment_not_found")
    assert_error(client.patch(f"/v1/functions/{fn}/executions"), 404, "general_route_not_found")


def test_status_filters_agree_with_the_status_each_run_reads_as(client, fn, store):
    """``equal``/``notEqual`` on status are rewritten without a CASE on every row; the
    rows they pick must be exactly those whose own read reports one of the values, for
    every state a run can be in (a waiting run reads waiting however old: #29)."""
    states = {  # id: (stored status, created this long ago, deadline from now)
        "fresh000waiting00000": ("waiting", "0 s", None),
        "stale000waiting00000": ("waiting", "1 hour", None),
        "live0000processing00": ("processing", "0 s", "10 minutes"),
        "overdue0processing00": ("processing", "1 hour", "-1 hour"),
        "nodeadlineprocessing": ("processing", "0 s", None),
        "done0000completed000": ("completed", "0 s", None),
        "done0000failed000000": ("failed", "0 s", None),
        "later000scheduled000": ("scheduled", "0 s", None),
    }
    with store.engine.begin() as conn:
        for eid, (status, age, deadline) in states.items():
            conn.execute(text(
                "INSERT INTO executions (id, project_id, function_id, trigger, status, sync,"
                " request_method, request_path, request_headers, request_body,"
                " response_status_code, response_headers, logs, errors, duration, attempts,"
                " deadline_at, created_at, updated_at) VALUES (:id, 'p1', :fn, 'http',"
                " :status, false, 'POST', '/', '{}', '', 0, '[]', '', '', 0, 0,"
                " now() + CAST(:deadline AS interval),"
                " now() - CAST(:age AS interval), now())"),
                {"id": eid, "fn": fn, "status": status, "age": age, "deadline": deadline})
    url = f"/v1/functions/{fn}/executions"
    reads = {eid: client.get(f"{url}/{eid}").json()["status"] for eid in states}
    assert reads["overdue0processing00"] == "failed"
    assert reads["stale000waiting00000"] == "waiting"
    for values in (["waiting"], ["processing"], ["failed"], ["completed"], ["scheduled"],
                   ["waiting", "failed"], ["processing", "completed"]):
        for method in ("equal", "notEqual"):
            r = client.get(url, params={"queries[0]": _q(method=method, attribute="status",
                                                         values=values)})
            picked = {e["$id"] for e in r.json()["executions"]}
            want = {eid for eid, status in reads.items()
                    if (status in values) == (method == "equal")}
            assert picked == want, (method, values)
            assert r.json()["total"] == len(want)
