"""Keycloak (25 and later), as its tokens are documented and seen in the wild.

Access token: header ``typ: "JWT"`` (``at+jwt`` when the client's compatibility option for
it is on, keycloak/keycloak#37573); claims ``typ: "Bearer"``, ``azp`` (the client), ``aud``
(``account`` by default, an API only with an audience mapper), ``sid`` (``session_state``
was dropped in 25, keycloak/keycloak#28354), ``jti``, ``realm_access``, ``scope``. ID token:
``typ: "ID"``, ``aud`` = ``azp`` = the client, ``sid``, ``nonce``. Logout token: header
``typ: logout+jwt`` (since 25, keycloak/keycloak#29260), claim ``typ: "Logout"``, ``sid``,
``sub``, and the event object ``{"revoke_offline_access": true}``. Refresh tokens:
``typ: "Refresh"``/``"Offline"``.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from providers_support import NOW, Provider, reachable_kinds

from revoker.core.errors import RevokerError, WrongAudience, WrongTokenUse
from revoker.core.logout_token import BACKCHANNEL_LOGOUT_EVENT

REALM = "https://kc.example.com/realms/demo"
CLIENT = "web-app"
API = "orders-api"
USER = "3f2b8c1e-5f3a-4c47-9a8e-2f0d6f8f0b11"
SESSION = "7a1e9c44-2b6d-4f5e-8c3a-1d2e3f4a5b6c"


def keycloak(alg: str = "RS256") -> Provider:
    # Keycloak names EdDSA keys "EdDSA"; Ed25519 is the fully specified name (RFC 9864).
    return Provider(REALM, REALM + "/protocol/openid-connect/certs", alg=alg)


def access_claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "exp": NOW + 300,
        "iat": NOW,
        "auth_time": NOW - 10,
        "jti": str(uuid.uuid4()),
        "iss": REALM,
        "aud": [API, "account"],
        "sub": USER,
        "typ": "Bearer",
        "azp": CLIENT,
        "sid": SESSION,
        "acr": "1",
        "allowed-origins": ["https://app.example.com"],
        "realm_access": {"roles": ["offline_access", "default-roles-demo"]},
        "resource_access": {"account": {"roles": ["view-profile"]}},
        "scope": "openid profile email",
        "email_verified": True,
        "preferred_username": "alice",
    }
    claims.update(overrides)
    return claims


def id_claims(**overrides: Any) -> dict[str, Any]:
    claims = access_claims(aud=CLIENT, typ="ID", nonce="n-0S6_WzA2Mj", at_hash="x7Yq")
    for name in ("allowed-origins", "realm_access", "resource_access", "scope"):
        del claims[name]
    claims.update(overrides)
    return claims


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256", "Ed25519"])
def test_a_keycloak_access_token_is_allowed(alg: str) -> None:
    """Configured with the realm as issuer and the API as audience: allowed, kind access."""
    kc = keycloak(alg)
    verified = kc.verifier(audience=(API,)).verify(kc.sign(access_claims(), typ="JWT"))
    assert verified.kind == "access"  # from Keycloak's typ claim "Bearer"
    assert (verified.session_id, verified.origin_jti) == (SESSION, None)
    assert verified.jti is not None


def test_a_keycloak_id_token_is_allowed_for_its_client() -> None:
    """An ID token names the client in aud; its kind is id."""
    kc = keycloak()
    verified = kc.verifier(audience=(CLIENT,)).verify(kc.sign(id_claims(), typ="JWT"))
    assert (verified.kind, verified.session_id) == ("id", SESSION)


def test_the_default_account_audience_is_refused_and_azp_explained() -> None:
    """Without an audience mapper aud is only 'account': refused; the detail points at azp."""
    kc = keycloak()
    token = kc.sign(access_claims(aud="account"), typ="JWT")
    with pytest.raises(WrongAudience) as info:
        kc.verifier(audience=(CLIENT,)).verify(token)
    assert "azp 'web-app' is accepted, but azp only says who asked" in info.value.detail


def test_another_clients_token_is_refused() -> None:
    """A token for another API of the realm does not pass for ours."""
    kc = keycloak()
    with pytest.raises(WrongAudience):
        kc.verifier(audience=(API,)).verify(kc.sign(access_claims(aud="billing-api")))


def test_access_only_refuses_keycloak_id_tokens() -> None:
    """token use 'access': Keycloak's typ claim tells the two apart."""
    kc = keycloak()
    verifier = kc.verifier(audience=(API, CLIENT), token_use=frozenset({"access"}))
    assert verifier.verify(kc.sign(access_claims()))
    with pytest.raises(WrongTokenUse):
        verifier.verify(kc.sign(id_claims()))


def test_the_rfc_9068_option_types_access_tokens_at_jwt() -> None:
    """With 'use at+jwt' on, the header says access too: the kinds agree."""
    kc = keycloak()
    verified = kc.verifier(audience=(API,)).verify(kc.sign(access_claims(), typ="at+jwt"))
    assert verified.kind == "access"


@pytest.mark.parametrize("typ", ["Refresh", "Offline"])
def test_keycloak_refresh_tokens_are_refused(typ: str) -> None:
    """A refresh token signed with an asymmetric key still never passes for an access token."""
    kc = keycloak()
    token = kc.sign(access_claims(typ=typ, aud=REALM), typ="JWT")
    with pytest.raises(WrongTokenUse):
        kc.verifier(audience=(REALM,)).verify(token)


def test_session_subject_and_token_rules_reach_keycloak_tokens() -> None:
    """sid is in access and ID tokens, so a session rule (a logout) reaches both; no family.
    A client rule reads client_id or aud: it reaches the ID token (aud is the client), not
    the access token (the client is in azp)."""
    kc = keycloak()
    access = kc.sign(access_claims())
    assert reachable_kinds(kc.verifier(audience=(API,)), access, client=CLIENT) == {
        "token",
        "session",
        "subject",
    }
    id_token = kc.sign(id_claims())
    assert reachable_kinds(kc.verifier(audience=(CLIENT,)), id_token, client=CLIENT) == {
        "token",
        "session",
        "subject",
        "client",
    }


def test_a_keycloak_logout_token_is_verified() -> None:
    """The back-channel logout token Keycloak sends: typ logout+jwt, typ claim Logout, sid."""
    kc = keycloak()
    claims = {
        "iat": NOW,
        "exp": NOW + 120,
        "jti": str(uuid.uuid4()),
        "iss": REALM,
        "aud": CLIENT,
        "sub": USER,
        "typ": "Logout",
        "sid": SESSION,
        "events": {BACKCHANNEL_LOGOUT_EVENT: {"revoke_offline_access": True}},
    }
    token = kc.sign(claims, typ="logout+jwt")
    logout = kc.logout_verifier(audience=(CLIENT,)).verify(token)
    assert (logout.sub, logout.sid) == (USER, SESSION)
    assert logout.event == {"revoke_offline_access": True}
    with pytest.raises(RevokerError) as info:
        kc.verifier(audience=(CLIENT,)).verify(token)
    assert info.value.reason == "wrong_token_use"
