"""Shared by the dev issuer suites (test_devissuer*.py): users, claim sets, sign-in helpers."""

from __future__ import annotations

import re
from typing import Any

from revoker.core.clock import FrozenClock
from revoker.core.jwks import JwksCache, JwksSource
from revoker.core.tokens import parse_unverified
from revoker.core.verify import VerificationPolicy, Verifier
from revoker.devissuer import (
    DevIssuer,
    DevUser,
)
from revoker.testing import StaticJwksFetcher

NOW = 1_700_000_000
ISSUER = "https://issuer.example.test/us-east-1_RevokerDev"
ALICE = DevUser("alice", "alice-password", "alice@example.com", ("admin", "staff"))
BOB = DevUser("bob", "bob-password", "bob@example.com")

ACCESS_CLAIMS = {
    "sub", "iss", "client_id", "origin_jti", "event_id", "token_use", "scope",
    "auth_time", "exp", "iat", "jti", "username",
}  # fmt: skip
ID_CLAIMS = {
    "sub", "aud", "email", "email_verified", "iss", "cognito:username", "origin_jti",
    "event_id", "token_use", "auth_time", "exp", "iat", "jti",
}  # fmt: skip
COGNITO_KID = re.compile(r"[A-Za-z0-9+/]{43}=")


def login(issuer: DevIssuer, user: DevUser = ALICE) -> dict[str, Any]:
    params = {"USERNAME": user.username, "PASSWORD": user.password}
    return issuer.initiate_auth(
        {"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": issuer.client_id, "AuthParameters": params}
    )["AuthenticationResult"]


def refresh(issuer: DevIssuer, refresh_token: str) -> dict[str, Any]:
    params = {"REFRESH_TOKEN": refresh_token}
    return issuer.initiate_auth(
        {"AuthFlow": "REFRESH_TOKEN_AUTH", "ClientId": issuer.client_id, "AuthParameters": params}
    )["AuthenticationResult"]


def verifier_for(issuer: DevIssuer, clock: FrozenClock) -> Verifier:
    """A strict verifier that trusts the issuer's current JWKS (no HTTP)."""
    policy = VerificationPolicy(
        issuers=(issuer.issuer,),
        audience=(issuer.client_id,),
        token_use=frozenset({"id", "access"}),
    )
    cache = JwksCache(
        JwksSource.from_url(issuer.issuer + "/.well-known/jwks.json"),
        fetcher=StaticJwksFetcher(issuer.jwks()),
        clock=clock,
    )
    return Verifier(policy, {issuer.issuer: cache}, clock=clock)


def claims_of(token: str) -> dict[str, Any]:
    return parse_unverified(token).claims
