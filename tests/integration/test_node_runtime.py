"""The Node.js runner (``tasks/runner/node_start.py`` and ``node_child.mjs``), confined as
a worker confines it, against Open Runtimes' Node.js runtime (``server.js``): each
context member, the response, CommonJS and ES modules, a folder's ``node_modules``,
and the limits (memory, timeout) a function cannot escape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks.runner import sandbox
from tasks.runner.context import Request
from tasks.runner.pool import RunnerPool
from tasks.runtimes import python as runtime

ECHO = """
export default async ({ req, res, log, error }) => {
  log("a line");
  log({ structured: [1, 2] });
  error("an error line");
  const body = req.body;
  return res.json({
    method: req.method, path: req.path, queryString: req.queryString, query: req.query,
    scheme: req.scheme, host: req.host, port: req.port, url: req.url,
    headers: req.headers, bodyText: req.bodyText, bodyRaw: req.bodyRaw,
    body: Buffer.isBuffer(body) ? { buffer: body.length } : body,
    binaryLength: req.bodyBinary.length,
    execution: process.env.APPWRITE_FUNCTION_EXECUTION_ID,
  }, 202, { "X-Custom": "yes", "x-open-runtimes-log-id": "dropped" });
};
"""


@pytest.fixture
def pool():
    p = RunnerPool(sandbox=sandbox.resolve("bwrap", "host", "nobody", 64, ()))
    yield p
    p.close()


def run(pool: RunnerPool, tmp_path: Path, code: str, request: Request, name: str = "main.js",
        timeout: float = 10, spec: str = "s-1vcpu-512mb", files: dict[str, str] | None = None):
    folder = tmp_path / "p1" / "fn"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(code)
    for rel, text in (files or {}).items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    return runtime.run("p1", "fn", name, str(tmp_path), request, timeout, (),
                       execution_id="exec1", runtime="node-22", spec=spec, pool=pool,
                       language="node")


def test_every_request_member_as_open_runtimes_node_builds_it(pool, tmp_path):
    out = run(pool, tmp_path, ECHO, Request(
        "POST", "/hooks/a%20b?x=1&eq=k=v&flag", {
            "Content-Type": "application/json", "Host": "fn.example.com:8080",
            "X-Forwarded-Proto": "https", "x-open-runtimes-secret": "s"}, b'{"n": 1}'))
    assert not out.failed, out.errors
    assert out.status_code == 202
    got = json.loads(out.body)
    assert got == {
        "method": "POST", "path": "/hooks/a%20b", "queryString": "x=1&eq=k=v&flag",
        "query": {"x": "1", "eq": "k=v", "flag": ""}, "scheme": "https",
        "host": "fn.example.com", "port": 8080,
        "url": "https://fn.example.com:8080/hooks/a%20b?x=1&eq=k=v&flag",
        "headers": {"content-type": "application/json", "host": "fn.example.com:8080",
                    "x-forwarded-proto": "https"},
        "bodyText": '{"n": 1}', "bodyRaw": '{"n": 1}', "body": {"n": 1}, "binaryLength": 8,
        "execution": "exec1"}
    assert out.headers == {"x-custom": "yes", "content-type": "application/json; charset=utf-8"}
    assert out.logs == 'a line\n{"structured":[1,2]}'
    assert out.errors == "an error line"


@pytest.mark.parametrize(("content_type", "body", "expected"), [
    ("application/json", b"", {}),
    ("text/plain", b"hello", "hello"),
    ("application/octet-stream", b"\x00\x01", {"buffer": 2}),
    ("image/png", b"\x89PNG", {"buffer": 4}),
    (None, b"plain", "plain"),
])
def test_body_follows_the_content_type(pool, tmp_path, content_type, body, expected):
    headers = {"content-type": content_type} if content_type else {}
    out = run(pool, tmp_path, ECHO, Request("POST", "/", headers, body))
    assert json.loads(out.body)["body"] == expected
    assert json.loads(out.body)["url"] == "http:///"  # no host header: an empty host


RESPONSES = """
export default async ({ req, res }) => {
  switch (req.path) {
    case "/text": return res.text("héllo", 201);
    case "/send": return res.send(42);
    case "/binary": return res.binary(Buffer.from([0, 255]), 200, { "content-type": "image/png" });
    case "/empty": return res.empty();
    case "/redirect": return res.redirect("https://appwrite.io", 302);
    case "/multipart": return res.text("x", 200, { "content-type": "multipart/mixed; boundary=b" });
    case "/nothing": return;
    case "/throw": throw new Error("boom");
    case "/server-error": return res.text("down", 503);
  }
};
"""


@pytest.mark.parametrize(("path", "status", "body", "content_type", "extra"), [
    ("/text", 201, "héllo".encode(), "text/plain; charset=utf-8", {}),
    ("/send", 200, b"42", "text/plain; charset=utf-8", {}),
    ("/binary", 200, b"\x00\xff", "image/png; charset=utf-8", {}),
    ("/empty", 204, b"", "text/plain; charset=utf-8", {}),
    ("/redirect", 302, b"", "text/plain; charset=utf-8", {"location": "https://appwrite.io"}),
    ("/multipart", 200, b"x", "multipart/mixed; boundary=b", {}),
])
def test_each_response_helper(pool, tmp_path, path, status, body, content_type, extra):
    out = run(pool, tmp_path, RESPONSES, Request("GET", path, {}, b""))
    assert not out.failed, out.errors
    assert (out.status_code, out.body) == (status, body)
    assert out.headers == {**extra, "content-type": content_type}


def test_no_return_a_throw_and_a_5xx_fail(pool, tmp_path):
    nothing = run(pool, tmp_path, RESPONSES, Request("GET", "/nothing", {}, b""))
    assert nothing.failed and "Return statement missing" in nothing.errors
    thrown = run(pool, tmp_path, RESPONSES, Request("GET", "/throw", {}, b""))
    assert thrown.failed and thrown.status_code == 500 and "Error: boom" in thrown.errors
    down = run(pool, tmp_path, RESPONSES, Request("GET", "/server-error", {}, b""))
    assert down.failed and (down.status_code, down.body) == (503, b"down")


def test_commonjs_and_a_folders_node_modules(pool, tmp_path):
    code = ("const greet = require('greeter');\n"
            "module.exports = async ({ res }) => res.text(greet('node'));\n")
    out = run(pool, tmp_path, code, Request("GET", "/", {}, b""), name="main.cjs", files={
        "node_modules/greeter/index.js": "module.exports = (who) => `hello ${who}`;\n"})
    assert not out.failed, out.errors
    assert out.body == b"hello node"


def test_a_missing_file_and_a_file_without_a_function_say_so(pool, tmp_path):
    folder = tmp_path / "p1" / "fn"
    folder.mkdir(parents=True)
    missing = runtime.run("p1", "fn", "src/nope.js", str(tmp_path),
                          Request("GET", "/", {}, b""), 10, (), runtime="node-22", pool=pool,
                          language="node")
    assert missing.failed and "Entrypoint file 'src/nope.js' not found under p1/fn/" in (
        missing.errors)
    plain = run(pool, tmp_path, "export const x = 1;\n", Request("GET", "/", {}, b""),
                name="plain.mjs")
    assert plain.failed and "exports no function" in plain.errors


def test_memory_over_the_specification_ends_the_run(pool, tmp_path):
    hog = ("export default async ({ res, error }) => {\n"
           "  error('filling memory');\n"
           "  const keep = [];\n"
           "  for (;;) keep.push(new Array(1e6).fill(1));\n"
           "};\n")
    out = run(pool, tmp_path, hog, Request("GET", "/", {}, b""), spec="s-0.5vcpu-512mb")
    assert out.failed and out.status_code == 500
    # As a Python runner says it; what the function wrote stays, V8's report does not.
    assert out.errors == "filling memory\nmemory limit of 512 MB exceeded", out.errors
    after = run(pool, tmp_path, RESPONSES, Request("GET", "/send", {}, b""), name="next.js")
    assert not after.failed  # the worker goes on with a fresh runner


def test_a_function_past_its_timeout_is_cut_off(pool, tmp_path):
    code = "export default async () => { for (;;) {} };\n"
    out = run(pool, tmp_path, code, Request("GET", "/", {}, b""), timeout=1)
    assert out.failed and out.timed_out


def test_the_whole_address_space_is_bounded_and_webassembly_still_runs(pool, tmp_path):
    """``RLIMIT_DATA`` misses shared mappings (a native addon's ``mmap``), so a Node
    runner's address space is bounded too; WebAssembly and worker threads, which
    reserve address space freely, still work under it."""
    code = ("import fs from 'node:fs';\n"
            "import { Worker } from 'node:worker_threads';\n"
            "export default async ({ res }) => {\n"
            "  const limits = {};\n"
            "  for (const line of fs.readFileSync('/proc/self/limits', 'utf8').split('\\n')) {\n"
            "    const m = line.match(/^Max (address space|data size)\\s+(\\d+)/);\n"
            "    if (m) limits[m[1]] = Number(m[2]) / 1048576;\n"
            "  }\n"
            "  const answer = await new Promise((ok, fail) => {\n"
            "    const w = new Worker('require(\"worker_threads\").parentPort"
            ".postMessage(6 * 7)', { eval: true });\n"
            "    w.on('message', ok); w.on('error', fail);\n"
            "  });\n"
            "  const memories = [1, 2, 3].map(() => new WebAssembly.Memory({ initial: 16 }));\n"
            "  return res.json({ limits, pages: memories.length * 16, answer });\n"
            "};\n")
    out = run(pool, tmp_path, code, Request("GET", "/", {}, b""), spec="s-0.5vcpu-512mb")
    assert not out.failed, out.errors
    got = json.loads(out.body)
    assert got["limits"] == {"data size": 512, "address space": 512 + 3072}
    assert got["pages"] == 48 and got["answer"] == 42


def test_memory_outside_v8s_heap_is_bounded_too(pool, tmp_path):
    """Buffers live outside V8's heap (its heap limit does not see them)."""
    hog = ("export default async ({ res }) => {\n"
           "  const keep = [];\n"
           "  for (;;) keep.push(Buffer.alloc(32 * 1048576, 1));\n"
           "};\n")
    out = run(pool, tmp_path, hog, Request("GET", "/", {}, b""), spec="s-0.5vcpu-512mb")
    assert out.failed and out.status_code == 500
    assert out.errors == "memory limit of 512 MB exceeded", out.errors
    again = run(pool, tmp_path, RESPONSES, Request("GET", "/send", {}, b""), name="next.js")
    assert not again.failed
