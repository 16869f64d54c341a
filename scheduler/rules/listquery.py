"""What a list request asks for: filters, order, cursor, limit, offset; and the filter
grammar, one table for every reader of it. Pure.

The API parses Appwrite's ``queries[]`` into a ListQuery (``api/listqueries.py``,
which checks each method's arity and value type here); the store applies it to SQL
twice, as SQLAlchemy on every dialect (``store/lists.py``) and as PostgreSQL text for
the fast list path (``store/lists_pg.py``). Both interpret ``OPERATORS`` shape by shape,
so a method means the same in each; ``tests/integration/test_lists_pg.py`` holds their
answers equal over generated queries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

DEFAULT_LIMIT = 25


class Shape(StrEnum):
    """What a filter method does to a column, in SQL's terms."""

    AMONG = "among"  # column IN (values)
    COMPARE = "compare"  # column <Operator.compare> value
    RANGE = "range"  # column BETWEEN low AND high; negated: below low OR above high
    PATTERN = "pattern"  # column LIKE the value escaped into Operator.pattern
    ANY_PATTERN = "any_pattern"  # LIKE any of the values, each escaped into the pattern
    WORDS = "words"  # every word of the value appears, in any case (Appwrite's search)
    NULL = "null"  # column IS NULL


@dataclass(frozen=True)
class Operator:
    shape: Shape
    negate: bool = False
    arity: tuple[int, int | None] = (1, 1)  # values taken: (at least, at most or None)
    text_only: bool = False  # only on text attributes
    compare: str = ""  # COMPARE's SQL operator
    pattern: str = ""  # PATTERN's and ANY_PATTERN's LIKE pattern; {} is the escaped value


_MANY = (1, None)
OPERATORS: dict[str, Operator] = {
    "equal": Operator(Shape.AMONG, arity=_MANY),
    "notEqual": Operator(Shape.AMONG, negate=True, arity=_MANY),
    "lessThan": Operator(Shape.COMPARE, compare="<"),
    "lessThanEqual": Operator(Shape.COMPARE, compare="<="),
    "greaterThan": Operator(Shape.COMPARE, compare=">"),
    "greaterThanEqual": Operator(Shape.COMPARE, compare=">="),
    "between": Operator(Shape.RANGE, arity=(2, 2)),
    "notBetween": Operator(Shape.RANGE, negate=True, arity=(2, 2)),
    "startsWith": Operator(Shape.PATTERN, pattern="{}%", text_only=True),
    "endsWith": Operator(Shape.PATTERN, pattern="%{}", text_only=True),
    "notStartsWith": Operator(Shape.PATTERN, negate=True, pattern="{}%", text_only=True),
    "notEndsWith": Operator(Shape.PATTERN, negate=True, pattern="%{}", text_only=True),
    "contains": Operator(Shape.ANY_PATTERN, arity=_MANY, pattern="%{}%", text_only=True),
    "notContains": Operator(Shape.ANY_PATTERN, negate=True, arity=_MANY, pattern="%{}%",
                            text_only=True),
    "search": Operator(Shape.WORDS, text_only=True),
    "notSearch": Operator(Shape.WORDS, negate=True, text_only=True),
    "isNull": Operator(Shape.NULL, arity=(0, 0)),
    "isNotNull": Operator(Shape.NULL, negate=True, arity=(0, 0)),
}
LIKE_ESCAPE = "/"


def escape_like(value: str) -> str:
    """A value matched literally inside a LIKE pattern (escape character ``/``, as
    SQLAlchemy's ``autoescape``): ``/`` escapes itself, ``%`` and ``_``."""
    return value.replace("/", "//").replace("%", "/%").replace("_", "/_")


def patterns(operator: Operator, values: tuple[Any, ...] | list[Any]) -> list[str]:
    """The LIKE patterns a PATTERN, ANY_PATTERN or WORDS filter matches (WORDS: each
    word lower-cased, to be matched against the lower-cased column)."""
    if operator.shape is Shape.WORDS:
        text = str(values[0])
        return [f"%{escape_like(w.lower())}%" for w in (text.split() or [text])]
    chosen = values[:1] if operator.shape is Shape.PATTERN else values
    return [operator.pattern.format(escape_like(str(v))) for v in chosen]


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
