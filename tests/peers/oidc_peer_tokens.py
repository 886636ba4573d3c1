"""What the OpenID provider peer issues: clients, token responses, DPoP keys, and errors."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec


class PeerError(Exception):
    """The provider answered what a browser or a relying party would not accept."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unverified_claims(token: str) -> dict[str, Any]:
    """A JWT's claims without checking its signature: for steering a test, never for trusting."""
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


@dataclass(frozen=True)
class Client:
    """A relying party registered at the provider; ``alg`` signs its ID and access tokens."""

    client_id: str
    client_secret: str = field(repr=False)
    alg: str

    @property
    def basic_auth(self) -> tuple[str, str]:
        return (self.client_id, self.client_secret)


class DpopKey:
    """An ES256 key whose holder proves possession of it to bind tokens (RFC 9449)."""

    def __init__(self) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        numbers = self._key.public_key().public_numbers()
        self.public_jwk = {
            "crv": "P-256",
            "kty": "EC",
            "x": b64url(numbers.x.to_bytes(32, "big")),
            "y": b64url(numbers.y.to_bytes(32, "big")),
        }

    @property
    def jkt(self) -> str:
        """The RFC 7638 thumbprint a bound token carries as ``cnf.jkt``."""
        canonical = json.dumps(self.public_jwk, separators=(",", ":"), sort_keys=True)
        return b64url(hashlib.sha256(canonical.encode()).digest())

    def proof(self, method: str, url: str, *, access_token: str | None = None) -> str:
        """A fresh DPoP proof JWT for one request."""
        claims: dict[str, Any] = {
            "jti": secrets.token_urlsafe(16),
            "htm": method,
            "htu": url,
            "iat": int(time.time()),
        }
        if access_token is not None:
            claims["ath"] = b64url(hashlib.sha256(access_token.encode()).digest())
        headers = {"typ": "dpop+jwt", "jwk": self.public_jwk}
        return jwt.encode(claims, self._key, algorithm="ES256", headers=headers)


@dataclass(frozen=True)
class Tokens:
    """A token endpoint response, with the client it was issued to."""

    client: Client
    access_token: str = field(repr=False)
    id_token: str | None = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_in: int
    token_type: str
    scope: str
    dpop_key: DpopKey | None = field(default=None, repr=False)

    @property
    def sid(self) -> str:
        """The provider's session id for this client, from the ID token (not verified here)."""
        if self.id_token is None:
            raise PeerError("no ID token in this response (was openid requested?)")
        claims = unverified_claims(self.id_token)
        if "sid" not in claims:
            raise PeerError(
                "no sid: the provider adds it for clients with a backchannel_logout_uri"
            )
        sid: str = claims["sid"]
        return sid


def tokens_from(client: Client, body: dict[str, Any], dpop_key: DpopKey | None) -> Tokens:
    return Tokens(
        client=client,
        access_token=body["access_token"],
        id_token=body.get("id_token"),
        refresh_token=body.get("refresh_token"),
        expires_in=int(body["expires_in"]),
        token_type=body["token_type"],
        scope=body.get("scope", ""),
        dpop_key=dpop_key,
    )


def error_detail(response: httpx.Response) -> str:
    """The status and the OAuth error, if any: never other body text (it might hold a token)."""
    try:
        error = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(error, dict) and "error" in error:
        return f"HTTP {response.status_code} ({error['error']}: {error.get('error_description')})"
    return f"HTTP {response.status_code}"


def ok_or_fail(response: httpx.Response, what: str) -> None:
    if response.status_code != 200:
        raise PeerError(f"{what}: {error_detail(response)}")


def json_or_fail(response: httpx.Response, what: str) -> dict[str, Any]:
    ok_or_fail(response, what)
    body: dict[str, Any] = response.json()
    return body
