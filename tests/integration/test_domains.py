"""Function domains and users, through a real `tocsin api` and a real worker.

A generated domain (Host ``<id>.fn.test``), a custom domain (a Proxy API rule) and
the path form each run a function with method, path, query, headers and a binary
body intact, and answer with its status, headers and body. Users are JWTs signed
with the configured secret; their roles decide, and they never see logs or errors.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import jwt
import pytest
import redis
from sqlalchemy import create_engine, text

from tests.conftest import REDIS_URL, empty_database
from tests.helpers import start_api, start_worker, tocsin_env, wait_for
from tests.integration.test_node_sdk import NODE_DIR, node_sdk  # noqa: F401 - the fixture

KEY = "domain-test-key-0123456789abcdef0123"
SECRET = "domain-test-jwt-secret-0123456789abcdef"
BINARY = bytes(range(256)) * 40 + b"\x00\xff tail"


@dataclass
class Stack:
    base: str  # http://127.0.0.1:PORT
    api: httpx.Client  # with the project's key

    def domain(self, host: str, method: str, path: str, **kw) -> httpx.Response:
        headers = {"Host": host, **kw.pop("headers", {})}
        return httpx.request(method, self.base + path, headers=headers, timeout=30, **kw)

    def function(self, function_id: str, entry: str = "echo", execute=("any",)) -> str:
        r = self.api.post("/v1/functions", json={
            "functionId": function_id, "name": function_id, "runtime": "python-3.12",
            "entrypoint": f"tests.fixtures.functions:{entry}", "execute": list(execute)})
        assert r.status_code == 201, r.text
        return function_id


@pytest.fixture(scope="module")
def stack(pg_url_session, tmp_path_factory) -> Iterator[Stack]:
    empty_database(pg_url_session)
    broker = REDIS_URL.rsplit("/", 1)[0] + f"/{1 + (os.getpid() % 14)}"
    redis.Redis.from_url(broker).flushdb()
    tmp = tmp_path_factory.mktemp("domains")
    env = tocsin_env(pg_url_session, broker, TOCSIN_BOOTSTRAP_PROJECT="p1",
                     TOCSIN_BOOTSTRAP_KEY=KEY, TOCSIN_FUNCTIONS_DOMAIN="fn.test",
                     TOCSIN_JWT_SECRET=SECRET, TOCSIN_SYNC_TIMEOUT="3")
    worker = start_worker(env, "w1", tmp)
    api, base = start_api(env, tmp)
    wait_for(lambda: " ready." in worker.output(), 30, what="the worker")
    root = base.removesuffix("/v1")
    client = httpx.Client(base_url=root, timeout=30,
                          headers={"X-Appwrite-Project": "p1", "X-Appwrite-Key": KEY})
    yield Stack(root, client)
    client.close()
    api.stop()
    worker.stop()


def token(sub: str = "alice", expires_in: float = 300, key: str = SECRET, **claims) -> str:
    return jwt.encode({"sub": sub, "exp": int(time.time() + expires_in), **claims}, key,
                      algorithm="HS256")


def seen(r: httpx.Response) -> dict:
    return json.loads(r.headers["x-seen"])


# ------------------------------------------------------------------------- domains


def test_a_generated_domain_runs_the_function_with_the_request_intact(stack):
    stack.function("echo")
    r = stack.domain("Echo.fn.test:8080", "PUT", "/hooks/a%20b/?x=1&y=%C3%A9&status=201",
                     content=BINARY, headers={
                         "X-Custom": "yes", "Content-Type": "application/octet-stream",
                         "X-Appwrite-Key": "forged", "X-Appwrite-User-Id": "forged"})
    assert r.status_code == 201, r.text
    assert r.content == BINARY
    # Completed as Open Runtimes' server sends it (a charset unless it names one).
    assert (r.headers["x-fn"], r.headers["content-type"]) == (
        "echo", "application/octet-stream; charset=utf-8")
    got = seen(r)
    # URL-decoded, as Open Runtimes' runtime hands path and query string to the function.
    assert (got["method"], got["path"], got["query"]) == ("PUT", "/hooks/a b/",
                                                           "x=1&y=é&status=201")
    headers = got["headers"]
    assert headers["x-custom"] == "yes" and headers["host"] == "Echo.fn.test:8080"
    assert headers["x-appwrite-trigger"] == "http"
    assert headers["x-appwrite-client-ip"] == "127.0.0.1"
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert (headers["x-forwarded-proto"], headers["x-forwarded-host"]) == (
        "http", "Echo.fn.test:8080")
    assert "x-appwrite-key" not in headers and "x-appwrite-user-id" not in headers
    assert "x-appwrite-user-jwt" not in headers
    # The run is an execution like any other: synchronous, trigger http.
    listed = stack.api.get("/v1/functions/echo/executions").json()["executions"]
    assert [(e["trigger"], e["status"], e["requestMethod"], e["responseStatusCode"])
            for e in listed] == [("http", "completed", "PUT", 201)]
    assert listed[0]["requestPath"] == "/hooks/a%20b/?x=1&y=%C3%A9&status=201"


def test_a_custom_domain_and_the_path_form_run_it_too(stack):
    stack.function("custom")
    taken = stack.api.post("/v1/proxy/rules/function",
                           json={"domain": "echo.fn.test", "functionId": "custom"})
    assert (taken.status_code, taken.json()["type"]) == (400, "general_argument_invalid")
    rule = stack.api.post("/v1/proxy/rules/function",
                          json={"domain": "hooks.example.com", "functionId": "custom"})
    assert rule.status_code == 201, rule.text
    r = stack.domain("hooks.example.com", "DELETE", "/orders/7?status=418", content=b"\x01\x02")
    assert (r.status_code, r.content, seen(r)["path"]) == (418, b"\x01\x02", "/orders/7")
    r = stack.domain("127.0.0.1", "POST", "/v1/run/custom/deep/path?q=1", content=b"{}")
    assert (r.status_code, r.content) == (200, b"{}")
    assert (seen(r)["path"], seen(r)["query"]) == ("/deep/path", "q=1")
    # HEAD: the function's status and headers, no body.
    r = stack.domain("hooks.example.com", "HEAD", "/")
    assert (r.status_code, r.content, r.headers["x-fn"]) == (200, b"", "echo")
    # The rule deleted, the domain is no longer the function's (within the cache's 2 s).
    stack.api.delete(f"/v1/proxy/rules/{rule.json()['$id']}")
    wait_for(lambda: stack.domain("hooks.example.com", "GET", "/").status_code == 404, 10,
             what="the deleted rule to stop answering")


def test_unknown_generated_domains_are_routers_404(stack):
    for host in ("nope.fn.test", "a.b.fn.test"):
        r = stack.domain(host, "GET", "/")
        assert (r.status_code, r.json()["type"]) == (404, "router_host_not_found")
    r = stack.domain("127.0.0.1", "GET", "/v1/run/nope/")
    assert (r.status_code, r.json()["type"]) == (404, "router_host_not_found")


def test_failures_timeouts_and_limits(stack):
    stack.function("fails", "server_error")
    stack.function("crashes", "boom")
    stack.function("sleeps", "slow")
    r = stack.domain("fails.fn.test", "GET", "/")
    assert (r.status_code, r.text) == (503, "nope")  # the function's own response
    r = stack.domain("crashes.fn.test", "GET", "/")
    assert (r.status_code, r.json()["type"]) == (500, "general_unknown")
    assert "kaboom" not in r.text  # its errors are for API keys
    r = stack.domain("sleeps.fn.test", "GET", "/?seconds=6")
    assert (r.status_code, r.json()["type"]) == (408, "function_synchronous_timeout")
    r = stack.domain("fails.fn.test", "POST", "/", content=b"x" * (10 * 1024 * 1024 + 1))
    assert (r.status_code, r.json()["type"]) == (413, "general_payload_too_large")
    r = stack.domain("echo.fn.test", "POST", "/", content=b"x" * (10 * 1024 * 1024))
    assert r.status_code == 200 and len(r.content) == 10 * 1024 * 1024


# --------------------------------------------------------------------------- users


def test_a_function_without_any_refuses_guests_and_admits_users_it_grants(stack,
                                                                         pg_url_session):
    stack.function("private", execute=["user:alice", "team:red/admin", "label:vip"])
    r = stack.domain("private.fn.test", "GET", "/")
    assert (r.status_code, r.json()["type"]) == (401, "user_unauthorized")
    for grant in (token("alice"), token("bob", teams=["red/admin"]),
                  token("carol", labels=["vip"])):
        r = stack.domain("private.fn.test", "GET", "/",
                         headers={"x-appwrite-user-jwt": grant})
        assert r.status_code == 200, r.text
        headers = seen(r)["headers"]
        assert headers["x-appwrite-user-jwt"] == grant
        assert headers["x-appwrite-user-id"] == jwt.decode(
            grant, options={"verify_signature": False})["sub"]
    for refused in (token("bob"), token("bob", teams=["red"]), token("dan", labels=["v"])):
        r = stack.domain("private.fn.test", "GET", "/",
                         headers={"x-appwrite-user-jwt": refused})
        assert (r.status_code, r.json()["type"]) == (401, "user_unauthorized")
    # The function had each user's token; the database keeps none of them.
    engine = create_engine(pg_url_session)
    with engine.connect() as conn:
        runs = conn.execute(text(
            "SELECT user_id, request_headers::text FROM executions "
            "WHERE function_id = 'private' AND user_id IS NOT NULL")).all()
    engine.dispose()
    assert len(runs) == 3
    assert not [user for user, headers in runs if "x-appwrite-user-jwt" in headers]
    assert all('"x-appwrite-user-id"' in headers for _, headers in runs)


@pytest.mark.parametrize("bad", [
    "not-a-jwt", token(expires_in=-60), token(key="another-secret-0123456789abcdef0"),
    jwt.encode({"sub": "alice"}, SECRET, algorithm="HS256"),  # no expiry
    jwt.encode({"exp": int(time.time()) + 600}, SECRET, algorithm="HS256"),  # nobody
])
def test_bad_tokens_are_user_jwt_invalid_never_a_500(stack, bad):
    if stack.api.get("/v1/functions/open").status_code == 404:
        stack.function("open")
    r = stack.domain("open.fn.test", "GET", "/", headers={"x-appwrite-user-jwt": bad})
    assert (r.status_code, r.json()["type"]) == (401, "user_jwt_invalid")
    r = stack.api.post("/v1/functions/open/executions", json={},
                       headers={"X-Appwrite-Key": "", "X-Appwrite-JWT": bad})
    assert (r.status_code, r.json()["type"]) == (401, "user_jwt_invalid")


def test_a_user_executes_reads_only_their_own_and_never_sees_logs(stack):
    stack.function("mine", execute=["users"])
    alice = {"X-Appwrite-Key": "", "X-Appwrite-JWT": token("alice")}
    bob = {"X-Appwrite-Key": "", "X-Appwrite-JWT": token("bob")}
    r = stack.api.post("/v1/functions/mine/executions", json={"body": "hi"}, headers=alice)
    assert r.status_code == 201, r.text
    ran = r.json()
    assert ran["status"] == "completed" and ran["responseBody"] == "hi"
    assert (ran["logs"], ran["errors"]) == ("", "")
    assert ran["$permissions"] == ['read("user:alice")']
    as_key = stack.api.get(f"/v1/functions/mine/executions/{ran['$id']}").json()
    assert "echo" in as_key["logs"] and "only API keys" in as_key["errors"]
    stack.api.post("/v1/functions/mine/executions", json={"async": True}, headers=bob)
    mine = stack.api.get("/v1/functions/mine/executions", headers=alice).json()
    assert [e["$id"] for e in mine["executions"]] == [ran["$id"]] and mine["total"] == 1
    assert mine["executions"][0]["logs"] == ""
    assert stack.api.get("/v1/functions/mine/executions").json()["total"] == 2
    r = stack.api.get(f"/v1/functions/mine/executions/{ran['$id']}", headers=bob)
    assert (r.status_code, r.json()["type"]) == (404, "execution_not_found")
    r = stack.api.delete(f"/v1/functions/mine/executions/{ran['$id']}", headers=alice)
    assert (r.status_code, r.json()["type"]) == (401, "general_unauthorized_scope")
    r = stack.api.get("/v1/functions/mine", headers=alice)
    assert (r.status_code, r.json()["message"]) == (
        401, 'User (role: users) missing scopes (["functions.read"])')


def test_execute_accepts_appwrites_role_grammar_only(stack):
    r = stack.api.post("/v1/functions", json={
        "functionId": "roles", "name": "r", "runtime": "python-3.12",
        "execute": ["users/verified", "team:red/owner", "member:m1", "admins"]})
    assert (r.status_code, r.json()["type"]) == (400, "general_argument_invalid")
    assert r.json()["message"].startswith('Invalid `execute` param: Role "admins" is not '
                                          "allowed. Must be one of: any, guests, users")
    r = stack.api.post("/v1/functions", json={
        "functionId": "roles", "name": "r", "runtime": "python-3.12",
        "execute": ["users/verified", "team:red/owner", "member:m1"]})
    assert r.status_code == 201, r.text
    verified = {"X-Appwrite-Key": "", "X-Appwrite-JWT": token("v", email_verified=True)}
    unverified = {"X-Appwrite-Key": "", "X-Appwrite-JWT": token("u", email_verified=False)}
    assert stack.api.post("/v1/functions/roles/executions", json={"async": True},
                          headers=verified).status_code == 202
    r = stack.api.post("/v1/functions/roles/executions", json={"async": True},
                       headers=unverified)
    assert (r.status_code, r.json()["type"]) == (401, "user_unauthorized")


def test_the_node_sdks_set_jwt_executes_as_that_user(stack, node_sdk):  # noqa: F811
    """node-appwrite's ``setJWT`` (no key): the run is the user's, the function is told
    who asked, and a user the roles do not name is refused."""
    stack.function("nodejwt", execute=["user:nina"])

    def run(grant: str) -> dict:
        done = subprocess.run(["node", "jwt.mjs", stack.base + "/v1", "p1", grant, "nodejwt"],
                              cwd=NODE_DIR, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    ok = run(token("nina"))["ok"]
    assert (ok["status"], ok["responseBody"], ok["logs"]) == ("completed", "from node", "")
    assert ok["$permissions"] == ['read("user:nina")']
    headers = {h["name"]: h["value"] for h in ok["responseHeaders"]}
    assert json.loads(headers["x-seen"])["headers"]["x-appwrite-user-id"] == "nina"
    refused = run(token("otto"))["error"]
    assert (refused["code"], refused["type"]) == (401, "user_unauthorized")


def test_a_rule_cannot_take_a_host_the_api_is_served_on(stack):
    """#29 item 6. Kills rules judged by the settings alone: with neither
    TOCSIN_API_HOSTS nor TOCSIN_PUBLIC_URL set, a key with rules.write took the host
    every project called the API on, and its function then ran every project's calls
    (Authorization headers and all)."""
    stack.function("grabber")
    r = stack.api.get("/v1/functions", headers={"Host": "api.tocsin.test"})
    assert r.status_code == 200  # a key-bearing API call came in on this host
    for host, via in (("api.tocsin.test", "127.0.0.1"),  # learned from that call
                      ("admin.tocsin.test", "admin.tocsin.test")):  # this very request
        taken = stack.api.post("/v1/proxy/rules/function", headers={"Host": via},
                               json={"domain": host, "functionId": "grabber"})
        assert (taken.status_code, taken.json()["type"]) == (400, "general_argument_invalid")
        assert "reserved" in taken.json()["message"]
    r = stack.api.get("/v1/functions/grabber", headers={"Host": "api.tocsin.test"})
    assert (r.status_code, r.json()["$id"]) == (200, "grabber")  # still the API


def test_credentials_reach_the_run_but_never_its_row(stack, pg_url_session):
    """#29 item 11. Kills storing a domain request's Authorization and Cookie on the
    run (readable at rest until claimed, and after) and passing on a caller's
    x-tocsin-scheduled-for (a forged fire time)."""
    stack.function("vault")
    r = stack.domain("vault.fn.test", "POST", "/", content=b"{}", headers={
        "Authorization": "Bearer s3cret", "Cookie": "session=abc",
        "X-Tocsin-Scheduled-For": "2020-01-01T00:00:00+00:00",
        "x-appwrite-user-jwt": token("carol")})
    assert r.status_code == 200, r.text
    headers = seen(r)["headers"]
    assert (headers["authorization"], headers["cookie"]) == ("Bearer s3cret", "session=abc")
    assert headers["x-appwrite-user-jwt"] and headers["x-appwrite-user-id"] == "carol"
    assert "x-tocsin-scheduled-for" not in headers
    engine = create_engine(pg_url_session)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT request_headers FROM executions "
                                   "WHERE function_id = 'vault'")).scalar_one()
    engine.dispose()
    kept = {k.lower() for k in (json.loads(stored) if isinstance(stored, str) else stored)}
    assert not kept & {"authorization", "cookie", "x-appwrite-user-jwt",
                       "x-tocsin-scheduled-for"}
    refused = stack.api.post("/v1/functions/vault/executions", json={
        "async": True, "headers": {"X-Tocsin-Scheduled-For": "2020-01-01T00:00:00Z"}})
    assert (refused.status_code, refused.json()["type"]) == (400, "general_argument_invalid")
