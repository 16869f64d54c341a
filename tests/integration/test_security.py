"""Findings of the penetration test (#20), each shown failing before its fix: entrypoints,
sync exhaustion, result retention, the http runtime's path, headers and addresses,
body caps, per-project file entrypoints, keys, scopes, operator endpoints, edge input."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from fastapi.testclient import TestClient

from scheduler.api.app import create_app
from scheduler.broker.publish import RedisPublisher
from scheduler.broker.results import LocalResults
from scheduler.config import Settings
from scheduler.store.db import transaction
from scheduler.store.models import Execution
from scheduler.store.projects import add_key
from tasks.runtimes import Request
from tasks.runtimes import http as http_runtime
from tasks.runtimes import python as python_runtime
from tests.helpers import ROOT, start_api, start_worker, tocsin_env, wait_for

KEY = "security-test-key-0123456789abcdef0123"


@pytest.fixture
def client(pg_url, broker_url):
    settings = Settings(database_url=pg_url, broker_url=broker_url, bootstrap_project="p1",
                        bootstrap_key=KEY, entrypoint_modules="tests.fixtures",
                        max_request_bytes=1024 * 1024, metrics_token="metrics-secret")
    with TestClient(create_app(settings, publisher=RedisPublisher(broker_url))) as c:
        c.headers.update({"X-Appwrite-Project": "p1", "X-Appwrite-Key": KEY})
        yield c


def _create(client, **fields):
    return client.post("/v1/functions", json={"functionId": "f1", "name": "F",
                                               "runtime": "python-3.12", **fields})


# ------------------------------------------------------------------ 1. entrypoints

@pytest.mark.parametrize("entrypoint", ["os:system", "sys:exit", "sys:addaudithook",
                                        "subprocess:run", "tests.fixturesx.evil:main",
                                        "tests.fixtures.functions:_ledger"])
def test_only_allowed_modules_can_be_entrypoints(client, entrypoint):
    r = _create(client, entrypoint=entrypoint)
    assert r.status_code == 400, r.text
    assert r.json()["type"] == "general_argument_invalid"
    assert "entrypoint" in r.json()["message"]
    if not entrypoint.endswith("_ledger"):
        assert "TOCSIN_ENTRYPOINT_MODULES" in r.json()["message"]
    assert _create(client, entrypoint="tests.fixtures.functions:hello").status_code == 201
    assert client.put("/v1/functions/f1", json={"name": "F", "entrypoint": "os:system"}
                      ).status_code == 400


def test_worker_refuses_a_disallowed_entrypoint_and_survives_sys_exit(
        pg_url, broker_url, store, tmp_path):
    """A row written past the API (an older version, a direct insert) is checked again in
    the worker; SystemExit from user code is a failed run and the worker goes on."""
    store.function("bad", entrypoint="os:getcwd")
    store.function("quits", entrypoint="tests.fixtures.functions:exits")
    store.function()
    bad, quits, fine = store.waiting("bad"), store.waiting("quits"), store.waiting()
    worker = start_worker(tocsin_env(pg_url, broker_url), "wsec", tmp_path, concurrency=1)
    try:
        RedisPublisher(broker_url).publish([bad, quits, fine])
        wait_for(lambda: all(store.get(Execution, e).status in ("completed", "failed")
                             for e in (bad, quits, fine)), 30, what="all three to finish")
        assert store.get(Execution, bad).status == "failed"
        assert "TOCSIN_ENTRYPOINT_MODULES" in store.get(Execution, bad).errors
        assert store.get(Execution, quits).status == "failed"
        assert "SystemExit" in store.get(Execution, quits).errors
        assert store.get(Execution, fine).status == "completed"
    finally:
        worker.stop()


# ------------------------------------------------------------------ 3. results nobody waits for

def test_results_without_a_waiter_are_dropped_and_abandoned_ones_expire():
    channel = LocalResults()
    channel.post("nobody-asked", {"body": "x" * 1000})
    assert channel.pending() == 0
    channel.expect("gave-up")
    assert channel.wait("gave-up", 0.01) is None  # the caller timed out
    channel.post("gave-up", {"body": "x" * 1000})  # the late result
    assert channel.pending() == 0
    channel.expect("waited")
    channel.post("waited", {"body": "ok"})
    assert channel.wait("waited", 1) == {"body": "ok"} and channel.pending() == 0


# ------------------------------------------------------------------ 4, 5, 8. the http runtime

class Capture(BaseHTTPRequestHandler):
    seen: list[dict[str, object]] = []

    def log_message(self, *args):
        pass

    def _any(self):
        Capture.seen.append({"method": self.command, "path": self.path,
                             "headers": {k.lower(): v for k, v in self.headers.items()}})
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_GET = do_POST = do_PUT = do_DELETE = _any


@pytest.fixture
def capture():
    Capture.seen = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Capture)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def _req(path, headers=None, method="GET"):
    return Request(method=method, path=path, headers=headers or {}, body=b"")


def test_http_path_is_confined_under_the_function_url(capture):
    out = http_runtime.run(capture + "/fn/", _req("/../../admin/delete?all=1", method="DELETE"),
                           5, deny_private=False)
    assert not out.failed, out.errors
    assert Capture.seen[-1]["path"] == "/fn/admin/delete?all=1"
    http_runtime.run(capture + "/fn", _req("/a/%2e%2e/%2E%2E/b"), 5, deny_private=False)
    assert Capture.seen[-1]["path"] == "/fn/b"


def test_callers_cannot_choose_framing_or_hop_by_hop_headers(client, capture):
    _create(client, entrypoint="tests.fixtures.functions:hello")
    for name in ("Host", "Content-Length", "Transfer-Encoding", "Connection", "Upgrade"):
        r = client.post("/v1/functions/f1/executions",
                        json={"async": True, "headers": {name: "x"}})
        assert r.status_code == 400 and name in r.json()["message"], r.text
    # ... and the runtime drops them anyway (rows written past the API).
    out = http_runtime.run(capture, _req("/", {"host": "internal.admin",
                                               "transfer-encoding": "chunked",
                                               "content-length": "5", "x-ok": "1"}),
                           5, deny_private=False)
    assert not out.failed, out.errors
    seen = Capture.seen[-1]["headers"]
    assert seen["host"] == capture.removeprefix("http://") and seen["x-ok"] == "1"
    assert "transfer-encoding" not in seen


def test_control_characters_in_path_are_a_400_and_never_crash_the_runtime(client, capture):
    _create(client, entrypoint="tests.fixtures.functions:hello")
    for path in ("/a\r\nX-Injected: 1", "/a\nb", "/\x7f"):
        r = client.post("/v1/functions/f1/executions", json={"async": True, "path": path})
        assert r.status_code == 400 and "path" in r.json()["message"], r.text
    out = http_runtime.run(capture, _req("/a\r\nb"), 5, deny_private=False)
    assert out.failed and "control characters" in out.errors


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/", "http://0x7f000001:9/",
                                 "http://[::1]:9/", "http://169.254.169.254/latest/meta-data",
                                 "http://10.1.2.3/", "http://localhost:9/"])
def test_private_addresses_are_refused_after_resolution(url):
    out = http_runtime.run(url, _req("/"), 2, deny_private=True)
    assert out.failed and "non-public address" in out.errors, out.errors


def test_url_credentials_are_refused_and_never_echoed(client, store):
    r = _create(client, runtime="http", url="https://user:pw@example.com/hook")
    assert r.status_code == 400 and "credentials" in r.json()["message"]
    store.function("legacy", project="p1", runtime="http", url="https://u:secret@example.com/x")
    got = client.get("/v1/functions/legacy").json()
    assert got["url"] == "https://example.com/x" and "secret" not in json.dumps(got)


# ------------------------------------------------------------------ 6. body size

def test_bodies_over_the_cap_are_refused_before_parsing(client):
    big = b'{"body": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    r = client.post("/v1/functions/f1/executions", content=big,
                    headers={"X-Appwrite-Project": "no-such-project",
                             "content-type": "application/json"})
    assert r.status_code == 413 and r.json()["type"] == "general_payload_too_large"
    assert "TOCSIN_MAX_REQUEST_BYTES" in r.json()["message"]

    def chunks():  # no Content-Length: cut off as it streams
        for _ in range(40):
            yield b"x" * 65536

    r = client.post("/v1/functions/f1/executions", content=chunks(),
                    headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["type"] == "general_payload_too_large"


# ------------------------------------------------------------------ 7, 14. file entrypoints

def test_file_entrypoints_are_per_project_and_errors_show_no_server_paths(tmp_path):
    src = tmp_path / "pA" / "report" / "src"
    src.mkdir(parents=True)
    (src / "main.py").write_text("def main(context):\n    return context.res.text('A')\n")
    mine = python_runtime.run("pA", "report", "src/main.py", str(tmp_path), _req("/"), 5, ())
    assert mine.body == b"A"
    theirs = python_runtime.run("pB", "report", "src/main.py", str(tmp_path), _req("/"), 5, ())
    assert theirs.failed and "not found under pB/report/" in theirs.errors
    assert str(tmp_path) not in theirs.errors


# ------------------------------------------------------------------ 9-11. keys, scopes, probes

def test_weak_bootstrap_keys_are_refused_at_start(pg_url):
    env = tocsin_env(pg_url, "memory://", TOCSIN_BOOTSTRAP_KEY="short-key")
    out = subprocess.run([sys.executable, "-m", "scheduler", "api", "--port", "1"], env=env,
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "TOCSIN_BOOTSTRAP_KEY" in out.stderr and "at least 32 characters" in out.stderr
    assert "Traceback" not in out.stderr


def test_trigger_needs_executions_write_too(client, store):
    _create(client, entrypoint="tests.fixtures.functions:hello", schedule="0 0 1 1 *")
    sid = store.scalar("SELECT id FROM schedules")
    with transaction(store.sessions) as s:
        add_key(s, "p1", "scheduler-only-key-0123456789abcdef", ["scheduler.write"])
    r = client.post(f"/v1/scheduler/schedules/{sid}/trigger",
                    headers={"X-Appwrite-Key": "scheduler-only-key-0123456789abcdef"})
    assert r.status_code == 401 and "executions.write" in r.json()["message"]
    assert client.post(f"/v1/scheduler/schedules/{sid}/trigger").status_code == 202


def test_operator_information_is_not_for_everyone(client):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer metrics-secret"}
                      ).status_code == 200
    status = client.get("/v1/scheduler/status").json()
    hostname = socket.gethostname()
    assert hostname not in json.dumps(status)


def test_readyz_names_the_failing_part_without_its_error(pg_url):
    settings = Settings(database_url=pg_url, broker_url="redis://127.0.0.1:1/0")
    with TestClient(create_app(settings, publisher=RedisPublisher("redis://127.0.0.1:1/0"))
                    ) as c:
        r = c.get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"] == {"database": "pass", "broker": "fail"}


# ------------------------------------------------------------------ 12. edge input

def test_out_of_range_numbers_and_times_are_400s(client):
    _create(client, entrypoint="tests.fixtures.functions:hello")
    q = json.dumps({"method": "equal", "attribute": "responseStatusCode",
                    "values": [99999999999999999999999]})
    r = client.get("/v1/functions/f1/executions", params={"queries[]": q})
    assert r.status_code == 400 and r.json()["type"] == "general_query_invalid"
    for after in ("9999-12-31T23:58:00", "0001-01-01T00:00:00+14:00"):
        r = client.get("/v1/scheduler/cron/preview",
                       params={"expression": "* * * * *", "after": after})
        assert r.status_code == 400 and "after" in r.json()["message"], r.text


# ------------------------------------------------------------------ 13. connection cap

def test_connections_beyond_the_cap_are_refused_not_queued(pg_url, broker_url, tmp_path):
    env = tocsin_env(pg_url, broker_url, TOCSIN_API_MAX_CONNECTIONS="8")
    proc, base = start_api(env, tmp_path)
    port = int(base.split(":")[2].split("/")[0])
    held = []
    try:
        for _ in range(10):  # slow clients: half a request each, never finished
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            held.append(s)
        r = httpx.get(base.removesuffix("/v1") + "/healthz", timeout=10)
        assert r.status_code == 503
    finally:
        for s in held:
            s.close()
        proc.stop()


@pytest.mark.slow
def test_abandoned_sync_results_do_not_pile_up_in_tocsin_up(tmp_path):
    """`tocsin up`, one worker thread kept busy: 30 synchronous calls of a function that
    returns 5 MB time out at the API, then run. Their results used to stay in the
    in-process channel forever (+150 MB here); now they are dropped."""
    import os

    import psutil

    from tests.helpers import free_port
    from tests.integration.test_up import healthy, read_key, start_up

    port = free_port()
    os.environ["TOCSIN_SYNC_TIMEOUT"] = "1"
    try:
        proc, _ = start_up(tmp_path, port, workers=1)
    finally:
        del os.environ["TOCSIN_SYNC_TIMEOUT"]
    base = f"http://127.0.0.1:{port}/v1"
    try:
        key = read_key(proc)
        wait_for(lambda: healthy(base), 30, what="tocsin up to serve")
        headers = {"X-Appwrite-Project": "default", "X-Appwrite-Key": key}
        for fid, entry in (("big", "big"), ("slow", "slow")):
            r = httpx.post(base + "/functions", headers=headers, json={
                "functionId": fid, "name": fid, "runtime": "python-3.12", "timeout": 60,
                "entrypoint": f"tests.fixtures.functions:{entry}"})
            assert r.status_code == 201, r.text
        rss = psutil.Process(proc.pid)
        before = rss.memory_info().rss
        # The only worker thread is busy for 5 s; every sync call gives up meanwhile.
        httpx.post(base + "/functions/slow/executions", headers=headers,
                   json={"async": True, "path": "/?seconds=5"}).raise_for_status()
        from concurrent.futures import ThreadPoolExecutor

        with httpx.Client(timeout=30, limits=httpx.Limits(max_connections=40)) as client, \
                ThreadPoolExecutor(30) as pool:
            codes = list(pool.map(lambda _: client.post(
                base + "/functions/big/executions", headers=headers, json={}).status_code,
                range(30)))
        assert set(codes) == {408}
        wait_for(lambda: httpx.get(base + "/functions/big/executions", headers=headers,
                                   params={"queries[]": json.dumps(
                                       {"method": "equal", "attribute": "status",
                                        "values": ["completed"]})}).json()["total"] == 30,
                 90, interval=1, what="the abandoned calls to run")
        grown = (rss.memory_info().rss - before) / 2**20
        assert grown < 60, f"RSS grew {grown:.0f} MiB"
    finally:
        proc.send_signal(2)
        proc.wait(30)


def test_the_real_body_cap_is_11_mib(pg_url, broker_url):
    """At the default: 10 MiB executions bodies still pass the cap (they are Appwrite's
    limit, checked later with its own message), 12 MiB is refused while streaming."""
    settings = Settings(database_url=pg_url, broker_url=broker_url, bootstrap_project="p1",
                        bootstrap_key=KEY)
    assert settings.max_request_bytes == 11 * 1024 * 1024
    with TestClient(create_app(settings, publisher=RedisPublisher(broker_url))) as c:
        c.headers.update({"X-Appwrite-Project": "p1", "X-Appwrite-Key": KEY})
        ten = json.dumps({"async": True, "body": "x" * (10 * 1024 * 1024)})
        r = c.post("/v1/functions/nope/executions", content=ten,
                   headers={"content-type": "application/json"})
        assert r.status_code == 404 and r.json()["type"] == "function_not_found"
        twelve = json.dumps({"async": True, "body": "x" * (12 * 1024 * 1024)})
        r = c.post("/v1/functions/nope/executions", content=twelve,
                   headers={"content-type": "application/json"})
        assert r.status_code == 413 and r.json()["type"] == "general_payload_too_large"
