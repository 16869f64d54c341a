"""Users from any OIDC provider (RS256/ES256 through a JWKS), audience and issuer
checks, and hosts that are not the API's: a real app on the real PostgreSQL."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient

from scheduler.api.app import create_app
from scheduler.broker.publish import RedisPublisher
from scheduler.config import Settings

KEY = "users-test-key-0123456789abcdef01234"
RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC = ec.generate_private_key(ec.SECP256R1())
STRANGER = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks_url() -> Iterator[str]:
    """An identity provider's JWKS endpoint on loopback, with one RSA and one EC key."""
    keys = []
    for kid, key, alg in (("r1", RSA, jwt.algorithms.RSAAlgorithm),
                          ("e1", EC, jwt.algorithms.ECAlgorithm)):
        jwk = json.loads(alg.to_jwk(key.public_key()))
        keys.append({**jwk, "kid": kid, "use": "sig"})
    body = json.dumps({"keys": keys}).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    server.shutdown()


@pytest.fixture
def client(pg_url, broker_url, jwks_url):
    settings = Settings(database_url=pg_url, broker_url=broker_url, bootstrap_project="p1",
                        bootstrap_key=KEY, jwks_url=jwks_url, jwt_audience="tocsin",
                        jwt_issuer="https://id.example.com",
                        api_hosts="api.example.com,testserver")
    with TestClient(create_app(settings, publisher=RedisPublisher(broker_url))) as c:
        c.headers.update({"X-Appwrite-Project": "p1", "X-Appwrite-Key": KEY})
        r = c.post("/v1/functions", json={"functionId": "f", "name": "f",
                                          "runtime": "python-3.12",
                                          "execute": ["user:alice", "team:ops"]})
        assert r.status_code == 201, r.text
        yield c


def signed(key=RSA, kid="r1", alg="RS256", **claims) -> str:
    body = {"sub": "alice", "aud": "tocsin", "iss": "https://id.example.com",
            "exp": int(time.time()) + 300, **claims}
    return jwt.encode(body, key, algorithm=alg, headers={"kid": kid})


def execute(client: TestClient, token: str):
    return client.post("/v1/functions/f/executions", json={"async": True},
                       headers={"X-Appwrite-Key": "", "X-Appwrite-JWT": token})


def test_rs256_and_es256_tokens_from_the_jwks_are_users(client):
    r = execute(client, signed())
    assert r.status_code == 202, r.text
    assert r.json()["$permissions"] == ['read("user:alice")']
    assert execute(client, signed(EC, "e1", "ES256", sub="bob", teams=["ops"])).status_code == 202
    r = execute(client, signed(EC, "e1", "ES256", sub="bob"))
    assert (r.status_code, r.json()["type"]) == (401, "user_unauthorized")
    assert r.json()["message"] == ("The current user is not authorized to perform the "
                                   "requested action.")


@pytest.mark.parametrize("token", [
    signed(aud="someone-else"), signed(iss="https://evil.example.com"),
    signed(STRANGER), signed(kid="unknown"), signed(exp=int(time.time()) - 5),
    jwt.encode({"sub": "alice", "aud": "tocsin", "exp": int(time.time()) + 300},
               "a-shared-secret-nobody-configured-here", algorithm="HS256"),
    "a.b.c", "",
])
def test_tokens_the_provider_did_not_issue_for_us_are_refused(client, token):
    r = execute(client, token)
    if not token:  # no token at all: a guest, refused by the roles' scope as Appwrite does
        assert (r.status_code, r.json()["type"]) == (401, "general_unauthorized_scope")
        return
    assert (r.status_code, r.json()["type"]) == (401, "user_jwt_invalid")
    assert "X-Appwrite-JWT" in r.json()["message"]


def test_with_api_hosts_set_other_hosts_are_routers_404(client):
    assert client.get("/v1/health", headers={"Host": "api.example.com"}).status_code == 200
    r = client.get("/v1/health", headers={"Host": "unknown.example.org"})
    assert (r.status_code, r.json()["type"]) == (404, "router_host_not_found")
    assert r.json()["message"].startswith("Host is not trusted.")


def test_platforms_through_the_operator_route(client):
    r = client.put("/v1/scheduler/platforms",
                   json={"platforms": ["https://App.example.com/", "http://localhost:5173"]})
    assert r.json() == {"total": 2, "platforms": ["http://localhost:5173",
                                                  "https://app.example.com"]}
    assert client.get("/v1/scheduler/platforms").json()["total"] == 2
    r = client.put("/v1/scheduler/platforms", json={"platforms": ["app.example.com"]})
    assert (r.status_code, r.json()["type"]) == (400, "general_argument_invalid")
    assert "https://app.example.com" in r.json()["message"]
    r = client.get("/v1/scheduler/platforms", headers={"X-Appwrite-Key": ""})
    assert (r.status_code, r.json()["type"]) == (401, "general_unauthorized_scope")


def test_a_rule_cannot_take_the_apis_own_host(client):
    for name in ("api.example.com", "testserver.example"):
        r = client.post("/v1/proxy/rules/function", json={"domain": name, "functionId": "f"})
        if name == "api.example.com":
            assert (r.status_code, r.json()["type"]) == (400, "general_argument_invalid")
            assert "reserved" in r.json()["message"]
        else:
            assert r.status_code == 201, r.text


@pytest.mark.parametrize("binding", ["audience", "claim"])
def test_a_token_can_be_bound_to_its_project(pg_url, broker_url, store, binding):
    """#29 item 9. Kills verifying a token without its project: with no audience set, a
    user of project A's application was a user in every project."""
    from scheduler.store.db import transaction
    from scheduler.store.projects import add_key, ensure_project

    secret = "per-project-jwt-secret-0123456789abcdef"
    bound = ({"jwt_audience": "tocsin:{project}"} if binding == "audience"
             else {"jwt_claim_project": "tenant"})
    settings = Settings(database_url=pg_url, broker_url=broker_url, bootstrap_project="p1",
                        bootstrap_key=KEY, jwt_secret=secret, **bound)
    with transaction(store.sessions) as s:
        ensure_project(s, "p2")
        add_key(s, "p2", "p2-key-0123456789abcdef0123456789", ["functions.write"])
    with TestClient(create_app(settings, publisher=RedisPublisher(broker_url))) as c:
        for project, key in (("p1", KEY), ("p2", "p2-key-0123456789abcdef0123456789")):
            r = c.post("/v1/functions", json={"functionId": "f", "name": "f",
                                              "runtime": "python-3.12", "execute": ["users"]},
                       headers={"X-Appwrite-Project": project, "X-Appwrite-Key": key})
            assert r.status_code == 201, r.text
        claims = ({"aud": "tocsin:p1"} if binding == "audience" else {"tenant": "p1"})
        token = jwt.encode({"sub": "alice", "exp": int(time.time()) + 300, **claims}, secret,
                           algorithm="HS256")

        def run_in(project: str):
            return c.post("/v1/functions/f/executions", json={"async": True},
                          headers={"X-Appwrite-Project": project, "X-Appwrite-JWT": token})

        assert run_in("p1").status_code == 202
        r = run_in("p2")
        assert (r.status_code, r.json()["type"]) == (401, "user_jwt_invalid")


def test_a_user_can_neither_cancel_nor_rerun_a_run_even_its_own(client):
    """Cancel and re-run are operators' actions (API keys with ``executions.write``,
    which a signed-in user never holds)."""
    made = execute(client, signed())
    assert made.status_code == 202, made.text
    run = made.json()["$id"]
    for action in ("cancel", "rerun"):
        r = client.post(f"/v1/functions/f/executions/{run}/{action}",
                        headers={"X-Appwrite-Key": "", "X-Appwrite-JWT": signed()})
        assert r.status_code == 401, r.text
        assert r.json()["type"] == "general_unauthorized_scope", r.text
    assert client.post(f"/v1/functions/f/executions/{run}/cancel").status_code == 200
