"""What a function domain passes on, both ways, and which host names which function."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.rules import forwarding
from scheduler.rules.forwarding import (
    generated_label,
    host_name,
    inbound_headers,
    outbound_headers,
    store_body,
)
from tests.unit.examples import examples


def test_inbound_drops_hop_by_hop_and_callers_appwrite_headers_and_adds_a_proxys():
    got = inbound_headers([
        ("Host", "hook.fn.test"), ("Connection", "keep-alive, X-Drop-Me"),
        ("Keep-Alive", "timeout=5"), ("Transfer-Encoding", "chunked"), ("TE", "trailers"),
        ("Upgrade", "h2c"), ("X-Drop-Me", "1"), ("X-Appwrite-Key", "forged"),
        ("x-appwrite-user-id", "forged"), ("X-Custom", "a"), ("x-custom", "b"),
        ("Content-Type", "application/octet-stream"), ("Content-Length", "3"),
        ("X-Forwarded-For", "10.0.0.1"),
    ], "127.0.0.1", "http")
    assert got == {
        "host": "hook.fn.test", "x-custom": "a, b", "content-type": "application/octet-stream",
        "content-length": "3", "x-forwarded-for": "10.0.0.1, 127.0.0.1",
        "x-appwrite-client-ip": "127.0.0.1", "x-forwarded-proto": "http",
        "x-forwarded-host": "hook.fn.test"}


def test_a_client_taken_from_a_trusted_proxys_chain_is_not_added_twice():
    got = inbound_headers([("x-forwarded-for", "198.51.100.7, 203.0.113.9")], "203.0.113.9",
                          "http")
    assert got["x-forwarded-for"] == "198.51.100.7, 203.0.113.9"
    assert got["x-appwrite-client-ip"] == "203.0.113.9"


def test_a_proxy_in_front_keeps_its_forwarded_proto_and_host():
    got = inbound_headers([("host", "internal:8080"), ("x-forwarded-proto", "https"),
                           ("x-forwarded-host", "hooks.example.com")], "10.1.1.1", "http")
    assert (got["x-forwarded-proto"], got["x-forwarded-host"], got["x-forwarded-for"]) == (
        "https", "hooks.example.com", "10.1.1.1")


def test_outbound_drops_framing_and_hop_by_hop():
    assert outbound_headers([
        {"name": "Content-Type", "value": "image/png"}, {"name": "content-length", "value": "9"},
        {"name": "Transfer-Encoding", "value": "chunked"}, {"name": "Connection", "value": "x"},
        {"name": "X-Fn", "value": "1"}, {"name": "set-cookie", "value": "a=b"},
    ]) == [("content-type", "image/png"), ("x-fn", "1"), ("set-cookie", "a=b")]


@given(st.binary(max_size=300))
@settings(max_examples=examples(200), deadline=None)
def test_any_body_is_stored_so_its_bytes_come_back(body):
    text, encoded = store_body(body)
    assert (base64.b64decode(text) if encoded else text.encode()) == body
    assert "\x00" not in text


def test_text_bodies_stay_text():
    assert store_body('{"a": "é"}'.encode()) == ('{"a": "é"}', False)
    assert store_body(b"\xff\x00")[1] and store_body(b"a\x00b")[1]


@pytest.mark.parametrize(("header", "host"), [
    ("Hook.FN.test:8080", "hook.fn.test"), ("hook.fn.test", "hook.fn.test"),
    ("[::1]:8080", "[::1]"), ("[::1]", "[::1]"), ("127.0.0.1:80", "127.0.0.1"), ("", ""),
])
def test_host_name_drops_the_port(header, host):
    assert host_name(header) == host


@pytest.mark.parametrize(("host", "label"), [
    ("echo.fn.test", "echo"), ("my-fn.fn.test", "my-fn"), ("a.b.fn.test", ""),
    ("fn.test", None), ("echo.fn.test.evil.com", None), ("echofn.test", None),
])
def test_a_generated_domain_names_one_label(host, label):
    assert generated_label(host, "fn.test") == label
    assert generated_label(host, ".FN.test.") == label


def test_no_functions_domain_names_nothing():
    assert generated_label("echo.fn.test", "") is None


def test_credentials_are_split_off_and_tocsins_own_headers_never_pass_inbound():
    """#29 item 11: what a run gets in memory only, and a forged fire time dropped."""
    inbound = forwarding.inbound_headers(
        [("Authorization", "Bearer t"), ("Cookie", "a=1"), ("X-Tocsin-Scheduled-For", "x"),
         ("X-Other", "1")], "10.0.0.1", "https")
    assert "x-tocsin-scheduled-for" not in inbound
    kept, secret = forwarding.split_credentials({**inbound, "x-appwrite-user-jwt": "j"})
    assert secret == {"authorization": "Bearer t", "cookie": "a=1", "x-appwrite-user-jwt": "j"}
    assert not set(kept) & forwarding.CREDENTIALS and kept["x-other"] == "1"
