"""Events input, refused before anything is recorded (in-process API, real PostgreSQL)."""

from __future__ import annotations

import pytest

from scheduler.store.db import transaction
from scheduler.store.projects import add_key
from tests.integration.test_api import assert_error, client  # noqa: F401


def test_bad_patterns_are_refused_naming_them(client, store):  # noqa: F811
    r = client.post("/v1/functions", json={"functionId": "bad", "name": "b", "runtime": "http",
                                           "events": ["functions.*.update", "functions..x"]})
    body = assert_error(r, 400, "general_argument_invalid")
    assert body["message"].startswith("Invalid `events` param: Invalid event pattern "
                                      "'functions..x': segment 2")
    assert store.scalar("SELECT count(*) FROM functions") == 0


@pytest.mark.parametrize(("body", "message"), [
    ({"event": "orders..paid"}, "Invalid `event` param: Invalid event name 'orders..paid'"),
    ({"event": "orders.*.paid"}, "Invalid `event` param: Invalid event name 'orders.*.paid'"),
    ({"event": "o." * 130 + "x"}, "Invalid `event` param: Invalid event name"),
    ({"event": "orders.o9.paid", "payload": "x" * (1024 * 1024 + 1)},
     "Invalid `payload` param: Value must be JSON of at most 1048576 bytes"),
    ({"event": "orders.o9.paid", "eventId": ""}, "Invalid `eventId` param"),
    ({"payload": {}}, "Invalid `event` param: Invalid event name None"),
])
def test_bad_events_are_400s_and_record_nothing(client, store, body, message):  # noqa: F811
    body = assert_error(client.post("/v1/events", json=body), 400, "general_argument_invalid")
    assert body["message"].startswith(message)
    assert store.scalar("SELECT count(*) FROM events") == 0


def test_a_body_that_is_not_an_object_is_a_400(client, store):  # noqa: F811
    assert_error(client.post("/v1/events", content=b"[1, 2]",
                             headers={"Content-Type": "application/json"}), 400,
                 "general_argument_invalid")
    assert_error(client.post("/v1/events", content=b"{not json",
                             headers={"Content-Type": "application/json"}), 400,
                 "general_argument_invalid", "Request body is not valid JSON.")
    assert store.scalar("SELECT count(*) FROM events") == 0


def test_publishing_needs_events_write_and_reading_events_read(client, store):  # noqa: F811
    with transaction(store.sessions) as s:
        add_key(s, "p1", "reader-key-00000000000000000000", ["events.read"])
        add_key(s, "p1", "writer-key-00000000000000000000", ["events.write"])
    reader = {"X-Appwrite-Key": "reader-key-00000000000000000000"}
    writer = {"X-Appwrite-Key": "writer-key-00000000000000000000"}
    assert_error(client.post("/v1/events", json={"event": "orders.o9.paid"}, headers=reader),
                 401, "general_unauthorized_scope",
                 'User (role: applications) missing scopes (["events.write"])')
    assert client.post("/v1/events", json={"event": "orders.o9.paid"},
                       headers=writer).status_code == 201
    assert_error(client.get("/v1/scheduler/events", headers=writer), 401,
                 "general_unauthorized_scope")
    listed = client.get("/v1/scheduler/events", headers=reader).json()
    assert [e["event"] for e in listed["events"]] == ["orders.o9.paid"]
    assert listed["events"][0]["fannedOutAt"] is None  # no leader runs here: pending


def test_a_webhook_to_a_project_without_a_key_is_refused(client, store):  # noqa: F811
    r = client.post("/v1/webhooks/appwrite/p1", content=b"{}", headers={
        "X-Appwrite-Webhook-Events": "users.u1.create",
        "X-Appwrite-Webhook-Signature": "c2lnbmF0dXJl"})
    assert_error(r, 401, "general_unauthorized_scope")
    # An unknown project answers as a bad signature does: no oracle of project ids.
    assert_error(client.post("/v1/webhooks/appwrite/nope", content=b"{}"), 401,
                 "general_unauthorized_scope")
    assert store.scalar("SELECT count(*) FROM events") == 0


def test_a_webhook_whose_document_outlived_the_retention_is_refused(client, store):  # noqa: F811
    """#29 item 7: a delivery older than the events kept to recognise its replay."""
    import base64
    import hashlib
    import hmac
    import json

    from scheduler.store.projects import set_webhook_key

    with transaction(store.sessions) as s:
        set_webhook_key(s, "p1", "whsec-" + "k" * 40)
    url = "http://testserver/v1/webhooks/appwrite/p1"

    def deliver(updated: str):
        body = json.dumps({"$id": "d1", "$updatedAt": updated}).encode()
        digest = hmac.new(("whsec-" + "k" * 40).encode(), url.encode() + body,
                          hashlib.sha1).digest()
        return client.post(url, content=body, headers={
            "X-Appwrite-Webhook-Events": "users.u1.update",
            "X-Appwrite-Webhook-Signature": base64.b64encode(digest).decode()})

    old = assert_error(deliver("2020-01-01T00:00:00.000+00:00"), 400,
                       "general_argument_invalid")
    assert "replay" in old["message"]
    assert store.scalar("SELECT count(*) FROM events") == 0
    assert deliver(store.now().isoformat()).status_code == 202


def test_an_event_about_a_user_carries_that_user(client, store):  # noqa: F811
    r = client.post("/v1/events", json={"event": "users.u7.update", "payload": {"a": 1}})
    assert r.status_code == 201 and r.json()["userId"] == "u7"


def test_a_payload_of_exactly_one_mib_is_accepted_and_one_byte_more_is_not(
        client, store):  # noqa: F811
    limit = 1024 * 1024
    exact = "x" * (limit - 2)  # a JSON string: two quotes around it
    assert client.post("/v1/events", json={"event": "big.b1.made", "payload": exact}
                       ).status_code == 201
    over = client.post("/v1/events", json={"event": "big.b2.made", "payload": exact + "x"})
    assert_error(over, 400, "general_argument_invalid")
    assert store.scalar("SELECT count(*) FROM events") == 1


def test_an_id_with_periods_emits_no_events_and_its_changes_go_on(client, store):  # noqa: F811
    """Appwrite ids may hold periods; in an event name they would shift every segment
    (eight of them make more ids than a name may have). Killed mutation: own events
    emitted without the guard (the function create then fails)."""
    assert client.post("/v1/functions", json={
        "functionId": "watcher", "name": "w", "runtime": "python-3.12",
        "events": ["functions.*"]}).status_code == 201
    # A few periods would read as other ids; many make more ids than a name may hold.
    for dotted in ("a.b.c", "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p"):
        r = client.post("/v1/functions", json={"functionId": dotted, "name": "d",
                                               "runtime": "python-3.12"})
        assert r.status_code == 201, r.text
        assert client.post(f"/v1/functions/{dotted}/executions",
                           json={"async": True}).status_code == 202
        assert client.put(f"/v1/functions/{dotted}", json={"name": "d2"}).status_code == 200
    names = [e["event"] for e in client.get("/v1/scheduler/events").json()["events"]]
    assert names == ["functions.watcher.create"]


def test_an_event_with_an_attribute_reaches_the_actions_subscribers(client, store):  # noqa: F811
    """#35 item 6: POST /v1/events with users.u1.update.prefs is published under
    users.*.update too, as Appwrite (and so the webhook bridge) publishes it."""
    r = client.post("/v1/events", json={"event": "users.u1.update.prefs"})
    assert r.status_code == 201, r.text
    names = set(r.json()["names"])
    assert {"users.*.update", "users.u1.update", "users.*.update.prefs"} <= names
    assert "users.*.update.*" not in names
