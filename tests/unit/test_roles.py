"""Appwrite's role grammar, the roles a token's claims give, and who may execute."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.rules.roles import (
    GUEST_ROLES,
    ClaimNames,
    Identity,
    RoleError,
    check_role,
    identity_from_claims,
    permits,
    roles_of,
)
from tests.unit.examples import examples

VALID = ["any", "guests", "users", "users/verified", "users/unverified", "user:alice",
         "user:alice/verified", "user:a.b-c_d", "team:red", "team:red/admin",
         "member:m1", "label:vip", "label:VIP2", "user:" + "x" * 36]
INVALID = {
    "admins": "is not allowed. Must be one of: any, guests, users, user, team, member, label",
    "": "is not allowed",
    "Any": "is not allowed",
    "any:x": "cannot have an ID value",
    "guests/verified": "cannot have a dimension value",
    "users/admin": "the only dimensions of users are verified and unverified",
    "users:x": "cannot have an ID value",
    "user:": "must have an ID value",
    "user": "must have an ID value",
    "team": "must have an ID value",
    "user:alice/owner": "the only dimensions of user are verified and unverified",
    "user:-alice": "has an invalid ID",
    "user:" + "x" * 37: "has an invalid ID",
    "user:a b": "has an invalid ID",
    "team:red/": "has an invalid team role",
    "team:red/a b": "has an invalid team role",
    "member:m1/x": "cannot have a dimension value",
    "label:v-i-p": "has an invalid ID: alphanumeric",
    "label:vip/x": "cannot have a dimension value",
}


@pytest.mark.parametrize("role", VALID)
def test_appwrites_roles_are_accepted_unchanged(role):
    assert check_role(role) == role


@pytest.mark.parametrize(("role", "says"), INVALID.items())
def test_anything_else_is_refused_naming_the_role(role, says):
    with pytest.raises(RoleError) as info:
        check_role(role)
    assert f'"{role}"' in info.value.message and says in info.value.message


def test_a_guest_holds_any_and_guests_only():
    assert roles_of(None) == GUEST_ROLES == {"any", "guests"}


def test_a_user_holds_its_own_roles_and_those_its_claims_give():
    held = roles_of(Identity("alice", verified=True, teams=("red", "blue/admin"),
                             labels=("vip",)))
    assert held == {"any", "users", "users/verified", "user:alice", "user:alice/verified",
                    "team:red", "team:blue", "team:blue/admin", "label:vip"}
    assert "guests" not in held
    unverified = roles_of(Identity("bob"))
    assert {"users/unverified", "user:bob/unverified"} <= unverified
    assert not {"users/verified", "user:bob/verified"} & unverified


def test_odd_claims_cannot_smuggle_in_roles():
    held = roles_of(Identity("eve", teams=("x/../any", "a b", ""), labels=("any", "v-1")))
    assert held == roles_of(Identity("eve")) | {"label:any"}  # a label named "any" is a label
    assert "team:x" in roles_of(Identity("eve", teams=("x",)))


@given(st.text(max_size=12), st.lists(st.text(max_size=8), max_size=4),
       st.lists(st.text(max_size=8), max_size=4), st.booleans())
@settings(max_examples=examples(200), deadline=None)
def test_every_role_a_user_holds_is_grammatical(uid, teams, labels, verified):
    for role in roles_of(Identity(uid or "u", verified, tuple(teams), tuple(labels))):
        check_role(role)


def test_permits_when_the_sets_meet():
    assert permits(["any"], GUEST_ROLES)
    assert permits(["guests"], GUEST_ROLES)
    assert not permits(["users"], GUEST_ROLES)
    assert not permits([], roles_of(Identity("alice")))
    assert permits(["user:alice"], roles_of(Identity("alice")))
    assert not permits(["user:alice"], roles_of(Identity("alicia")))
    assert permits(["team:red/admin"], roles_of(Identity("a", teams=("red/admin",))))
    assert not permits(["team:red/admin"], roles_of(Identity("a", teams=("red",))))
    assert not permits(["users/verified"], roles_of(Identity("a")))


NAMES = ClaimNames()


def test_claims_map_to_an_identity():
    claims = {"sub": "alice", "email_verified": True, "teams": ["red/admin", 3, ""],
              "labels": "vip"}
    assert identity_from_claims(claims, NAMES) == Identity("alice", True, ("red/admin",), ())
    assert identity_from_claims({"sub": 42, "verified": True}, NAMES) == Identity("42", True)
    # Only a literal true verifies; the first listed claim present decides.
    assert not identity_from_claims({"sub": "a", "email_verified": "true"}, NAMES).verified
    assert not identity_from_claims({"sub": "a", "email_verified": False, "verified": True},
                                    NAMES).verified


@pytest.mark.parametrize("claims", [{}, {"sub": ""}, {"sub": None}, {"sub": True},
                                    {"sub": ["a"]}])
def test_claims_without_a_user_name_nobody(claims):
    assert identity_from_claims(claims, NAMES) is None


def test_claim_names_are_configurable():
    names = ClaimNames(user="uid", verified=("ok",), teams="groups", labels="tags")
    got = identity_from_claims({"uid": "u1", "ok": True, "groups": ["g"], "tags": ["t"],
                                "sub": "ignored", "teams": ["ignored"]}, names)
    assert got == Identity("u1", True, ("g",), ("t",))
