"""Details: each refusal says which check failed, the claim, what was expected and what came,
in one line of ASCII that is safe for a log or a WWW-Authenticate header, and never the token."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from revoker.core.authorizer import Authorizer
from revoker.core.detail import iso_time, shown, shown_list
from revoker.core.errors import RevokerError, WrongIssuer
from revoker.core.verify import Verifier
from revoker.testing import StaticJwksFetcher, TokenFactory
from verify_support import (
    NOW,
    OTHER_ISSUER,
    policy_for,
    rejected,
    replace_payload,
    verifier_for,
    with_token_use,
)

Case = Callable[[TokenFactory], tuple[Verifier, str]]


def _expired(f: TokenFactory) -> tuple[Verifier, str]:
    token = f.access_token()
    f.clock.advance(f.lifetime_seconds + 5)
    return verifier_for(f), token


def _tampered(f: TokenFactory) -> tuple[Verifier, str]:
    forged = json.dumps(f.base_claims("access", sub="admin")).encode()
    return verifier_for(f), replace_payload(f.access_token(), forged)


def _key_alg(f: TokenFactory) -> tuple[Verifier, str]:
    token = f.sign(f.base_claims("access"), header={"alg": "PS256", "kid": f.kid})
    return verifier_for(f, policy_for(f, algorithms=frozenset({"RS256", "PS256"}))), token


# reason, the token and verifier, and fragments the detail must hold.
DETAIL_CASES: list[tuple[str, Case, tuple[str, ...]]] = [
    ("malformed", lambda f: (verifier_for(f), "not-a-token"), ("compact JWS",)),
    (
        "malformed",
        lambda f: (verifier_for(f), f.access_token(exp="soon")),
        ("claim 'exp' must be a number, not 'soon'",),
    ),
    (
        "too_large",
        lambda f: (verifier_for(f, policy_for(f, max_token_bytes=512)), f.access_token()),
        ("longer than 512 bytes",),
    ),
    (
        "unsupported_alg",
        lambda f: (verifier_for(f), f.sign(f.base_claims("access"), header={"alg": "HS256"})),
        ("alg 'HS256' is not allowed", "allowed: ['RS256']"),
    ),
    (
        "unsupported_alg",
        _key_alg,
        ("key 'test-key-1' is published for alg 'RS256', the token says 'PS256'",),
    ),
    (
        "unknown_kid",
        lambda f: (
            verifier_for(f),
            f.sign(f.base_claims("access"), header={"alg": "RS256", "kid": "rotated-away"}),
        ),
        ("kid 'rotated-away' is not in the issuer's JWKS", "it has ['test-key-1']"),
    ),
    (
        "unknown_kid",
        lambda f: (verifier_for(f), f.sign(f.base_claims("access"), header={"alg": "RS256"})),
        ("no 'kid'",),
    ),
    ("bad_signature", _tampered, ("does not verify with key 'test-key-1' (alg 'RS256')",)),
    (
        "expired",
        _expired,
        ("expired at 2023-11-14T23:13:20Z", "now 2023-11-14T23:13:25Z", "leeway 5 s"),
    ),
    (
        "not_yet_valid",
        lambda f: (verifier_for(f), f.access_token(nbf=NOW + 60)),
        ("not valid before nbf 2023-11-14T22:14:20Z", "now 2023-11-14T22:13:20Z"),
    ),
    (
        "issued_in_future",
        lambda f: (verifier_for(f), f.access_token(iat=NOW + 60)),
        ("iat 2023-11-14T22:14:20Z lies in the future",),
    ),
    (
        "wrong_issuer",
        lambda f: (verifier_for(f), f.access_token(iss=OTHER_ISSUER)),
        (f"iss '{OTHER_ISSUER}' is not a trusted issuer", "us-east-1_TestPool1"),
    ),
    (
        "wrong_issuer",
        lambda f: (verifier_for(f), f.access_token(iss=None)),
        ("iss absent is not a trusted issuer",),
    ),
    (
        "wrong_audience",
        lambda f: (verifier_for(f), f.access_token(client_id="someone-else")),
        ("client_id must name one of ['testclient0123456789abcdef']", "is 'someone-else'"),
    ),
    (
        "wrong_audience",
        lambda f: (verifier_for(f), f.id_token(aud=["a", "b"])),
        ("aud must name one of ['testclient0123456789abcdef']", "is ['a', 'b']"),
    ),
    (
        "wrong_token_use",
        lambda f: (verifier_for(f, policy_for(f, token_use=frozenset({"id"}))), f.access_token()),
        ("is an access token; accepted: id tokens only",),
    ),
    (
        "wrong_token_use",
        lambda f: (verifier_for(f), with_token_use(f, "access", "refresh")),
        ("token_use 'refresh' is neither 'id' nor 'access'",),
    ),
    (
        "missing_claim",
        lambda f: (verifier_for(f), f.access_token(sub=None)),
        ("no 'sub' claim",),
    ),
    (
        "missing_claim",
        lambda f: (verifier_for(f), f.access_token(exp=None)),
        ("no 'exp' claim",),
    ),
    (
        "missing_claim",
        lambda f: (verifier_for(f), with_token_use(f, "access", None)),
        ("no 'token_use' claim", "the Cognito convention"),
    ),
    (
        "lifetime_too_long",
        lambda f: (verifier_for(f), f.access_token(exp=NOW + 86_401)),
        ("lives 86401 s", "longer than the 86400 s allowed"),
    ),
    (
        "jwks_unavailable",
        lambda f: (verifier_for(f, fetcher=StaticJwksFetcher(None)), f.access_token()),
        ("told to fail",),
    ),
]


@pytest.mark.parametrize(
    ("reason", "case", "fragments"),
    DETAIL_CASES,
    ids=[f"{reason}-{i}" for i, (reason, _, _) in enumerate(DETAIL_CASES)],
)
def test_each_refusal_says_what_failed(
    factory: TokenFactory, reason: str, case: Case, fragments: tuple[str, ...]
) -> None:
    """The detail names the check, the claim, the expected and the received value."""
    verifier, token = case(factory)
    with pytest.raises(RevokerError) as info:
        verifier.verify(token)
    assert info.value.reason == reason
    detail = info.value.detail
    for fragment in fragments:
        assert fragment in detail
    assert detail.isascii()
    assert detail.isprintable()
    assert token not in detail


def test_the_decision_carries_the_same_detail(factory: TokenFactory) -> None:
    """Authorizer.check puts the error's detail on the Decision, for every transport."""
    verifier = verifier_for(factory)
    decision = Authorizer(verifier).check(factory.access_token(client_id="someone-else"))
    assert decision.reason == "wrong_audience"
    assert "is 'someone-else'" in decision.detail


def test_no_part_of_the_token_reaches_the_detail(factory: TokenFactory) -> None:
    """Neither the token nor its signature segment is ever in a detail."""
    token = factory.access_token(iss=OTHER_ISSUER)
    error = rejected(verifier_for(factory), token, WrongIssuer, "wrong_issuer")
    for segment in token.split("."):
        assert segment not in error.detail


@given(iss=st.text(max_size=300))
def test_a_hostile_issuer_becomes_one_short_line_of_ascii(iss: str) -> None:
    """Control characters, quotes, non-ASCII and length: the detail stays a safe header value."""
    detail = WrongIssuer(f"iss {shown(iss)} is not a trusted issuer").detail
    assert detail.isascii()
    assert detail.isprintable()
    assert '"' not in detail
    assert len(detail) < 64 * 10 + 40  # the worst escape is 10 characters per character


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("plain", "'plain'"),
        ("a\r\nSet-Cookie: x", "'a\\x0d\\x0aSet-Cookie: x'"),
        ('say "hi"', "'say \\x22hi\\x22'"),
        ("it's", "'it\\x27s'"),
        ("back\\slash", "'back\\x5cslash'"),
        ("café", "'caf\\xe9'"),
        ("\u2028", "'\\u2028'"),
        ("\U0001f600", "'\\U0001f600'"),
        ("x" * 70, "'" + "x" * 64 + "'..."),
        (None, "null"),
        (True, "true"),
        (12, "12"),
        (10**30, "a number of 31 digits"),
        (float("nan"), "a non-finite number"),
        ([1], "a list"),
        ({"a": 1}, "an object"),
    ],
    ids=repr,
)
def test_shown_quotes_truncates_and_escapes(value: object, text: str) -> None:
    """shown: strings quoted, cut at 64 characters, everything but plain ASCII escaped."""
    assert shown(value) == text


def test_shown_list_bounds_its_length() -> None:
    """At most five members are shown, then how many more."""
    assert shown_list(["a", "b"]) == "['a', 'b']"
    assert shown_list([str(n) for n in range(8)]) == "['0', '1', '2', '3', '4', and 3 more]"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (1_700_000_000, "2023-11-14T22:13:20Z"),
        (1_700_000_000.25, "2023-11-14T22:13:20.250Z"),
        (0, "1970-01-01T00:00:00Z"),
        (1e300, "epoch second 1e+300"),
        (-1e20, "epoch second -1e+20"),
    ],
    ids=repr,
)
def test_iso_time_is_utc(seconds: float, text: str) -> None:
    """Times in details are ISO 8601 UTC; a time no calendar holds is given in seconds."""
    assert iso_time(seconds) == text
