"""The Node.js runtime against the Python one (#35): the same function, written once in
each language as Appwrite's docs write them, run on the production topology (API,
scheduler and Celery worker processes, PostgreSQL, Redis, sandboxed runners) by every
trigger: a synchronous and an asynchronous execution, a cron fire, an event and a
domain request. Each trigger must give the same answer in both languages."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import create_engine, text

from tests.conftest import REDIS_URL, empty_database
from tests.helpers import (
    ROOT,
    free_port,
    start_api,
    start_scheduler,
    start_worker,
    tocsin_env,
    wait_for,
)

NODE_MODULES = ROOT / "tests" / "node" / "node_modules"
KEY = "parity-key-0123456789abcdef0123456789ab"

PYTHON = '''
def main(context):
    req = context.req
    context.log("ran " + req.headers.get("x-appwrite-trigger", "?"))
    return context.res.json({"trigger": req.headers.get("x-appwrite-trigger"),
                             "method": req.method, "path": req.path, "query": req.query,
                             "body": req.body}, 201, {"x-lang": "same"})
'''

NODE = '''
export default async ({ req, res, log }) => {
  log("ran " + (req.headers["x-appwrite-trigger"] ?? "?"));
  return res.json({ trigger: req.headers["x-appwrite-trigger"], method: req.method,
                    path: req.path, query: req.query, body: req.body }, 201,
                  { "x-lang": "same" });
};
'''

RUNTIMES = {"python-3.12": ("src/main.py", PYTHON), "node-22": ("src/main.js", NODE)}


class Stack:
    def __init__(self, base: str, functions_dir: Path) -> None:
        self.base, self.functions_dir = base, functions_dir
        self.client = httpx.Client(base_url=base, timeout=30, headers={
            "X-Appwrite-Project": "p1", "X-Appwrite-Key": KEY})

    def runs(self, function_id: str, trigger: str) -> list[dict[str, Any]]:
        q = json.dumps({"method": "equal", "attribute": "trigger", "values": [trigger]})
        return self.client.get(f"/functions/{function_id}/executions",
                               params={"queries[0]": q}).json()["executions"]

    def completed(self, function_id: str, trigger: str) -> dict[str, Any] | None:
        done = [r for r in self.runs(function_id, trigger) if r["status"] == "completed"]
        return done[0] if done else None


@pytest.fixture(scope="module")
def stack(pg_url_session, tmp_path_factory) -> Iterator[Stack]:
    empty_database(pg_url_session)
    broker = REDIS_URL.rsplit("/", 1)[0] + "/15"
    redis.Redis.from_url(broker).flushdb()
    tmp = tmp_path_factory.mktemp("parity")
    functions = tmp / "functions"
    port = free_port()  # functions call the API back (APPWRITE_FUNCTION_API_ENDPOINT)
    env = tocsin_env(pg_url_session, broker, TOCSIN_BOOTSTRAP_PROJECT="p1",
                     TOCSIN_BOOTSTRAP_KEY=KEY, TOCSIN_FUNCTIONS_DOMAIN="fn.test",
                     TOCSIN_FUNCTIONS_DIR=str(functions),
                     TOCSIN_PUBLIC_URL=f"http://127.0.0.1:{port}/v1")
    api, base = start_api(env, tmp, port=port)
    procs = [api, start_scheduler(env, "s1", tmp), start_worker(env, "w1", tmp)]
    wait_for(lambda: " ready." in procs[2].output(), 30, what="the worker")
    yield Stack(base, functions)
    for proc in procs:
        proc.stop()


def _expected(trigger: str, method: str, path: str, query: dict[str, str],
              body: Any) -> dict[str, Any]:
    return {"trigger": trigger, "method": method, "path": path, "query": query, "body": body}


@pytest.mark.parametrize("runtime", list(RUNTIMES))
def test_every_trigger_gives_the_same_answer_in_python_and_node(stack, runtime, pg_url_session):
    entrypoint, code = RUNTIMES[runtime]
    fid = runtime.split("-")[0] + "fn"
    path = stack.functions_dir / "p1" / fid / entrypoint
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(code)
    made = stack.client.post("/functions", json={
        "functionId": fid, "name": fid, "runtime": runtime, "entrypoint": entrypoint,
        "execute": ["any"], "events": ["orders.*.paid"], "schedule": "0 0 1 1 *"})
    assert made.status_code == 201, made.text
    body = {"n": 1}
    request = {"method": "POST", "path": "/in?x=1", "body": json.dumps(body),
               "headers": {"content-type": "application/json"}}

    # Synchronous, through the API: the response at once.
    sync = stack.client.post(f"/functions/{fid}/executions", json=request).json()
    assert (sync["status"], sync["responseStatusCode"]) == ("completed", 201), sync
    assert json.loads(sync["responseBody"]) == _expected("http", "POST", "/in", {"x": "1"}, body)
    assert sync["logs"] == "ran http"
    assert {"name": "content-type", "value": "application/json; charset=utf-8"} in sync[
        "responseHeaders"]

    # Asynchronous: queued, run by the worker, recorded.
    queued = stack.client.post(f"/functions/{fid}/executions",
                               json={**request, "async": True}).json()
    assert queued["status"] == "waiting"
    done = wait_for(lambda: (r := stack.client.get(
        f"/functions/{fid}/executions/{queued['$id']}").json())["status"] == "completed" and r,
        30, what=f"the {runtime} async run")
    assert done["responseStatusCode"] == 201 and done["logs"] == "ran http"

    # A cron fire: the yearly schedule is made due now, on the database's clock.
    engine = create_engine(pg_url_session)
    with engine.begin() as conn:
        conn.execute(text("UPDATE schedules SET next_fire_at = now() WHERE function_id = :f"),
                     {"f": fid})
        conn.execute(text("NOTIFY tocsin_wakeup"))
    engine.dispose()
    fired = wait_for(lambda: stack.completed(fid, "schedule"), 30, what="the cron fire")
    assert fired["logs"] == "ran schedule" and fired["responseStatusCode"] == 201

    # An event the function subscribes to: its payload is the body, as JSON.
    published = stack.client.post("/events", json={"event": f"orders.{fid}.paid",
                                                   "payload": {"amount": 5}})
    assert published.status_code == 201, published.text
    heard = wait_for(lambda: stack.completed(fid, "event"), 30, what="the event's run")
    assert heard["logs"] == "ran event"

    # Its generated domain: the function's own response, byte for byte.
    root = stack.base.removesuffix("/v1")
    served = httpx.post(root + "/hook?y=2", headers={"Host": f"{fid}.fn.test"},
                        json={"m": True}, timeout=30)
    assert served.status_code == 201, served.text
    assert served.headers["x-lang"] == "same"
    assert served.json() == _expected("http", "POST", "/hook", {"y": "2"}, {"m": True})


TEMPLATES = Path(__file__).parents[1] / "fixtures" / "appwrite_templates"
MOTTO = {"motto": "Build like a team of hundreds_", "learn": "https://appwrite.io/docs",
         "connect": "https://appwrite.io/discord",
         "getInspired": "https://builtwith.appwrite.io"}


@pytest.mark.parametrize(("runtime", "template", "entrypoint"), [
    ("python-3.12", "python-starter", "src/main.py"),
    ("node-22", "node-starter", "src/main.js")])
def test_appwrites_starter_templates_run_unchanged(stack, runtime, template, entrypoint):
    """Appwrite's published starter templates (tests/fixtures/appwrite_templates), as
    files: ``/ping`` answers "Pong", any other path the motto. They call Appwrite's
    Users service with the run's own key; Tocsin serves Functions only, so that call
    gets Appwrite's 404 and the template logs it as an error, as it would on Appwrite."""
    fid = template.replace("-", "")
    folder = stack.functions_dir / "p1" / fid
    shutil.copytree(TEMPLATES / template, folder)
    if runtime.startswith("node"):  # `npm install`, as a build would: the SDK and its deps
        for package in ("node-appwrite", "undici", "json-bigint", "bignumber.js"):
            shutil.copytree(NODE_MODULES / package, folder / "node_modules" / package)
    made = stack.client.post("/functions", json={
        "functionId": fid, "name": fid, "runtime": runtime, "entrypoint": entrypoint,
        "scopes": ["users.read"]})
    assert made.status_code == 201, made.text
    ping = stack.client.post(f"/functions/{fid}/executions",
                             json={"path": "/ping", "method": "GET"}).json()
    assert (ping["status"], ping["responseStatusCode"]) == ("completed", 200), ping
    assert ping["responseBody"] == "Pong"
    home = stack.client.post(f"/functions/{fid}/executions", json={"path": "/"}).json()
    assert (home["status"], home["responseStatusCode"]) == ("completed", 200), home
    assert json.loads(home["responseBody"]) == MOTTO
    assert home["logs"] == ""
    assert home["errors"].startswith("Could not list users: "), home["errors"]
    assert "not found" in home["errors"].lower(), home["errors"]
