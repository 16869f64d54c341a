"""Appwrite's roles: the grammar of a function's ``execute`` list, the roles a caller
holds, and whether they meet. Pure.

A role is ``any``, ``guests``, ``users[/verified|/unverified]``,
``user:ID[/verified|/unverified]``, ``team:ID[/ROLE]``, ``member:ID`` or ``label:NAME``.
A caller holds a set of them (a guest: ``any`` and ``guests``; a signed-in user:
``any``, ``users``, ``user:ID`` and the forms its claims add); it may execute a
function when the two sets share one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from scheduler.rules.errors import InvalidInput

KINDS = ("any", "guests", "users", "user", "team", "member", "label")
VERIFICATION = ("verified", "unverified")
# Appwrite's Key validator for IDs and team roles; labels are alphanumeric only.
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,35}$")
_LABEL = re.compile(r"^[A-Za-z0-9]{1,36}$")


class RoleError(InvalidInput):
    """A role Appwrite's grammar does not allow."""


def check_role(role: str) -> str:
    """``role`` unchanged if Appwrite would accept it; else RoleError naming it."""
    if not isinstance(role, str):
        raise RoleError(f"Role {role!r} must be a string.")
    kind, _, rest = role.partition(":")
    ident, _, dimension = rest.partition("/")
    if ":" not in role:
        kind, _, dimension = role.partition("/")
        ident = ""
    if kind not in KINDS:
        raise RoleError(f'Role "{role}" is not allowed. Must be one of: {", ".join(KINDS)}.')
    if kind in ("any", "guests", "users"):
        if ":" in role:
            raise RoleError(f'Role "{role}" cannot have an ID value.')
        if kind != "users" and "/" in role:
            raise RoleError(f'Role "{role}" cannot have a dimension value.')
        if kind == "users" and "/" in role and dimension not in VERIFICATION:
            raise RoleError(f'Role "{role}": the only dimensions of users are '
                            f'{" and ".join(VERIFICATION)}.')
        return role
    if not ident:
        raise RoleError(f'Role "{role}" must have an ID value, e.g. {kind}:ID.')
    pattern = _LABEL if kind == "label" else _ID
    if not pattern.match(ident):
        allowed = ("alphanumeric, at most 36 chars" if kind == "label" else
                   "at most 36 chars of a-z, A-Z, 0-9, period, hyphen and underscore, "
                   "not starting with a special char")
        raise RoleError(f'Role "{role}" has an invalid ID: {allowed}.')
    if "/" in rest:
        if kind in ("member", "label"):
            raise RoleError(f'Role "{role}" cannot have a dimension value.')
        if kind == "user" and dimension not in VERIFICATION:
            raise RoleError(f'Role "{role}": the only dimensions of user are '
                            f'{" and ".join(VERIFICATION)}.')
        if kind == "team" and not _ID.match(dimension):
            raise RoleError(f'Role "{role}" has an invalid team role after "/".')
    return role


@dataclass(frozen=True)
class Identity:
    """What the identity provider says about a signed-in user (from a verified JWT)."""

    user_id: str
    verified: bool = False
    teams: tuple[str, ...] = ()  # "teamId" or "teamId/role"
    labels: tuple[str, ...] = ()


GUEST_ROLES = frozenset({"any", "guests"})


def roles_of(identity: Identity | None) -> frozenset[str]:
    """Every role a caller holds; entries the grammar refuses give nothing (a claim
    cannot smuggle in a role such as ``any`` through an odd team name)."""
    if identity is None:
        return GUEST_ROLES
    uid = identity.user_id
    state = "verified" if identity.verified else "unverified"
    roles = {"any", "users", f"users/{state}", f"user:{uid}", f"user:{uid}/{state}"}
    for team in identity.teams:
        ident, _, role = team.partition("/")
        candidates = [f"team:{ident}"] + ([f"team:{ident}/{role}"] if "/" in team else [])
        if all(map(_valid, candidates)):  # a malformed entry gives nothing at all
            roles.update(candidates)
    roles.update(f"label:{label}" for label in identity.labels if _valid(f"label:{label}"))
    return frozenset(r for r in roles if r in ("any", "users") or _valid(r))


def _valid(role: str) -> bool:
    try:
        check_role(role)
    except RoleError:
        return False
    return True


def permits(execute: Iterable[str], held: frozenset[str]) -> bool:
    """Whether a caller holding ``held`` may execute a function with ``execute``."""
    return not held.isdisjoint(execute)


@dataclass(frozen=True)
class ClaimNames:
    """Where a provider's token says who the user is (configurable per deployment)."""

    user: str = "sub"
    verified: tuple[str, ...] = ("email_verified", "verified")
    teams: str = "teams"
    labels: str = "labels"


def identity_from_claims(claims: dict[str, object], names: ClaimNames) -> Identity | None:
    """The identity a verified token's claims describe; None when it names no user.
    List claims of another shape give nothing rather than failing the request."""
    user = claims.get(names.user)
    if not isinstance(user, str | int) or isinstance(user, bool) or not str(user):
        return None
    verified = next((claims[n] for n in names.verified if n in claims), False)
    return Identity(user_id=str(user), verified=verified is True,
                    teams=_strings(claims.get(names.teams)),
                    labels=_strings(claims.get(names.labels)))


def _strings(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, str) and v)
