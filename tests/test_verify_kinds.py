"""Token kinds: standard tokens verify by default; token_use, RFC 9068 typ and Keycloak's typ
claim tell the kind; a restriction refuses what it cannot tell; Cognito issuers must carry
token_use; the audience claim follows the kind; other profiles are never access tokens."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from revoker.core.claims import (
    VerificationPolicy,
    _check_not_another_profile,
    cognito_issuers,
    token_kind,
)
from revoker.core.errors import (
    ConfigurationError,
    MalformedToken,
    MissingClaim,
    WrongAudience,
    WrongTokenUse,
)
from revoker.testing import TEST_AUDIENCE, TokenFactory
from verify_support import NOW, policy_for, rejected, verifier_for

OIDC_ISSUER = "https://idp.example.com/realms/demo"


def oidc(factory: TokenFactory) -> TokenFactory:
    """The factory's key under a non-Cognito issuer: tokens without token_use are normal."""
    other = copy.copy(factory)
    other.issuer = OIDC_ISSUER
    return other


def standard_claims(f: TokenFactory, **overrides: Any) -> dict[str, Any]:
    """An OIDC token's claims: no token_use, aud naming the client."""
    claims: dict[str, Any] = {
        "iss": f.issuer,
        "sub": "user-1",
        "aud": f.client_id,
        "iat": NOW,
        "exp": NOW + 300,
        "jti": "jti-1",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def signed(f: TokenFactory, claims: dict[str, Any], typ: str | None = None) -> str:
    header: dict[str, Any] = {"alg": f.alg, "kid": f.kid}
    if typ is not None:
        header["typ"] = typ
    return f.sign(claims, header=header)


def any_kind(f: TokenFactory, **overrides: Any) -> Any:
    return verifier_for(f, policy_for(f, token_use=None, **overrides))


# --- standard tokens by default --------------------------------------------------------


def test_a_standard_oidc_token_verifies_with_the_default_policy(factory: TokenFactory) -> None:
    """No token_use and no restriction given: a genuine OIDC token is accepted, kind unknown."""
    f = oidc(factory)
    verifier = verifier_for(f, policy_for(f, token_use=None))
    verified = verifier.verify(signed(f, standard_claims(f), typ="JWT"))
    assert verified.kind is None
    assert verified.token_use is None


def test_the_policy_default_is_any_kind() -> None:
    """VerificationPolicy's token_use defaults to None (any kind), its Cognito list to derived."""
    policy = VerificationPolicy(issuers=(OIDC_ISSUER,), audience=("client",))
    assert policy.token_use is None
    assert policy.token_use_required_issuers == frozenset()


@pytest.mark.parametrize(
    ("typ", "claims", "kind"),
    [
        ("at+jwt", {}, "access"),
        ("AT+JWT", {}, "access"),
        ("application/at+jwt", {}, "access"),
        ("Application/AT+JWT", {}, "access"),
        ("JWT", {}, None),
        (None, {}, None),
        ("JWT", {"token_use": "id"}, "id"),
        (None, {"token_use": "access", "client_id": TEST_AUDIENCE}, "access"),
        ("at+jwt", {"token_use": "access", "client_id": TEST_AUDIENCE}, "access"),
        ("JWT", {"typ": "Bearer"}, "access"),
        ("JWT", {"typ": "ID"}, "id"),
        ("JWT", {"typ": "Something"}, None),
        ("JWT", {"typ": 7}, None),
    ],
    ids=repr,
)
def test_the_kind_is_read_from_what_the_token_says(
    factory: TokenFactory, typ: str | None, claims: dict[str, Any], kind: str | None
) -> None:
    """token_use, then RFC 9068's typ, then Keycloak's typ claim tell the kind; else unknown."""
    f = oidc(factory)
    token = signed(f, standard_claims(f, **claims), typ=typ)
    assert any_kind(f).verify(token).kind == kind


@pytest.mark.parametrize(
    ("typ", "claims"),
    [
        ("at+jwt", {"token_use": "id"}),
        ("at+jwt", {"typ": "ID"}),
        ("JWT", {"token_use": "id", "typ": "Bearer"}),
    ],
    ids=repr,
)
def test_a_token_that_contradicts_itself_is_refused(
    factory: TokenFactory, typ: str, claims: dict[str, Any]
) -> None:
    """Two sources naming two kinds: which one lies cannot be told, so neither is believed."""
    f = oidc(factory)
    error = rejected(
        any_kind(f), signed(f, standard_claims(f, **claims), typ), WrongTokenUse, "wrong_token_use"
    )
    assert "contradicts itself" in error.detail


@pytest.mark.parametrize("value", ["refresh", "ID", "Access", ""])
def test_a_token_use_other_than_id_or_access_is_refused(factory: TokenFactory, value: str) -> None:
    """token_use 'refresh' or any odd spelling is never an access or ID token, under any policy."""
    f = oidc(factory)
    token = signed(f, standard_claims(f, token_use=value))
    error = rejected(any_kind(f), token, WrongTokenUse, "wrong_token_use")
    assert "neither 'id' nor 'access'" in error.detail


# --- a restriction refuses what it cannot tell ---------------------------------------------


@pytest.mark.parametrize("accepted", [{"access"}, {"id"}, {"id", "access"}], ids=sorted)
def test_a_restriction_refuses_an_unmarked_token_and_says_what_to_configure(
    factory: TokenFactory, accepted: set[str]
) -> None:
    """token_use {'access'} meets a token with no token_use and typ JWT: refused, with the fix."""
    f = oidc(factory)
    verifier = verifier_for(f, policy_for(f, token_use=frozenset(accepted)))
    error = rejected(
        verifier, signed(f, standard_claims(f), typ="JWT"), WrongTokenUse, "wrong_token_use"
    )
    assert "no 'token_use' claim" in error.detail
    assert "header typ is 'JWT', not 'at+jwt'" in error.detail
    assert "token use 'any'" in error.detail


def test_a_restriction_to_access_accepts_rfc_9068_and_refuses_id_tokens(
    factory: TokenFactory,
) -> None:
    """{'access'}: an at+jwt token passes; a token that says it is an ID token is refused."""
    f = oidc(factory)
    verifier = verifier_for(f, policy_for(f, token_use=frozenset({"access"})))
    assert verifier.verify(signed(f, standard_claims(f), typ="at+jwt")).kind == "access"
    id_token = signed(f, standard_claims(f, typ="ID"), typ="JWT")
    error = rejected(verifier, id_token, WrongTokenUse, "wrong_token_use")
    assert "is an id token; accepted: access tokens only" in error.detail


# --- token_use required of Cognito issuers --------------------------------------------------


def test_cognito_tokens_must_carry_token_use_even_when_any_kind_is_accepted(
    factory: TokenFactory,
) -> None:
    """A Cognito issuer's token without token_use is missing a claim, whatever the restriction."""
    claims = factory.base_claims("access")
    del claims["token_use"]
    error = rejected(any_kind(factory), factory.sign(claims), MissingClaim, "missing_claim")
    assert "'token_use'" in error.detail
    assert factory.issuer in error.detail


def test_the_required_issuers_can_be_named_or_emptied(factory: TokenFactory) -> None:
    """An explicit list replaces the derived one: frozenset() frees Cognito, a name binds others."""
    claims = factory.base_claims("access")
    del claims["token_use"]
    freed = any_kind(factory, token_use_required_issuers=frozenset())
    assert freed.verify(factory.sign(claims)).kind is None
    f = oidc(factory)
    bound = any_kind(f, token_use_required_issuers=frozenset({OIDC_ISSUER}))
    rejected(bound, signed(f, standard_claims(f)), MissingClaim, "missing_claim")


def test_required_issuers_must_be_trusted_issuers(factory: TokenFactory) -> None:
    """Naming an issuer the policy does not trust is a configuration error, not a silent no-op."""
    with pytest.raises(ConfigurationError):
        policy_for(factory, token_use_required_issuers=frozenset({OIDC_ISSUER}))
    with pytest.raises(ConfigurationError):
        policy_for(factory, token_use_required_issuers=(factory.issuer,))


@pytest.mark.parametrize(
    ("issuer", "cognito"),
    [
        ("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123", True),
        ("https://cognito-idp.eu-west-2.amazonaws.com/eu-west-2_x", True),
        ("https://cognito-idp.us-east-1.amazonaws.com/eu-west-1_AbC123", False),
        ("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123/", False),
        ("http://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123", False),
        ("https://cognito-idp.us-east-1.amazonaws.com.evil/us-east-1_AbC123", False),
        ("http://127.0.0.1:9000/us-east-1_RevokerDev", False),
    ],
    ids=repr,
)
def test_cognito_issuers_are_the_user_pool_urls(issuer: str, cognito: bool) -> None:
    """Only https://cognito-idp.{region}.amazonaws.com/{region}_{id} is a Cognito pool issuer."""
    assert (issuer in cognito_issuers([issuer])) is cognito


# --- the audience follows the kind --------------------------------------------------------


def test_an_rfc_9068_token_names_its_resource_in_aud_not_in_client_id(
    factory: TokenFactory,
) -> None:
    """aud is the resource and decides; client_id (the client) naming us does not rescue it."""
    f = oidc(factory)
    verifier = verifier_for(f, policy_for(f, token_use=None, audience=("https://api.example",)))
    good = standard_claims(f, aud="https://api.example", client_id="web-app")
    assert verifier.verify(signed(f, good, "at+jwt")).kind == "access"
    stranger = standard_claims(f, aud="https://other.example", client_id="https://api.example")
    error = rejected(verifier, signed(f, stranger, "at+jwt"), WrongAudience, "wrong_audience")
    assert "aud must name one of ['https://api.example']" in error.detail
    no_aud = standard_claims(f, aud=None, client_id="https://api.example")
    error = rejected(verifier, signed(f, no_aud, "at+jwt"), MissingClaim, "missing_claim")
    assert "'aud'" in error.detail


def test_an_id_token_must_carry_aud(factory: TokenFactory) -> None:
    """A token that says it is an ID token is checked on aud; client_id is no stand-in."""
    f = oidc(factory)
    token = signed(f, standard_claims(f, aud=None, client_id=f.client_id, typ="ID"))
    error = rejected(any_kind(f), token, MissingClaim, "missing_claim")
    assert "'aud'" in error.detail


def test_an_unmarked_token_without_aud_is_checked_on_client_id(factory: TokenFactory) -> None:
    """Kind unknown and no aud: client_id is all that names a client, so it decides."""
    f = oidc(factory)
    assert any_kind(f).verify(signed(f, standard_claims(f, aud=None, client_id=f.client_id)))
    other = signed(f, standard_claims(f, aud=None, client_id="other"))
    rejected(any_kind(f), other, WrongAudience, "wrong_audience")
    neither = signed(f, standard_claims(f, aud=None))
    error = rejected(any_kind(f), neither, MissingClaim, "missing_claim")
    assert "neither 'aud' nor 'client_id'" in error.detail


def test_azp_is_not_an_audience_but_the_detail_says_so(factory: TokenFactory) -> None:
    """Keycloak's aud 'account' with azp naming us is refused, and the detail explains azp."""
    f = oidc(factory)
    token = signed(f, standard_claims(f, aud="account", azp=f.client_id, typ="Bearer"))
    error = rejected(any_kind(f), token, WrongAudience, "wrong_audience")
    assert "azp" in error.detail
    assert "aud must name one of" in error.detail


# --- other profiles are never access or ID tokens -----------------------------------------


@pytest.mark.parametrize(
    "typ",
    [
        "logout+jwt",
        "LOGOUT+JWT",
        "application/logout+jwt",
        "secevent+jwt",
        "dpop+jwt",
        "token-introspection+jwt",
    ],
)
def test_a_header_typ_of_another_profile_is_refused(factory: TokenFactory, typ: str) -> None:
    """Explicit typing (RFC 8725 §3.11): a +jwt type other than at+jwt is another kind of token."""
    f = oidc(factory)
    error = rejected(
        any_kind(f), signed(f, standard_claims(f), typ), WrongTokenUse, "wrong_token_use"
    )
    assert "marks another kind of token" in error.detail


@pytest.mark.parametrize("typ", ["JWT", "jwt", "JOSE", "application/jwt", None], ids=repr)
def test_plain_jwt_types_are_accepted(factory: TokenFactory, typ: str | None) -> None:
    """typ JWT (any case), JOSE or no typ at all: nothing says it is another profile's token."""
    f = oidc(factory)
    assert any_kind(f).verify(signed(f, standard_claims(f), typ))


def test_an_events_claim_marks_a_logout_token_or_security_event(factory: TokenFactory) -> None:
    """A token with events is an RFC 8417 SET or a logout token, even when typed JWT."""
    f = oidc(factory)
    events = {"http://schemas.openid.net/event/backchannel-logout": {}}
    token = signed(f, standard_claims(f, events=events), "JWT")
    error = rejected(any_kind(f), token, WrongTokenUse, "wrong_token_use")
    assert "'events'" in error.detail


@pytest.mark.parametrize("kind", ["Refresh", "Offline", "Logout"])
def test_keycloak_refresh_and_logout_tokens_are_refused(factory: TokenFactory, kind: str) -> None:
    """Keycloak's typ claim Refresh, Offline or Logout: never an access or ID token."""
    f = oidc(factory)
    token = signed(f, standard_claims(f, typ=kind), "JWT")
    rejected(any_kind(f), token, WrongTokenUse, "wrong_token_use")


@pytest.mark.parametrize("typ", [1, ["at+jwt"], {"t": 1}, True], ids=repr)
def test_a_non_string_typ_is_malformed(factory: TokenFactory, typ: Any) -> None:
    """RFC 7515 §4.1.9: typ is a string; anything else is a malformed header."""
    f = oidc(factory)
    token = f.sign(standard_claims(f), header={"alg": f.alg, "kid": f.kid, "typ": typ})
    rejected(any_kind(f), token, MalformedToken, "malformed")


@given(
    typ=st.one_of(
        st.text(max_size=20),
        st.sampled_from(["at+jwt", "logout+jwt", "x+jwt", "JWT", "+jwt", "a+JWT"]),
    ),
    prefix=st.sampled_from(["", "application/", "APPLICATION/", "text/"]),
)
def test_kinds_and_profiles_follow_the_media_type_rule(typ: str, prefix: str) -> None:
    """For any typ: at+jwt is access, another +jwt type is refused, the rest say nothing."""
    header = {"alg": "RS256", "typ": prefix + typ}
    media = (prefix + typ).lower().removeprefix("application/")
    try:
        kind = token_kind(header, {})
    except WrongTokenUse:
        pytest.fail("token_kind alone never refuses a header type")
    assert kind == ("access" if media == "at+jwt" else None)
    refused = media.endswith("+jwt") and media != "at+jwt"
    try:
        _check_not_another_profile(header, {})
    except WrongTokenUse:
        assert refused
    else:
        assert not refused
