"""JWS signatures, checked by hand over ``cryptography`` with an explicit algorithm list.

The libraries cost two to four times the RSA operation itself (see benchmarks/);
the checks here are the ones PyJWT and joserfc make, and a few they do not (a
key's own ``alg`` must equal the token's, ECDSA scalars must lie in [1, n-1]).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from revoker.core.detail import shown
from revoker.core.errors import BadSignature, UnsupportedAlgorithm
from revoker.core.jwks import SigningKey
from revoker.core.tokens import UnverifiedToken

__all__ = ["SUPPORTED_ALGORITHMS", "verify_signature"]

_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}
_EC_CURVES = {"ES256": ec.SECP256R1, "ES384": ec.SECP384R1, "ES512": ec.SECP521R1}
_KTY = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}

#: Every algorithm revoker can verify. ``Ed25519`` is RFC 9864's fully specified name
#: for EdDSA over Ed25519 (``EdDSA`` alone also allows Ed448). No HMAC, no ``none``.
SUPPORTED_ALGORITHMS = frozenset(
    {
        "RS256",
        "RS384",
        "RS512",
        "PS256",
        "PS384",
        "PS512",
        "ES256",
        "ES384",
        "ES512",
        "EdDSA",
        "Ed25519",
    }
)
_ED_KEYS = (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)
# RFC 9864 §2.2: a key published for "EdDSA" and an Ed25519 key's "Ed25519" name one
# signature, so either label verifies the other's tokens when the key is Ed25519.
_ED25519_NAMES = frozenset({"EdDSA", "Ed25519"})


def _check_key_fits(alg: str, key: SigningKey) -> None:
    kid = shown(key.kid)
    if key.alg is not None and key.alg != alg:
        same_ed25519 = {key.alg, alg} == _ED25519_NAMES and isinstance(
            key.key, ed25519.Ed25519PublicKey
        )
        if not same_ed25519:
            raise UnsupportedAlgorithm(
                f"key {kid} is published for alg {shown(key.alg)}, the token says {shown(alg)}"
            )
    if _KTY[alg[:2]] != key.kty:
        raise UnsupportedAlgorithm(
            f"key {kid} is of type {shown(key.kty)}, which cannot verify alg {shown(alg)}"
        )
    if alg == "EdDSA" and not isinstance(key.key, _ED_KEYS):
        raise UnsupportedAlgorithm(f"key {kid} is not an Ed25519 or Ed448 key")
    if alg == "Ed25519" and not isinstance(key.key, ed25519.Ed25519PublicKey):
        raise UnsupportedAlgorithm(f"key {kid} is not an Ed25519 key, which alg 'Ed25519' needs")
    curve = _EC_CURVES.get(alg)
    if curve is not None and not (
        isinstance(key.key, ec.EllipticCurvePublicKey) and isinstance(key.key.curve, curve)
    ):
        raise UnsupportedAlgorithm(f"key {kid} is not on the curve alg {shown(alg)} requires")


def _ecdsa_der(signature: bytes, curve: ec.EllipticCurve) -> bytes:
    size = (curve.key_size + 7) // 8
    if len(signature) != 2 * size:
        raise BadSignature(
            f"the ECDSA signature has the wrong length: {len(signature)} bytes, not {2 * size}"
        )
    r = int.from_bytes(signature[:size], "big")
    s = int.from_bytes(signature[size:], "big")
    order = _CURVE_ORDERS[curve.name]
    # r or s of 0 or >= n is the "psychic signature" family: refuse it ourselves.
    if not (0 < r < order and 0 < s < order):
        raise BadSignature("the ECDSA signature is out of range")
    return encode_dss_signature(r, s)


_CURVE_ORDERS = {
    "secp256r1": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "secp384r1": int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF"
        "581A0DB248B0A77AECEC196ACCC52973",
        16,
    ),
    "secp521r1": int(
        "01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFA"
        "51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409",
        16,
    ),
}


def _rsa_pkcs1(hash_name: str) -> _SignatureCheck:
    pkcs1, digest = padding.PKCS1v15(), _HASHES[hash_name]()

    def check(public: Any, data: bytes, signature: bytes) -> None:
        public.verify(signature, data, pkcs1, digest)

    return check


def _rsa_pss(hash_name: str) -> _SignatureCheck:
    digest = _HASHES[hash_name]()
    pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)

    def check(public: Any, data: bytes, signature: bytes) -> None:
        public.verify(signature, data, pss, digest)

    return check


def _ecdsa(hash_name: str) -> _SignatureCheck:
    algorithm = ec.ECDSA(_HASHES[hash_name]())

    def check(public: Any, data: bytes, signature: bytes) -> None:
        public.verify(_ecdsa_der(signature, public.curve), data, algorithm)

    return check


def _eddsa(public: Any, data: bytes, signature: bytes) -> None:
    public.verify(signature, data)


_SignatureCheck = Callable[[Any, bytes, bytes], None]

# Built once: padding and hash objects are immutable, and the key type was
# matched to the algorithm by _check_key_fits, so no isinstance on the way.
_SIGNATURE_CHECKS: dict[str, _SignatureCheck] = {
    **{f"RS{bits}": _rsa_pkcs1(bits) for bits in ("256", "384", "512")},
    **{f"PS{bits}": _rsa_pss(bits) for bits in ("256", "384", "512")},
    **{f"ES{bits}": _ecdsa(bits) for bits in ("256", "384", "512")},
    "EdDSA": _eddsa,
    "Ed25519": _eddsa,
}


def verify_signature(token: UnverifiedToken, key: SigningKey) -> None:
    """Check the JWS signature with ``key``; raise ``BadSignature`` or ``UnsupportedAlgorithm``."""
    alg = token.header["alg"]
    # Callable on its own, so it cannot rely on a policy having vetted alg ("none", "HS256").
    check = _SIGNATURE_CHECKS.get(alg) if isinstance(alg, str) else None
    if check is None:
        raise UnsupportedAlgorithm(
            f"alg {shown(alg)} is not one revoker verifies ({sorted(SUPPORTED_ALGORITHMS)})"
        )
    _check_key_fits(alg, key)
    try:
        check(key.key, token.signing_input, token.signature)
    except (InvalidSignature, ValueError) as exc:
        raise BadSignature(
            f"the signature does not verify with key {shown(key.kid)} (alg {shown(alg)})"
        ) from exc
    except (TypeError, AttributeError) as exc:  # a hand-built SigningKey whose kty lies
        raise UnsupportedAlgorithm(f"key {shown(key.kid)} cannot verify alg {shown(alg)}") from exc
