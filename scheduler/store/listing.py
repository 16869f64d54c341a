"""Applying a ListSpec (filters, order, cursor, limit, offset) to a query."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select
from sqlalchemy.orm import Session

from scheduler.errors import CursorNotFound
from scheduler.listspec import ListSpec

_OPS = {
    "equal": lambda c, v: c.in_(v),
    "notEqual": lambda c, v: c.not_in(v),
    "greaterThan": lambda c, v: c > v[0],
    "greaterThanEqual": lambda c, v: c >= v[0],
    "lessThan": lambda c, v: c < v[0],
    "lessThanEqual": lambda c, v: c <= v[0],
}


def list_rows(session: Session, model: Any, where: list[ColumnElement[bool]],
              columns: dict[str, Any], spec: ListSpec, with_total: bool,
              default_order: str = "$createdAt") -> tuple[list[Any], int]:
    conditions = list(where)
    for flt in spec.filters:
        conditions.append(_OPS[flt.method](columns[flt.attribute], list(flt.values)))
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
        total = session.execute(
            select(func.count()).select_from(model).where(*conditions)).scalar_one()
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
