"""A ListQuery written straight to PostgreSQL text: the API's fast list path.

``store/lists.py`` is the reference and serves every dialect: SQLAlchemy builds and
compiles a statement per request. That compile, and the ORM around it, were most of
what a list cost the API process (about 2 of its 2.5 ms; PostgreSQL's share was 0.3).
Here the same grammar is written as text with psycopg placeholders, in the same order
and with the same meaning, operator by operator:

* ``equal``/``notEqual`` are ``IN``/``NOT IN`` lists; text matches are ``LIKE`` with
  ``/`` as the escape character, the pattern escaped as SQLAlchemy's ``autoescape``
  does; ``search`` is every word, lower-cased on both sides.
* A derived column (the status as reported) says "equals one of" its own way, so the
  listing index serves it, as ``lists.Derived`` does.
* Order, the unique ``id`` tiebreak, cursors and the count's cap are the reference's.

Invariant: for every query both forms select the same rows in the same order and count
the same total. ``tests/integration/test_lists_pg.py`` holds them to it on PostgreSQL
over generated specs. Values are always parameters, never text; attribute names reach
this module only as keys of the caller's own column maps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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
from scheduler.store.lists import COUNT_LIMIT


@dataclass(frozen=True)
class Sql:
    """A fragment of SQL text and the values of its ``%s`` placeholders, in order."""

    text: str
    params: tuple[Any, ...] = ()


@dataclass(frozen=True)
class DerivedSql:
    """The text form of ``lists.Derived``."""

    expression: Sql
    equal: Callable[[list[Any]], Sql]


Column = Sql | DerivedSql


def joined(parts: Sequence[Sql], separator: str) -> Sql:
    """``parts`` joined by `` AND `` or `` OR ``, parenthesised."""
    if len(parts) == 1:
        return parts[0]
    params: tuple[Any, ...] = ()
    for part in parts:
        params += part.params
    return Sql("(" + separator.join(p.text for p in parts) + ")", params)


def negated(part: Sql) -> Sql:
    return Sql(f"NOT ({part.text})", part.params)


def _like(column: Sql, pattern: str) -> Sql:
    return Sql(f"{column.text} LIKE %s ESCAPE '{LIKE_ESCAPE}'", (*column.params, pattern))


def _shape(operator: Operator, c: Sql, v: list[Any]) -> Sql:
    """``operator`` before its negation, as text: ``lists._shape``, shape by shape."""
    shape = operator.shape
    if shape is Shape.AMONG:
        marks = ", ".join(["%s"] * len(v))
        return Sql(f"({c.text} {'NOT IN' if operator.negate else 'IN'} ({marks}))",
                   (*c.params, *v))
    if shape is Shape.COMPARE:
        return Sql(f"{c.text} {operator.compare} %s", (*c.params, v[0]))
    if shape is Shape.RANGE:
        if operator.negate:
            return Sql(f"({c.text} < %s OR {c.text} > %s)", (*c.params, v[0], *c.params, v[1]))
        return Sql(f"{c.text} BETWEEN %s AND %s", (*c.params, v[0], v[1]))
    if shape is Shape.NULL:
        return Sql(f"{c.text} IS {'NOT ' if operator.negate else ''}NULL", c.params)
    if shape is Shape.WORDS:
        lowered = Sql(f"lower({c.text})", c.params)
        return joined([_like(lowered, p) for p in patterns(operator, v)], " AND ")
    return joined([_like(c, p) for p in patterns(operator, v)], " OR ")


def _apply(method: str, c: Sql, v: list[Any]) -> Sql:
    operator = OPERATORS[method]
    clause = _shape(operator, c, v)
    negate = operator.negate and operator.shape in (Shape.PATTERN, Shape.ANY_PATTERN,
                                                    Shape.WORDS)
    return negated(clause) if negate else clause


def condition(node: Condition, columns: Mapping[str, Column]) -> Sql:
    if isinstance(node, Group):
        parts = [condition(child, columns) for child in node.children]
        return joined(parts, " AND " if node.method == "and" else " OR ")
    assert isinstance(node, Filter)
    column = columns[node.attribute]
    if isinstance(column, DerivedSql):
        if node.method in ("equal", "notEqual"):
            same = column.equal(list(node.values))
            return same if node.method == "equal" else negated(same)
        column = column.expression
    return _apply(node.method, column, list(node.values))


@dataclass(frozen=True)
class Listing:
    """What ``page`` needs to know about the table it lists."""

    table: str
    orderable: Mapping[str, str]  # attribute -> column name
    id_column: str = "id"
    default_order: str = "$createdAt"


def page(listing: Listing, selected: Sql, filterable: Mapping[str, Column],
         where: Sequence[Sql], query: ListQuery, with_total: bool,
         anchor: Mapping[str, Any] | None) -> tuple[Sql, bool]:
    """The statement of one page (``selected`` of each row), and whether its rows come
    in reverse (a ``cursorBefore`` reads backwards; the caller turns them round).

    ``filterable``: what filters see, by attribute (a column, or a derived value).
    ``anchor``: the cursor row's orderable columns, by column name (the caller has
    already answered a cursor that names no row). With ``with_total`` each row carries
    ``total``, the matches counted up to ``COUNT_LIMIT`` (an empty page carries none:
    ``count`` says it alone).
    """
    conditions = [*where, *(condition(node, filterable) for node in query.filters)]
    order = query.order or [(listing.default_order, False)]
    keys = [(listing.orderable[attribute], desc) for attribute, desc in order]
    keys.append((listing.id_column, keys[-1][1]))
    reverse = query.cursor is not None and query.cursor[0] == "cursorBefore"
    filters = joined(conditions, " AND ")
    text = f"SELECT {selected.text}"
    params: tuple[Any, ...] = selected.params
    if with_total:
        total = count(listing, conditions)
        text += f", ({total.text}) AS total"
        params += total.params
    text += f" FROM {listing.table} WHERE {filters.text}"
    params += filters.params
    if query.cursor is not None:
        assert anchor is not None
        after = _after([(column, anchor[column], desc) for column, desc in keys], reverse)
        text += f" AND {after.text}"
        params += after.params
    text += " ORDER BY " + ", ".join(
        f"{column} {'ASC' if desc == reverse else 'DESC'}" for column, desc in keys)
    text += " LIMIT %s OFFSET %s"
    return Sql(text, (*params, query.limit, query.offset)), reverse


def count(listing: Listing, conditions: Sequence[Sql]) -> Sql:
    """The matches of ``conditions``, counted up to ``COUNT_LIMIT``."""
    filters = joined(conditions, " AND ")
    return Sql(f"SELECT count(*) FROM (SELECT 1 FROM {listing.table} WHERE {filters.text}"
               f" LIMIT {COUNT_LIMIT}) AS matches", filters.params)


def counted(listing: Listing, filterable: Mapping[str, Column], where: Sequence[Sql],
            query: ListQuery) -> Sql:
    """``count`` of a query's filters (for a page that came back empty)."""
    return count(listing, [*where, *(condition(n, filterable) for n in query.filters)])


def _after(keys: list[tuple[str, Any, bool]], reverse: bool) -> Sql:
    """Rows strictly after (or before) the anchor in the key order, for mixed
    directions: as ``lists._after``."""
    clause: Sql | None = None
    for column, value, desc in reversed(keys):
        forward = desc == reverse  # ascending when moving forward
        step = Sql(f"{column} {'>' if forward else '<'} %s", (value,))
        clause = step if clause is None else Sql(
            f"({step.text} OR ({column} = %s AND {clause.text}))",
            (*step.params, value, *clause.params))
    assert clause is not None
    return clause
