"""Appwrite's Python function context against Open Runtimes' Python runtime
(``runtimes/python/versions/latest/src``: ``server.py`` builds ``context.req`` and
completes the response, ``function_types.py`` has ``req``, ``res``, ``log`` and
``error``). Each expected value below is what that source gives for the same request."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest

from tasks.runner.child import NO_RETURN, call, response_headers
from tasks.runner.context import Context, ContextResponse, Request, log_line


def req(path: str = "/", headers: dict[str, str] | None = None, body: bytes = b"",
        method: str = "POST") -> Any:
    return Context(Request(method=method, path=path, headers=headers or {}, body=body)).req


# ---------------------------------------------------------------- context.req


def test_method_and_headers_lower_cased_without_open_runtimes_own():
    r = req(headers={"X-Custom": "a", "Content-Type": "text/plain",
                     "x-open-runtimes-secret": "s"}, method="PATCH")
    assert r.method == "PATCH"
    assert r.headers == {"x-custom": "a", "content-type": "text/plain"}


def test_path_and_query_are_url_decoded_and_split_on_the_first_equals():
    r = req("/hooks/a%20b/?x=1&y=%C3%A9&plus=a+b&eq=k=v&flag&&amp=%26")
    assert r.path == "/hooks/a b/"
    assert r.query_string == "x=1&y=é&plus=a b&eq=k=v&flag&&amp=%26"
    assert r.query == {"x": "1", "y": "é", "plus": "a b", "eq": "k=v", "flag": "",
                       "amp": "%26"}


def test_no_query_is_an_empty_string_and_dict():
    r = req("/only")
    assert (r.query_string, r.query) == ("", {})


def test_last_value_of_a_repeated_key_wins():
    assert req("/?a=1&a=2").query == {"a": "2"}


@pytest.mark.parametrize(("headers", "scheme", "host", "port", "url"), [
    ({"host": "fn.example.com"}, "http", "fn.example.com", 80, "http://fn.example.com/p?q=1"),
    ({"host": "fn.example.com:8080"}, "http", "fn.example.com", 8080,
     "http://fn.example.com:8080/p?q=1"),
    ({"host": "fn.example.com", "x-forwarded-proto": "https"}, "https", "fn.example.com",
     443, "https://fn.example.com/p?q=1"),
    ({"host": "fn.example.com:443", "x-forwarded-proto": "https"}, "https",
     "fn.example.com", 443, "https://fn.example.com/p?q=1"),
    ({"host": "fn.example.com:80", "x-forwarded-proto": "https"}, "https",
     "fn.example.com", 80, "https://fn.example.com:80/p?q=1"),
    ({}, "http", "", 80, "http:///p?q=1"),
])
def test_scheme_host_port_and_url_come_from_the_request_headers(headers, scheme, host, port,
                                                                url):
    r = req("/p?q=1", headers=headers)
    assert (r.scheme, r.host, r.port, r.url) == (scheme, host, port, url)


def test_body_is_parsed_json_for_a_json_content_type():
    payload = {"a": [1, 2], "b": None}
    r = req(headers={"content-type": "application/json; charset=utf-8"},
            body=json.dumps(payload).encode())
    assert r.body == payload and r.body_json == payload
    assert r.body_text == json.dumps(payload) and r.body_raw == r.body_text
    assert r.body_binary == json.dumps(payload).encode()


def test_an_empty_json_body_is_an_empty_dict_but_body_json_raises():
    r = req(headers={"content-type": "application/json"})
    assert r.body == {}
    with pytest.raises(json.JSONDecodeError):
        _ = r.body_json


def test_any_other_content_type_or_none_gives_the_text():
    assert req(body=b'{"a": 1}').body == '{"a": 1}'  # no content type: text/plain
    assert req(headers={"content-type": "text/csv"}, body=b"a,b").body == "a,b"


def test_binary_bodies_stay_bytes_and_their_text_is_strict_utf8():
    r = req(headers={"content-type": "application/octet-stream"}, body=b"\xff\x00")
    assert r.body_binary == b"\xff\x00"
    with pytest.raises(UnicodeDecodeError):
        _ = r.body_text


# ---------------------------------------------------------------- context.res

res = ContextResponse()


def test_res_json_takes_appwrite_s_status_code_keyword_and_writes_compact_json():
    out = res.json({"a": 1, "b": [1, 2]}, statusCode=201, headers={"x-k": "v"})
    assert out == {"body": b'{"a":1,"b":[1,2]}', "statusCode": 201,
                   "headers": {"x-k": "v", "content-type": "application/json"}}


def test_res_text_binary_send_empty_and_redirect():
    assert res.text("héllo", 202) == {"body": "héllo".encode(), "statusCode": 202,
                                      "headers": {}}
    assert res.binary(b"\x00\x01") == {"body": b"\x00\x01", "statusCode": 200, "headers": {}}
    assert res.send("as is", statusCode=418) == {"body": "as is", "statusCode": 418,
                                                 "headers": {}}
    assert res.empty() == {"body": b"", "statusCode": 204, "headers": {}}
    assert res.redirect("https://appwrite.io") == {
        "body": b"", "statusCode": 301, "headers": {"location": "https://appwrite.io"}}
    assert res.redirect("/x", statusCode=302, headers={"x-a": "1"})["headers"] == {
        "x-a": "1", "location": "/x"}


def test_tocsin_s_earlier_status_code_keyword_still_works():
    assert res.text("x", status_code=503)["statusCode"] == 503
    assert res.json({}, status_code=201)["statusCode"] == 201


def test_a_caller_s_headers_dict_is_not_changed():
    mine = {"x-a": "1"}
    res.json({}, 200, mine)
    res.redirect("/y", 301, mine)
    assert mine == {"x-a": "1"}


@pytest.mark.parametrize(("given", "sent"), [
    ({}, "text/plain; charset=utf-8"),
    ({"content-type": "application/json"}, "application/json; charset=utf-8"),
    ({"Content-Type": "Text/HTML"}, "text/html; charset=utf-8"),
    ({"content-type": "text/plain; charset=latin-1"}, "text/plain; charset=latin-1"),
    ({"content-type": "multipart/form-data; boundary=x"}, "multipart/form-data; boundary=x"),
    ({"content-type": "application/octet-stream"}, "application/octet-stream; charset=utf-8"),
])
def test_the_content_type_is_completed_as_the_runtime_server_does(given, sent):
    assert response_headers(given)["content-type"] == sent


def test_response_header_names_are_lower_cased_and_open_runtimes_own_dropped():
    got = response_headers({"X-Thing": "1", "x-open-runtimes-log-id": "z"})
    assert got == {"x-thing": "1", "content-type": "text/plain; charset=utf-8"}


# ---------------------------------------------------------------- log and error


def test_log_renders_like_open_runtimes():
    assert log_line(("a", 1, None, True, 2.5)) == "a 1 None True 2.5"
    assert log_line(({"k": [1, 2]}, ["x"], ("t", 1))) == '{"k":[1,2]} ["x"] ["t",1]'


def test_log_and_error_write_lines_to_stdout_and_stderr(capsys):
    ctx = Context(Request("GET", "/", {}, b""))
    ctx.log("Hello, Logs!")
    ctx.error("Hello, Errors!", {"n": 1})
    out = capsys.readouterr()
    assert (out.out, out.err) == ("Hello, Logs!\n", 'Hello, Errors! {"n":1}\n')


# ---------------------------------------------------------------- the call


def job(body: bytes = b"", method: str = "GET") -> dict[str, Any]:
    return {"request": {"method": method, "path": "/", "headers": {},
                        "body": base64.b64encode(body).decode()}}


def test_an_async_main_is_awaited():
    async def main(context):
        await asyncio.sleep(0)
        return context.res.json({"async": True}, statusCode=201)

    out = call(main, job(), 64)
    assert (out["statusCode"], base64.b64decode(out["body"])) == (201, b'{"async":true}')
    assert out["headers"]["content-type"] == "application/json; charset=utf-8"


def test_no_return_fails_with_open_runtimes_message():
    out = call(lambda context: None, job(), 64)
    assert (out["statusCode"], out["failed"], out["error"]) == (500, True, NO_RETURN)


def test_a_dict_without_status_code_is_a_200():
    out = call(lambda context: {"body": "hi"}, job(), 64)
    assert (out["statusCode"], base64.b64decode(out["body"])) == (200, b"hi")


def test_a_return_that_is_not_a_response_fails_with_what_to_return():
    out = call(lambda context: "just text", job(), 64)
    assert out["failed"] and "not a response" in out["error"]
