"""Event names, patterns and variants (pure), table-driven: wildcards at each id
position, prefixes, no partial-segment matches."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduler.rules.errors import EventNameError
from scheduler.rules.eventnames import check_name, check_pattern, most_specific, user_of, variants

EXECUTION = "functions.report.executions.e1.update"


def matches(pattern: str, name: str) -> bool:
    return check_pattern(pattern) in variants(name)


@pytest.mark.parametrize(("pattern", "name", "expected"), [
    # the name itself, and a wildcard at each id position
    (EXECUTION, EXECUTION, True),
    ("functions.*.executions.e1.update", EXECUTION, True),
    ("functions.report.executions.*.update", EXECUTION, True),
    ("functions.*.executions.*.update", EXECUTION, True),
    # shorter prefixes ending on an id: every action of that resource
    ("functions.report.executions.e1", EXECUTION, True),
    ("functions.*.executions.*", EXECUTION, True),
    ("functions.report", EXECUTION, True),
    ("functions.*", EXECUTION, True),
    # another action, another id, another type
    ("functions.*.executions.*.create", EXECUTION, False),
    ("functions.other.executions.*.update", EXECUTION, False),
    ("functions.*.deployments.*", EXECUTION, False),
    # no partial-segment or prefix-of-a-segment matches
    ("functions.rep", EXECUTION, False),
    ("functions.report.executions.e", EXECUTION, False),
    ("functions.report.exec", EXECUTION, False),
    # a prefix that ends on a type is not a variant
    ("functions.report.executions", EXECUTION, False),
    # a function's own events
    ("functions.report.update", "functions.report.update", True),
    ("functions.*.update", "functions.report.update", True),
    ("functions.*", "functions.report.delete", True),
    ("functions.*.create", "functions.report.delete", False),
    # names from outside: type, id, action
    ("orders.*.paid", "orders.o9.paid", True),
    ("orders.*", "orders.o9.paid", True),
    ("orders.o9", "orders.o9.paid", True),
    ("orders.*.refunded", "orders.o9.paid", False),
    ("order.*", "orders.o9.paid", False),
    # a longer pattern never matches a shorter name
    ("orders.o9.paid.*", "orders.o9.paid", False),
    # an action with an attribute (Appwrite's users.[userId].update.prefs): the name
    # is also published without the attribute, and "prefs" is not an id
    ("users.*.update", "users.u1.update.prefs", True),
    ("users.u1.update", "users.u1.update.prefs", True),
    ("users.*.update.prefs", "users.u1.update.prefs", True),
    ("users.*", "users.u1.update.prefs", True),
    ("users.*.update.*", "users.u1.update.prefs", False),
    ("users.*.update.email", "users.u1.update.prefs", False),
    ("users.*.update", "users.u1.sessions.s1.update", False),
    ("users.*.sessions.*.update", "users.u1.sessions.s1.update", True),
    ("teams.*.memberships.*.update", "teams.t1.memberships.m1.update.status", True),
    ("teams.*.memberships.*.update.status", "teams.t1.memberships.m1.update.status", True),
])
def test_matching(pattern: str, name: str, expected: bool) -> None:
    assert matches(pattern, name) is expected


def test_an_attributes_variants_are_appwrites() -> None:
    """The list Appwrite's Event::generateEvents makes for users.[userId].update.prefs
    with userId u1 (as the webhook bridge receives it), in any order."""
    assert set(variants("users.u1.update.prefs")) == {
        "users.u1.update.prefs", "users.*.update.prefs", "users.u1.update", "users.*.update",
        "users.u1", "users.*"}
    assert variants("users.u1.update.prefs")[0] == "users.u1.update.prefs"


def test_variants_are_most_specific_first_and_unique() -> None:
    found = variants("databases.d.collections.c.documents.x.create")
    assert found[0] == "databases.d.collections.c.documents.x.create"
    assert len(found) == len(set(found)) == 2**3 + 2**3 + 2**2 + 2
    assert "databases.*" in found and "databases.*.collections.*.documents.*" in found
    assert most_specific(found) == found[0]
    assert most_specific(["orders.*", "orders.o9", "orders.o9.paid", "orders.*.paid"]) == (
        "orders.o9.paid")


@pytest.mark.parametrize(("bad", "says"), [
    ("", "must be"),
    ("functions..update", "segment 2"),
    ("functions.a b", "segment 2"),
    ("*.report", "segment 1 is a type"),
    ("functions.*.*", "segment 3 is a type"),
    ("functions.r%.update", "segment 2"),
    ("a." * 200 + "a", "longer than 256"),
    (".".join(["t", "i"] * 7), "more than 6 ids"),
    (None, "must be"),
])
def test_bad_patterns_are_named_with_the_rule(bad: object, says: str) -> None:
    with pytest.raises(EventNameError) as info:
        check_pattern(bad)
    assert says in info.value.message
    assert info.value.status == 400


def test_names_take_no_wildcards() -> None:
    with pytest.raises(EventNameError):
        check_name("orders.*.paid")


segment = st.text("abcxyz019_-", min_size=1, max_size=6)


@given(st.lists(segment, min_size=1, max_size=9))
def test_every_variant_is_a_valid_pattern_and_matches_its_name(parts: list[str]) -> None:
    name = ".".join(parts)
    found = variants(name)
    assert found[0] == name
    for variant in found:
        assert matches(check_pattern(variant), name)
        # A variant is the name with some ids starred, cut after an id (or whole).
        got = variant.split(".")
        assert len(got) == len(parts) or len(got) % 2 == 0
        assert all(g in ("*", p) for g, p in zip(got, parts, strict=False))
        assert all(g == p for i, (g, p) in enumerate(zip(got, parts, strict=False))
                   if i % 2 == 0)


@pytest.mark.parametrize(("name", "user"), [
    ("users.u7.create", "u7"), ("users.u7.sessions.s1.delete", "u7"), ("users.u7", "u7"),
    ("orders.u7.paid", ""), ("users", ""), ("teams.t1.memberships.m1.create", ""),
])
def test_the_user_an_event_names(name: str, user: str) -> None:
    assert user_of(name) == user
