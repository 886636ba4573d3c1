"""The in-app benchmark's FastAPI app: GET /me with no auth, with revoker
(``Security(require_token)``), or with a PyJWT + Redis GET dependency."""

from __future__ import annotations

from typing import Annotated, Any

import redis.asyncio as redis
from fastapi import Depends, FastAPI, HTTPException, Request, Security
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes
from fastapi.security.base import SecurityBase
from inapp_common import VARIANT, blocklist_key, pyjwt_claims

from revoker import load_settings
from revoker.integrations.fastapi import Principal, RevokerAuth, require_token

app = FastAPI()
_REDIS = redis.Redis(host="127.0.0.1", port=6379)
_BEARER = HTTPBearer()


async def pyjwt_user(
    credentials: Annotated[HTTPAuthorizationCredentials, Depends(_BEARER)],
) -> dict[str, Any]:
    try:
        claims = pyjwt_claims(credentials.credentials)
    except Exception as exc:  # any bad token is a 401, as people write it
        raise HTTPException(401, "invalid token") from exc
    if await _REDIS.get(blocklist_key(claims)) is not None:
        raise HTTPException(401, "revoked")
    return claims


if VARIANT == "revoker":
    RevokerAuth(load_settings()).install(app)

    @app.get("/me")
    async def me(principal: Annotated[Principal, Security(require_token)]) -> dict[str, str]:
        return {"sub": principal.sub}

elif VARIANT == "pyjwt":

    @app.get("/me")
    async def me_pyjwt(claims: Annotated[dict[str, Any], Depends(pyjwt_user)]) -> dict[str, str]:
        return {"sub": str(claims["sub"])}

elif VARIANT == "empty":  # the framework's own cost of a security dependency, doing nothing

    class Empty(SecurityBase):
        def __init__(self) -> None:
            self.model = HTTPBearerModel(bearerFormat="JWT")
            self.scheme_name = "empty"

        async def __call__(self, request: Request, security_scopes: SecurityScopes) -> str:
            return "anonymous"

    empty = Empty()

    @app.get("/me")
    async def me_empty(sub: Annotated[str, Security(empty)]) -> dict[str, str]:
        return {"sub": sub}

else:

    @app.get("/me")
    async def me_open() -> dict[str, str]:
        return {"sub": "anonymous"}
