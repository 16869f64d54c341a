"""Appwrite ``queries[n]`` JSON strings -> a ListSpec the store applies. Pure.

The SDKs send ``queries[0]={"method":"equal","attribute":"status","values":["scheduled"]}``
and so on as bracketed query-string keys.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from scheduler.api.errors import ApiError, query_invalid
from scheduler.listspec import Filter, ListSpec

MAX_QUERIES = 100
MAX_QUERY_LENGTH = 4096
MAX_LIMIT = 5000
FILTERS = {"equal", "notEqual", "greaterThan", "greaterThanEqual", "lessThan", "lessThanEqual"}
ORDERS = {"orderAsc", "orderDesc"}
CURSORS = {"cursorAfter", "cursorBefore"}
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
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise query_invalid(f"Query value for attribute \"{attribute}\" must be a number")
    if not -(2**63) <= value <= 2**63 - 1 or value != value:  # 64-bit columns; NaN
        raise query_invalid(f"Query value for attribute \"{attribute}\" must be between "
                            f"{-(2**63)} and {2**63 - 1}")
    return kind(value)


def parse(raw: list[str], attributes: dict[str, type], orderable: Iterable[str]) -> ListSpec:
    """``attributes`` maps filterable attribute names to value types."""
    if len(raw) > MAX_QUERIES:
        raise query_invalid(f"at most {MAX_QUERIES} queries are allowed")
    sortable = set(orderable) | set(attributes)
    spec = ListSpec()
    for text in raw:
        if len(text) > MAX_QUERY_LENGTH:
            raise query_invalid(f"a query may be at most {MAX_QUERY_LENGTH} characters")
        try:
            query = json.loads(text)
        except ValueError:
            raise query_invalid(f"'{text[:100]}' is not a JSON query") from None
        if not isinstance(query, dict) or not isinstance(query.get("method"), str):
            raise query_invalid(f"'{text[:100]}' has no method")
        method = query["method"]
        attribute = query.get("attribute", "")
        values = query.get("values", [])
        if not isinstance(values, list):
            raise query_invalid(f"values of '{method}' must be a list")
        if method in FILTERS:
            if attribute not in attributes:
                allowed = ", ".join(sorted(attributes))
                raise query_invalid(
                    f"Attribute not found in schema: {attribute}. Filterable: {allowed}")
            if not values:
                raise query_invalid(f"'{method}' on \"{attribute}\" needs at least one value")
            if method not in ("equal", "notEqual") and len(values) != 1:
                raise query_invalid(f"'{method}' takes exactly one value")
            kind = attributes[attribute]
            spec.filters.append(Filter(attribute, method,
                                       tuple(_typed(attribute, kind, v) for v in values)))
        elif method in ORDERS:
            if attribute not in sortable:
                raise query_invalid(f"Attribute not found in schema: {attribute}")
            spec.order.append((attribute, method == "orderDesc"))
        elif method == "limit":
            spec.limit = _whole(values, "limit", 1, MAX_LIMIT)
        elif method == "offset":
            spec.offset = _whole(values, "offset", 0, 10**9)
        elif method in CURSORS:
            if len(values) != 1 or not isinstance(values[0], str) or not values[0]:
                raise query_invalid(f"'{method}' takes one document id")
            if spec.cursor:
                raise query_invalid("only one cursor query is allowed")
            spec.cursor = (method, values[0])
        else:
            raise query_invalid(f"Query method not supported: {method}")
    return spec


def _whole(values: list[Any], name: str, low: int, high: int) -> int:
    if len(values) != 1 or isinstance(values[0], bool) or not isinstance(values[0], int):
        raise query_invalid(f"'{name}' takes one whole number")
    value = values[0]
    if not low <= value <= high:
        raise query_invalid(f"'{name}' must be between {low} and {high}")
    return value


__all__ = ["ApiError", "Filter", "ListSpec", "collect", "parse"]
