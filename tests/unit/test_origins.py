"""Which browser origins a platform list allows (CORS)."""

from __future__ import annotations

import pytest

from scheduler.rules.origins import OriginError, allows, check_origin


@pytest.mark.parametrize(("given", "stored"), [
    ("https://App.Example.com/", "https://app.example.com"),
    ("http://localhost:5173", "http://localhost:5173"),
    ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
    ("https://*.example.com", "https://*.example.com"), ("*", "*"),
])
def test_platforms_are_origins(given, stored):
    assert check_origin(given) == stored


@pytest.mark.parametrize("bad", ["app.example.com", "https://app.example.com/path",
                                 "ftp://x.com", "https://", "https://*", "https://a.*.com",
                                 "https://x.com:port", "", "javascript:alert(1)"])
def test_anything_else_is_refused_with_the_rule(bad):
    with pytest.raises(OriginError) as info:
        check_origin(bad)
    assert "https://app.example.com" in info.value.message


def test_allows_exact_wildcard_and_any():
    allowed = ["https://app.example.com", "http://*.dev.test"]
    assert allows(allowed, "https://app.example.com")
    assert allows(allowed, "HTTPS://APP.EXAMPLE.COM/")
    assert not allows(allowed, "http://app.example.com")  # scheme matters
    assert not allows(allowed, "https://app.example.com:8443")  # so does the port
    assert allows(allowed, "http://a.dev.test") and allows(allowed, "http://a.b.dev.test")
    assert not allows(allowed, "http://dev.test")
    assert not allows(allowed, "http://evildev.test")
    assert not allows(allowed, "https://a.dev.test")
    assert allows(["*"], "https://anything.example")
    assert not allows([], "https://app.example.com")
