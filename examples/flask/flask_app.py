"""revoker in a Flask app: a protected view, a logout that revokes the token's family, and a
view for the "admin" group. Settings: app.config["REVOKER"], REVOKER_* fill in the rest."""

from flask import Flask

from revoker.integrations.flask import (
    RevokerAuth,
    current_principal,
    require_token,
    revoke_current_token,
)

app = Flask(__name__)
app.config["REVOKER"] = {"store_url": "sqlite:///revoker.db"}  # REVOKER_* fill in the rest
RevokerAuth(app)  # each worker process starts its own revoker on its first request


@app.get("/me")
@require_token
def me() -> dict[str, object]:
    principal = current_principal
    return {"sub": principal.sub, "username": principal.username, "groups": principal.groups}


@app.post("/logout")
@require_token
def logout() -> tuple[str, int]:
    revoke_current_token()  # every access and ID token of this sign-in
    return "", 204


@app.get("/admin")
@require_token(groups=["admin"])
def admin() -> dict[str, str]:
    return {"hello": current_principal.username}
