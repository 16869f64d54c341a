"""Appwrite ``queries[n]`` JSON strings -> a ListQuery the store applies. Pure.

The SDKs send ``queries[0]={"method":"equal","attribute":"status","values":["scheduled"]}``
and so on as bracketed query-string keys. ``Query.createdAfter(t)`` and friends arrive
as comparisons on ``$createdAt``/``$updatedAt`` with ISO 8601 strings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from scheduler.api.errors import QUERY_INVALID, ApiError, query_invalid
from scheduler.rules.listquery import OPERATORS, Condition, Filter, Group, ListQuery

MAX_QUERIES = 100
MAX_QUERY_LENGTH = 4096
MAX_LIMIT = 5000
MAX_DEPTH = 3  # nested and/or levels, as Appwrite's validator allows

# method -> how many values it takes: (at least, at most); None = no upper bound.
ARITY: dict[str, tuple[int, int | None]] = {m: o.arity for m, o in OPERATORS.items()}
TEXT_ONLY = {m for m, o in OPERATORS.items() if o.text_only}
# A boolean has no order and no text: it is equal to a value or not, or null.
FOR_BOOLEANS = {"equal", "notEqual", "isNull", "isNotNull"}
LOGIC = {"and", "or"}
ORDERS = {"orderAsc", "orderDesc"}
CURSORS = {"cursorAfter", "cursorBefore"}
FILTERS = set(ARITY)
_KEY = re.compile(r"^queries(?:\[(\d*)\])?$")


def collect(items: Iterable[tuple[str, str]]) -> list[str]:
    """Raw query strings from ``queries[0]``, ``queries[]`` and ``queries`` keys, in order."""
    indexed: list[tuple[int, int, str]] = []
    for position, (key, value) in enumerate(items):
        match = _KEY.match(key)
        if match:
            index = int(match.group(1)) if match.group(1) else position
            indexed.append((index, position, value))
    return [value for _, _, value in sorted(indexed)]


def _typed(attribute: str, kind: type, value: Any) -> Any:
    if kind is str:
        if not isinstance(value, str):
            raise query_invalid(f"Query value for attribute \"{attribute}\" must be a string")
        return value
    if kind is bool:
        if not isinstance(value, bool):
            raise query_invalid(f"Query value for attribute \"{attribute}\" must be a boolean")
        return value
    if kind is datetime:
        return _instant(attribute, value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise query_invalid(f"Query value for attribute \"{attribute}\" must be a number")
    if not -(2**63) <= value <= 2**63 - 1 or value != value:  # 64-bit columns; NaN
        raise query_invalid(f"Query value for attribute \"{attribute}\" must be between "
                            f"{-(2**63)} and {2**63 - 1}")
    return kind(value)


def _instant(attribute: str, value: Any) -> datetime:
    """An ISO 8601 date-time; one without an offset is UTC, as Appwrite stores them."""
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise query_invalid(f"Query value for attribute \"{attribute}\" must be an ISO 8601 "
                            "date-time, e.g. 2026-01-31T12:00:00.000+00:00")
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _decode(text: str) -> dict[str, Any]:
    if len(text) > MAX_QUERY_LENGTH:
        raise query_invalid(f"a query may be at most {MAX_QUERY_LENGTH} characters")
    try:
        query = json.loads(text)
    except ValueError:
        raise query_invalid(f"'{text[:100]}' is not a JSON query") from None
    if not isinstance(query, dict) or not isinstance(query.get("method"), str):
        raise query_invalid(f"'{text[:100]}' has no method")
    return query


def _condition(query: dict[str, Any], attributes: dict[str, type], depth: int) -> Condition:
    """A filter, or an and/or of filters (which may nest up to MAX_DEPTH)."""
    method = query.get("method")
    values = query.get("values", [])
    if not isinstance(values, list):
        raise query_invalid(f"values of '{method}' must be a list")
    if method in LOGIC:
        if depth >= MAX_DEPTH:
            raise query_invalid(f"queries may nest at most {MAX_DEPTH} levels deep")
        if len(values) < 2:
            raise query_invalid(f"{method.capitalize()} queries require at least two queries")
        children = []
        for child in values:
            if not isinstance(child, dict) or not isinstance(child.get("method"), str):
                raise query_invalid(f"every query inside '{method}' must be a query object")
            if child["method"] not in FILTERS | LOGIC:
                raise query_invalid(f"'{method}' may hold only filter queries, not "
                                    f"'{child['method']}'")
            children.append(_condition(child, attributes, depth + 1))
        return Group(method, tuple(children))
    if method not in ARITY:
        raise ApiError(QUERY_INVALID, f"Invalid query method: {method}")
    attribute = query.get("attribute", "")
    if attribute not in attributes:
        allowed = ", ".join(sorted(attributes))
        raise query_invalid(f"Attribute not found in schema: {attribute}. Filterable: {allowed}")
    kind = attributes[attribute]
    if method in TEXT_ONLY and kind is not str:
        raise query_invalid(f"'{method}' works on text attributes only, not \"{attribute}\"")
    if kind is bool and method not in FOR_BOOLEANS:
        raise query_invalid(f"'{method}' does not apply to the boolean \"{attribute}\": "
                            f"use {', '.join(sorted(FOR_BOOLEANS))}")
    low, high = ARITY[method]
    if len(values) < low or (high is not None and len(values) > high):
        wanted = ("no values" if high == 0 else f"exactly {low} value{'s' * (low > 1)}"
                  if low == high else f"at least {low} value")
        raise query_invalid(f"'{method}' on \"{attribute}\" takes {wanted}")
    return Filter(attribute, method, tuple(_typed(attribute, kind, v) for v in values))


def parse(raw: list[str], attributes: dict[str, type], orderable: Iterable[str]) -> ListQuery:
    """``attributes`` maps filterable attribute names to value types (``datetime`` for
    date-times); ``orderable`` names the attributes that order and cursors can use."""
    if len(raw) > MAX_QUERIES:
        raise query_invalid(f"at most {MAX_QUERIES} queries are allowed")
    sortable = set(orderable)
    list_query = ListQuery()
    for text in raw:
        query = _decode(text)
        method = query["method"]
        values = query.get("values", [])
        if method in FILTERS or method in LOGIC:
            list_query.filters.append(_condition(query, attributes, 1))
        elif method in ORDERS:
            attribute = query.get("attribute", "")
            if attribute not in sortable:
                raise query_invalid(f"Attribute not found in schema: {attribute}. "
                                    f"Orderable: {', '.join(sorted(sortable))}")
            list_query.order.append((attribute, method == "orderDesc"))
        elif method == "limit":
            list_query.limit = _whole(values, "limit", 1, MAX_LIMIT)
        elif method == "offset":
            list_query.offset = _whole(values, "offset", 0, 10**9)
        elif method in CURSORS:
            if (not isinstance(values, list) or len(values) != 1
                    or not isinstance(values[0], str) or not values[0]):
                raise query_invalid(f"'{method}' takes one document id")
            if list_query.cursor:
                raise query_invalid("only one cursor query is allowed")
            list_query.cursor = (method, values[0])
        elif method == "select":
            list_query.select = _selected(values, set(attributes) | sortable)
        else:
            # Appwrite's own wording for a method its validator does not know.
            raise ApiError(QUERY_INVALID, f"Invalid query method: {method}")
    return list_query


def _selected(values: Any, known: set[str]) -> list[str]:
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise query_invalid("'select' takes a list of attribute names")
    for name in values:
        if name != "*" and name not in known and not name.startswith("$"):
            raise query_invalid(f"Attribute not found in schema: {name}")
    return list(values)


def _whole(values: Any, name: str, low: int, high: int) -> int:
    if (not isinstance(values, list) or len(values) != 1 or isinstance(values[0], bool)
            or not isinstance(values[0], int)):
        raise query_invalid(f"'{name}' takes one whole number")
    value = values[0]
    if not low <= value <= high:
        raise query_invalid(f"'{name}' must be between {low} and {high}")
    return value


__all__ = ["ApiError", "Filter", "Group", "ListQuery", "collect", "parse"]
