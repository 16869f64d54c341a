"""Applying a ListQuery (filters, order, cursor, limit, offset) to a query.

Every filter becomes SQL: nothing is filtered in Python, so ``total`` and cursors
agree with what a page holds. Lists are always bounded by an indexed prefix (a
project, or a project and function), so filters run on that index's range.
"""

from __future__ import annotations

import operator as op
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, not_, or_, select
from sqlalchemy.orm import Session

from scheduler.rules.errors import CursorNotFound
from scheduler.rules.listquery import (
    LIKE_ESCAPE,
    OPERATORS,
    Condition,
    Filter,
    Group,
    ListQuery,
    Operator,
    Shape,
    patterns,
)

# Appwrite counts a list's matches up to APP_LIMIT_COUNT (5,000), never further: a
# page of 25 from a function with a million runs must not cost a million-row count.
COUNT_LIMIT = 5000


_COMPARE = {"<": op.lt, "<=": op.le, ">": op.gt, ">=": op.ge}


def _shape(operator: Operator, c: Any, v: list[Any]) -> ColumnElement[bool]:
    """``operator`` before its negation, as SQLAlchemy (``OPERATORS``' shapes)."""
    shape = operator.shape
    if shape is Shape.AMONG:
        return c.not_in(v) if operator.negate else c.in_(v)
    if shape is Shape.COMPARE:
        compare: Callable[[Any, Any], ColumnElement[bool]] = _COMPARE[operator.compare]
        return compare(c, v[0])
    if shape is Shape.RANGE:
        return or_(c < v[0], c > v[1]) if operator.negate else c.between(v[0], v[1])
    if shape is Shape.NULL:
        return c.is_not(None) if operator.negate else c.is_(None)
    if shape is Shape.WORDS:
        lowered = func.lower(c)
        return and_(*[lowered.like(p, escape=LIKE_ESCAPE) for p in patterns(operator, v)])
    likes = [c.like(p, escape=LIKE_ESCAPE) for p in patterns(operator, v)]
    return or_(*likes) if len(likes) > 1 else likes[0]


def _apply(method: str, c: Any, v: list[Any]) -> ColumnElement[bool]:
    operator = OPERATORS[method]
    clause = _shape(operator, c, v)
    # AMONG, RANGE and NULL spell their negation themselves (NOT IN, an OR, IS NOT NULL)
    negate = operator.negate and operator.shape in (Shape.PATTERN, Shape.ANY_PATTERN,
                                                    Shape.WORDS)
    return not_(clause) if negate else clause


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
    return _apply(node.method, column, list(node.values))


def list_rows(session: Session, model: Any, where: list[ColumnElement[bool]],
              columns: dict[str, Any], list_query: ListQuery, with_total: bool,
              default_order: str = "$createdAt",
              filter_columns: dict[str, Any] | None = None) -> tuple[list[Any], int]:
    """``total`` stops at ``COUNT_LIMIT``, as Appwrite's does. ``columns`` are the
    orderable attributes' columns; ``filter_columns`` adds or
    replaces what filters see (constants for fields Tocsin does not store, the status
    as reported rather than as stored)."""
    filterable = {**columns, **(filter_columns or {})}
    conditions = list(where)
    for node in list_query.filters:
        conditions.append(condition(node, filterable))
    order = list_query.order or [(default_order, False)]
    keys = [(columns[attr], desc) for attr, desc in order]
    keys.append((model.id, keys[-1][1]))  # a unique tiebreak makes cursors exact
    query: Select[Any] = select(model).where(*conditions)
    reverse = False
    if list_query.cursor:
        kind, doc_id = list_query.cursor
        anchor = session.execute(select(model).where(*where, model.id == doc_id)).scalar()
        if anchor is None:
            raise CursorNotFound(doc_id)
        reverse = kind == "cursorBefore"
        query = query.where(_after(anchor, keys, reverse))
    for column, desc in keys:
        query = query.order_by(column.asc() if desc == reverse else column.desc())
    query = query.offset(list_query.offset).limit(list_query.limit)
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
