"""The API's fast path for asynchronous executions (one asynchronous statement, Redis on
the event loop), through a real `tocsin api` process on the real PostgreSQL and Redis:
the same rows, messages and answers as the reference path, and the same promise when
the broker is down (a 202 means the row is committed; the relay sends it later)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
import redis

from scheduler.broker import enqueue
from scheduler.rules.lifecycle import new_execution
from scheduler.rules.states import Trigger
from scheduler.store.db import transaction
from scheduler.store.execution_statements import FastStore
from scheduler.store.models import Execution
from tests.helpers import start_api, start_worker, tocsin_env, wait_for
from tests.integration.test_api import KEY
from tests.services import Redis


@pytest.fixture
def api(pg_url, broker_url, tmp_path):
    env = tocsin_env(pg_url, broker_url, TOCSIN_BOOTSTRAP_PROJECT="p1",
                     TOCSIN_BOOTSTRAP_KEY=KEY)
    proc, base = start_api(env, tmp_path)
    client = httpx.Client(base_url=base, timeout=10,
                          headers={"X-Appwrite-Project": "p1", "X-Appwrite-Key": KEY})
    r = client.post("/functions", json={"functionId": "f", "name": "f",
                                        "runtime": "python-3.12"})
    assert r.status_code == 201, r.text
    yield client, proc
    client.close()
    proc.stop()


def test_rows_messages_and_answers_match_the_reference_path(api, store, broker_url):
    client, _ = api
    r = client.post("/functions/f/executions", json={
        "async": True, "body": "x", "path": "/p?q=1", "method": "PUT",
        "headers": {"X-Thing": "1", "content-type": "text/plain"}})
    assert r.status_code == 202, r.text
    got = r.json()
    assert (got["status"], got["trigger"], got["requestMethod"], got["requestPath"]) == (
        "waiting", "http", "PUT", "/p?q=1")
    assert got["requestHeaders"] == [{"name": "content-type", "value": "text/plain"},
                                     {"name": "x-appwrite-client-ip", "value": "127.0.0.1"}]
    row = store.get(Execution, got["$id"])
    assert row.enqueued_at is not None and row.request_headers["X-Thing"] == "1"
    broker = redis.Redis.from_url(broker_url)
    assert broker.zscore("tocsin:held", got["$id"]) is not None
    assert got["$id"].encode() in b"".join(broker.lrange("tocsin", 0, -1))
    assert client.get(f"/functions/f/executions/{got['$id']}").json()["$createdAt"] == (
        got["$createdAt"])
    # A one-shot: scheduled, not published, its time kept.
    at = (store.now() + timedelta(minutes=10)).replace(second=0, microsecond=0)
    r = client.post("/functions/f/executions", json={"async": True,
                                                     "scheduledAt": at.isoformat()})
    assert (r.status_code, r.json()["status"], r.json()["trigger"]) == (
        202, "scheduled", "schedule")
    assert store.get(Execution, r.json()["$id"]).enqueued_at is None
    assert _served(client) == {"fast": 2, "reference": 0}
    # Everything else is answered by the reference path, exactly as before.
    r = client.post("/functions/nope/executions", json={"async": True})
    assert (r.status_code, r.json()["type"]) == (404, "function_not_found")
    soon = (store.now() + timedelta(seconds=30)).replace(microsecond=0)
    r = client.post("/functions/f/executions", json={"async": True,
                                                     "scheduledAt": soon.isoformat()})
    assert (r.status_code, r.json()["type"]) == (400, "general_bad_request")
    r = client.post("/functions/f/executions", json={"async": True},
                    headers={"X-Appwrite-Key": "wrong"})
    assert (r.status_code, r.json()["type"]) == (401, "general_unauthorized_scope")


def _served(client: httpx.Client, route: str = "create") -> dict[str, int]:
    text = httpx.get(str(client.base_url).removesuffix("/v1/") + "/metrics").text
    counts = {path: int(float(line.rsplit(" ", 1)[1])) for path in ("fast", "reference")
              for line in text.splitlines()
              if line.startswith(f'tocsin_api_requests_total{{path="{path}",route="{route}"}}')
              or line.startswith(f'tocsin_api_requests_total{{route="{route}",path="{path}"}}')}
    return {"fast": 0, "reference": 0, **counts}


def test_both_paths_write_the_same_row(api, store):
    """Differential: one create through the fast statement, the same request through
    the reference path (``enqueue.create``): every column equal but the id and the
    database's times. Both draw from ``lifecycle.new_execution``; a column one of them
    fills differently fails here."""
    client, _ = api
    at = (store.now() + timedelta(minutes=10)).replace(second=0, microsecond=0)
    for body in ({"async": True, "body": "x", "path": "/p", "method": "PUT",
                  "headers": {"content-type": "text/plain"}},
                 {"async": True, "scheduledAt": at.isoformat()}):
        r = client.post("/functions/f/executions", json=body)
        assert r.status_code == 202, r.text
        fast = store.get(Execution, r.json()["$id"])
        with transaction(store.sessions) as s:
            ref_id = enqueue.create(s, enqueue.Request(
                project_id="p1", function_id="f", method=fast.request_method,
                path=fast.request_path, headers=fast.request_headers,
                body=fast.request_body, scheduled_at=fast.scheduled_at)).id
        ref = store.get(Execution, ref_id)
        columns = [c.name for c in Execution.__table__.columns
                   if c.name not in ("id", "created_at", "updated_at", "enqueued_at")]
        assert {c: getattr(fast, c) for c in columns} == {c: getattr(ref, c) for c in columns}
        assert (fast.enqueued_at is None) == (ref.enqueued_at is None) == ("scheduledAt" in body)
    assert _served(client) == {"fast": 2, "reference": 0}


def test_a_subscribed_create_event_is_recorded(api, store):
    client, _ = api
    client.post("/functions", json={"functionId": "watch", "name": "w",
                                    "runtime": "python-3.12",
                                    "events": ["functions.f.executions.*.create"]})
    r = client.post("/functions/f/executions", json={"async": True})
    assert r.status_code == 202
    names = store.scalar("SELECT string_agg(name, ',') FROM events")
    assert names == f"functions.f.executions.{r.json()['$id']}.create"
    assert _served(client)["reference"] == 1  # the event's transaction is the reference's


def test_broker_down_a_202_still_means_committed_and_left_to_the_relay(
        api, store, broker_url):
    client, proc = api
    client.post("/functions/f/executions", json={"async": True})  # the key is remembered
    broker = Redis(broker_url)
    broker.stop()
    try:
        r = client.post("/functions/f/executions", json={"async": True})
        assert r.status_code == 202, r.text
        row = store.get(Execution, r.json()["$id"])
        assert row.status == "waiting" and row.enqueued_at is None  # for the relay to send
        assert "publish.failed" in proc.output()
    finally:
        broker.start()
    wait_for(lambda: client.post("/functions/f/executions", json={"async": True})
             .status_code == 202, 20, what="creates to work again")


def test_a_read_reports_as_the_reference_path_does(api, store):
    client, _ = api
    made = client.post("/functions/f/executions", json={"async": True, "body": "b"}).json()
    got = client.get(f"/functions/f/executions/{made['$id']}").json()
    assert {k: got[k] for k in made if k != "$updatedAt"} == {
        k: made[k] for k in made if k != "$updatedAt"}
    # A running run past its deadline and the margin reads as failed.
    store.scalar("UPDATE executions SET status = 'processing', timeout = 15, "
                 "deadline_at = now() - interval '1 hour' WHERE id = :id RETURNING id",
                 id=made["$id"])
    aged = client.get(f"/functions/f/executions/{made['$id']}").json()
    assert aged["status"] == "failed" and "timeout" in aged["errors"]
    assert _served(client, "get") == {"fast": 2, "reference": 0}
    for path, kind in ((f"/functions/f/executions/{'x' * 20}", "execution_not_found"),
                       (f"/functions/nope/executions/{made['$id']}", "function_not_found")):
        r = client.get(path)
        assert (r.status_code, r.json()["type"]) == (404, kind)
    assert _served(client, "get")["reference"] == 2



def test_a_key_lists_on_the_event_loop_with_the_reference_answers(api, store):
    """A key's list is text statements on the event loop (tests/integration/
    test_lists_pg.py holds them to the reference): filters, order, cursor and the
    reported status through a real API; a query error is the shared parser's answer
    and a missing function the reference path's, as before."""
    client, _ = api
    made = [client.post("/functions/f/executions", json={"async": True}).json()["$id"]
            for _ in range(3)]
    store.scalar("UPDATE executions SET status = 'processing', timeout = 15, "
                 "deadline_at = now() - interval '1 hour' WHERE id = :id RETURNING id",
                 id=made[0])
    status = json.dumps({"method": "equal", "attribute": "status", "values": ["failed"]})
    r = client.get("/functions/f/executions", params={"queries[]": status})
    assert r.status_code == 200, r.text
    assert (r.json()["total"], [e["$id"] for e in r.json()["executions"]]) == (1, made[:1])
    assert r.json()["executions"][0]["errors"]  # a key reads errors
    order = [json.dumps({"method": "orderDesc", "attribute": "$createdAt"}),
             json.dumps({"method": "cursorAfter", "values": [made[2]]})]
    r = client.get("/functions/f/executions", params={"queries[]": order})
    assert [e["$id"] for e in r.json()["executions"]] == [made[1], made[0]]
    assert _served(client, "list") == {"fast": 2, "reference": 0}
    for params, path, status_code, kind in (
            ({"queries[]": "nonsense"}, "/functions/f/executions", 400,
             "general_query_invalid"),
            ({}, "/functions/nope/executions", 404, "function_not_found")):
        r = client.get(path, params=params)
        assert (r.status_code, r.json()["type"]) == (status_code, kind), r.text
    r = client.get("/functions/f/executions", headers={"X-Appwrite-Key": "wrong"})
    assert (r.status_code, r.json()["type"]) == (401, "general_unauthorized_scope")
    # The missing function and the key without the scope: the reference path.
    assert _served(client, "list") == {"fast": 2, "reference": 2}


def test_reads_outlive_postgresql_dropping_the_api_connections(api, store):
    """Every backend of the API is terminated (as a PostgreSQL restart does to them):
    the next reads and lists by key still answer 200 with the same documents, the
    ones whose pooled connection was dead through the reference path, and the fast
    path takes over again once its pool has replaced them."""
    client, _ = api
    made = [client.post("/functions/f/executions", json={"async": True}).json()["$id"]
            for _ in range(3)]
    listed = client.get("/functions/f/executions").json()
    got = client.get(f"/functions/f/executions/{made[0]}").json()
    before = {route: _served(client, route) for route in ("list", "get")}
    dropped = store.scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    assert dropped >= 2
    for _ in range(6):
        r = client.get("/functions/f/executions")
        assert r.status_code == 200, r.text
        assert r.json() == listed
        r = client.get(f"/functions/f/executions/{made[0]}")
        assert r.status_code == 200, r.text
        assert r.json() == got
    after = {route: _served(client, route) for route in ("list", "get")}
    fell_back = sum(after[r]["reference"] - before[r]["reference"] for r in after)
    assert fell_back >= 1  # a dead connection was met, and the reference path answered
    wait_for(lambda: client.get("/functions/f/executions").status_code == 200
             and _served(client, "list")["fast"] > after["list"]["fast"], 10,
             what="the fast path to serve lists again")


def test_creates_outlive_postgresql_dropping_the_api_connections(api, store):
    """A create whose pooled connection PostgreSQL has dropped is still one 202 and one
    row: the statement ran alone, so its own id says whether it was written, and an
    unwritten one is made by the reference path."""
    client, _ = api
    client.post("/functions/f/executions", json={"async": True}).raise_for_status()
    store.scalar("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                 "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    ids = []
    for _ in range(6):
        r = client.post("/functions/f/executions", json={"async": True, "body": "x"})
        assert r.status_code == 202, r.text
        ids.append(r.json()["$id"])
    rows = [e.id for e in store.executions()]
    assert len(rows) == 7 and set(ids) <= set(rows)


def test_a_synchronous_run_by_key_takes_the_fast_path_end_to_end(api, store, pg_url,
                                                                 broker_url, tmp_path):
    """Written and handed over on the event loop, awaited there, its finished row read
    by one statement: a 201 with the finished run, as the reference path gives."""
    client, _ = api
    r = client.put("/functions/f", json={"name": "f", "runtime": "python-3.12",
                                         "entrypoint": "tests.fixtures.functions:hello"})
    assert r.status_code == 200, r.text
    worker = start_worker(tocsin_env(pg_url, broker_url), "w", tmp_path)
    try:
        before = _served(client)
        r = client.post("/functions/f/executions", json={"async": False, "body": "hi",
                                                         "headers": {"x-a": "1"}}, timeout=30)
        assert r.status_code == 201, r.text
        got = r.json()
        assert (got["status"], got["responseStatusCode"], got["trigger"]) == (
            "completed", 200, "http")
        assert got["responseBody"] and got["duration"] > 0
        assert got["$updatedAt"] > got["$createdAt"]  # read back after it finished
        row = store.get(Execution, got["$id"])
        assert (row.sync, row.status) == (True, "completed")
        assert _served(client)["fast"] == before["fast"] + 1
    finally:
        worker.stop()


def test_an_interrupted_create_is_judged_by_its_own_id(pg_url, store):
    """What ``create`` asks after a failed statement: the row's times if it was
    written, None if not (the reference path then writes it)."""
    store.function("f", "p1")
    fast = FastStore(pg_url)
    row = new_execution(id="interrupted0000000001", project_id="p1", function_id="f",
                        trigger=Trigger.HTTP, now=store.now())

    async def go() -> tuple[Any, Any, Any]:
        await fast.open()
        try:
            written = await fast.create(row, [])
            return written, await fast._written(row["id"]), await fast._written("nope")
        finally:
            await fast.close()

    written, again, missing = asyncio.run(go())
    assert written is not None and again is not None and missing is None
    assert again["created_at"] == written["created_at"]
