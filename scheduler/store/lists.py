"""Applying a ListQuery (filters, order, cursor, limit, offset) to a query.

Every filter becomes SQL: nothing is filtered in Python, so ``total`` and cursors
agree with what a page holds. Lists are always bounded by an indexed prefix (a
project, or a project and function), so filters run on that index's range.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, not_, or_, select
from sqlalchemy.orm import Session

from scheduler.rules.errors import CursorNotFound
from scheduler.rules.listquery import Condition, Filter, Group, ListQuery

# Appwrite counts a list's matches up to APP_LIMIT_COUNT (5,000), never further: a
# page of 25 from a function with a million runs must not cost a million-row count.
COUNT_LIMIT = 5000


def _words(column: Any, text: str) -> ColumnElement[bool]:
    """Appwrite's ``search``: every word appears, in any case."""
    words = text.split() or [text]
    return and_(*[func.lower(column).contains(w.lower(), autoescape=True) for w in words])


_OPS: dict[str, Callable[[Any, list[Any]], ColumnElement[bool]]] = {
    "equal": lambda c, v: c.in_(v),
    "notEqual": lambda c, v: c.not_in(v),
    "greaterThan": lambda c, v: c > v[0],
    "greaterThanEqual": lambda c, v: c >= v[0],
    "lessThan": lambda c, v: c < v[0],
    "lessThanEqual": lambda c, v: c <= v[0],
    "between": lambda c, v: c.between(v[0], v[1]),
    "notBetween": lambda c, v: or_(c < v[0], c > v[1]),
    "startsWith": lambda c, v: c.startswith(v[0], autoescape=True),
    "endsWith": lambda c, v: c.endswith(v[0], autoescape=True),
    "notStartsWith": lambda c, v: not_(c.startswith(v[0], autoescape=True)),
    "notEndsWith": lambda c, v: not_(c.endswith(v[0], autoescape=True)),
    "contains": lambda c, v: or_(*[c.contains(x, autoescape=True) for x in v]),
    "notContains": lambda c, v: not_(or_(*[c.contains(x, autoescape=True) for x in v])),
    "search": lambda c, v: _words(c, v[0]),
    "notSearch": lambda c, v: not_(_words(c, v[0])),
    "isNull": lambda c, v: c.is_(None),
    "isNotNull": lambda c, v: c.is_not(None),
}


@dataclass(frozen=True)
class Derived:
    """A filterable value computed in SQL (``expression``) that also knows how to say
    "equals one of these" in terms its table's indexes can serve (``equal``): a filter
    on the expression itself has no index and reads every row of the list's range."""

    expression: ColumnElement[Any]
    equal: Callable[[list[Any]], ColumnElement[bool]]


def condition(node: Condition, columns: dict[str, Any]) -> ColumnElement[bool]:
    if isinstance(node, Group):
        parts = [condition(child, columns) for child in node.children]
        return and_(*parts) if node.method == "and" else or_(*parts)
    assert isinstance(node, Filter)
    column = columns[node.attribute]
    if isinstance(column, Derived):
        if node.method in ("equal", "notEqual"):
            same = column.equal(list(node.values))
            return same if node.method == "equal" else not_(same)
        column = column.expression
    return _OPS[node.method](column, list(node.values))


def list_rows(session: Session, model: Any, where: list[ColumnElement[bool]],
              columns: dict[str, Any], spec: ListQuery, with_total: bool,
              default_order: str = "$createdAt",
              filter_columns: dict[str, Any] | None = None) -> tuple[list[Any], int]:
    """``total`` stops at ``COUNT_LIMIT``, as Appwrite's does. ``columns`` are the
    orderable attributes' columns; ``filter_columns`` adds or
    replaces what filters see (constants for fields Tocsin does not store, the status
    as reported rather than as stored)."""
    filterable = {**columns, **(filter_columns or {})}
    conditions = list(where)
    for node in spec.filters:
        conditions.append(condition(node, filterable))
    order = spec.order or [(default_order, False)]
    keys = [(columns[attr], desc) for attr, desc in order]
    keys.append((model.id, keys[-1][1]))  # a unique tiebreak makes cursors exact
    query: Select[Any] = select(model).where(*conditions)
    reverse = False
    if spec.cursor:
        kind, doc_id = spec.cursor
        anchor = session.execute(select(model).where(*where, model.id == doc_id)).scalar()
        if anchor is None:
            raise CursorNotFound(doc_id)
        reverse = kind == "cursorBefore"
        query = query.where(_after(anchor, keys, reverse))
    for column, desc in keys:
        query = query.order_by(column.asc() if desc == reverse else column.desc())
    query = query.offset(spec.offset).limit(spec.limit)
    rows = list(session.execute(query).scalars())
    if reverse:
        rows.reverse()
    total = 0
    if with_total:
        matches = select(model.id).where(*conditions).limit(COUNT_LIMIT).subquery()
        total = session.execute(select(func.count()).select_from(matches)).scalar_one()
    return rows, total


def _after(anchor: Any, keys: list[tuple[Any, bool]], reverse: bool) -> ColumnElement[bool]:
    """Rows strictly after (or before) ``anchor`` in the key order, for mixed directions."""
    clause: ColumnElement[bool] = false()
    for i in range(len(keys) - 1, -1, -1):
        column, desc = keys[i]
        value = getattr(anchor, column.key)
        forward = desc == reverse  # ascending when moving forward
        step = column > value if forward else column < value
        clause = or_(step, and_(column == value, clause)) if i < len(keys) - 1 else step
    return clause
