"""The catalogue of hostile tokens: each attack class of RFC 8725 and of the common JWT attack
tools (jwt_tool, jwt-hack), as a case that builds the token and names the reason code revoker
must deny it with. The suites run every case at unit level and through ``/auth``.

Tokens are built from a ``Kit``: an RS256 and an ES256 issuer (separate JWKS each), an
attacker key, and the URL of a server that jku/x5u point at and that must never be asked.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
from hardening_forgery import hmac_token, raw_token, seg, sign_segments, with_signature

from revoker.core.signing import public_jwk
from revoker.core.tokens import b64url_encode
from revoker.testing import TokenFactory

EC_ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_EcPool22"
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@dataclass(frozen=True)
class Kit:
    """What the attacks are built from."""

    rs: TokenFactory
    ec: TokenFactory
    attacker: rsa.RSAPrivateKey
    key_url: str  # jku/x5u point here; the server behind it must see no request


@dataclass(frozen=True)
class Case:
    """One hostile token and the reason code it must be denied with.

    ``service``: the policy it runs against (see ``SERVICES``). ``anywhere``: the case
    holds on any instance trusting both issuers through one JWKS URL on a wall clock, so
    it also runs through a real ``revoker serve`` process.
    """

    id: str
    reason: str
    build: Callable[[Kit], str | bytes]
    service: str = "default"
    anywhere: bool = True


#: Policy overrides per service variant (on top of both issuers, RS256 + ES256, leeway 5).
SERVICES: dict[str, dict[str, Any]] = {
    "default": {},
    "access-only": {"token_use": frozenset({"access"})},
    "leeway-0": {"leeway_seconds": 0.0},
    "ps256-allowed": {"algorithms": frozenset({"RS256", "PS256", "ES256"})},
}


def _access(kit: Kit, **overrides: Any) -> dict[str, Any]:
    return kit.rs.base_claims("access", **overrides)


def _public_encodings(kit: Kit) -> dict[str, bytes]:
    public = kit.rs.key.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    modulus = public.public_numbers().n
    n_bytes = modulus.to_bytes((modulus.bit_length() + 7) // 8, "big")
    return {
        "pem": public.public_bytes(serialization.Encoding.PEM, spki),
        "der": public.public_bytes(serialization.Encoding.DER, spki),
        "jwk": json.dumps(kit.rs.jwks()["keys"][0]).encode(),
        "modulus": n_bytes,
        "modulus-b64url": b64url_encode(n_bytes).encode(),
        "pkcs1-pem": public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.PKCS1
        ),
    }


def _hs_cases() -> list[Case]:
    cases = []
    for name in ("pem", "der", "jwk", "modulus", "modulus-b64url", "pkcs1-pem"):
        for hs in ("HS256", "HS512"):

            def build(kit: Kit, name: str = name, hs: str = hs) -> str:
                secret = _public_encodings(kit)[name]
                return hmac_token(
                    {"alg": hs, "kid": kit.rs.kid, "typ": "JWT"}, _access(kit), secret
                )

            cases.append(Case(f"rs-to-{hs.lower()}-keyed-with-{name}", "unsupported_alg", build))
    return cases


def _none_cases() -> list[Case]:
    cases = []
    for alg in ("none", "None", "NONE", "nOnE"):
        for signed in (False, True):

            def build(kit: Kit, alg: str = alg, signed: bool = signed) -> str:
                signature = b64url_encode(b"sig") if signed else ""
                return raw_token({"alg": alg, "kid": kit.rs.kid}, _access(kit), signature)

            label = "with-signature" if signed else "unsigned"
            cases.append(Case(f"alg-{alg}-{label}", "unsupported_alg", build))
    return cases


def _ps256(kit: Kit) -> str:
    return kit.rs.sign(_access(kit), header={"alg": "PS256", "kid": kit.rs.kid})


def _ecdsa(kit: Kit, r: int, s: int) -> str:
    token = kit.ec.access_token()
    return with_signature(token, r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def _ec_der(kit: Kit) -> str:
    token = kit.ec.access_token()
    signing_input = token.rsplit(".", 1)[0].encode()
    assert isinstance(kit.ec.key, ec.EllipticCurvePrivateKey)
    der = kit.ec.key.sign(signing_input, ec.ECDSA(hashes.SHA256()))
    decode_dss_signature(der)  # a well-formed DER signature, as some libraries emit
    return with_signature(token, der)


def _spoil(kit: Kit, spoil: Callable[[bytes], bytes]) -> str:
    token = kit.rs.access_token()
    from revoker.core.tokens import b64url_decode  # noqa: PLC0415 - local to the one helper

    return with_signature(token, spoil(b64url_decode(token.rsplit(".", 1)[1])))


def _attacker_signed(kit: Kit, **header: Any) -> str:
    full = {"alg": "RS256", "kid": kit.rs.kid, **header}
    return kit.rs.sign(_access(kit, sub="admin"), header=full, key=kit.attacker)


def _x5c(kit: Kit) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "attacker")])
    start = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(kit.attacker.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=3650))
        .sign(kit.attacker, hashes.SHA256())
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    import base64  # noqa: PLC0415 - x5c is standard base64, the only place here

    return _attacker_signed(kit, x5c=[base64.b64encode(der).decode()])


def _kid(kit: Kit, kid: Any) -> str:
    return kit.rs.sign(_access(kit), header={"alg": "RS256", "kid": kid})


def _crit(kit: Kit, crit: Any, **extra: Any) -> str:
    return kit.rs.sign(
        _access(kit), header={"alg": "RS256", "kid": kit.rs.kid, "crit": crit, **extra}
    )


def _flip(signature: bytes) -> bytes:
    return signature[:-1] + bytes([signature[-1] ^ 1])


ALG_AND_KEY_CASES: list[Case] = [
    *_none_cases(),
    *_hs_cases(),
    Case("ps256-against-rs256-only-policy", "unsupported_alg", _ps256),
    Case("ps256-against-a-key-published-for-rs256", "unsupported_alg", _ps256, "ps256-allowed"),
    Case(
        "es256-header-on-an-rsa-kid",
        "unsupported_alg",
        lambda kit: kit.ec.sign(_access(kit), header={"alg": "ES256", "kid": kit.rs.kid}),
    ),
    Case(
        "rs256-header-on-an-ec-kid",
        "unsupported_alg",
        lambda kit: kit.rs.sign(
            kit.ec.base_claims("access"), header={"alg": "RS256", "kid": kit.ec.kid}
        ),
    ),
    Case(
        "alg-with-trailing-space",
        "unsupported_alg",
        lambda kit: sign_segments(
            seg({"alg": "RS256 ", "kid": kit.rs.kid}), seg(_access(kit)), kit.rs.key
        ),
    ),
    Case(
        "alg-missing", "malformed", lambda kit: raw_token({"kid": kit.rs.kid}, _access(kit), "AAAA")
    ),
    Case(
        "alg-not-a-string",
        "malformed",
        lambda kit: raw_token({"alg": ["RS256"], "kid": kit.rs.kid}, _access(kit), "AAAA"),
    ),
    # Keys the token brings itself: never used, never fetched.
    Case(
        "embedded-jwk",
        "bad_signature",
        lambda kit: _attacker_signed(
            kit, jwk=public_jwk(kit.attacker, kid=kit.rs.kid, alg="RS256")
        ),
    ),
    Case(
        "jku-to-attacker",
        "unknown_kid",
        lambda kit: _attacker_signed(kit, kid="attacker-1", jku=kit.key_url + "/jku.json"),
    ),
    Case(
        "jku-with-genuine-kid",
        "bad_signature",
        lambda kit: _attacker_signed(kit, jku=kit.key_url + "/jku.json"),
    ),
    Case(
        "x5u-to-attacker",
        "unknown_kid",
        lambda kit: _attacker_signed(kit, kid="attacker-2", x5u=kit.key_url + "/x5u.pem"),
    ),
    Case("x5c-self-signed-chain", "bad_signature", _x5c),
    Case("signed-by-another-key", "bad_signature", _attacker_signed),
    Case(
        "another-issuers-key-signs-for-this-issuer",
        "unknown_kid",
        lambda kit: kit.ec.sign(_access(kit), header={"alg": "ES256", "kid": kit.ec.kid}),
        anywhere=False,  # one shared JWKS URL (the process case) would hold both keys
    ),
    # kid injection: a plain dictionary key, whatever it holds.
    Case("kid-path-traversal", "unknown_kid", lambda kit: _kid(kit, "../../../../../../dev/null")),
    Case("kid-sql", "unknown_kid", lambda kit: _kid(kit, "x' UNION SELECT 'secret' --")),
    Case("kid-shell", "unknown_kid", lambda kit: _kid(kit, "$(touch /tmp/revoker-pwned); `id`")),
    Case("kid-url", "unknown_kid", lambda kit: _kid(kit, "https://attacker.example/key")),
    Case("kid-nul", "unknown_kid", lambda kit: _kid(kit, kit.rs.kid + "\u0000")),
    Case("kid-4000-chars", "unknown_kid", lambda kit: _kid(kit, "k" * 4000)),
    Case("kid-past-the-size-limit", "too_large", lambda kit: _kid(kit, "k" * 9000)),
    Case("kid-integer", "malformed", lambda kit: _kid(kit, 1)),
    Case("kid-list", "malformed", lambda kit: _kid(kit, [kit.rs.kid])),
    Case("kid-object", "malformed", lambda kit: _kid(kit, {"kid": kit.rs.kid})),
    Case("kid-null", "unknown_kid", lambda kit: _kid(kit, None)),
    Case(
        "kid-missing", "unknown_kid", lambda kit: kit.rs.sign(_access(kit), header={"alg": "RS256"})
    ),
    # crit: revoker understands no extension, so every crit is refused.
    Case("crit-unknown", "malformed", lambda kit: _crit(kit, ["exp"])),
    Case("crit-b64-false", "malformed", lambda kit: _crit(kit, ["b64"], b64=False)),
    Case("crit-empty", "malformed", lambda kit: _crit(kit, [])),
    Case("crit-string", "malformed", lambda kit: _crit(kit, "b64")),
    Case("crit-object", "malformed", lambda kit: _crit(kit, {"b64": True})),
    Case("crit-null", "malformed", lambda kit: _crit(kit, None)),
    # Bad signatures.
    Case("ecdsa-psychic-r-s-zero", "bad_signature", lambda kit: _ecdsa(kit, 0, 0)),
    Case("ecdsa-r-s-equal-n", "bad_signature", lambda kit: _ecdsa(kit, P256_ORDER, P256_ORDER)),
    Case("ecdsa-r-equal-n", "bad_signature", lambda kit: _ecdsa(kit, P256_ORDER, 1)),
    Case("ecdsa-s-equal-n", "bad_signature", lambda kit: _ecdsa(kit, 1, P256_ORDER)),
    Case("ecdsa-der-encoded", "bad_signature", _ec_der),
    Case("signature-truncated", "bad_signature", lambda kit: _spoil(kit, lambda s: s[:-1])),
    Case("signature-bit-flipped", "bad_signature", lambda kit: _spoil(kit, _flip)),
    Case("signature-empty", "bad_signature", lambda kit: _spoil(kit, lambda s: b"")),
    Case("signature-zeros", "bad_signature", lambda kit: _spoil(kit, lambda s: bytes(len(s)))),
]
