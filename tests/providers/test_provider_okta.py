"""Okta custom authorization servers (``/oauth2/default`` and the like), from Okta's token
reference and tokens seen in the wild.

Header ``{"kid", "alg": "RS256"}``, no ``typ``. Access tokens: ``ver: 1``, ``jti: "AT.…"``,
``aud`` the authorization server's audience (``api://default``), ``cid`` (the client), ``uid``
(the user id), ``scp`` (a list), ``sub`` the login. ID tokens: ``jti: "ID.…"``, ``aud`` the
client, ``amr``, ``idp``, ``at_hash``. Neither carries ``sid``; the org authorization server's
access tokens (issuer without ``/oauth2/…``) are for Okta's own APIs and are not verified.
"""

from __future__ import annotations

from typing import Any

import pytest
from providers_support import NOW, Provider, reachable_kinds

from revoker.core.errors import WrongAudience, WrongIssuer

ISSUER = "https://example.okta.com/oauth2/default"
AUDIENCE = "api://default"
CLIENT = "0oa1b2c3d4e5f6g7h8i9"
USER_ID = "00u1a2b3c4d5e6f7g8h9"


def okta() -> Provider:
    return Provider(ISSUER, ISSUER + "/v1/keys")


def access_claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "ver": 1,
        "jti": "AT.MNAoEQ_jbKqoinrQo1D0XKjMX28U5d7ZszBceot7-Ts",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice@example.com",
        "iat": NOW,
        "exp": NOW + 3600,
        "cid": CLIENT,
        "uid": USER_ID,
        "scp": ["openid", "profile", "email"],
        "auth_time": NOW - 30,
    }
    claims.update(overrides)
    return claims


def id_claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "sub": USER_ID,
        "name": "Alice",
        "email": "alice@example.com",
        "ver": 1,
        "iss": ISSUER,
        "aud": CLIENT,
        "iat": NOW,
        "exp": NOW + 3600,
        "jti": "ID.radCQMOQUmyvcTBmmIL0J6BaS60apUEiC7-vI7pOmkw",
        "amr": ["pwd"],
        "idp": "00o1a2b3c4d5e6f7g8h9",
        "preferred_username": "alice@example.com",
        "auth_time": NOW - 30,
        "at_hash": "fPlsvVszI29LU2UhDyJ9vg",
    }
    claims.update(overrides)
    return claims


def test_an_okta_access_token_is_allowed() -> None:
    """Audience api://default, as the authorization server's settings name it."""
    provider = okta()
    verified = provider.verifier(audience=(AUDIENCE,)).verify(provider.sign(access_claims()))
    assert verified.kind is None
    assert verified.jti == "AT.MNAoEQ_jbKqoinrQo1D0XKjMX28U5d7ZszBceot7-Ts"
    assert (verified.session_id, verified.origin_jti) == (None, None)


def test_an_okta_id_token_is_allowed_for_its_client() -> None:
    """ID tokens name the client in aud; jti starts with ID."""
    provider = okta()
    verified = provider.verifier(audience=(CLIENT,)).verify(provider.sign(id_claims()))
    assert verified.jti is not None
    assert verified.jti.startswith("ID.")


def test_the_client_id_is_not_an_access_token_audience() -> None:
    """cid names the client, aud the API: configuring the client id refuses access tokens."""
    provider = okta()
    with pytest.raises(WrongAudience):
        provider.verifier(audience=(CLIENT,)).verify(provider.sign(access_claims()))


def test_the_org_authorization_server_is_another_issuer() -> None:
    """https://{org}.okta.com (no /oauth2/…) issues for Okta's APIs, not for ours."""
    provider = okta()
    token = provider.sign(access_claims(iss="https://example.okta.com"))
    with pytest.raises(WrongIssuer):
        provider.verifier(audience=(AUDIENCE,)).verify(token)


def test_which_rules_reach_okta_tokens() -> None:
    """No sid, no origin_jti: token and subject rules reach access tokens; the client (cid) is
    not read by a client rule, which does reach ID tokens through aud."""
    provider = okta()
    access = provider.sign(access_claims())
    assert reachable_kinds(provider.verifier(audience=(AUDIENCE,)), access, client=CLIENT) == {
        "token",
        "subject",
    }
    id_token = provider.sign(id_claims())
    assert reachable_kinds(provider.verifier(audience=(CLIENT,)), id_token, client=CLIENT) == {
        "token",
        "subject",
        "client",
    }
