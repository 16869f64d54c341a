"""Signed-in users: a JWT from the identity provider the operator trusts, verified.

Tocsin keeps no accounts. ``X-Appwrite-JWT`` (client SDKs' ``setJWT``) and
``x-appwrite-user-jwt`` (function domains) carry a token signed with
``TOCSIN_JWT_SECRET`` (HS256) or by a key of ``TOCSIN_JWKS_URL`` (RS256/ES256, any
OIDC provider); expiry is required, and audience and issuer are checked when set.

A token is bound to a project by ``TOCSIN_JWT_AUDIENCE`` with ``{project}`` in it (the
``aud`` must name the request's project) or by ``TOCSIN_JWT_CLAIM_PROJECT`` (that claim
must equal it). With neither, one provider's user is a user in every project that
admits users: fine for one application, wrong for several tenants.
Whatever is wrong with a token, the answer is 401 ``user_jwt_invalid``, never a 500;
the reason goes to the log only.
"""

from __future__ import annotations

from typing import Any

import jwt

from scheduler.config import Settings
from scheduler.logs import first_line, get_logger
from scheduler.rules.errors import UserJwtInvalid
from scheduler.rules.roles import ClaimNames, Identity, identity_from_claims

log = get_logger(__name__)

SHARED: tuple[str, ...] = ("HS256",)
PUBLIC: tuple[str, ...] = ("RS256", "ES256")


class Verifier:
    """One per API process: the JWKS client caches the provider's keys (5 min)."""

    def __init__(self, settings: Settings) -> None:
        self.secret = settings.jwt_secret
        self.audience = settings.jwt_audience
        self.project_claim = settings.jwt_claim_project
        self.issuer = settings.jwt_issuer
        self.jwks = (jwt.PyJWKClient(settings.jwks_url, cache_keys=True, lifespan=300,
                                     timeout=5) if settings.jwks_url else None)
        self.names = ClaimNames(
            user=settings.jwt_claim_user,
            verified=tuple(n.strip() for n in settings.jwt_claim_verified.split(",")
                           if n.strip()),
            teams=settings.jwt_claim_teams, labels=settings.jwt_claim_labels)

    def identify(self, token: str, project: str) -> Identity:
        """The user ``token`` names in ``project``; UserJwtInvalid for anything short of
        that. Blocking (a JWKS fetch): call it from a worker thread."""
        try:
            claims = self._claims(token, project)
            if self.project_claim and claims.get(self.project_claim) != project:
                raise ValueError(f"claim '{self.project_claim}' does not name project "
                                 f"{project}")
            identity = identity_from_claims(claims, self.names)
        except (jwt.PyJWTError, ValueError) as exc:
            log.info("user.jwt_invalid", reason=first_line(exc))
            raise UserJwtInvalid() from None
        if identity is None:
            log.info("user.jwt_invalid", reason=f"no '{self.names.user}' claim")
            raise UserJwtInvalid()
        return identity

    def _claims(self, token: str, project: str) -> dict[str, object]:
        algorithm = jwt.get_unverified_header(token).get("alg", "")
        if algorithm in SHARED and self.secret:
            key: Any = self.secret
            allowed = SHARED
        elif algorithm in PUBLIC and self.jwks is not None:
            key = self.jwks.get_signing_key_from_jwt(token).key
            allowed = PUBLIC
        else:
            raise ValueError(f"no configured key signs '{algorithm}' tokens "
                             "(set TOCSIN_JWT_SECRET or TOCSIN_JWKS_URL)")
        audience = (self.audience.replace("{project}", project)
                    if self.audience is not None else None)
        claims: dict[str, object] = jwt.decode(
            token, key, algorithms=list(allowed), audience=audience, issuer=self.issuer,
            options={"require": ["exp"], "verify_aud": audience is not None})
        return claims
