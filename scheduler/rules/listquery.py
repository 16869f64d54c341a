"""What a list request asks for: filters, order, cursor, limit, offset. Pure.

The API parses Appwrite's ``queries[]`` into a ListQuery (``api/listqueries.py``); the store
applies it to SQL (``store/lists.py``). Neither depends on the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEFAULT_LIMIT = 25


@dataclass(frozen=True)
class Filter:
    """One condition on one attribute; ``values`` already typed for the attribute."""

    attribute: str
    method: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Group:
    """``and`` / ``or`` of nested conditions (Appwrite's ``Query.and``/``Query.or``)."""

    method: str
    children: tuple[Filter | Group, ...]


Condition = Filter | Group


@dataclass
class ListQuery:
    filters: list[Condition] = field(default_factory=list)
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    order: list[tuple[str, bool]] = field(default_factory=list)  # (attribute, descending)
    cursor: tuple[str, str] | None = None  # (cursorAfter|cursorBefore, document id)
    select: list[str] = field(default_factory=list)  # accepted; whole documents are sent
