"""FastAPI: ``Security(require_token, scopes=[…])`` through FastAPI's own test client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from asgi_apps import SCOPE, fastapi_app
from fastapi.testclient import TestClient
from integrations_support import (
    DENIAL_REASONS,
    app_settings,
    assert_insufficient_scope,
    assert_missing,
    assert_refused,
    bearer,
    build_for,
    claims_of,
    denied_token,
)

from revoker.core.errors import StoreError
from revoker.core.registry.stores.memory import MemoryStore
from revoker.integrations.fastapi import RevokerAuth
from revoker.testing import TokenFactory


@pytest.fixture
def auth(factory: TokenFactory) -> RevokerAuth:
    return RevokerAuth(app_settings(factory), build=build_for(factory))


@pytest.fixture
def client(auth: RevokerAuth) -> Iterator[TestClient]:
    with TestClient(fastapi_app(auth)) as client:
        yield client


def test_an_allowed_token_reaches_the_route_as_a_principal(
    client: TestClient, factory: TokenFactory
) -> None:
    """A genuine, unrevoked token: 200, and the route sees its principal."""
    response = client.get("/me", headers=bearer(factory.access_token()))
    assert response.status_code == 200
    assert response.json() == {"sub": "user-1", "username": "alice", "reason": "allowed"}


def test_no_token_is_a_challenge_without_an_error_code(client: TestClient) -> None:
    """No bearer token: 401 with ``Bearer realm=…`` and no error (RFC 6750 §3.1)."""
    response = client.get("/me")
    assert_missing(response.status_code, response.headers)
    assert response.json()["error"] == "missing_token"


def test_another_scheme_counts_as_no_token(client: TestClient) -> None:
    """``Authorization: Basic …`` is not a bearer token: the challenge, not invalid_token."""
    response = client.get("/me", headers={"Authorization": "Basic YTpi"})
    assert_missing(response.status_code, response.headers)


@pytest.mark.parametrize("reason", DENIAL_REASONS)
def test_each_denial_is_a_401_naming_its_reason(
    client: TestClient, auth: RevokerAuth, factory: TokenFactory, reason: str
) -> None:
    """A bad, expired or revoked token: 401 ``invalid_token`` with the reason code."""
    token = denied_token(reason, factory, auth.guard.revoker.registry)
    response = client.get("/me", headers=bearer(token))
    assert_refused(response.status_code, response.headers, response.json(), reason)


def test_a_token_revoked_mid_session_is_denied_on_its_next_request(
    client: TestClient, auth: RevokerAuth, factory: TokenFactory
) -> None:
    """Allowed, then its family is revoked elsewhere: the very next request is refused."""
    token = factory.access_token()
    assert client.get("/me", headers=bearer(token)).status_code == 200
    denied = denied_token("revoked_family", factory, auth.guard.revoker.registry)
    assert client.get("/me", headers=bearer(denied)).status_code == 401
    assert client.get("/me", headers=bearer(token)).status_code == 200  # others unaffected


def test_a_missing_scope_is_403_insufficient_scope(
    client: TestClient, factory: TokenFactory
) -> None:
    """The route asks for a scope the token lacks: 403 with ``scope=`` in the challenge."""
    response = client.get("/orders", headers=bearer(factory.access_token()))
    assert_insufficient_scope(response.status_code, response.headers, response.json(), SCOPE)
    allowed = client.get("/orders", headers=bearer(factory.access_token(scope=f"a {SCOPE}")))
    assert allowed.status_code == 200


def test_a_group_route_refuses_non_members_with_403(
    client: TestClient, factory: TokenFactory
) -> None:
    """``require_groups("admin")``: 403 ``forbidden`` unless ``cognito:groups`` has it."""
    outsider = client.get("/admin", headers=bearer(factory.id_token()))
    assert outsider.status_code == 403
    assert outsider.json()["error"] == "forbidden"
    member = client.get("/admin", headers=bearer(factory.id_token(**{"cognito:groups": ["admin"]})))
    assert member.status_code == 200


def test_logout_revokes_the_whole_family(client: TestClient, factory: TokenFactory) -> None:
    """``revoke_current_token`` revokes the family: the ID token of that sign-in is denied too."""
    access = factory.access_token()
    same_family = factory.id_token(origin_jti=claims_of(access)["origin_jti"])
    another_sign_in = factory.id_token()
    response = client.post("/logout", headers=bearer(access))
    assert response.json() == {"kind": "family", "created": True}
    for token in (access, same_family):
        refused = client.get("/me", headers=bearer(token))
        assert_refused(refused.status_code, refused.headers, refused.json(), "revoked_family")
    assert client.get("/me", headers=bearer(another_sign_in)).status_code == 200


def test_the_openapi_document_shows_a_bearer_scheme_with_the_route_scopes(
    client: TestClient,
) -> None:
    """``require_token`` is an HTTP bearer (JWT) scheme; each route lists its scopes."""
    document = client.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A JWT from the trusted issuer; checked for revocation on every request.",
    }
    paths = document["paths"]
    assert paths["/orders"]["get"]["security"] == [{"bearerAuth": [SCOPE]}]
    assert paths["/me"]["get"]["security"] == [{"bearerAuth": []}]
    assert "security" not in paths["/public"]["get"]


def test_the_lifespan_starts_the_revoker_and_closes_it(factory: TokenFactory) -> None:
    """Entering the lifespan starts the registry; leaving it stops it."""
    auth = RevokerAuth(app_settings(factory), build=build_for(factory))
    app = fastapi_app(auth)
    assert not auth.guard.started
    with TestClient(app) as client:
        assert auth.guard.started
        registry = auth.guard.revoker.registry
        assert registry.replica.is_fresh
        assert client.get("/public").status_code == 200
    assert not auth.guard.started


def test_an_unreachable_store_is_503_not_a_bad_token(factory: TokenFactory) -> None:
    """A stale replica (the store down past max_staleness): 503 with Retry-After."""

    class DownStore(MemoryStore):
        down = False

        def changes_since(self, seq: int, *, limit: int = 10_000):  # type: ignore[no-untyped-def]
            if self.down:
                raise StoreError("down (test)")
            return super().changes_since(seq, limit=limit)

        def snapshot(self, now: float):  # type: ignore[no-untyped-def]
            if self.down:
                raise StoreError("down (test)")
            return super().snapshot(now)

    store = DownStore()
    auth = RevokerAuth(app_settings(factory), build=build_for(factory, store=store))
    with TestClient(fastapi_app(auth)) as client:
        token = factory.access_token()
        assert client.get("/me", headers=bearer(token)).status_code == 200
        store.down = True
        factory.clock.advance(31)  # past max_staleness (30 s): the replica fails closed
        response = client.get("/me", headers=bearer(token))
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert "www-authenticate" not in response.headers
    assert response.json()["error"] == "store_unavailable"


def test_with_the_middleware_the_dependency_reuses_its_principal(factory: TokenFactory) -> None:
    """``install(app, middleware=True)``: the middleware checks once, the route reuses it."""
    auth = RevokerAuth(app_settings(factory), build=build_for(factory))
    with TestClient(fastapi_app(auth, middleware=True)) as client:
        assert client.get("/me", headers=bearer(factory.access_token())).status_code == 200
        refused = client.get("/public", headers=bearer("not-a-jwt"))
        assert_refused(refused.status_code, refused.headers, refused.json(), "malformed")
        assert client.get("/me").status_code == 401
