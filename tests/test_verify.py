"""The verifier: each reason code, the issuer first, the policy, the pieces on their own."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pytest

from revoker.core.claims import check_claims
from revoker.core.clock import FrozenClock
from revoker.core.errors import (
    REASONS,
    BadSignature,
    CannotDecide,
    ConfigurationError,
    IssuedInFuture,
    JwksUnavailable,
    LifetimeTooLong,
    MalformedToken,
    MissingClaim,
    RevokerError,
    TokenExpired,
    TokenNotYetValid,
    TokenRejected,
    TokenTooLarge,
    UnknownKid,
    UnsupportedAlgorithm,
    WrongAudience,
    WrongIssuer,
    WrongTokenUse,
)
from revoker.core.jwks import JwksCache, JwksSource
from revoker.core.verify import Verifier
from revoker.testing import StaticJwksFetcher, TokenFactory
from verify_support import (
    NOW,
    OTHER_ISSUER,
    jwks_url,
    policy_for,
    rejected,
    replace_payload,
    verifier_for,
)

# --- every reason code -----------------------------------------------------------------

# Each case: a token that is valid in every way but one, and the verifier it meets.
Case = Callable[[TokenFactory], tuple[Verifier, str]]


def _alg_outside_policy(f: TokenFactory) -> tuple[Verifier, str]:
    # The JWK names no alg, so only the policy's allow-list stands in the way.
    jwk = {k: v for k, v in f.jwks()["keys"][0].items() if k != "alg"}
    token = f.sign(f.base_claims("access"), header={"alg": "PS256", "kid": f.kid})
    return verifier_for(f, jwks={"keys": [jwk]}), token


def _alg_outside_key(f: TokenFactory) -> tuple[Verifier, str]:
    # The policy allows PS256, but the key says RS256: only the key's own alg stands in the way.
    token = f.sign(f.base_claims("access"), header={"alg": "PS256", "kid": f.kid})
    return verifier_for(f, policy_for(f, algorithms=frozenset({"RS256", "PS256"}))), token


def _expired(f: TokenFactory) -> tuple[Verifier, str]:
    token = f.access_token()
    f.clock.advance(f.lifetime_seconds + 5)
    return verifier_for(f), token


def _tampered(f: TokenFactory) -> tuple[Verifier, str]:
    token = f.access_token()
    forged = f.base_claims("access", sub="admin")
    return verifier_for(f), replace_payload(token, json.dumps(forged).encode())


REASON_CASES: list[tuple[str, type[RevokerError], Case]] = [
    ("malformed", MalformedToken, lambda f: (verifier_for(f), "not-a-token")),
    (
        "too_large",
        TokenTooLarge,
        lambda f: (verifier_for(f, policy_for(f, max_token_bytes=512)), f.access_token()),
    ),
    ("unsupported_alg", UnsupportedAlgorithm, _alg_outside_policy),
    ("unsupported_alg", UnsupportedAlgorithm, _alg_outside_key),
    (
        "unknown_kid",
        UnknownKid,
        lambda f: (
            verifier_for(f),
            f.sign(f.base_claims("access"), header={"alg": f.alg, "kid": "rotated-away"}),
        ),
    ),
    ("bad_signature", BadSignature, _tampered),
    ("expired", TokenExpired, _expired),
    ("not_yet_valid", TokenNotYetValid, lambda f: (verifier_for(f), f.access_token(nbf=NOW + 60))),
    (
        "issued_in_future",
        IssuedInFuture,
        lambda f: (verifier_for(f), f.access_token(iat=NOW + 60)),
    ),
    ("wrong_issuer", WrongIssuer, lambda f: (verifier_for(f), f.access_token(iss=OTHER_ISSUER))),
    (
        "wrong_audience",
        WrongAudience,
        lambda f: (verifier_for(f), f.access_token(client_id="someone-else")),
    ),
    (
        "wrong_token_use",
        WrongTokenUse,
        lambda f: (verifier_for(f, policy_for(f, token_use=frozenset({"id"}))), f.access_token()),
    ),
    ("missing_claim", MissingClaim, lambda f: (verifier_for(f), f.access_token(sub=None))),
    (
        "lifetime_too_long",
        LifetimeTooLong,
        lambda f: (verifier_for(f), f.access_token(exp=NOW + 86_400 + 1)),
    ),
    (
        "jwks_unavailable",
        JwksUnavailable,
        lambda f: (verifier_for(f, fetcher=StaticJwksFetcher(None)), f.access_token()),
    ),
]


@pytest.mark.parametrize(
    ("reason", "error", "case"),
    REASON_CASES,
    ids=[f"{reason}-{i}" for i, (reason, _, _) in enumerate(REASON_CASES)],
)
def test_each_reason_code(
    factory: TokenFactory, reason: str, error: type[RevokerError], case: Case
) -> None:
    """A token wrong in one way only is refused with that way's class and reason."""
    verifier, token = case(factory)
    rejected(verifier, token, error, reason)


def test_reason_cases_cover_every_verification_reason() -> None:
    """A new reason code on the verify path cannot land without a case above."""
    covered = {reason for reason, _, _ in REASON_CASES}
    verify_reasons = set(REASONS[1 : REASONS.index("lifetime_too_long") + 1]) | {"jwks_unavailable"}
    assert covered == verify_reasons


def test_the_baseline_tokens_verify(factory: TokenFactory) -> None:
    """The control: untouched tokens pass, so each case above fails for its one flaw."""
    verifier = verifier_for(factory)
    access = verifier.verify(factory.access_token())
    identity = verifier.verify(factory.id_token())
    assert (access.token_use, identity.token_use) == ("access", "id")
    assert access.issuer == identity.issuer == factory.issuer
    assert access.kid == factory.kid
    assert access.subject == "user-1"
    assert access.expires_at == NOW + factory.lifetime_seconds
    assert access.issued_at == NOW
    assert access.jti is not None
    assert access.origin_jti is not None


def test_jwks_unavailable_is_cannot_decide_not_a_bad_token(factory: TokenFactory) -> None:
    """A key source outage is a 503 'cannot decide', never a 401 that blames the token."""
    verifier = verifier_for(factory, fetcher=StaticJwksFetcher(None))
    with pytest.raises(JwksUnavailable) as info:
        verifier.verify(factory.access_token())
    assert isinstance(info.value, CannotDecide)
    assert not isinstance(info.value, TokenRejected)
    assert info.value.http_status == 503


@pytest.mark.parametrize("token", [None, b"a.b.c", 42], ids=["none", "bytes", "int"])
def test_non_string_token_is_malformed(factory: TokenFactory, token: Any) -> None:
    """Whatever the caller hands in, the answer is a reason code, not a TypeError."""
    rejected(verifier_for(factory), token, MalformedToken, "malformed")


def test_configured_size_limit(factory: TokenFactory) -> None:
    """max_token_bytes is the parser's limit: a token just under it passes."""
    token = factory.access_token()
    assert verifier_for(factory, policy_for(factory, max_token_bytes=len(token))).verify(token)
    verifier = verifier_for(factory, policy_for(factory, max_token_bytes=len(token) - 1))
    rejected(verifier, token, TokenTooLarge, "too_large")


def test_default_size_limit(factory: TokenFactory) -> None:
    """By default a token over 8 KiB is too large, however genuine."""
    rejected(
        verifier_for(factory), factory.access_token(pad="x" * 8192), TokenTooLarge, "too_large"
    )


def test_token_without_kid(factory: TokenFactory) -> None:
    """A header with no kid names no key: unknown_kid."""
    token = factory.sign(factory.base_claims("access"), header={"alg": "RS256"})
    rejected(verifier_for(factory), token, UnknownKid, "unknown_kid")


@pytest.mark.parametrize("kid", [1, None, ["test-key-1"], {"k": 1}], ids=repr)
def test_kid_must_be_a_string(factory: TokenFactory, kid: Any) -> None:
    """A non-string kid is malformed (null counts as absent)."""
    token = factory.sign(factory.base_claims("access"), header={"alg": "RS256", "kid": kid})
    error, reason = (UnknownKid, "unknown_kid") if kid is None else (MalformedToken, "malformed")
    rejected(verifier_for(factory), token, error, reason)


# --- the issuer comes first ---------------------------------------------------------------


@pytest.mark.parametrize(
    "iss",
    [
        OTHER_ISSUER,
        "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TestPool1/",
        "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_testpool1",
        "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TestPool",
        "http://cognito-idp.us-east-1.amazonaws.com/us-east-1_TestPool1",
        "",
        None,
        ["https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TestPool1"],
        1,
    ],
    ids=[
        "other-pool",
        "trailing-slash",
        "case",
        "prefix",
        "http",
        "empty",
        "absent",
        "list",
        "int",
    ],
)
def test_untrusted_issuer_costs_no_key_fetch(factory: TokenFactory, iss: Any) -> None:
    """The issuer is checked before any key lookup: an untrusted one causes zero fetches."""
    fetcher = StaticJwksFetcher(factory.jwks())
    verifier = verifier_for(factory, fetcher=fetcher)
    claims = factory.base_claims("access")
    claims["iss"] = iss
    if iss is None:
        del claims["iss"]
    rejected(verifier, factory.sign(claims), WrongIssuer, "wrong_issuer")
    assert fetcher.calls == []


def test_two_issuers_each_with_their_own_keys() -> None:
    """A token verifies only with its own issuer's keys, even when both are trusted."""
    clock = FrozenClock(NOW)
    first = TokenFactory(clock=clock)
    second = TokenFactory(issuer=OTHER_ISSUER, clock=clock)  # same kid, different key
    caches = {
        f.issuer: JwksCache(
            JwksSource.from_url(jwks_url(f)), fetcher=StaticJwksFetcher(f.jwks()), clock=clock
        )
        for f in (first, second)
    }
    policy = policy_for(first, issuers=(first.issuer, second.issuer))
    verifier = Verifier(policy, caches, clock=clock)
    assert verifier.verify(first.access_token()).issuer == first.issuer
    assert verifier.verify(second.access_token()).issuer == second.issuer
    forged = first.sign(first.base_claims("access", iss=second.issuer))
    rejected(verifier, forged, BadSignature, "bad_signature")


def test_verifier_needs_a_key_source_per_issuer(factory: TokenFactory) -> None:
    """Trusting an issuer without saying where its keys live is a configuration error."""
    policy = policy_for(factory, issuers=(factory.issuer, OTHER_ISSUER))
    cache = JwksCache(JwksSource.from_url(jwks_url(factory)), fetcher=StaticJwksFetcher({}))
    with pytest.raises(ConfigurationError):
        Verifier(policy, {factory.issuer: cache})


# --- the policy ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"issuers": ()},
        {"issuers": "https://issuer.example"},
        {"issuers": ["https://issuer.example"]},
        {"issuers": (1,)},
        {"audience": ()},
        {"audience": "client"},
        {"audience": ["client"]},
        {"audience": (None,)},
        {"algorithms": frozenset()},
        {"algorithms": frozenset({"HS256"})},
        {"algorithms": "RS256"},
        {"algorithms": ("RS256",)},
        {"token_use": frozenset()},
        {"token_use": frozenset({"refresh"})},
        {"token_use": frozenset({"id", "refresh"})},
        {"token_use": "id"},
        {"required_claims": "sub"},
        {"leeway_seconds": -1},
        {"leeway_seconds": 301},
        {"leeway_seconds": math.nan},
        {"max_lifetime_seconds": 0},
        {"max_lifetime_seconds": -1},
        {"max_lifetime_seconds": math.nan},
        {"max_lifetime_seconds": math.inf},
        {"max_token_bytes": 0},
        {"max_token_bytes": True},
    ],
    ids=lambda o: "-".join(f"{k}={v!r}" for k, v in o.items()),
)
def test_policy_validation(factory: TokenFactory, overrides: dict[str, Any]) -> None:
    """A policy that cannot be meant is refused when it is built, with exit code 2."""
    with pytest.raises(ConfigurationError) as info:
        policy_for(factory, **overrides)
    assert info.value.reason == "configuration"
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    "overrides",
    [{"leeway_seconds": 0}, {"leeway_seconds": 300}, {"required_claims": ()}, {"token_use": None}],
    ids=["leeway-0", "leeway-300", "no-required-claims", "no-token-use"],
)
def test_policy_edges_that_are_allowed(factory: TokenFactory, overrides: dict[str, Any]) -> None:
    """The bounds themselves are legal values."""
    assert policy_for(factory, **overrides)


def test_audience_string_would_have_been_a_substring_check(factory: TokenFactory) -> None:
    """The reason a bare string is refused: 'in' on a str matches any part of it."""
    assert "test" in factory.client_id  # what a str audience would have accepted
    with pytest.raises(ConfigurationError):
        policy_for(factory, audience=factory.client_id)


# --- the pieces on their own ------------------------------------------------------------


def test_check_claims_alone(factory: TokenFactory) -> None:
    """check_claims runs the claim checks without a signature, at the time it is given."""
    policy = policy_for(factory)
    claims = factory.base_claims("id")
    check_claims(claims, policy, NOW)
    with pytest.raises(TokenExpired):
        check_claims(claims, policy, NOW + 10 * 3600)


def test_verified_token_repr_hides_claims(factory: TokenFactory) -> None:
    """A VerifiedToken's repr leaves the claims out (they may hold an e-mail address)."""
    verified = verifier_for(factory).verify(factory.id_token())
    assert "alice@example.com" not in repr(verified)
    assert verified.claims["email"] == "alice@example.com"
