"""What the in-app benchmark's apps share: the variant (BENCH_VARIANT: noauth, revoker or
pyjwt) and the hand-rolled check people write first, PyJWT + a Redis GET blocklist lookup.

Configured by environment: BENCH_JWKS_URL, BENCH_ISSUER, BENCH_AUDIENCE,
BENCH_REDIS_PREFIX; revoker's own settings come from REVOKER_* (the one loader).
"""

from __future__ import annotations

import os
from typing import Any

import jwt

VARIANT = os.environ.get("BENCH_VARIANT", "noauth")
ISSUER = os.environ.get("BENCH_ISSUER", "")
AUDIENCE = os.environ.get("BENCH_AUDIENCE", "")
PREFIX = os.environ.get("BENCH_REDIS_PREFIX", "bench:revoked:")
JWKS = jwt.PyJWKClient(os.environ["BENCH_JWKS_URL"]) if VARIANT == "pyjwt" else None


def pyjwt_claims(token: str) -> dict[str, Any]:
    """Signature, exp, iss and the audience (aud or Cognito's client_id) with PyJWT; raises
    ``jwt.PyJWTError`` for a bad token. The Redis lookup is the caller's (sync or async)."""
    assert JWKS is not None  # noqa: S101 - only the pyjwt variant calls it
    key = JWKS.get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(
        token, key.key, algorithms=["RS256"], issuer=ISSUER, options={"verify_aud": False}
    )
    if AUDIENCE not in (claims.get("aud"), claims.get("client_id")):
        raise jwt.InvalidAudienceError("audience")
    return claims


def blocklist_key(claims: dict[str, Any]) -> str:
    return PREFIX + str(claims.get("origin_jti"))
