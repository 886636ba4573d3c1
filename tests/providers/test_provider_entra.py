"""Microsoft Entra ID v2.0 tokens, from Microsoft's access-token and ID-token claims references.

Issuer ``https://login.microsoftonline.com/{tid}/v2.0``; keys at
``…/{tid}/discovery/v2.0/keys``; RS256. Header ``typ: "JWT"``, ``kid`` and ``x5t``. Access
tokens for your API (v2): ``aud`` the API's application id, ``azp`` the calling client,
``oid``, ``tid``, ``scp``, ``ver: "2.0"``, and ``uti`` where other issuers put ``jti``: there is
no ``jti`` and no ``sid``. ID tokens: ``aud`` the client, ``nonce``, ``uti``; ``sid`` only as
an optional claim. Entra sends no back-channel logout tokens.
"""

from __future__ import annotations

from typing import Any

import pytest
from providers_support import NOW, Provider, reachable_kinds

from revoker.core.errors import WrongAudience, WrongIssuer

TENANT = "aaaabbbb-0000-cccc-1111-dddd2222eeee"
ISSUER = f"https://login.microsoftonline.com/{TENANT}/v2.0"
API = "6e74172b-be56-4843-9ff4-e66a39bb12e3"
CLIENT = "00001111-aaaa-2222-bbbb-3333cccc4444"


def entra() -> Provider:
    return Provider(
        ISSUER,
        f"https://login.microsoftonline.com/{TENANT}/discovery/v2.0/keys",
        kid="nOo3ZDrODXEK1jKWhXslHR_KXEg",
    )


def access_claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "aud": API,
        "iss": ISSUER,
        "iat": NOW,
        "nbf": NOW,
        "exp": NOW + 3900,
        "aio": "AXQAi/8UAAAA",
        "azp": CLIENT,
        "azpacr": "0",
        "name": "Abe Lincoln",
        "oid": "690222be-ff1a-4d56-abd1-7e4f7d38e474",
        "preferred_username": "abeli@microsoft.com",
        "rh": "I",
        "scp": "access_as_user",
        "sub": "HKZpfaHyWadeOouYlitjrI-KffTm222X5rrV3xDqfKQ",
        "tid": TENANT,
        "uti": "fqiBqXLPj0eQa82S-IYFAA",
        "ver": "2.0",
    }
    claims.update(overrides)
    return claims


def id_claims(**overrides: Any) -> dict[str, Any]:
    claims = access_claims(aud=CLIENT, nonce="123523", exp=NOW + 3600)
    for name in ("azp", "azpacr", "scp"):
        del claims[name]
    claims.update(overrides)
    return claims


def sign(provider: Provider, claims: dict[str, Any]) -> str:
    return provider.sign(claims, typ="JWT", x5t=provider.kid)


def test_an_entra_v2_access_token_is_allowed() -> None:
    """The API's application id is the audience; the kind cannot be told; uti is no jti."""
    provider = entra()
    verified = provider.verifier(audience=(API,)).verify(sign(provider, access_claims()))
    assert verified.kind is None
    assert (verified.jti, verified.session_id, verified.origin_jti) == (None, None, None)


def test_an_entra_id_token_with_the_optional_sid_is_allowed() -> None:
    """ID tokens name the client; sid is there once configured as an optional claim."""
    provider = entra()
    token = sign(provider, id_claims(sid="00ac6b3c-d3bb-4f4c-9a37-3e6d1f8b0a52"))
    verified = provider.verifier(audience=(CLIENT,)).verify(token)
    assert verified.session_id == "00ac6b3c-d3bb-4f4c-9a37-3e6d1f8b0a52"


def test_a_token_for_another_api_is_refused() -> None:
    """A Graph or other API's token (another aud) does not pass for ours."""
    provider = entra()
    token = sign(provider, access_claims(aud="00000003-0000-0000-c000-000000000000"))
    with pytest.raises(WrongAudience):
        provider.verifier(audience=(API,)).verify(token)


def test_another_tenants_token_is_refused() -> None:
    """The issuer names the tenant: a token of another tenant is another issuer's."""
    provider = entra()
    other = "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"
    with pytest.raises(WrongIssuer):
        provider.verifier(audience=(API,)).verify(sign(provider, access_claims(iss=other)))


def test_which_rules_reach_entra_tokens() -> None:
    """No jti: a token rule matches the token's hash only; no sid in access tokens, so only a
    subject cut-off reaches every token of a user."""
    provider = entra()
    access = sign(provider, access_claims())
    assert reachable_kinds(provider.verifier(audience=(API,)), access, client=CLIENT) == {
        "token",
        "subject",
    }
    id_token = sign(provider, id_claims(sid="00ac6b3c"))
    assert reachable_kinds(provider.verifier(audience=(CLIENT,)), id_token, client=CLIENT) == {
        "token",
        "session",
        "subject",
        "client",
    }
