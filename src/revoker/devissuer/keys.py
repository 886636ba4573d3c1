"""The dev issuer's signing keys: Cognito-style kids, and an overlap of one key on rotation.

Real issuers publish the next key before they sign with it and keep the old
one until the tokens it signed have expired; here a rotation signs with the new
key at once and keeps the previous public key published until the next
rotation, which is enough to exercise a verifier's unknown-``kid`` refetch.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from revoker.core.signing import generate_key, public_jwk, sign_compact
from revoker.core.tokens import UnverifiedToken

__all__ = ["ALGORITHM", "KeyRing", "cognito_kid"]

#: Cognito user pools sign with RS256 only.
ALGORITHM = "RS256"
_JWK_MEMBERS = ("alg", "e", "kid", "kty", "n", "use")


def cognito_kid(public_key: rsa.RSAPublicKey) -> str:
    """A kid shaped like Cognito's: standard base64 of the SHA-256 of the public key's DER."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(der).digest()).decode("ascii")


@dataclass(frozen=True, slots=True)
class _Key:
    kid: str
    private: rsa.RSAPrivateKey


def _new_key() -> _Key:
    private = generate_key(ALGORITHM)
    assert isinstance(private, rsa.RSAPrivateKey)  # noqa: S101 - RS256 always yields RSA
    return _Key(kid=cognito_kid(private.public_key()), private=private)


class KeyRing:
    """The signing key and, after a rotation, the previous one (published, no longer used)."""

    def __init__(self) -> None:
        self._rotate_lock = threading.Lock()
        # Newest first; replaced as a whole, so readers need no lock.
        self._keys: tuple[_Key, ...] = (_new_key(),)

    @property
    def current_kid(self) -> str:
        return self._keys[0].kid

    def rotate(self) -> str:
        """Sign with a fresh key from now on; return its kid."""
        fresh = _new_key()  # generated outside the lock: it takes tens of milliseconds
        with self._rotate_lock:
            self._keys = (fresh, self._keys[0])
        return fresh.kid

    def sign(self, claims: dict[str, Any]) -> str:
        """A compact JWS with Cognito's header: ``kid`` and ``alg``, no ``typ``."""
        key = self._keys[0]
        return sign_compact({"kid": key.kid, "alg": ALGORITHM}, claims, key.private)

    def jwks(self) -> dict[str, Any]:
        """The published keys, each member in the alphabetical order Cognito writes."""
        entries = [public_jwk(key.private, kid=key.kid, alg=ALGORITHM) for key in self._keys]
        # Only the members Cognito publishes (PyJWT adds key_ops, Cognito does not).
        return {"keys": [{name: entry[name] for name in _JWK_MEMBERS} for entry in entries]}

    def signed_here(self, token: UnverifiedToken) -> bool:
        """Whether one of the published keys made this token's signature."""
        if token.header.get("alg") != ALGORITHM:
            return False
        kid = token.header.get("kid")
        for key in self._keys:
            if key.kid == kid:
                try:
                    key.private.public_key().verify(
                        token.signature, token.signing_input, padding.PKCS1v15(), hashes.SHA256()
                    )
                except InvalidSignature:
                    return False
                return True
        return False
