"""The verifier's claim checks: time edges, audience, token_use, required claims and types."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from revoker.core.errors import (
    IssuedInFuture,
    LifetimeTooLong,
    MalformedToken,
    MissingClaim,
    TokenExpired,
    TokenNotYetValid,
    WrongAudience,
    WrongTokenUse,
)
from revoker.core.tokens import b64url_encode, parse_unverified
from revoker.testing import TokenFactory
from verify_support import NOW, policy_for, rejected, verifier_for, with_token_use

# --- time ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("leeway", "offset", "expired"),
    [
        (0, -1, False),
        (0, 0, True),
        (0, 0.001, True),
        (5, 4, False),
        (5, 4.999, False),
        (5, 5, True),
        (300, 299, False),
        (300, 300, True),
    ],
    ids=str,
)
def test_expiry_edges(factory: TokenFactory, leeway: float, offset: float, expired: bool) -> None:
    """Expired once now >= exp + leeway: exp == now with no leeway is already expired."""
    verifier = verifier_for(factory, policy_for(factory, leeway_seconds=leeway))
    token = factory.access_token()
    factory.clock.now = NOW + factory.lifetime_seconds + offset
    if expired:
        rejected(verifier, token, TokenExpired, "expired")
    else:
        assert verifier.verify(token)


@pytest.mark.parametrize(
    ("leeway", "nbf_offset", "early"),
    [(0, 0, False), (0, -10, False), (0, 1, True), (5, 5, False), (5, 5.5, True), (5, 60, True)],
    ids=str,
)
def test_not_before_edges(
    factory: TokenFactory, leeway: float, nbf_offset: float, early: bool
) -> None:
    """nbf == now is valid; nbf later than now + leeway is not yet valid."""
    verifier = verifier_for(factory, policy_for(factory, leeway_seconds=leeway))
    token = factory.access_token(nbf=NOW + nbf_offset)
    if early:
        rejected(verifier, token, TokenNotYetValid, "not_yet_valid")
    else:
        assert verifier.verify(token)


@pytest.mark.parametrize(
    ("leeway", "iat_offset", "future"),
    [(0, 0, False), (0, 1, True), (5, 5, False), (5, 5.5, True), (5, -3600, False)],
    ids=str,
)
def test_issued_at_edges(
    factory: TokenFactory, leeway: float, iat_offset: float, future: bool
) -> None:
    """iat up to now + leeway is fine (clock skew); later is issued in the future."""
    verifier = verifier_for(factory, policy_for(factory, leeway_seconds=leeway))
    token = factory.access_token(iat=NOW + iat_offset, exp=NOW + 3600)
    if future:
        rejected(verifier, token, IssuedInFuture, "issued_in_future")
    else:
        assert verifier.verify(token)


@pytest.mark.parametrize(
    ("lifetime", "too_long"),
    [(86_400, False), (86_401, True), (3600, False)],
    ids=["one-day", "one-day-plus-a-second", "one-hour"],
)
def test_lifetime_limit(factory: TokenFactory, lifetime: int, too_long: bool) -> None:
    """exp - iat may not exceed max_lifetime_seconds (Cognito's one day by default)."""
    token = factory.access_token(exp=NOW + lifetime)
    if too_long:
        rejected(verifier_for(factory), token, LifetimeTooLong, "lifetime_too_long")
    else:
        assert verifier_for(factory).verify(token)


def test_configured_lifetime_limit(factory: TokenFactory) -> None:
    """A tighter max_lifetime_seconds refuses Cognito's default hour."""
    verifier = verifier_for(factory, policy_for(factory, max_lifetime_seconds=900))
    rejected(verifier, factory.access_token(), LifetimeTooLong, "lifetime_too_long")
    assert verifier.verify(factory.access_token(exp=NOW + 900))


def test_old_iat_with_fresh_exp_is_too_long(factory: TokenFactory) -> None:
    """A token issued long ago with a far exp cannot slip under a cut-off rule's pruning."""
    token = factory.access_token(iat=NOW - 10 * 86_400, exp=NOW + 60)
    rejected(verifier_for(factory), token, LifetimeTooLong, "lifetime_too_long")


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
@pytest.mark.parametrize(
    "value",
    [True, False, "1700000000", [NOW], {"t": NOW}, 10**400],
    ids=["true", "false", "string", "list", "object", "huge-int"],
)
def test_time_claims_must_be_finite_numbers(factory: TokenFactory, claim: str, value: Any) -> None:
    """bool (an int in Python), strings, lists, objects and overflowing integers are refused."""
    token = factory.access_token(**{claim: value})
    rejected(verifier_for(factory), token, MalformedToken, "malformed")


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
def test_null_time_claim_is_missing(factory: TokenFactory, claim: str) -> None:
    """A null exp, iat or nbf is not 'no limit': it is a missing claim."""
    claims = factory.base_claims("access")
    claims[claim] = None
    rejected(verifier_for(factory), factory.sign(claims), MissingClaim, "missing_claim")


@pytest.mark.parametrize("claim", ["exp", "iat"])
def test_exp_and_iat_are_required(factory: TokenFactory, claim: str) -> None:
    """Without exp or iat, neither expiry nor the lifetime bound can be checked."""
    rejected(
        verifier_for(factory), factory.access_token(**{claim: None}), MissingClaim, "missing_claim"
    )


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
def test_non_finite_time_claims_refused(factory: TokenFactory, claim: str, value: float) -> None:
    """NaN would make every comparison false; json.dumps writes it, the parser refuses it."""
    rejected(
        verifier_for(factory), factory.access_token(**{claim: value}), MalformedToken, "malformed"
    )


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
def test_overflowing_float_literal_refused(factory: TokenFactory, claim: str) -> None:
    """1e400 parses as infinity in Python: the verifier refuses it as not finite."""
    claims = factory.base_claims("access")
    claims.pop(claim, None)
    raw = json.dumps(claims)[:-1] + f', "{claim}": 1e400}}'
    header = b64url_encode(json.dumps({"alg": "RS256", "kid": factory.kid}).encode())
    token = _sign_raw(factory, f"{header}.{b64url_encode(raw.encode())}")
    assert parse_unverified(token).claims[claim] == math.inf
    rejected(verifier_for(factory), token, MalformedToken, "malformed")


def _sign_raw(factory: TokenFactory, signing_input: str) -> str:
    """Sign a hand-made header.payload with the factory's RSA key."""
    assert isinstance(factory.key, rsa.RSAPrivateKey)
    signature = factory.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + b64url_encode(signature)


# --- audience ----------------------------------------------------------------------------


def test_id_token_audience_as_string_or_list(factory: TokenFactory) -> None:
    """An ID token names its client in aud, as a string or in a list."""
    verifier = verifier_for(factory)
    assert verifier.verify(factory.id_token())
    assert verifier.verify(factory.id_token(aud=["other-app", factory.client_id]))
    rejected(verifier, factory.id_token(aud="other-app"), WrongAudience, "wrong_audience")
    rejected(verifier, factory.id_token(aud=["a", "b"]), WrongAudience, "wrong_audience")
    rejected(verifier, factory.id_token(aud=[]), WrongAudience, "wrong_audience")


def test_audience_is_not_a_substring_match(factory: TokenFactory) -> None:
    """A prefix, suffix or part of the client id is a different client."""
    verifier = verifier_for(factory)
    for aud in (factory.client_id[:-1], factory.client_id + "x", "", factory.client_id.upper()):
        rejected(verifier, factory.id_token(aud=aud), WrongAudience, "wrong_audience")


@pytest.mark.parametrize("aud", [1, None, [1], [None], [["x"]], {"x": 1}], ids=repr)
def test_audience_of_wrong_type(factory: TokenFactory, aud: Any) -> None:
    """aud must be a string or a list of strings."""
    claims = factory.base_claims("id")
    claims["aud"] = aud
    rejected(verifier_for(factory), factory.sign(claims), MalformedToken, "malformed")


def test_access_token_audience_is_client_id(factory: TokenFactory) -> None:
    """Cognito access tokens carry no aud: the app client is client_id, and it decides."""
    verifier = verifier_for(factory)
    assert verifier.verify(factory.access_token())
    rejected(verifier, factory.access_token(client_id="other"), WrongAudience, "wrong_audience")
    # An aud naming us does not rescue an access token issued to another client.
    token = factory.access_token(client_id="other", aud=factory.client_id)
    rejected(verifier, token, WrongAudience, "wrong_audience")


def test_token_without_any_audience_claim(factory: TokenFactory) -> None:
    """Neither aud nor client_id: the audience check cannot pass, so the claim is missing."""
    rejected(
        verifier_for(factory), factory.access_token(client_id=None), MissingClaim, "missing_claim"
    )


def test_audience_none_turns_the_check_off(factory: TokenFactory) -> None:
    """audience=None is the explicit way to accept any client."""
    verifier = verifier_for(factory, policy_for(factory, audience=None))
    assert verifier.verify(factory.access_token(client_id="any-client"))
    assert verifier.verify(factory.id_token(aud="any-client"))
    assert verifier.verify(factory.access_token(client_id=None))


def test_several_accepted_audiences(factory: TokenFactory) -> None:
    """Any one of the configured audiences is accepted."""
    verifier = verifier_for(factory, policy_for(factory, audience=("web", "mobile")))
    assert verifier.verify(factory.access_token(client_id="mobile"))
    assert verifier.verify(factory.id_token(aud="web"))
    rejected(verifier, factory.id_token(), WrongAudience, "wrong_audience")


# --- token_use -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accepted", "token_use", "ok"),
    [
        ({"id"}, "id", True),
        ({"id"}, "access", False),
        ({"access"}, "access", True),
        ({"access"}, "id", False),
        ({"id", "access"}, "id", True),
        ({"id", "access"}, "access", True),
    ],
    ids=["id-id", "id-access", "access-access", "access-id", "both-id", "both-access"],
)
def test_token_use_as_configured(
    factory: TokenFactory, accepted: set[str], token_use: str, ok: bool
) -> None:
    """token_use accepts exactly the configured kinds of token."""
    verifier = verifier_for(factory, policy_for(factory, token_use=frozenset(accepted)))
    token = factory.id_token() if token_use == "id" else factory.access_token()
    if ok:
        assert verifier.verify(token).token_use == token_use
    else:
        rejected(verifier, token, WrongTokenUse, "wrong_token_use")


def test_token_use_missing_or_unknown(factory: TokenFactory) -> None:
    """A required token_use that is absent is missing; 'refresh' or 'ID' is the wrong use."""
    verifier = verifier_for(factory)
    rejected(verifier, with_token_use(factory, "access", None), MissingClaim, "missing_claim")
    for value in ("refresh", "ID", "Access", ""):
        token = with_token_use(factory, "access", value)
        rejected(verifier, token, WrongTokenUse, "wrong_token_use")
    token = with_token_use(factory, "access", ["access"])
    rejected(verifier, token, MalformedToken, "malformed")


def test_token_use_none_for_issuers_without_it(factory: TokenFactory) -> None:
    """token_use=None, and the claim not required of the issuer: accepted without it."""
    policy = policy_for(factory, token_use=None, token_use_required_issuers=frozenset())
    verifier = verifier_for(factory, policy)
    assert verifier.verify(with_token_use(factory, "id", None)).token_use is None


# --- required claims and claim types ------------------------------------------------------


def test_required_claims_are_configurable(factory: TokenFactory) -> None:
    """sub is required by default; the list can grow or be emptied."""
    default = verifier_for(factory)
    rejected(default, factory.access_token(sub=None), MissingClaim, "missing_claim")
    rejected(default, factory.access_token(sub=""), MissingClaim, "missing_claim")
    stricter = verifier_for(factory, policy_for(factory, required_claims=("sub", "jti", "sid")))
    rejected(stricter, factory.access_token(), MissingClaim, "missing_claim")
    assert stricter.verify(factory.access_token(sid="session-1"))
    none_required = verifier_for(factory, policy_for(factory, required_claims=()))
    assert none_required.verify(factory.access_token(sub=None)).subject is None


@pytest.mark.parametrize("claim", ["sub", "jti", "origin_jti", "sid", "client_id", "token_use"])
@pytest.mark.parametrize("value", [1, True, ["x"], {"x": "y"}], ids=["int", "bool", "list", "obj"])
def test_identity_claims_must_be_strings(factory: TokenFactory, claim: str, value: Any) -> None:
    """Claims the registry matches on are strings, so a list cannot dodge a revocation rule."""
    claims = factory.base_claims("access")
    claims[claim] = value
    rejected(verifier_for(factory), factory.sign(claims), MalformedToken, "malformed")
