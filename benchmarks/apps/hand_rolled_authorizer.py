"""The hand-rolled authorizer the seed suggests: PyJWT decode + one Redis GET per request.

Configured by environment: BENCH_JWKS_URL, BENCH_ISSUER, BENCH_AUDIENCE, BENCH_REDIS_PREFIX.
It checks the signature, exp, iss and (for ID tokens) aud with PyJWT, then asks
Redis whether the token's family is revoked: what most teams write first.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import jwt
import redis.asyncio as redis

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]

_KEYS = jwt.PyJWKClient(os.environ["BENCH_JWKS_URL"])
_ISSUER = os.environ["BENCH_ISSUER"]
_AUDIENCE = os.environ["BENCH_AUDIENCE"]
_PREFIX = os.environ.get("BENCH_REDIS_PREFIX", "bench:revoked:")
_REDIS = redis.Redis(host="127.0.0.1", port=6379)


def _response(status: int) -> tuple[Message, Message]:
    return (
        {"type": "http.response.start", "status": status, "headers": [(b"content-length", b"0")]},
        {"type": "http.response.body", "body": b""},
    )


_OK, _DENIED = _response(200), _response(401)


def _bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            return str(value[7:].decode("latin-1"))
    return None


async def app(
    scope: Scope,
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    if scope["type"] != "http":
        return
    answer = _DENIED
    token = _bearer(scope)
    if token is not None:
        try:
            key = _KEYS.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                issuer=_ISSUER,
                options={"verify_aud": False},
            )
            if claims.get("token_use") == "id" and claims.get("aud") != _AUDIENCE:
                raise jwt.InvalidAudienceError("aud")
            if await _REDIS.get(_PREFIX + str(claims.get("origin_jti"))) is None:
                answer = _OK
        except jwt.PyJWTError:
            answer = _DENIED
    await send(answer[0])
    await send(answer[1])
