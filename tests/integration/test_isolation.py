"""Function isolation with real processes (issue #12): a real `tocsin api`, scheduler and
Celery worker (and `tocsin up`), driven by the official `appwrite` SDK, unchanged."""

from __future__ import annotations

import json
import signal

import httpx
import pytest
from appwrite.client import Client
from appwrite.exception import AppwriteException
from appwrite.query import Query
from appwrite.services.functions import Functions

from tests.helpers import free_port, start_api, start_scheduler, start_worker, tocsin_env, wait_for
from tests.integration.test_up import healthy, read_key, start_up

KEY = "isolation-key-0123456789abcdef01234567"
ENTRY = "tests.fixtures.functions:"


@pytest.fixture
def stack(pg_url, broker_url, tmp_path):
    env = tocsin_env(pg_url, broker_url, TOCSIN_BOOTSTRAP_PROJECT="iso",
                     TOCSIN_BOOTSTRAP_KEY=KEY, TOCSIN_PUBLIC_URL="https://tocsin.example/v1",
                     AWS_SECRET_ACCESS_KEY="hunter2", TOCSIN_LOG_LEVEL="DEBUG")
    api, base = start_api(env, tmp_path)
    procs = [api, start_scheduler(env, "s1", tmp_path), start_worker(env, "w1", tmp_path, 1)]
    client = Client().set_endpoint(base).set_project("iso").set_key(KEY)
    yield Functions(client), base
    for p in procs:
        p.stop()


def status(execution) -> str:
    return getattr(execution.status, "value", execution.status)


def run_sync(functions, function_id, path="/"):
    return functions.create_execution(function_id=function_id, xasync=False, path=path)


def test_variables_through_the_official_sdk(stack):
    functions, _ = stack
    functions.create(function_id="vars", name="Vars", runtime="python-3.12",
                     entrypoint=ENTRY + "env_dump")
    plain = functions.create_variable(function_id="vars", variable_id="plain", key="GREETING",
                                      value="hi", description="a greeting")
    assert (plain.id, plain.key, plain.value, plain.secret, plain.description) == (
        "plain", "GREETING", "hi", False, "a greeting")
    assert (plain.resourcetype, plain.resourceid) == ("function", "vars")
    secret = functions.create_variable(function_id="vars", variable_id="unique()",
                                       key="API_TOKEN", value="s3cr3t", secret=True)
    assert secret.value == "" and secret.secret is True and len(secret.id) == 20
    listed = functions.list_variables(function_id="vars")
    assert listed.total == 2 and {v.key for v in listed.variables} == {"GREETING", "API_TOKEN"}
    assert all(v.value in ("", "hi") for v in listed.variables)  # the secret never reads back
    only = functions.list_variables(function_id="vars", queries=[Query.equal("key", "GREETING")])
    assert [v.id for v in only.variables] == ["plain"]
    assert functions.get_variable(function_id="vars", variable_id=secret.id).value == ""
    assert [v.value for v in functions.get(function_id="vars").vars] == ["hi", ""]

    updated = functions.update_variable(function_id="vars", variable_id="plain",
                                        key="GREETING", value="hello", secret=True)
    assert updated.secret is True and updated.value == ""
    with pytest.raises(AppwriteException) as unset:
        functions.update_variable(function_id="vars", variable_id="plain", secret=False)
    assert (unset.value.code, unset.value.type) == (400, "variable_cannot_unset_secret")

    for call, code, kind in [
        (lambda: functions.get_variable(function_id="vars", variable_id="nope"),
         404, "variable_not_found"),
        (lambda: functions.create_variable(function_id="vars", variable_id="plain",
                                           key="OTHER", value="x"), 409, "variable_already_exists"),
        (lambda: functions.create_variable(function_id="vars", variable_id="again",
                                           key="API_TOKEN", value="x"),
         409, "variable_already_exists"),
        (lambda: functions.create_variable(function_id="vars", variable_id="bad",
                                           key="9LIVES", value="x"), 400,
         "general_argument_invalid"),
        (lambda: functions.create_variable(function_id="vars", variable_id="big",
                                           key="BIG", value="x" * 8193), 400,
         "general_argument_invalid"),
        (lambda: functions.list_variables(function_id="missing"), 404, "function_not_found"),
    ]:
        with pytest.raises(AppwriteException) as err:
            call()
        assert (err.value.code, err.value.type) == (code, kind), err.value.message
    assert functions.get_variable(function_id="vars", variable_id="plain").key == "GREETING"

    functions.delete_variable(function_id="vars", variable_id=secret.id)
    assert functions.list_variables(function_id="vars").total == 1
    functions.delete(function_id="vars")  # its variables go with it
    functions.create(function_id="vars", name="Vars", runtime="python-3.12",
                     entrypoint=ENTRY + "env_dump")
    assert functions.list_variables(function_id="vars").total == 0


def test_a_function_sees_its_variables_and_none_of_the_workers_secrets(stack):
    functions, _ = stack
    functions.create(function_id="env", name="Env", runtime="python-3.12",
                     entrypoint=ENTRY + "env_dump")
    functions.create_variable(function_id="env", variable_id="a", key="GREETING", value="hi")
    functions.create_variable(function_id="env", variable_id="b", key="API_TOKEN",
                              value="s3cr3t", secret=True)
    execution = run_sync(functions, "env")
    assert status(execution) == "completed", execution.errors
    env = json.loads(execution.responsebody)["env"]
    assert not [k for k in env if k.startswith("TOCSIN_")]
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert (env["GREETING"], env["API_TOKEN"]) == ("hi", "s3cr3t")
    assert env["APPWRITE_FUNCTION_EXECUTION_ID"] == execution.id
    assert env["APPWRITE_FUNCTION_API_ENDPOINT"] == "https://tocsin.example/v1"
    assert (env["APPWRITE_FUNCTION_ID"], env["APPWRITE_FUNCTION_NAME"],
            env["APPWRITE_FUNCTION_PROJECT_ID"], env["APPWRITE_FUNCTION_RUNTIME_NAME"],
            env["APPWRITE_FUNCTION_RUNTIME_VERSION"]) == ("env", "Env", "iso", "Python", "3.12")
    # A changed variable reaches the next run (a new runner for the new environment).
    functions.update_variable(function_id="env", variable_id="a", key="GREETING", value="yo")
    assert json.loads(run_sync(functions, "env").responsebody)["env"]["GREETING"] == "yo"


def test_crashes_and_timeouts_fail_the_run_and_the_worker_goes_on(stack):
    """One worker process with concurrency 1: every run below goes through it, so the
    last success proves it survived the others."""
    functions, _ = stack
    for name, timeout in (("immortal", 2), ("segfault", 10), ("exit_three", 10),
                          ("hog", 10), ("env_dump", 10)):
        functions.create(function_id=name, name=name, runtime="python-3.12",
                         entrypoint=ENTRY + name, timeout=timeout)
    expected = {
        "immortal": "Operation timed out after 2 s",
        "segfault": "killed by SIGSEGV",
        "exit_three": "exited with code 3",
        "hog": "memory limit of 512 MB exceeded",
    }
    for name, message in expected.items():
        execution = run_sync(functions, name, path="/?mb=2048")
        assert status(execution) == "failed", name
        assert message in execution.errors, (name, execution.errors)
    done = run_sync(functions, "env_dump")
    assert status(done) == "completed" and done.responsestatuscode == 200


def test_specifications_are_listed_and_chosen(stack):
    functions, _ = stack
    runtimes = {r.id: r for r in functions.list_runtimes().runtimes}  # the SDK parses them
    assert runtimes["python-3.12"].name == "Python" and "http" in runtimes
    specs = functions.list_specifications()
    slugs = {s.slug: s for s in specs.specifications}
    assert slugs["s-1vcpu-512mb"].memory == 512 and slugs["s-1vcpu-512mb"].enabled
    assert slugs["s-8vcpu-8gb"].cpus == 8
    fn = functions.create(function_id="big", name="Big", runtime="python-3.12",
                          entrypoint=ENTRY + "hog", runtime_specification="s-1vcpu-1gb")
    assert fn.runtimespecification == "s-1vcpu-1gb"
    ok = run_sync(functions, "big", path="/?mb=600")
    assert status(ok) == "completed", ok.errors
    with pytest.raises(AppwriteException) as err:
        functions.update(function_id="big", name="Big", runtime_specification="s-64vcpu-1tb")
    assert err.value.code == 400 and "Specification must be one of" in err.value.message


def test_tocsin_up_isolates_functions_too(tmp_path):
    port = free_port()
    proc, _ = start_up(tmp_path, port, workers=1)
    try:
        key = read_key(proc)
        base = f"http://127.0.0.1:{port}/v1"
        wait_for(lambda: healthy(base), 30, what="health")
        functions = Functions(Client().set_endpoint(base).set_project("default").set_key(key))
        for name in ("env_dump", "segfault", "immortal", "hog"):
            functions.create(function_id=name.replace("_", "-"), name=name,
                             runtime="python-3.12", entrypoint=ENTRY + name, timeout=2)
        crashed = run_sync(functions, "segfault")
        assert status(crashed) == "failed" and "SIGSEGV" in crashed.errors
        stuck = run_sync(functions, "immortal")
        assert status(stuck) == "failed" and "timed out" in stuck.errors
        hog = run_sync(functions, "hog", path="/?mb=2048")
        assert status(hog) == "failed" and "memory limit of 512 MB exceeded" in hog.errors
        execution = run_sync(functions, "env-dump")
        assert status(execution) == "completed", execution.errors
        body = json.loads(execution.responsebody)
        assert not [k for k in body["env"] if k.startswith("TOCSIN_")]
        assert body["pid"] != proc.pid
        assert httpx.get(base + "/health", timeout=5).status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


def test_each_run_gets_a_key_with_the_functions_scopes_that_ends_with_it(stack, tmp_path):
    """Appwrite's dynamic key: x-appwrite-key carries the function's scopes for this run
    only. Killed mutations: no key, a key that outlives the run, a key with all scopes."""
    functions, base = stack
    functions.create(function_id="caller", name="Caller", runtime="python-3.12",
                     entrypoint=ENTRY + "call_back", scopes=["functions.read"])
    functions.create(function_id="plain", name="Plain", runtime="python-3.12",
                     entrypoint=ENTRY + "call_back")
    assert functions.get(function_id="caller").scopes == ["functions.read"]
    run = functions.create_execution(function_id="caller", body=base, xasync=False)
    got = json.loads(run.responsebody)
    assert got["status"] == 200 and got["key"].startswith("tocsin_")
    assert "x-appwrite-key" not in {h.name for h in run.requestheaders}
    headers = {"X-Appwrite-Project": "iso", "X-Appwrite-Key": got["key"]}
    after = httpx.get(base + "/functions", headers=headers, timeout=5)
    assert after.status_code == 401  # revoked when the run ended
    unscoped = json.loads(functions.create_execution(function_id="plain", body=base,
                                                     xasync=False).responsebody)
    assert unscoped == {"key": "", "status": 401}
    # Neither the project key nor a run's key is in any process's log, even at DEBUG
    # (the API's, the scheduler's and the worker's; #21: read the real logs).
    logs = {p.name: p.read_text(errors="replace") for p in tmp_path.glob("*.log")}
    assert {"api.log", "s1.log", "w1.log"} <= set(logs), sorted(logs)
    assert "execution.finished" in logs["w1.log"]  # the worker did log the runs
    for name, text in logs.items():
        assert KEY not in text and got["key"] not in text, name
