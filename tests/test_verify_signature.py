"""The verifier's signature layer: crit and alg, spoiled signatures, keys never from the token."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed448
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from revoker.core.clock import FrozenClock
from revoker.core.errors import (
    BadSignature,
    ConfigurationError,
    MalformedToken,
    UnknownKid,
    UnsupportedAlgorithm,
)
from revoker.core.jwks import parse_jwks
from revoker.core.signature import SUPPORTED_ALGORITHMS, verify_signature
from revoker.core.signing import generate_key, public_jwk
from revoker.core.tokens import b64url_encode, parse_unverified
from revoker.testing import StaticJwksFetcher, TokenFactory
from verify_support import (
    NOW,
    jwks_url,
    policy_for,
    rejected,
    replace_header,
    replace_signature,
    signature_of,
    verifier_for,
)

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


# --- Ed25519, RFC 9864's fully specified name -------------------------------------------------


def _ed448_token(signer: TokenFactory, alg: str) -> tuple[str, dict[str, Any]]:
    """A token signed with an Ed448 key under ``alg``, and that key's JWK (no alg member)."""
    key = ed448.Ed448PrivateKey.generate()
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    header = b64url_encode(json.dumps({"alg": alg, "kid": signer.kid}).encode())
    payload = b64url_encode(json.dumps(signer.base_claims("access")).encode())
    signing_input = f"{header}.{payload}"
    token = signing_input + "." + b64url_encode(key.sign(signing_input.encode()))
    jwk = {"kty": "OKP", "crv": "Ed448", "x": b64url_encode(raw), "kid": signer.kid, "use": "sig"}
    return token, jwk


@pytest.mark.parametrize("alg", ["EdDSA", "Ed25519"])
def test_both_names_sign_and_verify_with_an_ed25519_key(alg: str) -> None:
    """TokenFactory mints Ed25519 tokens under either name; each verifies when allowed."""
    factory = TokenFactory(alg=alg, clock=FrozenClock(NOW))
    token = factory.access_token()
    assert parse_unverified(token).header["alg"] == alg
    assert factory.jwks()["keys"][0]["crv"] == "Ed25519"
    assert verifier_for(factory).verify(token).kind == "access"


@pytest.mark.parametrize(("token_alg", "allowed"), [("Ed25519", "EdDSA"), ("EdDSA", "Ed25519")])
def test_each_name_must_be_allowed_on_its_own(token_alg: str, allowed: str) -> None:
    """The allow-list is explicit: allowing EdDSA does not allow Ed25519, nor the other way."""
    factory = TokenFactory(alg=token_alg, clock=FrozenClock(NOW))
    verifier = verifier_for(factory, policy_for(factory, algorithms=frozenset({allowed})))
    error = rejected(verifier, factory.access_token(), UnsupportedAlgorithm, "unsupported_alg")
    assert f"alg '{token_alg}' is not allowed" in error.detail


def test_ed25519_refuses_an_ed448_key_that_eddsa_accepts() -> None:
    """Ed25519 names one curve: an Ed448 key cannot verify it, though EdDSA takes both curves."""
    signer = TokenFactory(alg="EdDSA", clock=FrozenClock(NOW))
    policy = policy_for(signer, algorithms=frozenset({"EdDSA", "Ed25519"}))
    eddsa_token, jwk = _ed448_token(signer, "EdDSA")
    assert verifier_for(signer, policy, jwks={"keys": [jwk]}).verify(eddsa_token)
    ed25519_token, jwk = _ed448_token(signer, "Ed25519")
    verifier = verifier_for(signer, policy, jwks={"keys": [jwk]})
    error = rejected(verifier, ed25519_token, UnsupportedAlgorithm, "unsupported_alg")
    assert "not an Ed25519 key" in error.detail


@pytest.mark.parametrize(("token_alg", "key_alg"), [("Ed25519", "EdDSA"), ("EdDSA", "Ed25519")])
def test_a_key_labelled_with_the_other_name_verifies_an_ed25519_token(
    token_alg: str, key_alg: str
) -> None:
    """RFC 9864: an Ed25519 key published as EdDSA (or Ed25519) verifies either label's tokens."""
    factory = TokenFactory(alg=token_alg, clock=FrozenClock(NOW))
    jwk = {**factory.jwks()["keys"][0], "alg": key_alg}
    policy = policy_for(factory, algorithms=frozenset({token_alg}))
    assert verifier_for(factory, policy, jwks={"keys": [jwk]}).verify(factory.access_token())


def test_an_ed448_key_labelled_eddsa_does_not_verify_an_ed25519_token() -> None:
    """The label equivalence holds for Ed25519 keys only."""
    signer = TokenFactory(alg="EdDSA", clock=FrozenClock(NOW))
    token, jwk = _ed448_token(signer, "Ed25519")
    policy = policy_for(signer, algorithms=frozenset({"Ed25519"}))
    verifier = verifier_for(signer, policy, jwks={"keys": [{**jwk, "alg": "EdDSA"}]})
    error = rejected(verifier, token, UnsupportedAlgorithm, "unsupported_alg")
    assert "published for alg 'EdDSA'" in error.detail
