"""revoker in a FastAPI app: a protected endpoint, a logout that revokes the token's family,
and an endpoint for the "admin" group. Settings come from REVOKER_* (or revoker.toml)."""

from typing import Annotated

from fastapi import Depends, FastAPI, Request, Security

from revoker import load_settings
from revoker.integrations.fastapi import (
    Principal,
    RevokerAuth,
    require_groups,
    require_token,
    revoke_current_token,
)

app = FastAPI(title="revoker example")
RevokerAuth(load_settings()).install(app)  # the registry starts and stops with the app


@app.get("/me")
async def me(principal: Annotated[Principal, Security(require_token)]) -> dict[str, object]:
    return {"sub": principal.sub, "username": principal.username, "groups": principal.groups}


@app.post("/logout", status_code=204)
async def logout(request: Request, _: Annotated[Principal, Security(require_token)]) -> None:
    await revoke_current_token(request)  # every access and ID token of this sign-in


@app.get("/admin")
async def admin(
    principal: Annotated[Principal, Depends(require_groups("admin"))],
) -> dict[str, str]:
    return {"hello": principal.username}
