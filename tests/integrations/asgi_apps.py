"""The FastAPI and Starlette apps the ASGI suites serve: a public route, a protected one,
one that needs a scope, one for a group, and a logout that revokes the token's family."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Security
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse
from starlette.routing import Route

from revoker.integrations import fastapi as revoker_fastapi
from revoker.integrations import starlette as revoker_starlette
from revoker.integrations.fastapi import require_groups, require_token
from revoker.integrations.principal import Principal

SCOPE = "orders:read"


def fastapi_app(auth: revoker_fastapi.RevokerAuth, **install: Any) -> FastAPI:
    app = FastAPI()
    auth.install(app, **install)

    @app.get("/public")
    async def public() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/me")
    async def me(principal: Annotated[Principal, Security(require_token)]) -> dict[str, Any]:
        return {"sub": principal.sub, "username": principal.username, "reason": principal.reason}

    @app.get("/orders")
    async def orders(
        principal: Annotated[Principal, Security(require_token, scopes=[SCOPE])],
    ) -> dict[str, str]:
        return {"sub": principal.sub}

    @app.get("/admin")
    async def admin(
        principal: Annotated[Principal, Depends(require_groups("admin"))],
    ) -> dict[str, str]:
        return {"sub": principal.sub}

    @app.post("/logout")
    async def logout(
        request: Request, principal: Annotated[Principal, Security(require_token)]
    ) -> dict[str, Any]:
        outcome = await revoker_fastapi.revoke_current_token(request)
        assert outcome.rule is not None
        return {"kind": str(outcome.rule.kind), "created": outcome.created}

    return app


def starlette_app(auth: revoker_starlette.RevokerAuth) -> Starlette:
    requires_token = revoker_starlette.requires_token

    async def public(request: StarletteRequest) -> JSONResponse:
        user = request.user
        return JSONResponse({"authenticated": user.is_authenticated, "scopes": request.auth.scopes})

    @requires_token()
    async def me(request: StarletteRequest) -> JSONResponse:
        return JSONResponse({"sub": request.user.sub, "identity": request.user.identity})

    @requires_token(scopes=[SCOPE])
    def orders(request: StarletteRequest) -> JSONResponse:  # a sync endpoint: in a thread
        return JSONResponse({"sub": request.user.sub})

    @requires_token(groups=["admin"])
    async def admin(request: StarletteRequest) -> JSONResponse:
        return JSONResponse({"sub": request.user.sub})

    @requires_token()
    async def logout(request: StarletteRequest) -> JSONResponse:
        outcome = await revoker_starlette.revoke_current_token(request)
        assert outcome.rule is not None
        return JSONResponse({"kind": str(outcome.rule.kind)})

    app = Starlette(
        routes=[
            Route("/public", public),
            Route("/me", me),
            Route("/orders", orders),
            Route("/admin", admin),
            Route("/logout", logout, methods=["POST"]),
        ]
    )
    auth.install(app)
    return app
