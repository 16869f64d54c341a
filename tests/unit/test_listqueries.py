"""Parsing Appwrite queries[n] (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from appwrite.query import Query
from hypothesis import given
from hypothesis import strategies as st

from scheduler.api.errors import ApiError
from scheduler.api.listqueries import ARITY, Filter, Group, collect, parse

ATTRS = {"status": str, "duration": float, "responseStatusCode": int,
         "$createdAt": datetime}


def q(**kw) -> str:
    return json.dumps(kw)


def test_collect_orders_bracketed_keys() -> None:
    items = [("queries[1]", "b"), ("total", "false"), ("queries[0]", "a"), ("queries[10]", "c")]
    assert collect(items) == ["a", "b", "c"]
    assert collect([("queries[]", "x"), ("queries[]", "y")]) == ["x", "y"]


def test_parse_everything() -> None:
    list_query = parse([
        q(method="equal", attribute="status", values=["failed", "completed"]),
        q(method="greaterThan", attribute="duration", values=[1.5]),
        q(method="orderDesc", attribute="$createdAt"),
        q(method="limit", values=[10]),
        q(method="offset", values=[20]),
        q(method="cursorAfter", values=["abc"]),
    ], ATTRS, ["$createdAt"])
    assert list_query.filters == [Filter("status", "equal", ("failed", "completed")),
                            Filter("duration", "greaterThan", (1.5,))]
    assert (list_query.order, list_query.limit, list_query.offset, list_query.cursor) == (
        [("$createdAt", True)], 10, 20, ("cursorAfter", "abc"))


@pytest.mark.parametrize("raw", [
    "nope", q(method="equal"), q(method="equal", attribute="status", values="x"),
    q(method="lessThan", attribute="duration", values=[1, 2]),
    q(method="equal", attribute="responseStatusCode", values=[True]),
    q(method="limit", values=[1.5]), q(method="cursorAfter", values=[""]),
    q(method="between", attribute="duration", values=[1]), "x" * 5000,
    q(method="startsWith", attribute="duration", values=[1]),
    q(method="isNull", attribute="status", values=["x"]),
    q(method="or", values=[{"method": "equal", "attribute": "status", "values": ["a"]}]),
    q(method="or", values=[{"method": "limit", "values": [1]},
                           {"method": "limit", "values": [2]}]),
    q(method="lessThan", attribute="$createdAt", values=["yesterday"]),
    q(method="select", values=["nope"]),
    q(method="orderAsc", attribute="duration"),  # filterable, not orderable here
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


def test_every_filter_method_the_sdk_builds_parses() -> None:
    """Each builder of the installed SDK's Query that filters a list is understood."""
    built = [
        Query.equal("status", ["a", "b"]), Query.not_equal("status", "a"),
        Query.less_than("duration", 1), Query.less_than_equal("duration", 1),
        Query.greater_than("duration", 1), Query.greater_than_equal("duration", 1),
        Query.between("duration", 1, 2), Query.not_between("duration", 1, 2),
        Query.starts_with("status", "c"), Query.ends_with("status", "d"),
        Query.not_starts_with("status", "c"), Query.not_ends_with("status", "d"),
        Query.contains("status", "omp"), Query.not_contains("status", "omp"),
        Query.search("status", "comp"), Query.not_search("status", "comp"),
        Query.is_null("status"), Query.is_not_null("status"),
        Query.created_before("2026-01-01T00:00:00.000+00:00"),
        Query.created_after("2026-01-01T00:00:00.000+00:00"),
        Query.created_between("2026-01-01T00:00:00+00:00", "2026-02-01T00:00:00+00:00"),
        Query.or_queries([Query.equal("status", "a"), Query.less_than("duration", 1)]),
        Query.and_queries([Query.equal("status", "a"), Query.less_than("duration", 1)]),
        Query.select(["status", "$id"]),
    ]
    list_query = parse(built, ATTRS, ["$createdAt", "status"])
    methods = {f.method for f in list_query.filters}
    assert methods == set(ARITY) | {"and", "or"}
    assert list_query.select == ["status", "$id"]


def test_dates_are_utc_and_logic_nests() -> None:
    list_query = parse([Query.created_after("2026-01-01T01:00:00.000+01:00"),
                  Query.or_queries([Query.equal("status", "a"), Query.and_queries([
                      Query.greater_than("duration", 1), Query.less_than("duration", 2)])])],
                 ATTRS, [])
    assert list_query.filters[0] == Filter("$createdAt", "greaterThan",
                                     (datetime(2026, 1, 1, tzinfo=UTC),))
    inner = list_query.filters[1]
    assert isinstance(inner, Group) and inner.method == "or"
    assert inner.children[1] == Group("and", (Filter("duration", "greaterThan", (1.0,)),
                                              Filter("duration", "lessThan", (2.0,))))


def test_an_unknown_method_gets_appwrites_words() -> None:
    with pytest.raises(ApiError) as info:
        parse([Query.regex("status", "a.*")], ATTRS, [])
    assert (info.value.status, info.value.type, info.value.message) == (
        400, "general_query_invalid", "Invalid query method: regex")


def test_nesting_is_bounded() -> None:
    leaf = {"method": "equal", "attribute": "status", "values": ["a"]}
    node: dict = leaf
    for _ in range(4):
        node = {"method": "or", "values": [node, leaf]}
    with pytest.raises(ApiError) as info:
        parse([json.dumps(node)], ATTRS, [])
    assert "nest at most" in info.value.message
