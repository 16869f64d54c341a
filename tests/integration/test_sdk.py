"""The official `appwrite` Python SDK, unchanged, against a real `tocsin api` process with a
real scheduler and Celery worker behind it."""

from __future__ import annotations

import socket
import sys
from datetime import timedelta

import httpx
import pytest
from appwrite.client import Client
from appwrite.exception import AppwriteException
from appwrite.query import Query
from appwrite.services.functions import Functions

from scheduler.rules.timerules import iso
from tests.helpers import Proc, start_scheduler, start_worker, tocsin_env, wait_for

KEY = "sdk-test-key-0123456789abcdef01234567"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def stack(pg_url, broker_url, tmp_path):
    port = free_port()
    env = tocsin_env(pg_url, broker_url, TOCSIN_BOOTSTRAP_PROJECT="sdkproj",
                     TOCSIN_BOOTSTRAP_KEY=KEY, TOCSIN_LEASE_TTL="2")
    procs = [
        Proc([sys.executable, "-m", "scheduler", "api", "--port", str(port)], env,
             tmp_path / "api.log"),
        start_scheduler(env, "s1", tmp_path),
        start_worker(env, "w1", tmp_path),
    ]
    base = f"http://127.0.0.1:{port}/v1"

    def healthy():
        try:
            return httpx.get(base + "/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(healthy, 30, what="the API to serve")
    yield base
    for p in procs:
        p.stop()


def v(value: object) -> object:
    """The SDK returns enums for status and trigger."""
    return getattr(value, "value", value)


def sdk(base: str, key: str = KEY, project: str = "sdkproj") -> Functions:
    client = Client().set_endpoint(base).set_project(project).set_key(key)
    return Functions(client)


def test_sdk_end_to_end(stack, store):
    functions = sdk(stack)
    fn = functions.create(function_id="hello", name="Hello", runtime="python-3.12",
                          schedule="*/5 * * * *", timeout=10,
                          entrypoint="tests.fixtures.functions:hello")
    assert fn.id == "hello" and fn.schedule == "*/5 * * * *"

    sync = functions.create_execution(function_id="hello", body="ping", xasync=False,
                                      path="/sync?x=1", method="POST")
    assert v(sync.status) == "completed" and sync.responsestatuscode == 200
    assert '"body":"ping"' in sync.responsebody

    queued = functions.create_execution(function_id="hello", xasync=True)
    assert (v(queued.status), v(queued.trigger)) == ("waiting", "http")
    wait_for(lambda: v(functions.get_execution("hello", queued.id).status) == "completed", 30,
             what="the async execution")

    when = iso(store.now().replace(second=0, microsecond=0) + timedelta(minutes=10))
    scheduled = functions.create_execution(function_id="hello", xasync=True, scheduled_at=when)
    assert (v(scheduled.status), v(scheduled.trigger), scheduled.scheduledat) == (
        "scheduled", "schedule", when)

    listed = functions.list_executions("hello", queries=[Query.equal("status", ["scheduled"])])
    assert listed.total == 1 and listed.executions[0].id == scheduled.id
    page = functions.list_executions("hello", queries=[Query.limit(1), Query.order_desc("$id")])
    assert len(page.executions) == 1

    assert functions.delete_execution("hello", scheduled.id) == b""
    with pytest.raises(AppwriteException) as info:
        functions.get_execution("hello", scheduled.id)
    assert (info.value.code, info.value.type) == (404, "execution_not_found")


ERROR_CASES = [
        (lambda f, w: f.create(function_id="bad", name="b", runtime="http", schedule="61 * * * *"),
         400, "general_argument_invalid"),
        (lambda f, w: f.create_execution("hello", xasync=True,
                                         scheduled_at="2001-01-01T00:00:00+00:00"),
         400, "general_bad_request"),
        (lambda f, w: f.create_execution("hello", xasync=True,
                                         scheduled_at="2099-01-01T00:00:30+00:00"),
         400, "general_bad_request"),
        (lambda f, w: f.create_execution("hello", xasync=False,
                                         scheduled_at="2099-01-01T00:00:00+00:00"),
         400, "general_bad_request"),
        (lambda f, w: f.create_execution("nope", xasync=True), 404, "function_not_found"),
        (lambda f, w: w.create_execution("hello", xasync=True), 401,
         "general_unauthorized_scope"),
]


def test_sdk_error_cases_and_a_missing_scope(stack, store):
    """Each case against one stack (a stack each cost 5 s of the suite's budget)."""
    from scheduler.store.db import transaction
    from scheduler.store.projects import add_key

    functions = sdk(stack)
    functions.create(function_id="hello", name="Hello", runtime="python-3.12",
                     entrypoint="tests.fixtures.functions:hello")
    wrong = sdk(stack, key="wrong-key")
    for number, (call, code, type_) in enumerate(ERROR_CASES):
        with pytest.raises(AppwriteException) as info:
            call(functions, wrong)
        assert (info.value.code, info.value.type) == (code, type_), number
    with transaction(store.sessions) as s:
        add_key(s, "sdkproj", "reader", ["executions.read"])
    with pytest.raises(AppwriteException) as info:
        sdk(stack, key="reader").create_execution("hello", xasync=True)
    assert (info.value.code, info.value.type) == (401, "general_unauthorized_scope")
