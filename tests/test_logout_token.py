"""Back-channel logout tokens (OIDC Back-Channel Logout 1.0, §2.4 and §2.6): every validation
rule refuses its own flaw, the verifier shares the access-token verifier's keys and policy,
and a logout token and an access or ID token are never taken for one another."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revoker.core.errors import (
    BadSignature,
    ConfigurationError,
    InvalidLogoutToken,
    IssuedInFuture,
    LifetimeTooLong,
    MalformedToken,
    MissingClaim,
    RevokerError,
    TokenExpired,
    UnsupportedAlgorithm,
    WrongAudience,
    WrongIssuer,
    WrongTokenUse,
)
from revoker.core.logout_token import BACKCHANNEL_LOGOUT_EVENT, LogoutTokenVerifier
from revoker.core.signing import generate_key
from revoker.core.tokens import b64url_encode
from revoker.testing import StaticJwksFetcher, TokenFactory
from verify_support import NOW, policy_for, replace_payload, verifier_for

ISSUER = "https://op.example.com"
EVENT = {BACKCHANNEL_LOGOUT_EVENT: {}}


@pytest.fixture
def op(factory: TokenFactory) -> TokenFactory:
    """An OpenID Provider on the factory's key and clock."""
    provider = copy.copy(factory)
    provider.issuer = ISSUER
    return provider


def logout_verifier(op: TokenFactory, **policy: Any) -> LogoutTokenVerifier:
    return LogoutTokenVerifier(verifier_for(op, policy_for(op, token_use=None, **policy)))


def refused(
    verifier: LogoutTokenVerifier, token: str, error: type[RevokerError], fragment: str = ""
) -> RevokerError:
    with pytest.raises(error) as info:
        verifier.verify(token)
    assert type(info.value) is error
    assert fragment in info.value.detail
    return info.value


def test_a_logout_token_verifies(op: TokenFactory) -> None:
    """The control: a §2.4 logout token passes, and the result names what to log out."""
    token = op.logout_token(jti="lt-1", sid="s-1", sub="u-1")
    logout = logout_verifier(op).verify(token)
    assert (logout.iss, logout.sub, logout.sid, logout.jti) == (ISSUER, "u-1", "s-1", "lt-1")
    assert (logout.iat, logout.exp) == (NOW, NOW + 120)
    assert logout.aud == (op.client_id,)
    assert logout.event == {}


def test_the_verifier_keeps_no_state(op: TokenFactory) -> None:
    """The same logout token verifies twice: replay (by iss + jti) is the application's."""
    verifier, token = logout_verifier(op), op.logout_token()
    assert verifier.verify(token).jti == verifier.verify(token).jti


# --- §2.6 step 2-3: signature and algorithm ------------------------------------------------


def test_a_tampered_logout_token_is_refused(op: TokenFactory) -> None:
    """The signature covers every claim: changing the sid breaks it."""
    token = op.logout_token()
    forged = {"iss": ISSUER, "aud": op.client_id, "iat": NOW, "exp": NOW + 120, "jti": "x"}
    forged.update(sid="someone-else", events=EVENT)
    tampered = replace_payload(token, json.dumps(forged).encode())
    refused(logout_verifier(op), tampered, BadSignature, "does not verify")


def test_a_logout_token_signed_by_another_key_is_refused(op: TokenFactory) -> None:
    """Only the issuer's keys sign logout tokens (§2.6: as an ID token's signature)."""
    header = {"alg": "RS256", "kid": op.kid, "typ": "logout+jwt"}
    token = op.sign(_claims(op), header=header, key=generate_key("RS256"))
    refused(logout_verifier(op), token, BadSignature)


@pytest.mark.parametrize("alg", ["none", "None", "HS256", "PS256"])
def test_alg_none_hmac_and_algorithms_outside_the_list_are_refused(
    op: TokenFactory, alg: str
) -> None:
    """Never none, never HS*, and only the verifier's allow-list (RS256 here)."""
    header = b64url_encode(json.dumps({"alg": alg, "kid": op.kid, "typ": "logout+jwt"}).encode())
    payload = op.logout_token().split(".")[1]
    signing_input = f"{header}.{payload}"
    secret = json.dumps(op.jwks()["keys"][0]).encode()
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{b64url_encode(mac)}"
    refused(logout_verifier(op), token, UnsupportedAlgorithm, f"alg '{alg}' is not allowed")


def test_crit_is_refused(op: TokenFactory) -> None:
    """No JWS extension is understood, in any profile."""
    claims = _claims(op)
    header = {"alg": "RS256", "kid": op.kid, "typ": "logout+jwt", "crit": ["x"], "x": 1}
    refused(logout_verifier(op), op.sign(claims, header=header), MalformedToken, "critical")


def _claims(op: TokenFactory, **overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": op.client_id,
        "iat": NOW,
        "exp": NOW + 120,
        "jti": "j",
        "sid": "s",
        "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


# --- §2.6 step 4: iss, aud, iat, exp --------------------------------------------------------


def test_an_untrusted_issuer_is_refused_before_any_key_fetch(op: TokenFactory) -> None:
    """iss must be trusted, and an untrusted one costs no JWKS fetch."""
    fetcher = StaticJwksFetcher(op.jwks())
    verifier = LogoutTokenVerifier(verifier_for(op, policy_for(op), fetcher=fetcher))
    refused(verifier, op.logout_token(iss="https://evil.example"), WrongIssuer, "evil")
    assert fetcher.calls == []


@pytest.mark.parametrize(
    ("overrides", "error", "fragment"),
    [
        ({"aud": None}, MissingClaim, "no 'aud' claim"),
        ({"aud": "another-client"}, WrongAudience, "'another-client'"),
        ({"aud": ["a", "b"]}, WrongAudience, "['a', 'b']"),
        ({"aud": 7}, MalformedToken, "claim 'aud'"),
        ({"iat": None}, MissingClaim, "no 'iat' claim"),
        ({"iat": NOW + 60, "exp": NOW + 120}, IssuedInFuture, "lies in the future"),
        ({"iat": "now"}, MalformedToken, "claim 'iat' must be a number"),
        ({"exp": None}, MissingClaim, "no 'exp' claim"),
        ({"iat": NOW - 300, "exp": NOW - 10}, TokenExpired, "expired at"),
    ],
    ids=repr,
)
def test_iss_aud_iat_and_exp_are_checked_as_for_an_id_token(
    op: TokenFactory, overrides: dict[str, Any], error: type[RevokerError], fragment: str
) -> None:
    """aud names one accepted audience; iat and exp are required; exp not passed."""
    refused(logout_verifier(op), op.logout_token(**overrides), error, fragment)


def test_an_audience_list_naming_us_is_accepted(op: TokenFactory) -> None:
    """aud may be a list; one accepted member is enough."""
    assert logout_verifier(op).verify(op.logout_token(aud=["other", op.client_id]))


# --- §2.4, §2.6 steps 5-7: jti, events, sub/sid, nonce ---------------------------------


@pytest.mark.parametrize(
    ("overrides", "error", "fragment"),
    [
        ({"jti": None}, MissingClaim, "no 'jti' claim"),
        ({"jti": ""}, MissingClaim, "no 'jti' claim"),
        ({"jti": 5}, MalformedToken, "claim 'jti' must be a string"),
        ({"events": None}, InvalidLogoutToken, "no 'events' claim"),
        ({"events": [BACKCHANNEL_LOGOUT_EVENT]}, InvalidLogoutToken, "must be a JSON object"),
        ({"events": {}}, InvalidLogoutToken, "does not hold"),
        ({"events": {"urn:other": {}}}, InvalidLogoutToken, "does not hold"),
        ({"events": {BACKCHANNEL_LOGOUT_EVENT: True}}, InvalidLogoutToken, "a JSON object"),
        ({"events": {BACKCHANNEL_LOGOUT_EVENT: []}}, InvalidLogoutToken, "a JSON object"),
        ({"events": {BACKCHANNEL_LOGOUT_EVENT: None}}, InvalidLogoutToken, "a JSON object"),
        ({"sub": None, "sid": None}, InvalidLogoutToken, "neither a 'sub' nor a 'sid'"),
        ({"sub": "", "sid": ""}, InvalidLogoutToken, "neither a 'sub' nor a 'sid'"),
        ({"sid": ["s"]}, MalformedToken, "claim 'sid' must be a string"),
        ({"nonce": "n-0S6_WzA2Mj"}, InvalidLogoutToken, "'nonce'"),
        ({"nonce": ""}, InvalidLogoutToken, "'nonce'"),
    ],
    ids=repr,
)
def test_each_logout_rule_refuses_its_flaw(
    op: TokenFactory, overrides: dict[str, Any], error: type[RevokerError], fragment: str
) -> None:
    """jti; events holding the back-channel logout event as an object; sub or sid; no nonce."""
    refused(logout_verifier(op), op.logout_token(**overrides), error, fragment)


def test_nonce_null_is_still_a_nonce(op: TokenFactory) -> None:
    """A nonce member of any value makes the token no logout token (§2.4 prohibits it)."""
    claims = _claims(op)
    claims["nonce"] = None
    token = op.sign(claims, header={"alg": "RS256", "kid": op.kid})
    refused(logout_verifier(op), token, InvalidLogoutToken, "'nonce'")


@pytest.mark.parametrize(
    ("sub", "sid"), [("u-1", None), (None, "s-1"), ("u-1", "s-1")], ids=["sub", "sid", "both"]
)
def test_sub_or_sid_or_both(op: TokenFactory, sub: str | None, sid: str | None) -> None:
    """A sub alone logs out the subject, a sid its session; both may be present."""
    logout = logout_verifier(op).verify(op.logout_token(sub=sub, sid=sid))
    assert (logout.sub, logout.sid) == (sub, sid)


def test_other_events_and_event_members_are_ignored(op: TokenFactory) -> None:
    """Members not understood are ignored: Keycloak's revoke_offline_access, another event."""
    events = {BACKCHANNEL_LOGOUT_EVENT: {"revoke_offline_access": True}, "urn:x": {}}
    logout = logout_verifier(op).verify(op.logout_token(events=events))
    assert logout.event == {"revoke_offline_access": True}


# --- the header typ ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "typ", ["logout+jwt", "LOGOUT+JWT", "application/logout+jwt", "JWT", "jwt", None], ids=repr
)
def test_typ_logout_jwt_jwt_or_none_is_accepted(op: TokenFactory, typ: str | None) -> None:
    """§2.4 recommends explicit typing; JWT and no typ are what older providers send."""
    assert logout_verifier(op).verify(op.logout_token(typ=typ))


@pytest.mark.parametrize("typ", ["at+jwt", "secevent+jwt", "dpop+jwt", "JOSE", "Logout", 1])
def test_any_other_typ_is_refused(op: TokenFactory, typ: Any) -> None:
    """A token typed as anything else is not a logout token."""
    refused(logout_verifier(op), op.logout_token(typ=typ), InvalidLogoutToken, "typ")


# --- shared configuration ---------------------------------------------------------------


def test_the_keys_are_the_access_token_verifiers(op: TokenFactory) -> None:
    """One key cache serves both profiles: verifying one of each costs one JWKS fetch."""
    fetcher = StaticJwksFetcher(op.jwks())
    verifier = verifier_for(op, policy_for(op, token_use=None), fetcher=fetcher)
    verifier.verify(op.id_token())
    LogoutTokenVerifier(verifier).verify(op.logout_token())
    assert len(fetcher.calls) == 1


def test_the_audience_can_be_given_and_must_exist(op: TokenFactory) -> None:
    """audience= overrides the verifier's; with neither, a logout token cannot be checked."""
    verifier = verifier_for(op, policy_for(op, token_use=None, audience=None))
    with pytest.raises(ConfigurationError):
        LogoutTokenVerifier(verifier)
    with pytest.raises(ConfigurationError):
        LogoutTokenVerifier(verifier, audience="rp")  # type: ignore[arg-type]
    scoped = LogoutTokenVerifier(verifier, audience=("rp-1",))
    assert scoped.verify(op.logout_token(aud="rp-1"))
    refused(scoped, op.logout_token(), WrongAudience)


def test_the_leeway_and_lifetime_bound_are_the_verifiers(op: TokenFactory) -> None:
    """exp within the leeway passes; a logout token living longer than allowed is refused."""
    verifier = logout_verifier(op)
    assert verifier.verify(op.logout_token(iat=NOW - 100, exp=NOW - 4))
    short = logout_verifier(op, max_lifetime_seconds=60)
    error = refused(short, op.logout_token(), LifetimeTooLong, "longer than the 60 s")
    assert error.reason == "lifetime_too_long"


# --- never one for the other ------------------------------------------------------------


def test_access_and_id_tokens_are_never_logout_tokens(
    op: TokenFactory, factory: TokenFactory
) -> None:
    """Cognito access and ID tokens, an OIDC ID token, an RFC 9068 access token: refused."""
    cognito = LogoutTokenVerifier(verifier_for(factory))
    refused(cognito, factory.access_token(), InvalidLogoutToken, "no 'events' claim")
    refused(cognito, factory.id_token(), InvalidLogoutToken, "no 'events' claim")
    verifier = logout_verifier(op)
    refused(verifier, op.id_token(), InvalidLogoutToken)
    rfc9068 = op.sign(
        _claims(op, events=None), header={"alg": "RS256", "kid": op.kid, "typ": "at+jwt"}
    )
    refused(verifier, rfc9068, InvalidLogoutToken, "typ 'at+jwt'")


@pytest.mark.parametrize("typ", ["logout+jwt", "JWT", None], ids=repr)
def test_logout_tokens_are_never_access_or_id_tokens(op: TokenFactory, typ: str | None) -> None:
    """The access-token verifier refuses a logout token however it is typed."""
    verifier = verifier_for(op, policy_for(op, token_use=None))
    with pytest.raises(WrongTokenUse):
        verifier.verify(op.logout_token(typ=typ, sub="u-1"))


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kind=st.sampled_from(["access", "id"]),
    typ=st.sampled_from([None, "JWT", "at+jwt"]),
    extra=st.dictionaries(
        st.sampled_from(["sid", "sub", "jti", "aud", "nonce"]), st.text(max_size=4)
    ),
)
def test_no_access_or_id_token_shape_passes_as_a_logout_token(
    op: TokenFactory, kind: str, typ: str | None, extra: dict[str, str]
) -> None:
    """Whatever the access or ID claims, without the logout event nothing gets through."""
    claims = op.base_claims(kind, **extra)
    header: dict[str, Any] = {"alg": "RS256", "kid": op.kid}
    if typ is not None:
        header["typ"] = typ
    with pytest.raises(InvalidLogoutToken):
        logout_verifier(op).verify(op.sign(claims, header=header))
