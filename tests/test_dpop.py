"""DPoP proofs (RFC 9449 §4.3): every check refuses its own flaw, htu is normalised as §4.3
asks, the thumbprint is RFC 7638's, and the replay cache is bounded and forgets in time."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from revoker.core.clock import FrozenClock
from revoker.core.dpop import (
    DpopPolicy,
    DpopVerifier,
    ReplayCache,
    access_token_hash,
    jwk_thumbprint,
    normalize_htu,
    public_key_from_jwk,
)
from revoker.core.errors import ConfigurationError, InvalidDpopProof
from revoker.core.signing import sign_compact
from revoker.core.tokens import b64url_encode
from revoker.testing import DpopKey

NOW = 1_700_000_000
URI = "https://api.example.com/orders/7"
ACCESS = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln"


@pytest.fixture(scope="module")
def es256() -> DpopKey:
    return DpopKey("ES256")


@pytest.fixture
def key(es256: DpopKey) -> DpopKey:
    es256.clock = FrozenClock(NOW)
    return es256


def verifier(**policy: Any) -> DpopVerifier:
    return DpopVerifier(DpopPolicy(**policy), clock=FrozenClock(NOW))


def verify(dpop: DpopVerifier, proof: str, key: DpopKey, **request: Any) -> Any:
    arguments: dict[str, Any] = {
        "access_token": ACCESS,
        "method": "GET",
        "uri": URI,
        "jkt": key.jkt,
    }
    arguments.update(request)
    return dpop.verify(proof, **arguments)


def refused(dpop: DpopVerifier, proof: str, key: DpopKey, fragment: str, **request: Any) -> None:
    with pytest.raises(InvalidDpopProof) as info:
        verify(dpop, proof, key, **request)
    assert info.value.reason == "invalid_dpop_proof"
    assert fragment in info.value.detail


def test_a_good_proof_verifies(key: DpopKey) -> None:
    """The control: a proof for this request, by the bound key, with ath, passes every check."""
    proof = verify(verifier(), key.proof("GET", URI, access_token=ACCESS), key)
    assert (proof.htm, proof.htu, proof.jkt, proof.iat) == ("GET", URI, key.jkt, NOW)


@pytest.mark.parametrize("alg", ["ES256", "ES384", "PS256", "RS256", "EdDSA", "Ed25519"])
def test_each_asymmetric_algorithm_proves(alg: str) -> None:
    """RSA, PSS, ECDSA and EdDSA keys all make proofs (the client chooses)."""
    key = DpopKey(alg, clock=FrozenClock(NOW))
    assert verify(verifier(), key.proof("GET", URI, access_token=ACCESS), key).jkt == key.jkt


def _with_header(key: DpopKey, **changes: Any) -> str:
    header: dict[str, Any] = {"typ": "dpop+jwt", "alg": key.alg, "jwk": key.jwk}
    header.update(changes)
    header = {k: v for k, v in header.items() if v is not None}
    return key.proof("GET", URI, access_token=ACCESS, header=header)


def _unsigned(key: DpopKey, alg: str) -> str:
    header = b64url_encode(json.dumps({"typ": "dpop+jwt", "alg": alg, "jwk": key.jwk}).encode())
    claims = {"jti": "j", "htm": "GET", "htu": URI, "iat": NOW, "ath": access_token_hash(ACCESS)}
    return f"{header}.{b64url_encode(json.dumps(claims).encode())}.{b64url_encode(b'mac')}"


def _off_curve(key: DpopKey) -> str:
    jwk = dict(key.jwk)
    jwk["y"] = b64url_encode((int.from_bytes(b"\x01" * 32, "big")).to_bytes(32, "big"))
    return _with_header(key, jwk=jwk)


def _weak_rsa(_: DpopKey) -> str:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the point
    numbers = weak.public_key().public_numbers()
    jwk = {
        "kty": "RSA",
        "n": b64url_encode(numbers.n.to_bytes(128, "big")),
        "e": b64url_encode(numbers.e.to_bytes(3, "big")),
    }
    header = {"typ": "dpop+jwt", "alg": "RS256", "jwk": jwk}
    claims = {"jti": "j", "htm": "GET", "htu": URI, "iat": NOW, "ath": access_token_hash(ACCESS)}
    return sign_compact(header, claims, weak)


HEADER_CASES: list[tuple[str, Callable[[DpopKey], str], str]] = [
    ("no-typ", lambda k: _with_header(k, typ=None), "typ is absent, not 'dpop+jwt'"),
    ("typ-jwt", lambda k: _with_header(k, typ="JWT"), "typ is 'JWT'"),
    ("typ-at-jwt", lambda k: _with_header(k, typ="at+jwt"), "typ is 'at+jwt'"),
    ("typ-number", lambda k: _with_header(k, typ=1), "'typ' must be a string"),
    ("alg-none", lambda k: _unsigned(k, "none"), "alg 'none' is not allowed"),
    ("alg-hs256", lambda k: _unsigned(k, "HS256"), "alg 'HS256' is not allowed"),
    ("crit", lambda k: _with_header(k, crit=["exp"], exp=1), "critical header"),
    ("no-jwk", lambda k: _with_header(k, jwk=None), "no 'jwk' object"),
    ("jwk-not-object", lambda k: _with_header(k, jwk="key"), "no 'jwk' object"),
    ("jwk-private", lambda k: _with_header(k, jwk={**k.jwk, "d": "AAAA"}), "private key"),
    ("jwk-symmetric", lambda k: _with_header(k, jwk={"kty": "oct", "k": "c2Vj"}), "private key"),
    ("jwk-kty", lambda k: _with_header(k, jwk={**k.jwk, "kty": "XYZ"}), "kty 'XYZ'"),
    ("jwk-curve", lambda k: _with_header(k, jwk={**k.jwk, "crv": "P-192"}), "curve 'P-192'"),
    ("jwk-short-x", lambda k: _with_header(k, jwk={**k.jwk, "x": "AAAA"}), "wrong length"),
    ("jwk-off-curve", _off_curve, "not a usable public key"),
    ("jwk-rsa-1024", _weak_rsa, "fewer than 2048 bits"),
    (
        "jwk-of-another-key",
        lambda k: _with_header(k, jwk=DpopKey("ES256").jwk),
        "signature does not verify",
    ),
    (
        "jwk-of-another-curve",
        lambda k: _with_header(k, jwk=DpopKey("ES384").jwk),
        "not on the curve",
    ),
    ("not-a-jwt", lambda k: "not-a-proof", "compact JWS"),
    ("too-large", lambda k: k.proof("GET", URI, access_token=ACCESS, pad="x" * 5000), "longer"),
]


@pytest.mark.parametrize(
    ("build", "fragment"),
    [pytest.param(build, fragment, id=name) for name, build, fragment in HEADER_CASES],
)
def test_each_header_and_key_flaw_is_refused(
    key: DpopKey, build: Callable[[DpopKey], str], fragment: str
) -> None:
    """typ dpop+jwt, an allowed asymmetric alg, no crit, a public jwk that signed the proof."""
    refused(verifier(), build(key), key, fragment)


def test_an_algorithm_outside_the_policy_is_refused(key: DpopKey) -> None:
    """The allow-list for proofs is explicit: an ES256 proof against {RS256} is refused."""
    refused(
        verifier(algorithms=frozenset({"RS256"})),
        key.proof("GET", URI, access_token=ACCESS),
        key,
        "alg 'ES256' is not allowed",
    )


CLAIM_CASES: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    ("no-jti", {"jti": None}, {}, "no string 'jti'"),
    ("jti-number", {"jti": 7}, {}, "no string 'jti'"),
    ("jti-too-long", {"jti": "j" * 257}, {}, "'jti' claim is longer than 256"),
    ("no-htm", {"htm": None}, {}, "no string 'htm'"),
    ("htm-other", {"htm": "POST"}, {}, "htm 'POST' is not the request's method 'GET'"),
    ("htm-lower-case", {"htm": "get"}, {}, "htm 'get'"),
    ("no-htu", {"htu": None}, {}, "no string 'htu'"),
    ("htu-other-path", {"htu": URI + "/x"}, {}, "is not the request's URI"),
    ("htu-other-host", {"htu": "https://evil.example/orders/7"}, {}, "not the request's URI"),
    ("htu-http", {"htu": "http://api.example.com/orders/7"}, {}, "not the request's URI"),
    ("htu-relative", {"htu": "/orders/7"}, {}, "not an absolute http(s) URI"),
    ("no-iat", {"iat": None}, {}, "no 'iat' claim"),
    ("iat-string", {"iat": "now"}, {}, "must be a number"),
    ("iat-too-old", {"iat": NOW - 61}, {}, "outside the window"),
    ("iat-ahead", {"iat": NOW + 6}, {}, "outside the window"),
    ("no-ath", {"ath": None}, {}, "no string 'ath'"),
    ("ath-of-another-token", {"ath": access_token_hash(ACCESS + "x")}, {}, "hash of the access"),
    ("no-method-given", {}, {"method": None}, "method and URI are needed"),
    ("no-uri-given", {}, {"uri": None}, "method and URI are needed"),
    ("bad-uri-given", {}, {"uri": "urn:x"}, "request URI given is not"),
    ("other-token-bound", {}, {"jkt": DpopKey("ES256").jkt}, "not the one the token is bound"),
]


@pytest.mark.parametrize(
    ("claims", "request_", "fragment"),
    [pytest.param(c, r, f, id=name) for name, c, r, f in CLAIM_CASES],
)
def test_each_claim_and_request_flaw_is_refused(
    key: DpopKey, claims: dict[str, Any], request_: dict[str, Any], fragment: str
) -> None:
    """jti, htm, htu, iat and ath present and right; the proof's key is the bound one."""
    proof = key.proof("GET", URI, access_token=ACCESS, **claims)
    refused(verifier(), proof, key, fragment, **request_)


@pytest.mark.parametrize("offset", [-60, 0, 5], ids=["60s-old", "now", "5s-ahead"])
def test_the_iat_window_edges_are_allowed(key: DpopKey, offset: int) -> None:
    """iat may be max_age old and leeway ahead, inclusive."""
    assert verify(verifier(), key.proof("GET", URI, access_token=ACCESS, iat=NOW + offset), key)


@pytest.mark.parametrize(
    "htu",
    [
        URI + "?page=2",
        URI + "#top",
        "HTTPS://API.EXAMPLE.COM/orders/7",
        "https://api.example.com:443/orders/7",
        "https://api.example.com/orders/./7",
        "https://api.example.com/x/../orders/7",
        "https://api.example.com/%6Frders/7",
    ],
)
def test_htu_matches_after_normalisation(key: DpopKey, htu: str) -> None:
    """Query and fragment ignored; case, default port, dot segments, percent-encoding normalised."""
    assert verify(verifier(), key.proof("GET", htu, access_token=ACCESS), key).htu == URI


@pytest.mark.parametrize(
    ("uri", "normal"),
    [
        ("https://h.example", "https://h.example/"),
        ("HTTP://H.Example:80/A/B", "http://h.example/A/B"),
        ("https://h.example:8443/a", "https://h.example:8443/a"),
        ("https://h.example/a/b/c/./../../g", "https://h.example/a/g"),
        ("https://h.example/../../a", "https://h.example/a"),
        ("https://h.example/a%2fb%7e%41", "https://h.example/a%2Fb~A"),
        ("https://[::1]:443/x", "https://[::1]/x"),
        ("https://h.example/p?q=1#f", "https://h.example/p"),
    ],
)
def test_normalize_htu(uri: str, normal: str) -> None:
    """RFC 3986 §6.2.2 and §6.2.3, then query and fragment dropped (RFC 9449 §4.3)."""
    assert normalize_htu(uri) == normal


@pytest.mark.parametrize(
    "uri", ["ftp://h.example/", "/relative", "https://user@h.example/", "https://h:99999/", ""]
)
def test_normalize_htu_refuses_what_is_not_an_http_uri(uri: str) -> None:
    """Only absolute http(s) URIs without user information can be compared."""
    with pytest.raises(ValueError):  # noqa: PT011 - the one error normalize_htu raises
        normalize_htu(uri)


def test_a_replayed_proof_is_refused(key: DpopKey) -> None:
    """The same jti from the same key twice within the window: the second is a replay."""
    dpop = verifier()
    proof = key.proof("GET", URI, access_token=ACCESS)
    verify(dpop, proof, key)
    refused(dpop, proof, key, "already used")


def test_a_refused_proof_does_not_spend_its_jti(key: DpopKey) -> None:
    """Only a proof that passed every other check is remembered."""
    dpop = verifier()
    refused(dpop, key.proof("GET", URI, access_token=ACCESS, jti="j1"), key, "method", method="PUT")
    assert len(dpop.replay_cache) == 0
    assert verify(dpop, key.proof("GET", URI, access_token=ACCESS, jti="j1"), key)


def test_the_replay_cache_forgets_once_a_proof_is_too_old_anyway() -> None:
    """An entry lives until its proof's iat + max_age, and is pruned after."""
    cache = ReplayCache(max_entries=10)
    cache.remember("a", expires_at=NOW + 60, now=NOW)
    with pytest.raises(InvalidDpopProof):
        cache.remember("a", expires_at=NOW + 60, now=NOW + 59)
    cache.remember("b", expires_at=NOW + 200, now=NOW + 61)
    assert len(cache) == 1  # "a" was pruned
    cache.remember("a", expires_at=NOW + 200, now=NOW + 61)


def test_the_replay_cache_is_bounded_and_refuses_rather_than_forgets() -> None:
    """Full of live entries, a new proof is refused: forgetting one would reopen its replay."""
    cache = ReplayCache(max_entries=3)
    for name in "abc":
        cache.remember(name, expires_at=NOW + 60, now=NOW)
    with pytest.raises(InvalidDpopProof) as info:
        cache.remember("d", expires_at=NOW + 60, now=NOW)
    assert "too many recent proofs" in info.value.detail
    assert len(cache) == 3
    cache.remember("d", expires_at=NOW + 120, now=NOW + 60)  # all three expired: swept
    assert len(cache) == 1


def test_the_rfc_7638_thumbprint_example() -> None:
    """RFC 7638 §3.1's RSA key has the thumbprint the RFC gives; extra members do not count."""
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_B"
        "JECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_F"
        "DW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4"
        "vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    )
    jwk = {"kty": "RSA", "n": n, "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"}
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    kty, public = public_key_from_jwk(jwk)
    assert kty == "RSA"
    assert public.key_size == 2048  # type: ignore[union-attr]


def test_ath_is_the_sha256_of_the_token() -> None:
    """RFC 9449 §4.2: base64url SHA-256 of the access token's ASCII, unpadded."""
    assert access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU") == (
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    )


@pytest.mark.parametrize(
    "policy",
    [
        {"algorithms": frozenset()},
        {"algorithms": frozenset({"HS256"})},
        {"algorithms": ("ES256",)},
        {"max_age_seconds": 0},
        {"max_age_seconds": 7200},
        {"leeway_seconds": -1},
        {"max_replay_entries": 0},
        {"max_jti_chars": True},
    ],
    ids=repr,
)
def test_a_dpop_policy_that_cannot_be_meant_is_refused(policy: dict[str, Any]) -> None:
    """No HMAC proofs, no empty allow-list, no window of zero or of hours."""
    with pytest.raises(ConfigurationError):
        DpopPolicy(**policy)
