"""The filter grammar's one table (``rules.listquery.OPERATORS``): the API's parser and
both SQL interpreters read it; their answers are compared in test_lists_pg.py."""

from __future__ import annotations

from scheduler.api.listqueries import ARITY, TEXT_ONLY
from scheduler.rules.listquery import OPERATORS, Shape, escape_like, patterns


def test_every_method_has_its_negation_with_the_same_meaning_otherwise() -> None:
    pairs = {"equal": "notEqual", "between": "notBetween", "startsWith": "notStartsWith",
             "endsWith": "notEndsWith", "contains": "notContains", "search": "notSearch",
             "isNull": "isNotNull"}
    for plain, negated in pairs.items():
        a, b = OPERATORS[plain], OPERATORS[negated]
        assert (a.negate, b.negate) == (False, True)
        assert (a.shape, a.arity, a.text_only, a.pattern) == (
            b.shape, b.arity, b.text_only, b.pattern)
    assert {o.compare for o in OPERATORS.values() if o.shape is Shape.COMPARE} == {
        "<", "<=", ">", ">="}


def test_patterns_escape_the_value_and_search_takes_every_word_in_any_case() -> None:
    assert escape_like("50%_off/x") == "50/%/_off//x"
    assert patterns(OPERATORS["startsWith"], ("a_b", "ignored")) == ["a/_b%"]
    assert patterns(OPERATORS["endsWith"], ("%",)) == ["%/%"]
    assert patterns(OPERATORS["contains"], ("x", "y")) == ["%x%", "%y%"]
    assert patterns(OPERATORS["search"], ("Nightly  Backup",)) == ["%nightly%", "%backup%"]
    assert patterns(OPERATORS["search"], ("",)) == ["%%"]


def test_the_parser_checks_what_the_table_says() -> None:
    assert {m: o.arity for m, o in OPERATORS.items()} == ARITY
    assert {"startsWith", "endsWith", "notStartsWith", "notEndsWith",
                         "contains", "notContains", "search", "notSearch"} == TEXT_ONLY
