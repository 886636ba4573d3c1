"""The in-app benchmark's Flask app: GET /me with no auth, with revoker (``@require_token``),
or with a PyJWT + Redis GET decorator."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import redis
from flask import Flask, abort, g, request
from inapp_common import VARIANT, blocklist_key, pyjwt_claims

from revoker.integrations.flask import RevokerAuth, current_principal, require_token

app = Flask(__name__)
_REDIS = redis.Redis(host="127.0.0.1", port=6379)


def pyjwt_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            abort(401)
        try:
            claims = pyjwt_claims(header[7:])
        except Exception:  # noqa: BLE001 - any bad token is a 401, as people write it
            abort(401)
        if _REDIS.get(blocklist_key(claims)) is not None:
            abort(401)
        g.claims = claims
        return view(*args, **kwargs)

    return wrapper


if VARIANT == "revoker":
    RevokerAuth(app)

    @app.get("/me")
    @require_token
    def me() -> dict[str, str]:
        return {"sub": current_principal.sub}

elif VARIANT == "pyjwt":

    @app.get("/me")
    @pyjwt_required
    def me_pyjwt() -> dict[str, str]:
        return {"sub": str(g.claims["sub"])}

elif VARIANT == "empty":  # the cost of a decorator that does nothing

    def empty(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return view(*args, **kwargs)

        return wrapper

    @app.get("/me")
    @empty
    def me_empty() -> dict[str, str]:
        return {"sub": "anonymous"}

else:

    @app.get("/me")
    def me_open() -> dict[str, str]:
        return {"sub": "anonymous"}
