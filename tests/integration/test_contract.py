"""Contract: every field the official Python SDK's models declare is in Tocsin's
responses, with a JSON type the SDK accepts. The field lists are read from the
installed SDK (appwrite 27), not from a copy, so a new SDK field fails here first."""

from __future__ import annotations

import enum
import typing
from typing import Any

import pytest
from appwrite.models.deployment import Deployment
from appwrite.models.execution import Execution
from appwrite.models.function import Function
from appwrite.models.proxy_rule import ProxyRule
from appwrite.models.runtime import Runtime
from appwrite.models.specification import Specification
from appwrite.models.variable import Variable
from pydantic import BaseModel

from tests.fixtures.archives import archive
from tests.integration.test_api import client  # noqa: F401 - the fixture


def accepts(annotation: Any, value: Any) -> bool:
    """Whether a JSON value fits the SDK's annotation (the way the SDK parses it)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union:
        return any(accepts(arg, value) for arg in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if origin in (list, typing.List):  # noqa: UP006 - the SDK spells it List
        (item,) = typing.get_args(annotation) or (Any,)
        return isinstance(value, list) and all(accepts(item, v) for v in value)
    if annotation is Any:
        return True
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return value in {m.value for m in annotation}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return isinstance(value, dict) and not missing(annotation, value)
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, annotation)


def missing(model: type[BaseModel], body: dict[str, Any]) -> list[str]:
    problems = []
    for field in model.model_fields.values():
        name = field.alias or ""
        if name not in body:
            if field.is_required():
                problems.append(f"{name}: absent")
        elif not accepts(field.annotation, body[name]):
            problems.append(f"{name}: {body[name]!r} is not {field.annotation}")
    return problems


@pytest.fixture
def bodies(client):  # noqa: F811
    fn = client.post("/v1/functions", json={
        "functionId": "contract", "name": "Contract", "runtime": "python-3.12",
        "entrypoint": "tests.fixtures.functions:hello", "scopes": ["functions.read"],
        "description": "a function", "commands": "pip install -r requirements.txt"})
    assert fn.status_code == 201, fn.text
    var = client.post("/v1/functions/contract/variables", json={"key": "K", "value": "v"})
    ex = client.post("/v1/functions/contract/executions", json={"async": True})
    rule = client.post("/v1/proxy/rules/function", json={"domain": "hooks.example.com",
                                                         "functionId": "contract"})
    assert rule.status_code == 201, rule.text
    deployment = client.post("/v1/functions/contract/deployments", data={
        "entrypoint": "src/main.py", "activate": "false"},
        files={"code": ("code.tar.gz", archive("v1"), "application/gzip")})
    assert deployment.status_code == 202, deployment.text
    return {
        Deployment: deployment.json(),
        ProxyRule: rule.json(),
        Function: client.get("/v1/functions/contract").json(),
        Variable: var.json(),
        Execution: ex.json(),
        Runtime: client.get("/v1/functions/runtimes").json()["runtimes"][0],
        Specification: client.get("/v1/functions/specifications").json()["specifications"][0],
    }


@pytest.mark.parametrize("model", [Function, Variable, Execution, Runtime, Specification,
                                   ProxyRule, Deployment],
                         ids=lambda m: m.__name__)
def test_every_sdk_field_is_present_with_its_type(bodies, model):
    assert missing(model, bodies[model]) == []
    assert model.model_validate(bodies[model])  # and the SDK itself parses it


def test_what_the_sdk_sends_is_stored(bodies):
    fn = bodies[Function]
    assert (fn["description"], fn["commands"], fn["scopes"]) == (
        "a function", "pip install -r requirements.txt", ["functions.read"])
    assert [v["key"] for v in fn["vars"]] == ["K"]
