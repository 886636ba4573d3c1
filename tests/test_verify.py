"""The verifier: each reason code, the time edges, the audience and token_use rules, the policy."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import math
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from revoker.clock import FrozenClock
from revoker.errors import (
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
from revoker.jwks import JwksCache, JwksSource, parse_jwks
from revoker.signing import generate_key, public_jwk
from revoker.testing import StaticJwksFetcher, TokenFactory
from revoker.tokens import b64url_decode, b64url_encode, parse_unverified
from revoker.verify import (
    SUPPORTED_ALGORITHMS,
    VerificationPolicy,
    Verifier,
    check_claims,
    verify_signature,
)

NOW = 1_700_000_000
OTHER_ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_OtherPool"


# --- helpers -------------------------------------------------------------------


@pytest.fixture(scope="module")
def rs256_template() -> TokenFactory:
    return TokenFactory()


@pytest.fixture(scope="module")
def es256_template() -> TokenFactory:
    return TokenFactory(alg="ES256", kid="ec-key-1")


def fresh(template: TokenFactory) -> TokenFactory:
    """The template's key (RSA generation is slow) on a clock of its own."""
    factory = copy.copy(template)
    factory.clock = FrozenClock(NOW)
    return factory


@pytest.fixture
def factory(rs256_template: TokenFactory) -> TokenFactory:
    return fresh(rs256_template)


@pytest.fixture
def ec_factory(es256_template: TokenFactory) -> TokenFactory:
    return fresh(es256_template)


def jwks_url(factory: TokenFactory) -> str:
    return factory.issuer + "/.well-known/jwks.json"


def policy_for(factory: TokenFactory, **overrides: Any) -> VerificationPolicy:
    """A policy trusting the factory, with any field overridden (``audience=None`` included)."""
    fields: dict[str, Any] = {
        "issuers": (factory.issuer,),
        "audience": (factory.client_id,),
        "token_use": frozenset({"id", "access"}),
        "algorithms": frozenset({factory.alg}),
    }
    fields.update(overrides)
    return VerificationPolicy(**fields)


def verifier_for(
    factory: TokenFactory,
    policy: VerificationPolicy | None = None,
    *,
    jwks: dict[str, Any] | None = None,
    fetcher: StaticJwksFetcher | None = None,
) -> Verifier:
    fetcher = fetcher or StaticJwksFetcher(factory.jwks() if jwks is None else jwks)
    cache = JwksCache(JwksSource.from_url(jwks_url(factory)), fetcher=fetcher, clock=factory.clock)
    return Verifier(policy or policy_for(factory), {factory.issuer: cache}, clock=factory.clock)


def rejected(
    verifier: Verifier, token: str, error: type[RevokerError], reason: str
) -> RevokerError:
    """``verify`` raises exactly ``error`` with ``reason``."""
    with pytest.raises(error) as info:
        verifier.verify(token)
    assert type(info.value) is error
    assert info.value.reason == reason
    return info.value


def replace_signature(token: str, signature: bytes) -> str:
    return token.rsplit(".", 1)[0] + "." + b64url_encode(signature)


def replace_header(token: str, header: dict[str, Any]) -> str:
    _, payload, signature = token.split(".")
    return f"{b64url_encode(json.dumps(header).encode())}.{payload}.{signature}"


def replace_payload(token: str, payload: bytes) -> str:
    header, _, signature = token.split(".")
    return f"{header}.{b64url_encode(payload)}.{signature}"


def with_token_use(factory: TokenFactory, kind: str, token_use: Any) -> str:
    """A token whose token_use is set apart from its kind (None drops the claim)."""
    # base_claims takes token_use as its own parameter, so it cannot be overridden there.
    claims = factory.base_claims(kind)
    claims["token_use"] = token_use
    return factory.sign({k: v for k, v in claims.items() if v is not None})


def signature_of(token: str) -> bytes:
    return b64url_decode(token.rsplit(".", 1)[1])


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
    """token_use=None: issuers that do not set the claim are accepted without it."""
    verifier = verifier_for(factory, policy_for(factory, token_use=None))
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


# --- crit and alg ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "crit",
    [["exp"], ["b64"], ["x", "y"], [], "b64", [1], None, {"b64": True}],
    ids=["unknown", "b64", "two", "empty", "string", "number", "null", "object"],
)
def test_crit_is_always_refused(factory: TokenFactory, crit: Any) -> None:
    """revoker understands no extension, so any crit (or a malformed one) is refused."""
    header = {"alg": "RS256", "kid": factory.kid, "crit": crit}
    if isinstance(crit, list) and all(isinstance(c, str) for c in crit):
        header.update(dict.fromkeys(crit, True))
    token = factory.sign(factory.base_claims("access"), header=header)
    rejected(verifier_for(factory), token, MalformedToken, "malformed")


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE", "none "], ids=repr)
@pytest.mark.parametrize("signed", [False, True], ids=["no-signature", "with-signature"])
def test_alg_none_in_any_case(factory: TokenFactory, alg: str, signed: bool) -> None:
    """alg none is never allowed, however spelled and whatever follows it."""
    genuine = factory.access_token()
    token = replace_header(genuine, {"alg": alg, "kid": factory.kid})
    if not signed:
        token = token.rsplit(".", 1)[0] + "."
    rejected(verifier_for(factory), token, UnsupportedAlgorithm, "unsupported_alg")


def hs256_with_public_key(factory: TokenFactory, secret: bytes) -> str:
    """The classic confusion: an HMAC keyed with bytes the attacker can read."""
    header = b64url_encode(json.dumps({"alg": "HS256", "kid": factory.kid}).encode())
    payload = b64url_encode(json.dumps(factory.base_claims("access")).encode())
    signing_input = f"{header}.{payload}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url_encode(mac)


def test_rs_to_hs_confusion_refused(factory: TokenFactory) -> None:
    """An HS256 token keyed with the RSA public key (PEM or JWK JSON) is refused by alg."""
    pem = factory.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for secret in (pem, json.dumps(factory.jwks()["keys"][0]).encode()):
        token = hs256_with_public_key(factory, secret)
        rejected(verifier_for(factory), token, UnsupportedAlgorithm, "unsupported_alg")


@pytest.mark.parametrize(
    "algorithms",
    [{"HS256"}, {"RS256", "HS256"}, {"none"}, {"RS256", "none"}, {"rs256"}, {"ES256K"}],
    ids=repr,
)
def test_unsupported_algorithms_cannot_be_configured(
    factory: TokenFactory, algorithms: set[str]
) -> None:
    """HMAC and none are not in SUPPORTED_ALGORITHMS, so no policy can list them."""
    assert not algorithms <= SUPPORTED_ALGORITHMS
    with pytest.raises(ConfigurationError) as info:
        policy_for(factory, algorithms=frozenset(algorithms))
    assert info.value.reason == "configuration"


@pytest.mark.parametrize("alg", ["HS256", "none", "RS999", "ES256K", "EdDSA2", ""], ids=repr)
def test_verify_signature_alone_refuses_unsupported_alg(factory: TokenFactory, alg: str) -> None:
    """verify_signature is public: it refuses an alg no policy vetted, rather than crash."""
    token = replace_header(factory.access_token(), {"alg": alg, "kid": factory.kid})
    key = parse_jwks({"keys": [{**factory.jwks()["keys"][0], "alg": None}]})[factory.kid]
    with pytest.raises(UnsupportedAlgorithm):
        verify_signature(parse_unverified(token), key)


def test_ps256_against_rs256_policy(factory: TokenFactory) -> None:
    """A PSS signature by the right RSA key is still refused when only RS256 is allowed."""
    token = factory.sign(factory.base_claims("access"), header={"alg": "PS256", "kid": factory.kid})
    rejected(verifier_for(factory), token, UnsupportedAlgorithm, "unsupported_alg")


@pytest.mark.parametrize("alg", sorted(SUPPORTED_ALGORITHMS))
def test_every_supported_algorithm_verifies_when_configured(alg: str) -> None:
    """RS*, PS*, ES* and EdDSA tokens verify with a matching key and policy."""
    factory = TokenFactory(alg=alg, kid=f"{alg}-key", clock=FrozenClock(NOW))
    verifier = verifier_for(factory)
    assert verifier.verify(factory.access_token()).kid == f"{alg}-key"
    assert verifier.verify(factory.id_token()).token_use == "id"


@pytest.mark.parametrize(
    ("token_alg", "key_alg"),
    [("ES256", "RS256"), ("RS256", "ES256"), ("EdDSA", "ES256"), ("ES384", "ES256")],
    ids=["ec-alg-rsa-key", "rsa-alg-ec-key", "eddsa-alg-ec-key", "p384-alg-p256-key"],
)
def test_key_type_must_fit_the_alg(token_alg: str, key_alg: str) -> None:
    """Even with alg absent from the JWK, the key type and curve must suit the header's alg."""
    signer = TokenFactory(alg=token_alg, clock=FrozenClock(NOW))
    holder = TokenFactory(alg=key_alg, clock=FrozenClock(NOW))
    jwk = {k: v for k, v in holder.jwks()["keys"][0].items() if k != "alg"}
    jwk["kid"] = signer.kid
    policy = policy_for(signer, algorithms=frozenset({token_alg, key_alg}))
    verifier = verifier_for(signer, policy, jwks={"keys": [jwk]})
    rejected(verifier, signer.access_token(), UnsupportedAlgorithm, "unsupported_alg")


def test_key_alg_differs_from_header(factory: TokenFactory) -> None:
    """A key published for RS512 does not verify an RS256 token, even if both are allowed."""
    jwk = {**factory.jwks()["keys"][0], "alg": "RS512"}
    policy = policy_for(factory, algorithms=frozenset({"RS256", "RS512"}))
    verifier = verifier_for(factory, policy, jwks={"keys": [jwk]})
    rejected(verifier, factory.access_token(), UnsupportedAlgorithm, "unsupported_alg")


def test_key_without_alg_verifies(factory: TokenFactory) -> None:
    """A JWK without alg (allowed by RFC 7517) verifies a token of a fitting alg."""
    jwk = {k: v for k, v in factory.jwks()["keys"][0].items() if k != "alg"}
    assert verifier_for(factory, jwks={"keys": [jwk]}).verify(factory.access_token())


# --- signatures -------------------------------------------------------------------------------


def _flip_last_bit(signature: bytes) -> bytes:
    return signature[:-1] + bytes([signature[-1] ^ 1])


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256", "ES512", "EdDSA"])
@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda s: s[:-1], id="truncated"),
        pytest.param(lambda s: s[: len(s) // 2], id="half"),
        pytest.param(_flip_last_bit, id="bit-flipped"),
        pytest.param(lambda s: bytes([s[0] ^ 0x80]) + s[1:], id="first-bit-flipped"),
        pytest.param(lambda s: b"", id="empty"),
        pytest.param(lambda s: s + b"\x00", id="extra-byte"),
        pytest.param(lambda s: b"\x00" + s, id="leading-zero"),
        pytest.param(lambda s: bytes(len(s)), id="zeros"),
    ],
)
def test_spoiled_signatures_refused(alg: str, spoil: Callable[[bytes], bytes]) -> None:
    """Truncated, bit-flipped, empty, padded and zeroed signatures are bad signatures."""
    factory = TokenFactory(alg=alg, clock=FrozenClock(NOW))
    token = factory.access_token()
    spoiled = replace_signature(token, spoil(signature_of(token)))
    rejected(verifier_for(factory), spoiled, BadSignature, "bad_signature")


P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _rs(signature: bytes) -> tuple[int, int]:
    return int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")


def _es256(r: int, s: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


@pytest.mark.parametrize(
    ("make", "out_of_range"),
    [
        pytest.param(lambda r, s: (0, 0), True, id="r=s=0"),
        pytest.param(lambda r, s: (0, s), True, id="r=0"),
        pytest.param(lambda r, s: (r, 0), True, id="s=0"),
        pytest.param(lambda r, s: (P256_ORDER, P256_ORDER), True, id="r=s=n"),
        pytest.param(lambda r, s: (P256_ORDER, s), True, id="r=n"),
        pytest.param(lambda r, s: (r, P256_ORDER), True, id="s=n"),
        pytest.param(lambda r, s: (2**256 - 1, s), True, id="r=max"),
        pytest.param(lambda r, s: (1, 1), False, id="r=s=1"),
        pytest.param(lambda r, s: (P256_ORDER - 1, P256_ORDER - 1), False, id="r=s=n-1"),
    ],
)
def test_ecdsa_psychic_and_out_of_range_signatures(
    ec_factory: TokenFactory, make: Callable[[int, int], tuple[int, int]], out_of_range: bool
) -> None:
    """CVE-2022-21449 and its family: r or s of 0 or >= n never verify, by our own check."""
    token = ec_factory.access_token()
    r, s = make(*_rs(signature_of(token)))
    spoiled = replace_signature(token, _es256(r, s))
    error = rejected(verifier_for(ec_factory), spoiled, BadSignature, "bad_signature")
    # Out-of-range scalars are refused before the library sees them, not left to its care.
    assert ("out of range" in str(error)) is out_of_range


def test_ecdsa_der_signature_refused(ec_factory: TokenFactory) -> None:
    """JOSE signatures are raw r||s; a DER-encoded one (what some libraries emit) is refused."""
    token = ec_factory.access_token()
    der = encode_dss_signature(*_rs(signature_of(token)))
    spoiled = replace_signature(token, der)
    error = rejected(verifier_for(ec_factory), spoiled, BadSignature, "bad_signature")
    assert "wrong length" in str(error)


def test_ecdsa_high_s_twin_also_verifies(ec_factory: TokenFactory) -> None:
    """ECDSA is malleable: (r, n - s) verifies too; token identity must not hang on signatures."""
    token = ec_factory.access_token()
    r, s = _rs(signature_of(token))
    twin = replace_signature(token, _es256(r, P256_ORDER - s))
    assert twin != token
    verified = verifier_for(ec_factory).verify(twin)
    assert verified.jti == parse_unverified(token).claims["jti"]


def test_signature_by_another_key_refused(factory: TokenFactory) -> None:
    """A correctly formed signature by a key not in the JWKS is a bad signature."""
    attacker = generate_key("RS256")
    token = factory.sign(factory.base_claims("access"), key=attacker)
    rejected(verifier_for(factory), token, BadSignature, "bad_signature")


# --- keys never come from the token ------------------------------------------------------


def test_embedded_jwk_is_ignored(factory: TokenFactory) -> None:
    """A token signed by an attacker key embedded as jwk is checked against the JWKS key."""
    attacker = generate_key("RS256")
    header = {
        "alg": "RS256",
        "kid": factory.kid,
        "jwk": public_jwk(attacker, kid=factory.kid, alg="RS256"),
    }
    token = factory.sign(factory.base_claims("access"), header=header, key=attacker)
    rejected(verifier_for(factory), token, BadSignature, "bad_signature")
    # Without a kid the embedded key is not a fallback either.
    del header["kid"]
    token = factory.sign(factory.base_claims("access"), header=header, key=attacker)
    rejected(verifier_for(factory), token, UnknownKid, "unknown_kid")


@pytest.mark.parametrize("name", ["jku", "x5u"])
def test_key_urls_in_the_header_are_never_fetched(factory: TokenFactory, name: str) -> None:
    """jku and x5u are never followed: the fetcher only ever sees the configured JWKS URL."""
    attacker = generate_key("RS256")
    header = {"alg": "RS256", "kid": "attacker-key", name: "https://attacker.example/keys.json"}
    fetcher = StaticJwksFetcher(factory.jwks())
    verifier = verifier_for(factory, fetcher=fetcher)
    token = factory.sign(factory.base_claims("access"), header=header, key=attacker)
    rejected(verifier, token, UnknownKid, "unknown_kid")
    header["kid"] = factory.kid
    token = factory.sign(factory.base_claims("access"), header=header, key=attacker)
    rejected(verifier, token, BadSignature, "bad_signature")
    assert fetcher.calls
    assert set(fetcher.calls) == {jwks_url(factory)}


def test_x5c_chain_is_ignored(factory: TokenFactory) -> None:
    """An x5c certificate chain in the header does not supply a key."""
    attacker = generate_key("RS256")
    der = attacker.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "RS256", "kid": factory.kid, "x5c": [b64url_encode(der)]}
    token = factory.sign(factory.base_claims("access"), header=header, key=attacker)
    rejected(verifier_for(factory), token, BadSignature, "bad_signature")


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
