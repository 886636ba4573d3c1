"""/auth: forward-auth for any method and path under /auth; 200 with identity headers or
401 with an RFC 6750 challenge; never a 5xx, whatever the token."""

from __future__ import annotations

import json

import httpx
import pytest
from service_support import (
    Serve,
    SwitchableStore,
    bearer,
    make_state,
    unreachable_keys_verifier,
)

from revoker.core.authorizer import Authorizer, Decision
from revoker.core.registry import RuleKind
from revoker.core.tokens import b64url_encode
from revoker.service.app import build_app
from revoker.service.forward_auth import IDENTITY_HEADERS
from revoker.service.state import ServiceState
from revoker.testing import FrozenClock, TokenFactory


def test_an_access_token_is_allowed_with_identity_headers(
    client: httpx.Client, factory: TokenFactory
) -> None:
    """A valid access token: 200, and the six identity headers carry its claims."""
    token = factory.access_token(sub="user-42", **{"cognito:groups": ["admin", "ops"]})
    response = client.get("/auth", headers=bearer(token))
    assert response.status_code == 200
    assert response.json() == {"allowed": True, "reason": "allowed"}
    assert response.headers["x-auth-subject"] == "user-42"
    assert response.headers["x-auth-username"] == "alice"
    assert response.headers["x-auth-groups"] == "admin,ops"
    assert response.headers["x-auth-scope"] == "aws.cognito.signin.user.admin"
    assert response.headers["x-auth-client-id"] == factory.client_id
    assert response.headers["x-auth-token-use"] == "access"


def test_an_id_token_is_allowed_and_every_identity_header_is_sent(
    client: httpx.Client, factory: TokenFactory
) -> None:
    """An ID token maps cognito:username and aud; absent claims are sent as empty headers."""
    response = client.get("/auth", headers=bearer(factory.id_token()))
    assert response.status_code == 200
    assert response.headers["x-auth-username"] == "alice"
    assert response.headers["x-auth-client-id"] == factory.client_id
    assert response.headers["x-auth-token-use"] == "id"
    for name in IDENTITY_HEADERS:
        assert name.lower() in response.headers, name
    assert response.headers["x-auth-scope"] == ""
    assert response.headers["x-auth-groups"] == ""


@pytest.mark.parametrize(
    ("username", "expected"),
    [
        ("plain", "plain"),
        ("zoë", "zo%C3%AB"),
        ("evil\r\nX-Injected: 1", "evil%0D%0AX-Injected: 1"),
        ("100%", "100%25"),
    ],
    ids=["ascii", "non-ascii", "crlf", "percent"],
)
def test_identity_values_are_percent_encoded_when_not_printable_ascii(
    client: httpx.Client, factory: TokenFactory, username: str, expected: str
) -> None:
    """Header values never carry control characters: non-ASCII, CR/LF and '%' are encoded."""
    response = client.get("/auth", headers=bearer(factory.access_token(username=username)))
    assert response.status_code == 200
    assert response.headers["x-auth-username"] == expected
    assert "x-injected" not in response.headers


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
@pytest.mark.parametrize("path", ["/auth", "/auth/", "/auth/api/v1/orders?id=3"])
def test_any_method_and_any_path_under_auth_is_forward_auth(
    client: httpx.Client, factory: TokenFactory, method: str, path: str
) -> None:
    """Gateways send the original method and path; /auth answers them all the same."""
    token = factory.access_token()
    assert client.request(method, path, headers=bearer(token)).status_code == 200
    assert client.request(method, path).status_code == 401


def test_head_is_answered_without_a_body(client: httpx.Client, factory: TokenFactory) -> None:
    """HEAD /auth: the same status and headers, no body."""
    response = client.head("/auth", headers=bearer(factory.access_token()))
    assert response.status_code == 200
    assert response.headers["x-auth-subject"] == "user-1"
    assert response.content == b""


def test_a_path_that_only_starts_with_auth_is_not_forward_auth(client: httpx.Client) -> None:
    """/authority is not /auth: it is an unknown route (404)."""
    assert client.get("/authority").status_code == 404


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic dXNlcjpwdw=="},
        {"Authorization": "Bearer"},
        {"Cookie": "session=abc"},
    ],
    ids=["nothing", "basic-scheme", "bearer-without-token", "unconfigured-cookie"],
)
def test_no_bearer_token_gets_a_realm_challenge_without_an_error(
    client: httpx.Client, headers: dict[str, str]
) -> None:
    """RFC 6750 §3.1: a request without a token gets `Bearer realm=...` and no error code."""
    response = client.get("/auth", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="revoker"'
    assert response.json() == {"allowed": False, "reason": "missing_token"}


def _expired(factory: TokenFactory) -> str:
    return factory.access_token(iat=int(factory.clock()) - 7200, exp=int(factory.clock()) - 3600)


def _unsigned(factory: TokenFactory) -> str:
    header = b64url_encode(json.dumps({"alg": "none", "kid": factory.kid}).encode())
    payload = b64url_encode(json.dumps(factory.base_claims("access")).encode())
    return f"{header}.{payload}."


def _tampered(factory: TokenFactory) -> str:
    header, payload, signature = factory.access_token().split(".")
    return f"{header}.{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        (lambda f: "not-a-jwt", "malformed"),
        (lambda f: "a" * 20_000, "too_large"),
        (lambda f: "é.é.é", "malformed"),
        (_expired, "expired"),
        (_tampered, "bad_signature"),
        (lambda f: f.access_token(client_id="someone-else"), "wrong_audience"),
        (lambda f: f.access_token(iss="https://evil.example"), "wrong_issuer"),
        (_unsigned, "unsupported_alg"),
        (lambda f: f.sign(f.base_claims("access"), header={"alg": "RS256", "kid": "other"}),
         "unknown_kid"),
    ],
    ids=["garbage", "oversized", "latin-1", "expired", "tampered", "audience", "issuer",
         "alg-none", "unknown-kid"],
)  # fmt: skip
def test_a_bad_token_is_denied_with_an_rfc6750_challenge(
    client: httpx.Client, factory: TokenFactory, make_token: object, reason: str
) -> None:
    """Any bad token: 401, `Bearer error="invalid_token"`; the description is the reason code
    first, then what failed in words."""
    token: str = make_token(factory)  # type: ignore[operator]
    # bytes: the header goes out as latin-1, as a client may send it
    response = client.get("/auth", headers={"Authorization": b"Bearer " + token.encode("latin-1")})
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith(f'Bearer error="invalid_token", error_description="{reason}: ')
    assert len(challenge) > len(f'Bearer error="invalid_token", error_description="{reason}: "')
    assert response.json() == {"allowed": False, "reason": reason}
    assert "x-auth-subject" not in response.headers


def test_a_revoked_family_is_denied_at_once(
    client: httpx.Client, factory: TokenFactory, state: ServiceState
) -> None:
    """After the family is revoked, the same token gets 401 revoked_family on the next call."""
    claims = factory.base_claims("access")
    token = factory.sign(claims)
    assert client.get("/auth", headers=bearer(token)).status_code == 200
    state.registry.revoke(RuleKind.FAMILY, claims["origin_jti"], actor="test")
    response = client.get("/auth", headers=bearer(token))
    assert response.status_code == 401
    assert (
        'error_description="revoked_family: every token of the sign-in'
        in (response.headers["www-authenticate"])
    )


def test_the_configured_cookie_carries_the_token(factory: TokenFactory, serve: Serve) -> None:
    """With --cookie-name, /auth reads the token from that cookie when there is no bearer."""
    app = build_app(make_state(factory, cookie_name="id_token"))
    token = factory.id_token()
    with serve(app) as client:
        response = client.get("/auth", headers={"Cookie": f"theme=dark; id_token={token}"})
        quoted = client.get("/auth", headers={"Cookie": f'id_token="{token}"'})
        other = client.get("/auth", headers={"Cookie": "id_token_x=abc"})
    assert response.status_code == 200
    assert response.headers["x-auth-token-use"] == "id"
    assert quoted.status_code == 200
    assert other.status_code == 401
    assert other.json()["reason"] == "missing_token"


def test_a_stale_registry_denies_with_registry_stale_not_a_500(
    factory: TokenFactory, clock: FrozenClock, serve: Serve
) -> None:
    """Fail-closed: a replica that cannot sync past max_staleness gives 401 registry_stale."""
    store = SwitchableStore()
    with serve(build_app(make_state(factory, store))) as client:
        token = factory.access_token()
        assert client.get("/auth", headers=bearer(token)).status_code == 200
        store.failing = True
        clock.advance(31)
        response = client.get("/auth", headers=bearer(token))
    assert response.status_code == 401
    assert response.json() == {"allowed": False, "reason": "registry_stale"}


class ExplodingAuthorizer(Authorizer):
    """An authorizer whose check raises an unexpected error (a bug)."""

    def check(self, token: str) -> Decision:
        raise RuntimeError("a bug")


def test_an_unexpected_error_in_the_check_still_denies_with_401(
    factory: TokenFactory, serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug must deny (401), never answer 500 to the gateway, and log only a fingerprint."""
    state = make_state(factory, authorizer_class=ExplodingAuthorizer)
    token = factory.access_token()
    with serve(build_app(state)) as client:
        response = client.get("/auth", headers=bearer(token))
    assert response.status_code == 401
    assert response.json() == {"allowed": False, "reason": "internal_error"}
    assert token not in caplog.text
    assert "the check failed" in caplog.text


def test_unreachable_keys_deny_with_jwks_unavailable(factory: TokenFactory, serve: Serve) -> None:
    """The issuer's keys cannot be fetched: 401 jwks_unavailable (a gateway cannot take a 503)."""
    state = make_state(factory, verifier=unreachable_keys_verifier(factory))
    with serve(build_app(state)) as client:
        response = client.get("/auth", headers=bearer(factory.access_token()))
    assert response.status_code == 401
    assert response.json()["reason"] == "jwks_unavailable"
