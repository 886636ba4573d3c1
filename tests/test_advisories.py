"""One regression test per JWT library security advisory class that applies to revoker.

Modelled on PyJWT's tests/test_advisory.py: each test builds the attacker's token
the way the advisory describes and asserts revoker refuses it with a stable reason.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from revoker.core.clock import FrozenClock
from revoker.core.errors import (
    BadSignature,
    ConfigurationError,
    MalformedToken,
    RevokerError,
    TokenTooLarge,
    UnknownKid,
    UnsupportedAlgorithm,
    WrongAudience,
    WrongIssuer,
)
from revoker.core.jwks import JwksCache, JwksSource
from revoker.core.signing import generate_key, public_jwk
from revoker.core.tokens import b64url_encode
from revoker.core.verify import VerificationPolicy, Verifier
from revoker.testing import StaticJwksFetcher, TokenFactory

NOW = 1_700_000_000
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def verifier_for(
    factory: TokenFactory, fetcher: StaticJwksFetcher | None = None, **policy: Any
) -> Verifier:
    fields: dict[str, Any] = {
        "issuers": (factory.issuer,),
        "audience": (factory.client_id,),
        "token_use": frozenset({"id", "access"}),
        "algorithms": frozenset({factory.alg}),
    }
    fields.update(policy)
    cache = JwksCache(
        JwksSource.from_url(factory.issuer + "/.well-known/jwks.json"),
        fetcher=fetcher or StaticJwksFetcher(factory.jwks()),
        clock=factory.clock,
    )
    return Verifier(VerificationPolicy(**fields), {factory.issuer: cache}, clock=factory.clock)


def refused(verifier: Verifier, token: Any, error: type[RevokerError], reason: str) -> None:
    with pytest.raises(error) as info:
        verifier.verify(token)
    assert type(info.value) is error
    assert info.value.reason == reason


def segment(value: Any) -> str:
    return b64url_encode(json.dumps(value).encode())


def hmac_token(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    """What an attacker signs with a secret they can read: the issuer's public key bytes."""
    signing_input = f"{segment(header)}.{segment(claims)}"
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
    mac = hmac.new(secret, signing_input.encode(), digest[header["alg"]]).digest()
    return signing_input + "." + b64url_encode(mac)


def public_key_encodings(factory: TokenFactory) -> dict[str, bytes]:
    """Every way the public key may be lying around for an attacker to use as an HMAC key."""
    public = factory.key.public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    encodings = {
        "pem": pem,
        "pem-with-whitespace": b"  \n" + pem + b"\n\n",
        "der": public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "jwk-json": json.dumps(factory.jwks()["keys"][0]).encode(),
        "jwks-json": json.dumps(factory.jwks()).encode(),
    }
    if factory.alg != "RS256":
        encodings["openssh"] = public.public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
    return encodings


def assert_every_hmac_forgery_refused(factory: TokenFactory) -> None:
    verifier = verifier_for(factory)
    assert verifier.verify(factory.access_token())  # the genuine token passes
    for hs in ("HS256", "HS384", "HS512"):
        for secret in public_key_encodings(factory).values():
            token = hmac_token(
                {"alg": hs, "kid": factory.kid}, factory.base_claims("access"), secret
            )
            refused(verifier, token, UnsupportedAlgorithm, "unsupported_alg")
    for algorithms in ({"HS256"}, {factory.alg, "HS256"}):
        with pytest.raises(ConfigurationError):
            verifier_for(factory, algorithms=frozenset(algorithms))


def test_cve_2015_9235_jsonwebtoken_rsa_public_key_as_hmac_secret() -> None:
    """node-jsonwebtoken < 4.2.2 verified HS256 with the RSA public key as the secret."""
    assert_every_hmac_forgery_refused(TokenFactory(clock=FrozenClock(NOW)))


def test_cve_2017_11424_pyjwt_pem_with_whitespace_as_hmac_secret() -> None:
    """PyJWT < 1.5.1 missed PEM keys with leading whitespace in its HMAC key guard."""
    factory = TokenFactory(clock=FrozenClock(NOW))
    secret = public_key_encodings(factory)["pem-with-whitespace"]
    token = hmac_token({"alg": "HS256", "kid": factory.kid}, factory.base_claims("access"), secret)
    refused(verifier_for(factory), token, UnsupportedAlgorithm, "unsupported_alg")


def test_cve_2022_29217_pyjwt_okp_ssh_key_as_hmac_secret() -> None:
    """PyJWT < 2.4.0 with every algorithm allowed took an Ed25519 (ssh/PEM) key as HMAC secret."""
    assert_every_hmac_forgery_refused(TokenFactory(alg="EdDSA", clock=FrozenClock(NOW)))


def test_cve_2024_33663_python_jose_ecdsa_key_as_hmac_secret() -> None:
    """python-jose <= 3.3.0 took an OpenSSH ECDSA public key as an HMAC secret."""
    assert_every_hmac_forgery_refused(TokenFactory(alg="ES256", clock=FrozenClock(NOW)))


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_cve_2022_23540_jsonwebtoken_alg_none(alg: str) -> None:
    """jsonwebtoken <= 8.5.1 could fall back to alg none; revoker never accepts it."""
    factory = TokenFactory(clock=FrozenClock(NOW))
    claims = factory.base_claims("access")
    verifier = verifier_for(factory)
    for signature in ("", b64url_encode(b"anything")):
        token = f"{segment({'alg': alg, 'kid': factory.kid})}.{segment(claims)}.{signature}"
        refused(verifier, token, UnsupportedAlgorithm, "unsupported_alg")
    with pytest.raises(ConfigurationError):
        verifier_for(factory, algorithms=frozenset({"none"}))


def test_cve_2020_28042_servicestack_empty_signature() -> None:
    """ServiceStack < 5.9.2 accepted a token whose signature was empty."""
    factory = TokenFactory(clock=FrozenClock(NOW))
    token = factory.access_token().rsplit(".", 1)[0] + "."
    refused(verifier_for(factory), token, BadSignature, "bad_signature")


@pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512"])
def test_cve_2022_21449_psychic_signatures(alg: str) -> None:
    """Java 15-18 accepted an ECDSA signature with r = s = 0 for any message and key."""
    factory = TokenFactory(alg=alg, clock=FrozenClock(NOW))
    genuine = factory.access_token()
    size = {"ES256": 64, "ES384": 96, "ES512": 132}[alg]
    forged = genuine.rsplit(".", 1)[0] + "." + b64url_encode(bytes(size))
    refused(verifier_for(factory), forged, BadSignature, "bad_signature")


def test_cve_2022_21449_psychic_signature_r_and_s_equal_to_n() -> None:
    """The same family with r = s = n, which reduces to zero modulo the group order."""
    factory = TokenFactory(alg="ES256", clock=FrozenClock(NOW))
    forged_signature = P256_ORDER.to_bytes(32, "big") * 2
    forged = factory.access_token().rsplit(".", 1)[0] + "." + b64url_encode(forged_signature)
    refused(verifier_for(factory), forged, BadSignature, "bad_signature")


def test_cve_2018_0114_node_jose_embedded_jwk() -> None:
    """node-jose < 0.11.0 verified with a jwk the token carried in its own header."""
    factory = TokenFactory(clock=FrozenClock(NOW))
    attacker = generate_key("RS256")
    header = {
        "alg": "RS256",
        "kid": factory.kid,
        "jwk": public_jwk(attacker, kid=factory.kid, alg="RS256"),
    }
    token = factory.sign(factory.base_claims("access", sub="admin"), header=header, key=attacker)
    refused(verifier_for(factory), token, BadSignature, "bad_signature")


@pytest.mark.parametrize("name", ["jku", "x5u"])
def test_jku_x5u_header_injection(name: str) -> None:
    """A header naming the attacker's key URL is never followed: only the JWKS is fetched."""
    factory = TokenFactory(clock=FrozenClock(NOW))
    attacker = generate_key("RS256")
    fetcher = StaticJwksFetcher(factory.jwks())
    header = {"alg": "RS256", "kid": "attacker", name: "https://attacker.example/jwks.json"}
    token = factory.sign(factory.base_claims("access"), header=header, key=attacker)
    refused(verifier_for(factory, fetcher=fetcher), token, UnknownKid, "unknown_kid")
    assert all("attacker" not in url for url in fetcher.calls)
    assert fetcher.calls == [factory.issuer + "/.well-known/jwks.json"]


@pytest.mark.parametrize(
    "kid",
    [
        "../../../../../../dev/null",
        "/etc/passwd",
        "' OR '1'='1",
        "test-key-1' --",
        "test-key-1\u0000",
        "https://attacker.example/jwks.json",
        "$(curl attacker.example)",
    ],
    ids=["traversal", "absolute-path", "sql", "sql-comment", "nul", "url", "shell"],
)
def test_kid_injection_is_only_a_dictionary_key(kid: str) -> None:
    """Path traversal, SQL or a URL in kid is looked up as a plain string and not found."""
    factory = TokenFactory(clock=FrozenClock(NOW))
    fetcher = StaticJwksFetcher(factory.jwks())
    hs_token = hmac_token({"alg": "HS256", "kid": kid}, factory.base_claims("access"), b"")
    rs_token = factory.sign(factory.base_claims("access"), header={"alg": "RS256", "kid": kid})
    verifier = verifier_for(factory, fetcher=fetcher)
    refused(verifier, hs_token, UnsupportedAlgorithm, "unsupported_alg")
    refused(verifier, rs_token, UnknownKid, "unknown_kid")
    assert set(fetcher.calls) == {factory.issuer + "/.well-known/jwks.json"}


def test_cve_2022_39227_python_jwt_polyglot_token() -> None:
    """python-jwt < 3.3.4 let a JSON wrapper around a genuine token smuggle forged claims."""
    factory = TokenFactory(clock=FrozenClock(NOW))
    genuine = factory.access_token()
    header, _, signature = genuine.split(".")
    forged_payload = segment(factory.base_claims("access", sub="admin"))
    polyglot = json.dumps(
        {
            f"  {genuine}": "",
            "protected": header,
            "payload": forged_payload,
            "signature": signature,
        }
    )
    refused(verifier_for(factory), polyglot, MalformedToken, "malformed")


def test_cve_2022_3102_jwcrypto_json_serialisation_substitution() -> None:
    """jwcrypto 1.0-1.3 accepted the JSON serialisation where a compact token was expected."""
    factory = TokenFactory(clock=FrozenClock(NOW))
    header, payload, signature = factory.access_token().split(".")
    for document in (
        {"protected": header, "payload": payload, "signature": signature},
        {"payload": payload, "signatures": [{"protected": header, "signature": signature}]},
    ):
        refused(verifier_for(factory), json.dumps(document), MalformedToken, "malformed")


def test_cve_2024_33664_python_jose_jwe_decompression_bomb() -> None:
    """python-jose <= 3.3.0 inflated a compressed JWE without bound; revoker refuses JWE."""
    factory = TokenFactory(clock=FrozenClock(NOW))
    header = {"alg": "dir", "enc": "A256GCM", "zip": "DEF", "kid": factory.kid}
    blob = b64url_encode(b"\x00" * 4096)
    token = f"{segment(header)}..{b64url_encode(bytes(12))}.{blob}.{b64url_encode(bytes(16))}"
    refused(verifier_for(factory), token, MalformedToken, "malformed")
    huge = token + "A" * 300_000
    refused(verifier_for(factory), huge, TokenTooLarge, "too_large")


def test_cve_2023_52428_nimbus_pbes2_iteration_count() -> None:
    """Nimbus < 9.37.2 ran any PBES2 p2c an attacker chose; revoker never decrypts."""
    factory = TokenFactory(clock=FrozenClock(NOW))
    header = {"alg": "PBES2-HS512+A256KW", "enc": "A256GCM", "p2c": 2_147_483_647, "p2s": "AAAA"}
    five = f"{segment(header)}.AAAA.AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA"
    refused(verifier_for(factory), five, MalformedToken, "malformed")
    three = f"{segment(header)}.{segment(factory.base_claims('access'))}.AAAA"
    refused(verifier_for(factory), three, MalformedToken, "malformed")


def test_cve_2024_53861_pyjwt_issuer_partial_match() -> None:
    """PyJWT 2.10.0 matched iss as a substring when the issuer was a str; revoker is exact."""
    factory = TokenFactory(clock=FrozenClock(NOW))
    verifier = verifier_for(factory)
    for iss in (
        factory.issuer[:-1],
        factory.issuer[8:],
        "_" + factory.issuer + "_",
        factory.issuer + "/",
        "",
    ):
        token = factory.access_token(iss=iss)
        refused(verifier, token, WrongIssuer, "wrong_issuer")
    # A bare string where a tuple belongs is the shape that caused it: refused outright.
    with pytest.raises(ConfigurationError):
        verifier_for(factory, issuers=factory.issuer)
    with pytest.raises(ConfigurationError):
        verifier_for(factory, audience=factory.client_id)


def test_audience_partial_match_same_class() -> None:
    """The audience check is exact too: a part of the client id is another client."""
    factory = TokenFactory(clock=FrozenClock(NOW))
    verifier = verifier_for(factory)
    for aud in (factory.client_id[:4], factory.client_id + "0", ""):
        refused(verifier, factory.id_token(aud=aud), WrongAudience, "wrong_audience")


def test_unknown_crit_extension_refused() -> None:
    """RFC 7515 4.1.11: a library ignoring crit lets a token bypass an extension's rule."""
    factory = TokenFactory(clock=FrozenClock(NOW))
    header = {"alg": "RS256", "kid": factory.kid, "crit": ["b64"], "b64": False}
    token = factory.sign(factory.base_claims("access"), header=header)
    refused(verifier_for(factory), token, MalformedToken, "malformed")


def test_duplicate_claim_parser_differential() -> None:
    """Two sub claims: a gateway keeping the first and an app keeping the last disagree."""
    factory = TokenFactory(clock=FrozenClock(NOW))
    claims = json.dumps(factory.base_claims("access"))
    raw = claims[:-1] + ', "sub": "admin"}'
    header = segment({"alg": "RS256", "kid": factory.kid})
    signing_input = f"{header}.{b64url_encode(raw.encode())}"
    assert isinstance(factory.key, rsa.RSAPrivateKey)
    signature = factory.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    token = signing_input + "." + b64url_encode(signature)
    refused(verifier_for(factory), token, MalformedToken, "malformed")
