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

Invariant: for every spec both forms select the same rows in the same order and count
the same total. ``tests/integration/test_lists_pg.py`` holds them to it on PostgreSQL
over generated specs. Values are always parameters, never text; attribute names reach
this module only as keys of the caller's own column maps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scheduler.rules.listquery import Condition, Filter, Group, ListQuery
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


def escape_like(value: str) -> str:
    """SQLAlchemy's ``autoescape``: ``/`` escapes itself, ``%`` and ``_``."""
    return value.replace("/", "//").replace("%", "/%").replace("_", "/_")


def _like(column: Sql, pattern: str) -> Sql:
    return Sql(f"{column.text} LIKE %s ESCAPE '/'", (*column.params, pattern))


def _compare(operator: str) -> Callable[[Sql, list[Any]], Sql]:
    return lambda c, v: Sql(f"{c.text} {operator} %s", (*c.params, v[0]))


def _among(c: Sql, v: list[Any], negate: bool) -> Sql:
    marks = ", ".join(["%s"] * len(v))
    return Sql(f"({c.text} {'NOT IN' if negate else 'IN'} ({marks}))", (*c.params, *v))


def _words(c: Sql, text: str) -> Sql:
    lowered = Sql(f"lower({c.text})", c.params)
    words = text.split() or [text]
    return joined([_like(lowered, f"%{escape_like(w.lower())}%") for w in words], " AND ")


def _contains(c: Sql, v: list[Any]) -> Sql:
    return joined([_like(c, f"%{escape_like(x)}%") for x in v], " OR ")


_OPS: dict[str, Callable[[Sql, list[Any]], Sql]] = {
    "equal": lambda c, v: _among(c, v, negate=False),
    "notEqual": lambda c, v: _among(c, v, negate=True),
    "greaterThan": _compare(">"),
    "greaterThanEqual": _compare(">="),
    "lessThan": _compare("<"),
    "lessThanEqual": _compare("<="),
    "between": lambda c, v: Sql(f"{c.text} BETWEEN %s AND %s", (*c.params, v[0], v[1])),
    "notBetween": lambda c, v: Sql(f"({c.text} < %s OR {c.text} > %s)",
                                   (*c.params, v[0], *c.params, v[1])),
    "startsWith": lambda c, v: _like(c, escape_like(v[0]) + "%"),
    "endsWith": lambda c, v: _like(c, "%" + escape_like(v[0])),
    "notStartsWith": lambda c, v: negated(_like(c, escape_like(v[0]) + "%")),
    "notEndsWith": lambda c, v: negated(_like(c, "%" + escape_like(v[0]))),
    "contains": _contains,
    "notContains": lambda c, v: negated(_contains(c, v)),
    "search": lambda c, v: _words(c, v[0]),
    "notSearch": lambda c, v: negated(_words(c, v[0])),
    "isNull": lambda c, v: Sql(f"{c.text} IS NULL", c.params),
    "isNotNull": lambda c, v: Sql(f"{c.text} IS NOT NULL", c.params),
}


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
    return _OPS[node.method](column, list(node.values))


@dataclass(frozen=True)
class Listing:
    """What ``page`` needs to know about the table it lists."""

    table: str
    orderable: Mapping[str, str]  # attribute -> column name
    id_column: str = "id"
    default_order: str = "$createdAt"


def page(listing: Listing, selected: Sql, filterable: Mapping[str, Column],
         where: Sequence[Sql], spec: ListQuery, with_total: bool,
         anchor: Mapping[str, Any] | None) -> tuple[Sql, bool]:
    """The statement of one page (``selected`` of each row), and whether its rows come
    in reverse (a ``cursorBefore`` reads backwards; the caller turns them round).

    ``filterable``: what filters see, by attribute (a column, or a derived value).
    ``anchor``: the cursor row's orderable columns, by column name (the caller has
    already answered a cursor that names no row). With ``with_total`` each row carries
    ``total``, the matches counted up to ``COUNT_LIMIT`` (an empty page carries none:
    ``count`` says it alone).
    """
    conditions = [*where, *(condition(node, filterable) for node in spec.filters)]
    order = spec.order or [(listing.default_order, False)]
    keys = [(listing.orderable[attribute], desc) for attribute, desc in order]
    keys.append((listing.id_column, keys[-1][1]))
    reverse = spec.cursor is not None and spec.cursor[0] == "cursorBefore"
    filters = joined(conditions, " AND ")
    text = f"SELECT {selected.text}"
    params: tuple[Any, ...] = selected.params
    if with_total:
        total = count(listing, conditions)
        text += f", ({total.text}) AS total"
        params += total.params
    text += f" FROM {listing.table} WHERE {filters.text}"
    params += filters.params
    if spec.cursor is not None:
        assert anchor is not None
        after = _after([(column, anchor[column], desc) for column, desc in keys], reverse)
        text += f" AND {after.text}"
        params += after.params
    text += " ORDER BY " + ", ".join(
        f"{column} {'ASC' if desc == reverse else 'DESC'}" for column, desc in keys)
    text += " LIMIT %s OFFSET %s"
    return Sql(text, (*params, spec.limit, spec.offset)), reverse


def count(listing: Listing, conditions: Sequence[Sql]) -> Sql:
    """The matches of ``conditions``, counted up to ``COUNT_LIMIT``."""
    filters = joined(conditions, " AND ")
    return Sql(f"SELECT count(*) FROM (SELECT 1 FROM {listing.table} WHERE {filters.text}"
               f" LIMIT {COUNT_LIMIT}) AS matches", filters.params)


def counted(listing: Listing, filterable: Mapping[str, Column], where: Sequence[Sql],
            spec: ListQuery) -> Sql:
    """``count`` of a spec's filters (for a page that came back empty)."""
    return count(listing, [*where, *(condition(n, filterable) for n in spec.filters)])


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
