"""Amazon Cognito user pools, from the Cognito developer guide's token pages.

Issuer ``https://cognito-idp.{region}.amazonaws.com/{pool id}``, keys at
``{issuer}/.well-known/jwks.json`` (no discovery needed), RS256, header ``{"kid", "alg"}``.
Access tokens: ``token_use: "access"``, ``client_id`` and no ``aud``, ``origin_jti``,
``event_id``, ``jti``, ``scope``, ``username``. ID tokens: ``token_use: "id"``, ``aud`` the app
client, ``origin_jti``, ``cognito:username``. No ``sid``; no back-channel logout.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from providers_support import NOW, Provider, reachable_kinds

from revoker.core.errors import MissingClaim, WrongAudience, WrongTokenUse

REGION, POOL = "eu-west-1", "eu-west-1_AbCdEf123"
ISSUER = f"https://cognito-idp.{REGION}.amazonaws.com/{POOL}"
CLIENT = "1example23456789abcdefghij"
FAMILY = str(uuid.uuid4())


def cognito() -> Provider:
    return Provider(ISSUER, ISSUER + "/.well-known/jwks.json", cognito=(REGION, POOL))


def access_claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "cognito:groups": ["admin"],
        "iss": ISSUER,
        "version": 2,
        "client_id": CLIENT,
        "origin_jti": FAMILY,
        "event_id": str(uuid.uuid4()),
        "token_use": "access",
        "scope": "aws.cognito.signin.user.admin",
        "auth_time": NOW,
        "exp": NOW + 3600,
        "iat": NOW,
        "jti": str(uuid.uuid4()),
        "username": "alice",
    }
    claims.update(overrides)
    return claims


def id_claims(**overrides: Any) -> dict[str, Any]:
    claims = access_claims(token_use="id", aud=CLIENT, email="alice@example.com")
    for name in ("client_id", "scope", "version", "username"):
        del claims[name]
    claims["cognito:username"] = "alice"
    claims.update(overrides)
    return claims


def test_cognito_access_and_id_tokens_are_allowed() -> None:
    """The pool's issuer and the app client: both kinds pass, told apart by token_use."""
    provider = cognito()
    verifier = provider.verifier(audience=(CLIENT,))
    access = verifier.verify(provider.sign(access_claims()))
    identity = verifier.verify(provider.sign(id_claims()))
    assert (access.kind, identity.kind) == ("access", "id")
    assert access.origin_jti == identity.origin_jti == FAMILY
    assert (access.session_id, identity.session_id) == (None, None)


def test_the_app_client_is_client_id_for_access_and_aud_for_id_tokens() -> None:
    """Another app client's tokens are refused, through client_id or aud."""
    provider = cognito()
    verifier = provider.verifier(audience=(CLIENT,))
    with pytest.raises(WrongAudience):
        verifier.verify(provider.sign(access_claims(client_id="another-client")))
    with pytest.raises(WrongAudience):
        verifier.verify(provider.sign(id_claims(aud="another-client")))


def test_a_cognito_token_without_token_use_is_missing_a_claim() -> None:
    """The pool's issuer is a Cognito one: token_use is required of its tokens."""
    provider = cognito()
    with pytest.raises(MissingClaim) as info:
        provider.verifier(audience=(CLIENT,)).verify(provider.sign(access_claims(token_use=None)))
    assert "'token_use'" in info.value.detail


def test_id_only_refuses_access_tokens() -> None:
    """token use 'id' (what API Gateway's Cognito authorizer takes) refuses access tokens."""
    provider = cognito()
    verifier = provider.verifier(audience=(CLIENT,), token_use=frozenset({"id"}))
    assert verifier.verify(provider.sign(id_claims()))
    with pytest.raises(WrongTokenUse):
        verifier.verify(provider.sign(access_claims()))


def test_family_rules_reach_both_kinds_session_rules_neither() -> None:
    """origin_jti ties access and ID tokens to their refresh token: a family rule (RevokeToken)
    reaches both; there is no sid to end a session by."""
    provider = cognito()
    verifier = provider.verifier(audience=(CLIENT,))
    expected = {"token", "family", "subject", "client"}
    assert reachable_kinds(verifier, provider.sign(access_claims()), client=CLIENT) == expected
    assert reachable_kinds(verifier, provider.sign(id_claims()), client=CLIENT) == expected
