"""``revoker demo``: the seed's scenario, end to end, on the embedded default.

A local Cognito-shaped issuer, a SQLite registry, and two verifiers side by
side: "stock" (PyJWT with the issuer's JWKS, which is all API Gateway's
Cognito authorizer does) and revoker. After a sign-out the stock verifier
keeps accepting the ID token for its whole lifetime; revoker denies it.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from revoker.app.compose import Revoker
from revoker.app.operations import Operations
from revoker.app.settings import Settings
from revoker.devissuer import DevIssuerServer, DevUser

__all__ = ["run_demo"]

_TARGET = "AWSCognitoIdentityProviderService."


class CognitoApi:
    """The few Cognito user-pool calls the demo makes, over the JSON 1.1 wire format."""

    def __init__(self, endpoint: str, client_id: str) -> None:
        self._http = httpx.Client(base_url=endpoint, timeout=5.0)
        self.client_id = client_id

    def _call(self, action: str, body: dict[str, Any]) -> httpx.Response:
        return self._http.post(
            "/",
            json=body,
            headers={
                "X-Amz-Target": _TARGET + action,
                "Content-Type": "application/x-amz-json-1.1",
            },
        )

    def login(self, username: str, password: str) -> dict[str, str]:
        response = self._call(
            "InitiateAuth",
            {
                "AuthFlow": "USER_PASSWORD_AUTH",
                "ClientId": self.client_id,
                "AuthParameters": {"USERNAME": username, "PASSWORD": password},
            },
        )
        response.raise_for_status()
        result: dict[str, str] = response.json()["AuthenticationResult"]
        return result

    def refresh(self, refresh_token: str) -> dict[str, str] | None:
        """New tokens, or None when the issuer refuses the refresh token."""
        response = self._call(
            "InitiateAuth",
            {
                "AuthFlow": "REFRESH_TOKEN_AUTH",
                "ClientId": self.client_id,
                "AuthParameters": {"REFRESH_TOKEN": refresh_token},
            },
        )
        if response.status_code != 200:
            return None
        result: dict[str, str] = response.json()["AuthenticationResult"]
        return result

    def revoke_token(self, refresh_token: str) -> None:
        self._call("RevokeToken", {"Token": refresh_token, "ClientId": self.client_id})

    def global_sign_out(self, access_token: str) -> None:
        self._call("GlobalSignOut", {"AccessToken": access_token})

    def close(self) -> None:
        self._http.close()


class StockVerifier:
    """Plain JWT verification with PyJWT: signature, exp, iss and aud. No revocation."""

    def __init__(self, issuer: str, jwks_url: str, client_id: str) -> None:
        self._keys = jwt.PyJWKClient(jwks_url)
        self._issuer = issuer
        self._client_id = client_id

    def accepts(self, token: str) -> bool:
        try:
            key = self._keys.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                issuer=self._issuer,
                audience=self._client_id,
                # API Gateway checks aud on ID tokens; access tokens carry client_id.
                options={"verify_aud": _token_use(token) == "id"},
            )
        except jwt.PyJWTError:
            return False
        return bool(claims)


def _token_use(token: str) -> str | None:
    claims = jwt.decode(token, options={"verify_signature": False})
    value = claims.get("token_use")
    return value if isinstance(value, str) else None


@dataclass
class Row:
    step: str
    token: str
    stock: str
    revoker: str
    reason: str
    ok: bool


class Scenario:
    """Runs the steps and records one row per token shown."""

    def __init__(self, stock: StockVerifier, operations: Operations) -> None:
        self.stock = stock
        self.operations = operations
        self.rows: list[Row] = []

    def show(
        self, step: str, label: str, token: str, *, stock: bool, allowed: bool, reason: str
    ) -> None:
        stock_accepts = self.stock.accepts(token)
        decision = self.operations.check(token)
        ok = stock_accepts == stock and decision.allowed == allowed and decision.reason == reason
        self.rows.append(
            Row(
                step,
                label,
                "accepts" if stock_accepts else "rejects",
                "allowed" if decision.allowed else "denied",
                decision.reason,
                ok,
            )
        )

    def note(self, step: str, what: str, *, ok: bool = True) -> None:
        self.rows.append(Row(step, what, "", "", "", ok))


def _print_table(rows: list[Row], out: Callable[[str], None]) -> None:
    out(f"{'step':<44} {'token':<26} {'stock JWT':<10} {'revoker':<8} {'reason':<16} ok")
    out("-" * 112)
    for row in rows:
        mark = "yes" if row.ok else "NO"
        if not row.stock:
            out(f"{row.step:<44} {row.token:<63} {mark}")
            continue
        out(
            f"{row.step:<44} {row.token:<26} {row.stock:<10} {row.revoker:<8} "
            f"{row.reason:<16} {mark}"
        )


def _scenario(api: CognitoApi, s: Scenario) -> None:
    user, password = "alice", "alice-password"

    # 1-2. Log in and call the API with both tokens.
    first = api.login(user, password)
    s.show("1-2 log in, call the API", "ID token #1", first["IdToken"],
           stock=True, allowed=True, reason="allowed")  # fmt: skip
    s.show("", "access token #1", first["AccessToken"], stock=True, allowed=True, reason="allowed")

    # 3. Sign out: RevokeToken at the issuer, and revoker revokes the family.
    api.revoke_token(first["RefreshToken"])
    s.operations.revoke_by_possession(first["AccessToken"], actor="demo", reason="signed out")
    refused = api.refresh(first["RefreshToken"]) is None
    s.note("3 RevokeToken + revoker revokes the family", "refresh token #1 refused by the issuer",
           ok=refused)  # fmt: skip

    # 4-5. Stock verification still accepts the ID token (the seed's bug); revoker denies both.
    s.show("4-5 after sign-out (the seed's bug)", "ID token #1", first["IdToken"],
           stock=True, allowed=False, reason="revoked_family")  # fmt: skip
    s.show("", "access token #1", first["AccessToken"],
           stock=True, allowed=False, reason="revoked_family")  # fmt: skip

    # 6. A family revoked in revoker alone (the issuer still honours its refresh
    #    token): tokens refreshed afterwards carry the same origin_jti and are denied.
    second = api.login(user, password)
    s.operations.revoke_by_possession(second["IdToken"], actor="demo", reason="session killed")
    refreshed = api.refresh(second["RefreshToken"])
    if refreshed is None:
        s.note("6 refresh after a revoker-only revoke", "the issuer refused", ok=False)
    else:
        s.show("6 refreshed later, same family", "refreshed ID token #2", refreshed["IdToken"],
               stock=True, allowed=False, reason="revoked_family")  # fmt: skip
        s.show("", "refreshed access token #2", refreshed["AccessToken"],
               stock=True, allowed=False, reason="revoked_family")  # fmt: skip

    # 7. A new login is allowed.
    third = api.login(user, password)
    s.show("7 a new login", "ID token #3", third["IdToken"],
           stock=True, allowed=True, reason="allowed")  # fmt: skip

    # 8. Global sign-out: a subject rule denies everything issued up to now.
    api.global_sign_out(third["AccessToken"])
    sub = str(jwt.decode(third["IdToken"], options={"verify_signature": False})["sub"])
    issuer = str(jwt.decode(third["IdToken"], options={"verify_signature": False})["iss"])
    cutoff = time.time()
    body = {"kind": "subject", "value": sub, "issuer": issuer, "cutoff": cutoff,
            "reason": "global sign-out"}  # fmt: skip
    s.operations.create_rule(body, actor="demo")
    s.show("8 GlobalSignOut + subject rule", "ID token #3", third["IdToken"],
           stock=True, allowed=False, reason="revoked_subject")  # fmt: skip
    s.show("", "access token #3", third["AccessToken"],
           stock=True, allowed=False, reason="revoked_subject")  # fmt: skip
    # A login in the same second as the sign-out counts as before it; wait for the next one.
    time.sleep(max(0.0, math.floor(cutoff) + 1 - time.time()) + 0.05)
    fourth = api.login(user, password)
    s.show("  a login one second later", "ID token #4", fourth["IdToken"],
           stock=True, allowed=True, reason="allowed")  # fmt: skip
    s.show("", "access token #4", fourth["AccessToken"], stock=True, allowed=True, reason="allowed")


def run_demo(*, store_url: str | None = None, out: Callable[[str], None] = print) -> bool:
    """Run the scenario and print its table; True when every step behaved as expected."""
    user = DevUser(username="alice", password="alice-password", email="alice@example.com")
    with (
        tempfile.TemporaryDirectory(prefix="revoker-demo-") as tmp,
        DevIssuerServer(users=[user]) as server,
    ):
        url = store_url or f"sqlite:///{tmp}/revoker.db"
        client_id = server.issuer_obj.client_id
        settings = Settings(
            issuers=(server.issuer,), audience=(client_id,), token_use="any", store_url=url
        )
        api = CognitoApi(server.url, client_id)
        try:
            with Revoker.from_settings(settings) as revoker:
                revoker.start(follow=False)
                stock = StockVerifier(server.issuer, server.jwks_url, client_id)
                scenario = Scenario(stock, revoker.operations)
                out(f"issuer: {server.issuer}   store: {url}")
                out("")
                _scenario(api, scenario)
        finally:
            api.close()
    _print_table(scenario.rows, out)
    passed = all(row.ok for row in scenario.rows)
    out("")
    out(
        "every step behaved as expected: revoked tokens are denied, new logins allowed"
        if passed
        else "SOME STEPS DID NOT BEHAVE AS EXPECTED (rows marked NO)"
    )
    return passed
