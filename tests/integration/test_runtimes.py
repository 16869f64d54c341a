"""Both runtimes: success, error status, exception / network error, logs, headers."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tasks.execute import request_headers
from tasks.runtimes import Request
from tasks.runtimes import http as http_runtime
from tasks.runtimes import python as python_runtime

ALLOWED = ("tests.fixtures",)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def _reply(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        if self.path.startswith("/fail"):
            self.send_response(502)
            self.end_headers()
            self.wfile.write(b"bad gateway")
            return
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("location", "/elsewhere")
            self.end_headers()
            return
        if self.path.startswith("/big"):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"x" * (http_runtime.MAX_RESPONSE_BYTES + 10))
            return
        out = json.dumps({"method": self.command, "path": self.path, "body": body,
                          "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = _reply


@pytest.fixture(scope="module")
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def req(path="/", method="POST", body="", trigger="schedule"):
    headers = request_headers({"X-Custom": "yes"}, "exec123", trigger,
                              "2030-01-01T10:00:00.000+00:00" if trigger == "schedule" else None)
    return Request(method=method, path=path, headers=headers, body=body.encode())


def test_http_success_sends_method_path_headers_body(server):
    out = http_runtime.run(server + "/base", req("/run?x=1", "PUT", "payload"), 5,
                           deny_private=False)
    assert not out.failed and out.status_code == 200
    seen = json.loads(out.body)
    assert seen["method"] == "PUT"
    assert seen["path"] == "/base/run?x=1"
    assert seen["body"] == "payload"
    assert seen["headers"]["x-custom"] == "yes"
    assert seen["headers"]["x-appwrite-trigger"] == "schedule"
    assert seen["headers"]["x-appwrite-execution-id"] == "exec123"
    assert seen["headers"]["x-tocsin-scheduled-for"] == "2030-01-01T10:00:00.000+00:00"


def test_http_error_status_fails(server):
    out = http_runtime.run(server, req("/fail"), 5, deny_private=False)
    assert out.failed and out.status_code == 502
    assert "status 502" in out.errors


def test_http_redirect_not_followed(server):
    out = http_runtime.run(server, req("/redirect", "GET"), 5, deny_private=False)
    assert out.status_code == 302 and not out.failed


def test_http_network_error_is_readable():
    out = http_runtime.run("http://127.0.0.1:1", req("/"), 2, deny_private=False)
    assert out.failed and "ConnectError" in out.errors and "127.0.0.1:1" in out.errors


def test_http_response_size_capped(server):
    out = http_runtime.run(server, req("/big", "GET"), 10, deny_private=False)
    assert out.failed and "larger than" in out.errors


ENTRY = "tests.fixtures.functions:"


def test_python_success_with_context_and_logs():
    out = python_runtime.run("p1", "f", ENTRY + "hello", "", req("/p?a=b", "GET", "hi"), 5, ALLOWED)
    assert not out.failed and out.status_code == 200
    data = json.loads(out.body)
    assert data == {"ok": True, "trigger": "schedule",
                    "scheduledFor": "2030-01-01T10:00:00.000+00:00", "body": "hi",
                    "query": {"a": "b"}}
    assert out.logs == "hello from GET /p"
    assert out.headers["content-type"] == "application/json; charset=utf-8"  # as Open Runtimes


def test_python_error_status():
    out = python_runtime.run("p1", "f", ENTRY + "server_error", "", req(), 5, ALLOWED)
    assert out.failed and out.status_code == 503


def test_python_exception_has_traceback_and_error_log():
    out = python_runtime.run("p1", "f", ENTRY + "boom", "", req(), 5, ALLOWED)
    assert out.failed and out.status_code == 500
    assert "about to fail" in out.errors
    assert "RuntimeError: kaboom" in out.errors and "Traceback" in out.errors


def test_python_missing_return():
    out = python_runtime.run("p1", "f", ENTRY + "no_return", "", req(), 5, ALLOWED)
    assert out.failed and "Return statement missing" in out.errors
    assert out.logs == "forgot to return"


def test_python_file_entrypoint_under_functions_dir(tmp_path):
    src = tmp_path / "p1" / "fn1" / "src"
    src.mkdir(parents=True)
    (src / "main.py").write_text(
        "def main(context):\n"
        "    context.log('file entry', context.req.headers['x-appwrite-trigger'])\n"
        "    return context.res.text('from file', 201)\n"
    )
    out = python_runtime.run("p1", "fn1", "src/main.py", str(tmp_path), req(trigger="http"), 5,
                             ALLOWED)
    assert (out.status_code, out.body, out.logs) == (201, b"from file", "file entry http")


def test_python_entrypoint_cannot_escape_its_directory(tmp_path):
    out = python_runtime.run("p1", "fn1", "../../etc/passwd.py", str(tmp_path), req(), 5, ALLOWED)
    assert out.failed and "not found" in out.errors


def test_python_unknown_module():
    out = python_runtime.run("p1", "f", "tests.fixtures.no_such_module:main", "", req(), 5,
                             ALLOWED)
    assert out.failed and "cannot be loaded" in out.errors


def test_python_timeout_in_a_thread():
    # Off the main thread (the embedded worker) the timeout still holds.
    box = {}
    t = threading.Thread(target=lambda: box.update(
        out=python_runtime.run("p1", "f", ENTRY + "slow", "", req("/?seconds=3", "GET"), 0.5,
                               ALLOWED)))
    t.start()
    t.join(10)
    assert box["out"].failed and "timed out after 0.5 s" in box["out"].errors
