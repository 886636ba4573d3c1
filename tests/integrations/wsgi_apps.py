"""The Flask app the Flask suites serve: a public view, a protected one, one that needs a
scope, one for a group, a logout that revokes the token's family, and who served it."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask

from revoker.integrations.flask import (
    RevokerAuth,
    current_principal,
    require_token,
    revoke_current_token,
)

SCOPE = "orders:read"


def flask_app(auth: RevokerAuth, **config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update(config)
    auth.init_app(app)

    @app.get("/public")
    def public() -> dict[str, Any]:
        return {"pid": os.getpid()}

    @app.get("/me")
    @require_token
    def me() -> dict[str, Any]:
        return {"sub": current_principal.sub, "pid": os.getpid()}

    @app.get("/orders")
    @require_token(scopes=[SCOPE])
    def orders() -> dict[str, Any]:
        return {"sub": current_principal.sub}

    @app.get("/admin")
    @require_token(groups=["admin"])
    def admin() -> dict[str, Any]:
        return {"sub": current_principal.sub}

    @app.get("/async")
    @require_token
    async def async_view() -> dict[str, Any]:
        return {"sub": current_principal.sub}

    @app.post("/logout")
    @require_token
    def logout() -> dict[str, Any]:
        outcome = revoke_current_token()
        assert outcome.rule is not None
        return {"kind": str(outcome.rule.kind), "created": outcome.created}

    return app
