"""FastAPI: a security dependency, ``Security(require_token, scopes=[…])``, that the OpenAPI
document shows as a bearer scheme, on the Starlette integration's ``RevokerAuth``.

::

    auth = RevokerAuth(load_settings())
    app = FastAPI()
    auth.install(app)   # lifespan + the RFC 6750 answers

    @app.get("/me")
    async def me(principal: Annotated[Principal, Security(require_token, scopes=["profile"])]):
        return {"sub": principal.sub}

The dependency answers 401 ``Bearer realm=…`` without a token, 401
``Bearer error="invalid_token", error_description="<reason>"`` for a bad,
expired or revoked one, 403 ``Bearer error="insufficient_scope", scope="…"``
when a scope is missing and 503 when revoker cannot decide (the store or the
keys unreachable). ``require_groups("admin")`` adds a group check (403
``forbidden``). Like every check here it never blocks the event loop, and it
reuses the middleware's result when ``install(app, middleware=True)`` put one there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from anyio import to_thread
from fastapi import Request, Security
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security import SecurityScopes
from fastapi.security.base import SecurityBase

from revoker.integrations.guard import Refusal, bearer_from_headers
from revoker.integrations.principal import Principal
from revoker.integrations.starlette import (
    RevokerAuth as StarletteRevokerAuth,
)
from revoker.integrations.starlette import (
    StarletteUser,
    TokenRefused,
    auth_of,
    revoke_current_token,
)

__all__ = [
    "Principal",
    "RequireToken",
    "RevokerAuth",
    "TokenRefused",
    "require_groups",
    "require_token",
    "revoke_current_token",
]

#: The security scheme's name in the OpenAPI document.
SCHEME_NAME = "bearerAuth"


class RevokerAuth(StarletteRevokerAuth):
    """``RevokerAuth`` for FastAPI: ``install`` adds no middleware by default (the
    dependency checks the token where a route asks for it)."""

    middleware_by_default = False


class RequireToken(SecurityBase):
    """The dependency behind ``require_token``: an HTTP bearer scheme in OpenAPI."""

    def __init__(self, *, scheme_name: str = SCHEME_NAME, description: str | None = None) -> None:
        self.model = HTTPBearerModel(
            bearerFormat="JWT",
            description=description
            or "A JWT from the trusted issuer; checked for revocation on every request.",
        )
        self.scheme_name = scheme_name

    async def __call__(self, request: Request, security_scopes: SecurityScopes) -> StarletteUser:
        scope = request.scope
        user = scope.get("user")
        auth = auth_of(request)
        guard = auth.guard
        if isinstance(user, StarletteUser):
            principal: StarletteUser | Refusal = user  # the middleware checked it already
        elif "user" in scope:  # the middleware ran and found no token
            principal = guard.missing
        else:  # RevokerAuth.decide, in-line: the warm path of every request
            token = bearer_from_headers(scope["headers"])
            if token is None:
                principal = guard.missing
            else:
                decision = guard.check_now(token)
                if decision is None:  # a key to fetch, or the first start: off the loop
                    decision = await to_thread.run_sync(guard.check, token)
                principal = guard.outcome(token, decision)
        if isinstance(principal, Refusal):
            raise TokenRefused(principal)
        scopes = security_scopes.scopes
        if scopes:
            refusal = guard.authorize(principal, scopes)
            if refusal is not None:
                raise TokenRefused(refusal)
        return principal


#: ``Security(require_token, scopes=[…])``: the request's ``Principal``, or a refusal.
require_token = RequireToken()


def require_groups(*groups: str) -> Callable[..., Awaitable[StarletteUser]]:
    """A dependency: ``require_token``, and membership of every one of ``groups``
    (403 ``forbidden`` otherwise)."""
    wanted = tuple(groups)

    async def in_groups(
        request: Request, principal: Annotated[StarletteUser, Security(require_token)]
    ) -> StarletteUser:
        refusal: Refusal | None = auth_of(request).guard.authorize(principal, (), wanted)
        if refusal is not None:
            raise TokenRefused(refusal)
        return principal

    return in_groups
