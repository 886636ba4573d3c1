"""Low-level token forgery: segments from any JSON or bytes, HMAC tokens, raw signatures."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from revoker.core.signing import PrivateKey
from revoker.core.tokens import b64url_encode


def seg(value: Any) -> str:
    """One base64url segment of ``value`` as compact JSON (``json.dumps`` writes NaN as is)."""
    return b64url_encode(json.dumps(value, separators=(",", ":")).encode())


def raw_token(header: Any, claims: Any, signature_b64: str) -> str:
    return f"{seg(header)}.{seg(claims)}.{signature_b64}"


def hmac_token(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    """What an attacker signs with a secret they can read, such as the issuer's public key."""
    signing_input = f"{seg(header)}.{seg(claims)}"
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
    mac = hmac.new(secret, signing_input.encode(), digest[header["alg"]]).digest()
    return signing_input + "." + b64url_encode(mac)


def with_signature(token: str, signature: bytes) -> str:
    return token.rsplit(".", 1)[0] + "." + b64url_encode(signature)


def sign_segments(header_b64: str, payload_b64: str, key: PrivateKey) -> str:
    """A genuine RS256/ES256 signature over any two segments: only the parser may refuse it."""
    data = f"{header_b64}.{payload_b64}".encode("ascii")
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    else:
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return f"{header_b64}.{payload_b64}.{b64url_encode(signature)}"


def sign_payload_bytes(header: dict[str, Any], payload: bytes, key: PrivateKey) -> str:
    """A genuinely signed token whose payload is ``payload`` byte for byte."""
    return sign_segments(seg(header), b64url_encode(payload), key)
