"""Hardening: the rest of the bad-input catalogue, key handling, and the cancel race."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from scheduler.api.app import create_app
from scheduler.broker.publish import RedisPublisher
from scheduler.config import Settings
from scheduler.rules.timerules import SCHEDULED_AT_MESSAGE, iso
from scheduler.store.models import Execution
from tests.helpers import leader, start_scheduler, start_worker, tocsin_env, wait_for
from tests.integration.test_api import assert_error

KEY = "hardening-secret-key-0123456789abcdef"


@pytest.fixture
def client(pg_url, broker_url):
    settings = Settings(database_url=pg_url, broker_url=broker_url, bootstrap_project="p1",
                        bootstrap_key=KEY, sync_timeout=1)
    with TestClient(create_app(settings, publisher=RedisPublisher(broker_url))) as c:
        c.headers.update({"X-Appwrite-Project": "p1", "X-Appwrite-Key": KEY})
        c.post("/v1/functions", json={"functionId": "f1", "name": "F", "runtime": "python-3.12",
                                      "entrypoint": "tests.fixtures.functions:hello"})
        yield c


@pytest.mark.parametrize(
    ("field", "value"),
    [("body", 12), ("body", ["x"]), ("async", "sometimes"), ("async", {"a": 1}),
     ("path", 5), ("path", None), ("method", 7), ("headers", 3), ("headers", True),
     ("scheduledAt", 1893456000), ("scheduledAt", ["2030-01-01T00:00:00Z"])],
)
def test_wrong_type_for_every_execution_field(client, field, value):
    r = client.post("/v1/functions/f1/executions", json={"async": True, field: value})
    body = assert_error(r, 400, "general_argument_invalid")
    assert body["message"].startswith(f"Invalid `{field}` param: ")


@pytest.mark.parametrize(
    ("field", "value"),
    [("name", 5), ("runtime", 3), ("execute", "any"), ("events", 1), ("schedule", 5),
     ("timeout", "soon"), ("enabled", "maybe"), ("logging", []), ("entrypoint", 1),
     ("url", 9), ("timezone", 0), ("missedPolicy", 1), ("misfireGrace", "x"),
     ("catchupWindow", -1), ("catchupCap", 0)],
)
def test_wrong_type_for_every_function_field(client, field, value):
    r = client.post("/v1/functions", json={"functionId": "f9", "name": "n", "runtime": "http",
                                           field: value})
    body = assert_error(r, 400, "general_argument_invalid")
    assert body["message"].startswith(f"Invalid `{field}` param: ")


@pytest.mark.parametrize("cron", ["1,,2 * * * *", "* * * *", "0 0 0 * *", "*/0 * * * *",
                                  "0 0 * * * *", "@reboot", "59/15 * * * *"])
def test_bad_crons(client, cron):
    r = client.post("/v1/functions", json={"functionId": "f9", "name": "n", "runtime": "http",
                                           "schedule": cron})
    body = assert_error(r, 400, "general_argument_invalid")
    assert body["message"].startswith(
        "Invalid `schedule` param: String must be a valid cron expression (")


def test_scheduled_at_within_sixty_seconds(client, store):
    soon = store.now().replace(second=0, microsecond=0) + timedelta(minutes=1)
    if (soon - store.now()).total_seconds() > 60:  # pragma: no cover - timing guard
        soon -= timedelta(minutes=1)
    r = client.post("/v1/functions/f1/executions", json={"async": True, "scheduledAt": iso(soon)})
    assert_error(r, 400, "general_bad_request", SCHEDULED_AT_MESSAGE)


def test_execution_id_too_long(client):
    r = client.get("/v1/functions/f1/executions/" + "a" * 37)
    assert_error(r, 400, "general_argument_invalid")


def test_keys_are_never_logged_or_forwarded(client, store, caplog):
    caplog.set_level(logging.DEBUG)
    ex = client.post("/v1/functions/f1/executions", json={"async": True, "headers": {"a": "1"}})
    assert ex.status_code == 202
    client.get("/v1/functions/f1/executions", headers={"X-Appwrite-Key": KEY + "-wrong"})
    client.get("/v1/functions/f1")
    logged = "\n".join(r.getMessage() + str(getattr(r, "fields", "")) for r in caplog.records)
    assert KEY not in logged
    stored = store.get(Execution, ex.json()["$id"]).request_headers
    # The caller's HTTP headers (and key) are not passed on; Tocsin adds only the
    # client's address, as Appwrite does.
    assert stored == {"a": "1", "x-appwrite-client-ip": "testclient"}
    assert KEY not in str(store.scalar("SELECT string_agg(secret_hash, ',') FROM api_keys"))


def test_cancel_racing_the_dispatcher_is_one_or_the_other(pg_url, broker_url, store, tmp_path,
                                                          client):
    """Each one-shot is either cancelled (204, never runs) or lost the race (400
    execution_in_progress, runs exactly once). Never both, never neither.

    The function takes 2 s, longer than the whole cancel window, so no run can have
    *finished* when its DELETE arrives (deleting a finished run is a plain 204).
    The offsets are seeded, and both outcomes must occur: a race in which nothing was
    promoted (every DELETE a trivial 204) proves nothing. Killed mutations: the
    cancel deleting a row the dispatcher already promoted (a 204 that still runs),
    or the promotion skipping rows being deleted (a 400 that never runs)."""
    ledger = tmp_path / "ledger.txt"
    env = tocsin_env(pg_url, broker_url, TOCSIN_LEASE_TTL="2",
                     FIXTURE_LEDGER=str(ledger))
    procs = [start_scheduler(env, "n1", tmp_path), start_worker(env, "w1", tmp_path, 8)]
    rng = random.Random(1129)
    try:
        wait_for(lambda: leader(store), 15, what="a leader")
        due = store.now() + timedelta(seconds=2)
        store.function("slowfn", entrypoint="tests.fixtures.functions:slow", timeout=30)
        ats = [due + timedelta(milliseconds=rng.randint(-300, 300)) for _ in range(60)]
        ids = [store.oneshot("slowfn", path="/?seconds=2", at=at) for at in ats]
        with store.session() as s, s.begin():
            from scheduler.store.schedules import notify_wakeup

            notify_wakeup(s)
        outcomes: dict[str, int] = {}
        lock = threading.Lock()
        # Each DELETE aims at its own one-shot's due instant, give or take 0.4 s: about
        # half land before the dispatcher promotes the row, half after.
        cancel_at = {eid: at.timestamp() + rng.uniform(-0.4, 0.4)
                     for eid, at in zip(ids, ats, strict=True)}

        def cancel(batch: list[str]) -> None:
            for eid in sorted(batch, key=cancel_at.__getitem__):
                time.sleep(max(0.0, cancel_at[eid] - time.time()))
                code = client.delete(f"/v1/functions/slowfn/executions/{eid}").status_code
                with lock:
                    outcomes[eid] = code

        threads = [threading.Thread(target=cancel, args=(ids[i::4],)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        print("\ncancel race outcomes:", sorted(Counter(outcomes.values()).items()))
        assert set(outcomes.values()) == {204, 400}, outcomes  # both sides of the race
        lost = [e for e, c in outcomes.items() if c == 400]
        wait_for(lambda: all(store.get(Execution, e).status == "completed" for e in lost), 90,
                 what="the executions that won the race to run")
        # Nothing else is queued or running: a cancelled row (deleted, so never in the
        # queue) cannot run later, and every run that won has been recorded.
        assert store.scalar("SELECT count(*) FROM executions WHERE status IN "
                            "('waiting', 'processing', 'scheduled')") == 0
        ran = ledger.read_text().split() if ledger.exists() else []
        for eid, code in outcomes.items():
            if code == 204:
                assert store.get(Execution, eid) is None and eid not in ran
            else:
                assert ran.count(eid) == 1
        assert len(outcomes) == 60
    finally:
        for p in procs:
            p.stop()


@pytest.mark.parametrize(
    ("url", "payload", "param"),
    [("/v1/functions/f1/executions", {"async": True, "body": "a\u0000b"}, "body"),
     ("/v1/functions/f1/executions", {"async": True, "path": "/\u0000"}, "path"),
     ("/v1/functions", {"functionId": "f9", "name": "a\u0000", "runtime": "http"}, None)],
)
def test_nul_bytes_are_a_400_not_a_500(client, url, payload, param):
    body = assert_error(client.post(url, json=payload), 400, "general_argument_invalid")
    if param:
        assert body["message"] == (f"Invalid `{param}` param: Value must not contain NUL "
                                   "(\\u0000) characters")
    r = client.post("/v1/functions/f1/executions",
                    json={"async": True, "headers": {"a": "x\u0000"}})
    assert_error(r, 400, "general_argument_invalid")
    assert_error(client.get("/v1/scheduler/schedules", params={"functionId": "\x00"}), 400,
                 "general_argument_invalid")
