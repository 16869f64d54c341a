"""Parsing Appwrite queries[n] (pure)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduler.api.errors import ApiError
from scheduler.api.queries import Filter, collect, parse

ATTRS = {"status": str, "duration": float, "responseStatusCode": int}


def q(**kw) -> str:
    return json.dumps(kw)


def test_collect_orders_bracketed_keys() -> None:
    items = [("queries[1]", "b"), ("total", "false"), ("queries[0]", "a"), ("queries[10]", "c")]
    assert collect(items) == ["a", "b", "c"]
    assert collect([("queries[]", "x"), ("queries[]", "y")]) == ["x", "y"]


def test_parse_everything() -> None:
    spec = parse([
        q(method="equal", attribute="status", values=["failed", "completed"]),
        q(method="greaterThan", attribute="duration", values=[1.5]),
        q(method="orderDesc", attribute="$createdAt"),
        q(method="limit", values=[10]),
        q(method="offset", values=[20]),
        q(method="cursorAfter", values=["abc"]),
    ], ATTRS, ["$createdAt"])
    assert spec.filters == [Filter("status", "equal", ("failed", "completed")),
                            Filter("duration", "greaterThan", (1.5,))]
    assert (spec.order, spec.limit, spec.offset, spec.cursor) == (
        [("$createdAt", True)], 10, 20, ("cursorAfter", "abc"))


@pytest.mark.parametrize("raw", [
    "nope", q(method="equal"), q(method="equal", attribute="status", values="x"),
    q(method="lessThan", attribute="duration", values=[1, 2]),
    q(method="equal", attribute="responseStatusCode", values=[True]),
    q(method="limit", values=[1.5]), q(method="cursorAfter", values=[""]),
    q(method="between", attribute="duration", values=[1, 2]), "x" * 5000,
])
def test_rejections(raw: str) -> None:
    with pytest.raises(ApiError) as info:
        parse([raw], ATTRS, [])
    assert info.value.type == "general_query_invalid" and info.value.status == 400


def test_too_many_queries() -> None:
    with pytest.raises(ApiError):
        parse([q(method="limit", values=[1])] * 101, ATTRS, [])


@given(st.lists(st.text(max_size=200), max_size=5))
def test_arbitrary_strings_parse_or_fail_cleanly(raw: list[str]) -> None:
    try:
        parse(raw, ATTRS, ["$createdAt"])
    except ApiError as exc:
        assert exc.status == 400
