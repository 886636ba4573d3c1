"""revoker in a Starlette app: the AuthenticationMiddleware fills request.user with the
token's Principal; a protected endpoint, a logout that revokes the token's family, and an
endpoint for the "admin" group. Settings come from REVOKER_* (or revoker.toml)."""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from revoker import load_settings
from revoker.integrations.starlette import RevokerAuth, requires_token, revoke_current_token


@requires_token()
async def me(request: Request) -> Response:
    user = request.user
    return JSONResponse({"sub": user.sub, "username": user.username, "groups": user.groups})


@requires_token()
async def logout(request: Request) -> Response:
    await revoke_current_token(request)  # every access and ID token of this sign-in
    return Response(status_code=204)


@requires_token(groups=["admin"])
async def admin(request: Request) -> Response:
    return JSONResponse({"hello": request.user.username})


app = Starlette(
    routes=[
        Route("/me", me),
        Route("/logout", logout, methods=["POST"]),
        Route("/admin", admin),
    ]
)
RevokerAuth(load_settings()).install(app)  # middleware + lifespan + RFC 6750 answers
