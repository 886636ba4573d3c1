"""Auth0, from its documentation (auth0.com/docs: Access Token Profiles, ID Token Structure,
OIDC Back-Channel Logout).

Issuer ``https://{tenant}/`` with its trailing slash; JWKS at ``/.well-known/jwks.json``;
RS256 (PS256 available). Access tokens, Auth0 profile (the default): header ``typ: "JWT"``,
``aud`` the API identifier plus ``/userinfo``, the client in ``azp``, no ``jti``, no ``sid``.
RFC 9068 profile: header ``typ: "at+jwt"``, ``client_id``, ``jti``. ID tokens: ``aud`` the
client, ``sid``, ``nonce``. Logout tokens carry ``sid`` and ``sub``.
"""

from __future__ import annotations

from typing import Any

import pytest
from providers_support import NOW, Provider, reachable_kinds

from revoker.core.errors import WrongAudience, WrongIssuer, WrongTokenUse
from revoker.core.logout_token import BACKCHANNEL_LOGOUT_EVENT

TENANT = "https://example.us.auth0.com/"
API = "https://api.example.com/health"
CLIENT = "my_client_id"
SUB = "auth0|123456"


def auth0(alg: str = "RS256") -> Provider:
    return Provider(TENANT, TENANT + ".well-known/jwks.json", alg=alg)


def auth0_profile(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": TENANT,
        "sub": SUB,
        "aud": [API, TENANT + "userinfo"],
        "azp": CLIENT,
        "exp": NOW + 86_400,
        "iat": NOW,
        "scope": "openid profile read:patients",
        "permissions": ["read:patients"],
    }
    claims.update(overrides)
    return claims


def rfc9068_profile(**overrides: Any) -> dict[str, Any]:
    claims = auth0_profile(client_id=CLIENT, jti="73WakrfVbNJBaAmhQtEeDv")
    del claims["azp"]
    claims.update(overrides)
    return claims


def id_claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": TENANT,
        "sub": SUB,
        "aud": CLIENT,
        "exp": NOW + 36_000,
        "iat": NOW,
        "nonce": "n-0S6_WzA2Mj",
        "sid": "GIbqFfCqdnvO2rdq3zqvM9E6ZqDvIUxN",
        "name": "Jane Doe",
        "email": "jane@example.com",
    }
    claims.update(overrides)
    return claims


@pytest.mark.parametrize("alg", ["RS256", "PS256"])
def test_an_auth0_profile_access_token_is_allowed(alg: str) -> None:
    """The default profile: aud is the API identifier; the kind cannot be told."""
    tenant = auth0(alg)
    verified = tenant.verifier(audience=(API,)).verify(tenant.sign(auth0_profile(), typ="JWT"))
    assert verified.kind is None
    assert (verified.jti, verified.session_id, verified.origin_jti) == (None, None, None)


def test_an_rfc_9068_profile_access_token_is_allowed() -> None:
    """The RFC 9068 profile: typ at+jwt, client_id and jti; the kind is access."""
    tenant = auth0()
    token = tenant.sign(rfc9068_profile(), typ="at+jwt")
    verified = tenant.verifier(audience=(API,)).verify(token)
    assert (verified.kind, verified.jti) == ("access", "73WakrfVbNJBaAmhQtEeDv")


def test_an_auth0_id_token_is_allowed_for_its_client() -> None:
    """ID tokens name the application in aud and carry sid."""
    tenant = auth0()
    verified = tenant.verifier(audience=(CLIENT,)).verify(tenant.sign(id_claims(), typ="JWT"))
    assert verified.session_id == "GIbqFfCqdnvO2rdq3zqvM9E6ZqDvIUxN"


def test_an_access_token_is_not_for_the_client_id() -> None:
    """Configuring the client id for an API's access tokens is refused: aud names the API."""
    tenant = auth0()
    with pytest.raises(WrongAudience) as info:
        tenant.verifier(audience=(CLIENT,)).verify(tenant.sign(auth0_profile()))
    assert "azp 'my_client_id' is accepted" in info.value.detail


def test_the_issuer_keeps_its_trailing_slash() -> None:
    """Auth0's iss ends in '/': a token without it is another issuer's."""
    tenant = auth0()
    with pytest.raises(WrongIssuer):
        tenant.verifier(audience=(API,)).verify(tenant.sign(auth0_profile(iss=TENANT[:-1])))


def test_access_only_needs_the_rfc_9068_profile() -> None:
    """token use 'access' takes RFC 9068 tokens and refuses the default profile's, which say
    nothing of their kind."""
    tenant = auth0()
    verifier = tenant.verifier(audience=(API,), token_use=frozenset({"access"}))
    assert verifier.verify(tenant.sign(rfc9068_profile(), typ="at+jwt"))
    with pytest.raises(WrongTokenUse) as info:
        verifier.verify(tenant.sign(auth0_profile(), typ="JWT"))
    assert "token use 'any'" in info.value.detail


def test_which_rules_reach_auth0_tokens() -> None:
    """No sid in access tokens: a session logout reaches ID tokens only. The client rule needs
    client_id (RFC 9068 profile) or the client in aud (ID tokens)."""
    tenant = auth0()
    api, app = tenant.verifier(audience=(API,)), tenant.verifier(audience=(CLIENT,))
    default = tenant.sign(auth0_profile())
    assert reachable_kinds(api, default, client=CLIENT) == {"token", "subject"}
    rfc9068 = tenant.sign(rfc9068_profile(), typ="at+jwt")
    assert reachable_kinds(api, rfc9068, client=CLIENT) == {"token", "subject", "client"}
    id_token = tenant.sign(id_claims())
    assert reachable_kinds(app, id_token, client=CLIENT) == {
        "token",
        "session",
        "subject",
        "client",
    }


@pytest.mark.parametrize("typ", ["logout+jwt", "JWT"])
def test_an_auth0_logout_token_is_verified(typ: str) -> None:
    """iss, aud, iat, exp, jti, events, sid and sub, as §2.4 lists them."""
    tenant = auth0()
    claims = {
        "iss": TENANT,
        "sub": SUB,
        "aud": CLIENT,
        "iat": NOW,
        "exp": NOW + 120,
        "jti": "2f4c8a9e",
        "sid": "GIbqFfCqdnvO2rdq3zqvM9E6ZqDvIUxN",
        "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
    }
    logout = tenant.logout_verifier(audience=(CLIENT,)).verify(tenant.sign(claims, typ=typ))
    assert (logout.sub, logout.sid) == (SUB, "GIbqFfCqdnvO2rdq3zqvM9E6ZqDvIUxN")
