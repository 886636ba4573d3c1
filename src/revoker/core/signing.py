"""Minting compact JWS: for the dev issuer, the demo and tests. Never on the verify path."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from revoker.core.tokens import b64url_encode

__all__ = ["PrivateKey", "generate_key", "public_jwk", "sign_compact"]

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}


def generate_key(alg: str = "RS256") -> PrivateKey:
    """A fresh private key suited to ``alg`` (RSA 2048, P-256/384/521, or Ed25519 for
    ``EdDSA`` and its fully specified name ``Ed25519``)."""
    if alg.startswith(("RS", "PS")):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    curves: dict[str, Callable[[], ec.EllipticCurve]] = {
        "ES256": ec.SECP256R1,
        "ES384": ec.SECP384R1,
        "ES512": ec.SECP521R1,
    }
    if alg in curves:
        return ec.generate_private_key(curves[alg]())
    if alg in ("EdDSA", "Ed25519"):
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"cannot generate a key for {alg}")


def _sign(alg: str, key: PrivateKey, data: bytes) -> bytes:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    digest = _HASHES[alg[2:]]()
    if isinstance(key, rsa.RSAPrivateKey):
        if alg.startswith("PS"):
            pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
            return key.sign(data, pss, digest)
        return key.sign(data, padding.PKCS1v15(), digest)
    der = key.sign(data, ec.ECDSA(digest))
    r, s = decode_dss_signature(der)
    size = (key.curve.key_size + 7) // 8
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def sign_compact(header: dict[str, Any], claims: dict[str, Any], key: PrivateKey) -> str:
    """Serialise and sign; ``header["alg"]`` names the algorithm."""
    alg = str(header["alg"])
    signing_input = (
        b64url_encode(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url_encode(json.dumps(claims, separators=(",", ":")).encode())
    )
    return signing_input + "." + b64url_encode(_sign(alg, key, signing_input.encode("ascii")))


def public_jwk(key: PrivateKey, *, kid: str, alg: str) -> dict[str, Any]:
    """The public half of ``key`` as a JWK with ``kid``, ``alg`` and ``use: sig``."""
    from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm  # noqa: PLC0415

    public = key.public_key()
    jwk: dict[str, Any]
    if isinstance(public, rsa.RSAPublicKey):
        jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
    elif isinstance(public, ec.EllipticCurvePublicKey):
        jwk = ECAlgorithm.to_jwk(public, as_dict=True)
    else:
        jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
    jwk.pop("key_ops", None)  # PyJWT adds it; issuers such as Cognito do not publish it
    jwk.update({"kid": kid, "alg": alg, "use": "sig"})
    return jwk
