"""A generic standards-following provider: panva's oidc-provider, from its source
(``lib/models/formats/jwt.js`` and the ID-token model).

JWT access tokens (resource indicators): header ``typ: "at+jwt"``; claims ``jti`` (a
21-character nanoid), ``sub``, ``iat``, ``exp``, ``scope``, ``client_id``, ``iss``, ``aud`` (the
resource), and ``cnf`` (``jkt`` or ``x5t#S256``) when sender-constrained. ID tokens: ``aud`` the
client, ``sid``, ``nonce``. Logout tokens: header ``typ: "logout+jwt"``, signed like ID tokens.
Any JWS algorithm: the suite signs with RS256, PS256, ES256 and Ed25519.
"""

from __future__ import annotations

from typing import Any

import pytest
from providers_support import ALGORITHMS, NOW, Provider, reachable_kinds

from revoker.core.authorizer import Authorizer
from revoker.core.binding import ProofContext
from revoker.core.dpop import DpopVerifier
from revoker.core.errors import WrongAudience, WrongTokenUse
from revoker.core.logout_token import BACKCHANNEL_LOGOUT_EVENT
from revoker.testing import DpopKey

ISSUER = "https://op.example.com"
RESOURCE = "https://api.example.com"
CLIENT = "client-app"
SID = "b1f4e1c2-8f0e-4a33-9d75-1f3a2b4c5d6e"


def provider(alg: str = "RS256") -> Provider:
    return Provider(ISSUER, ISSUER + "/jwks", alg=alg)


def access_claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "jti": "V1StGXR8_Z5jdHi6B-myT",
        "sub": "user-42",
        "iat": NOW,
        "exp": NOW + 3600,
        "scope": "api:read",
        "client_id": CLIENT,
        "iss": ISSUER,
        "aud": RESOURCE,
    }
    claims.update(overrides)
    return claims


def id_claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "sub": "user-42",
        "sid": SID,
        "auth_time": NOW - 5,
        "nonce": "n-0S6_WzA2Mj",
        "at_hash": "77QmUPtjPfzWtF2AnpK9RQ",
        "aud": CLIENT,
        "exp": NOW + 3600,
        "iat": NOW,
        "iss": ISSUER,
    }
    claims.update(overrides)
    return claims


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_rfc_9068_access_tokens_in_every_algorithm(alg: str) -> None:
    """at+jwt access tokens for the resource, signed by real RS256, PS256, ES256, Ed25519 keys."""
    op = provider(alg)
    verified = op.verifier(audience=(RESOURCE,)).verify(op.sign(access_claims(), typ="at+jwt"))
    assert (verified.kind, verified.jti) == ("access", "V1StGXR8_Z5jdHi6B-myT")


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_id_tokens_in_every_algorithm(alg: str) -> None:
    """ID tokens (no typ) for the client, with sid."""
    op = provider(alg)
    verified = op.verifier(audience=(CLIENT,)).verify(op.sign(id_claims()))
    assert (verified.kind, verified.session_id) == (None, SID)


def test_a_token_for_another_resource_is_refused() -> None:
    """aud is the resource indicator; another resource's token does not pass."""
    op = provider()
    token = op.sign(access_claims(aud="https://other.example.com"), typ="at+jwt")
    with pytest.raises(WrongAudience):
        op.verifier(audience=(RESOURCE,)).verify(token)


def test_which_rules_reach_the_generic_providers_tokens() -> None:
    """Access tokens carry jti and client_id, no sid: a session logout reaches ID tokens only."""
    op = provider()
    access = op.sign(access_claims(), typ="at+jwt")
    assert reachable_kinds(op.verifier(audience=(RESOURCE,)), access, client=CLIENT) == {
        "token",
        "subject",
        "client",
    }
    id_token = op.sign(id_claims())
    assert reachable_kinds(op.verifier(audience=(CLIENT,)), id_token, client=CLIENT) == {
        "token",
        "session",
        "subject",
        "client",
    }


def test_a_dpop_bound_access_token_needs_its_proof() -> None:
    """oidc-provider's DPoP-bound tokens (cnf.jkt) are refused as Bearer, allowed with a proof."""
    op = provider("ES256")
    key = DpopKey("ES256", clock=op.clock)
    token = op.sign(access_claims(cnf={"jkt": key.jkt}), typ="at+jwt")
    authorizer = Authorizer(op.verifier(audience=(RESOURCE,)), dpop=DpopVerifier(clock=op.clock))
    assert authorizer.check(token).reason == "sender_constrained"
    uri = RESOURCE + "/orders"
    proof = ProofContext(dpop=key.proof("POST", uri, access_token=token), method="POST", uri=uri)
    assert authorizer.check(token, proof=proof).allowed


def test_its_logout_token_is_verified_and_never_an_access_token() -> None:
    """typ logout+jwt, signed with the ID-token key: a logout token, and only that."""
    op = provider()
    claims = {
        "iss": ISSUER,
        "aud": CLIENT,
        "iat": NOW,
        "exp": NOW + 60,
        "jti": "Q0Z1R2S3T4U5V6W7X8Y9Z",
        "sub": "user-42",
        "sid": SID,
        "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
    }
    token = op.sign(claims, typ="logout+jwt")
    assert op.logout_verifier(audience=(CLIENT,)).verify(token).sid == SID
    with pytest.raises(WrongTokenUse):
        op.verifier(audience=(CLIENT,)).verify(token)
