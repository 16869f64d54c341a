"""Appwrite's Proxy API for function rules, through the official Python SDK."""

from __future__ import annotations

import pytest
from appwrite.client import Client
from appwrite.exception import AppwriteException
from appwrite.query import Query
from appwrite.services.proxy import Proxy

from tests.helpers import start_api, tocsin_env
from tests.integration.test_api import KEY, assert_error, client, fn  # noqa: F401


@pytest.fixture
def api(pg_url, broker_url, tmp_path):
    """A real `tocsin api` process the SDK talks HTTP to."""
    env = tocsin_env(pg_url, broker_url, TOCSIN_BOOTSTRAP_PROJECT="p1",
                     TOCSIN_BOOTSTRAP_KEY=KEY)
    proc, base = start_api(env, tmp_path)
    yield base
    proc.stop()


def test_the_sdk_creates_lists_gets_and_deletes_function_rules(api, store):
    function_id = store.function("f1")
    proxy = Proxy(Client().set_endpoint(api).set_project("p1").set_key(KEY))
    rule = proxy.create_function_rule(domain="Hooks.Example.com", function_id=function_id)
    assert (rule.domain, rule.deploymentresourceid, rule.status.value) == (
        "hooks.example.com", function_id, "verified")
    other = proxy.create_function_rule(domain="bot.example.org", function_id=function_id)
    listed = proxy.list_rules(queries=[Query.ends_with("domain", ".com")])
    assert [r.id for r in listed.rules] == [rule.id] and listed.total == 1
    assert proxy.get_rule(other.id).domain == "bot.example.org"
    assert proxy.update_rule_status(other.id).status.value == "verified"
    proxy.delete_rule(rule.id)
    with pytest.raises(AppwriteException) as info:
        proxy.get_rule(rule.id)
    assert (info.value.code, info.value.type) == (404, "rule_not_found")
    assert [r.id for r in proxy.list_rules().rules] == [other.id]


@pytest.mark.parametrize(("body", "status", "type_", "message"), [
    ({"domain": "https://x.example.com", "functionId": "f1"}, 400, "general_argument_invalid",
     "Invalid `domain` param: Value must be a valid domain name, e.g. hooks.example.com "
     "(no scheme, port or path)"),
    ({"domain": "localhost", "functionId": "f1"}, 400, "general_argument_invalid", None),
    ({"domain": "a.example.com:8080", "functionId": "f1"}, 400, "general_argument_invalid",
     None),
    ({"domain": "a.example.com", "functionId": "nope"}, 404, "function_not_found", None),
    ({"domain": "a.example.com"}, 400, "general_argument_invalid",
     "Invalid `functionId` param: Param is required"),
])
def test_bad_rules(client, fn, body, status, type_, message):  # noqa: F811
    assert_error(client.post("/v1/proxy/rules/function", json=body), status, type_, message)


def test_a_domain_is_one_rule_across_projects_and_goes_with_its_function(
        client, fn, store):  # noqa: F811
    from scheduler.store.db import transaction
    from scheduler.store.projects import add_key

    assert client.post("/v1/proxy/rules/function", json={
        "domain": "pay.example.com", "functionId": fn}).status_code == 201
    store.function("g1", project="p2")
    with transaction(store.sessions) as s:
        add_key(s, "p2", "p2-rules-key-000000000000000000", ["rules.write", "rules.read"])
    other = {"X-Appwrite-Project": "p2", "X-Appwrite-Key": "p2-rules-key-000000000000000000"}
    assert_error(client.post("/v1/proxy/rules/function", headers=other, json={
        "domain": "pay.example.com", "functionId": "g1"}), 409, "rule_already_exists",
        "Domain is already used. Please try again with a different domain.")
    assert client.get("/v1/proxy/rules", headers=other).json()["total"] == 0
    assert_error(client.post("/v1/proxy/rules/api", json={"domain": "x.example.com"}), 404,
                 "general_route_not_found")
    assert client.delete(f"/v1/functions/{fn}").status_code == 204
    assert client.get("/v1/proxy/rules").json()["total"] == 0
