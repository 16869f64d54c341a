"""The official Node SDK (`node-appwrite` from npm), unchanged, against a real stack.

`tests/node/flows.mjs` makes the same calls as the Python SDK suite (plus
`Query.createdAfter`, `Query.or`, `listRuntimes`) and prints what each returned; this
test asserts on it. The contract test reads the field lists of the installed SDK's
TypeScript models (`dist/models.d.ts`), not a copy.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from scheduler.rules.timerules import iso
from tests.fixtures.archives import archive
from tests.integration.test_api import client  # noqa: F401 - a fixture of `bodies`
from tests.integration.test_contract import bodies  # noqa: F401 - the fixture
from tests.integration.test_sdk import KEY, stack  # noqa: F401 - the fixture

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
SDK_DIR = NODE_DIR / "node_modules" / "node-appwrite"


@pytest.fixture(scope="session")
def node_sdk() -> Path:
    """The installed SDK; `.ci/run` installs it, a bare checkout gets it here once."""
    assert shutil.which("node") and shutil.which("npm"), "node and npm must be installed"
    if not SDK_DIR.exists():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--no-package-lock",
                        "--silent"], cwd=NODE_DIR, check=True, timeout=300)
    return SDK_DIR


def test_node_sdk_flows(node_sdk, stack, store, tmp_path):  # noqa: F811
    when = iso(store.now().replace(second=0, microsecond=0) + timedelta(minutes=10))
    code = tmp_path / "code.tar.gz"
    code.write_bytes(archive("node", padding=11 * 1024 * 1024))
    run = subprocess.run(["node", "flows.mjs", stack, "sdkproj", KEY, when, str(code)],
                         cwd=NODE_DIR, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)

    def ok(name: str) -> Any:
        assert "ok" in out[name], f"{name}: {out[name]}"
        return out[name]["ok"]

    def error(name: str) -> tuple[int, str]:
        assert "error" in out[name], f"{name} should have failed: {out[name]}"
        return out[name]["error"]["code"], out[name]["error"]["type"]

    assert ok("create")["$id"] == "hello" and ok("create")["schedule"] == "*/5 * * * *"
    assert ok("get")["scopes"] == ["functions.read"]
    assert (ok("update")["name"], ok("update")["timeout"]) == ("Hello again", 12)
    assert [f["$id"] for f in ok("list")["functions"]] == ["hello"]
    assert "python-3.12" in {r["$id"] for r in ok("runtimes")["runtimes"]}
    assert ok("specifications")["total"] >= 1
    assert ok("variable")["key"] == "GREETING"
    assert [v["key"] for v in ok("variables")["variables"]] == ["GREETING"]

    sync = ok("sync")
    assert (sync["status"], sync["responseStatusCode"]) == ("completed", 200)
    assert '"body":"ping"' in sync["responseBody"]
    assert (ok("async")["status"], ok("async")["trigger"]) == ("waiting", "http")
    assert ok("asyncDone")["status"] == "completed"
    scheduled = ok("scheduled")
    assert (scheduled["status"], scheduled["trigger"], scheduled["scheduledAt"]) == (
        "scheduled", "schedule", when)

    assert [e["$id"] for e in ok("listScheduled")["executions"]] == [scheduled["$id"]]
    assert {e["$id"] for e in ok("listOr")["executions"]} == {
        scheduled["$id"], sync["$id"], ok("async")["$id"]}
    newest = ok("listCreatedAfter")
    assert newest["total"] == 3 and [e["$id"] for e in newest["executions"]] == [
        scheduled["$id"], ok("async")["$id"]]
    assert ok("listCreatedAfterFuture")["total"] == 0
    assert ok("deleteScheduled") == {"message": ""}  # the SDK's shape for an empty 204
    assert error("getDeleted") == (404, "execution_not_found")

    deployment = ok("deployment")
    assert deployment["sourceSize"] == code.stat().st_size
    assert (deployment["chunksUploaded"], deployment["chunksTotal"]) == (3, 3)
    assert [d["$id"] for d in ok("deployments")["deployments"]] == [deployment["$id"]]

    assert error("badSchedule") == (400, "general_argument_invalid")
    assert error("pastScheduledAt") == (400, "general_bad_request")
    assert error("unknownFunction") == (404, "function_not_found")
    assert error("wrongKey") == (401, "general_unauthorized_scope")
    assert error("badQuery") == (400, "general_query_invalid")
    assert ok("delete") == {"message": ""}
    assert error("getAfterDelete") == (404, "function_not_found")


# ------------------------------------------------------------------ the Node models

_TYPE = re.compile(r"^    export type (\w+) = \{$")
_FIELD = re.compile(r"^        (\$?\w+)(\??): (.+);$")


def node_models(sdk: Path) -> dict[str, dict[str, tuple[str, bool]]]:
    """{model: {field: (TypeScript type, optional)}} from the installed SDK."""
    models: dict[str, dict[str, tuple[str, bool]]] = {}
    current: dict[str, tuple[str, bool]] | None = None
    for line in (sdk / "dist" / "models.d.ts").read_text().splitlines():
        if match := _TYPE.match(line):
            current = models.setdefault(match.group(1), {})
        elif line == "    };":
            current = None
        elif current is not None and (match := _FIELD.match(line)):
            current[match.group(1)] = (match.group(3), match.group(2) == "?")
    return models


def fits(ts_type: str, value: Any, models: dict[str, dict[str, tuple[str, bool]]]) -> bool:
    if ts_type.endswith("[]"):
        return isinstance(value, list) and all(fits(ts_type[:-2], v, models) for v in value)
    if ts_type == "string":
        return isinstance(value, str)
    if ts_type == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if ts_type == "boolean":
        return isinstance(value, bool)
    if ts_type in models:
        return isinstance(value, dict) and not problems(ts_type, value, models)
    return isinstance(value, str)  # SDK enums (ExecutionStatus, …) are string enums


def problems(model: str, body: dict[str, Any],
             models: dict[str, dict[str, tuple[str, bool]]]) -> list[str]:
    found = []
    for name, (ts_type, optional) in models[model].items():
        if name not in body:
            if not optional:
                found.append(f"{name}: absent")
        elif not (optional and body[name] is None) and not fits(ts_type, body[name], models):
            found.append(f"{name}: {body[name]!r} is not {ts_type}")
    return found


@pytest.mark.parametrize("model", ["Function", "Variable", "Execution", "Runtime",
                                   "Specification", "ProxyRule", "Deployment"])
def test_every_node_sdk_field_is_present_with_its_type(node_sdk, bodies, model):  # noqa: F811
    from appwrite.models import (
        deployment,
        execution,
        function,
        proxy_rule,
        runtime,
        specification,
        variable,
    )

    python_model = {"Function": function.Function, "Variable": variable.Variable,
                    "Execution": execution.Execution, "Runtime": runtime.Runtime,
                    "Specification": specification.Specification,
                    "ProxyRule": proxy_rule.ProxyRule,
                    "Deployment": deployment.Deployment}[model]
    models = node_models(node_sdk)
    assert len(models) > 50 and models[model], "the models file was not parsed"
    assert problems(model, bodies[python_model], models) == []
