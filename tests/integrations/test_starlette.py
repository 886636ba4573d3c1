"""Starlette: the ``AuthenticationBackend`` behind ``AuthenticationMiddleware``, through
Starlette's own test client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from asgi_apps import SCOPE, starlette_app
from integrations_support import (
    DENIAL_REASONS,
    app_settings,
    assert_insufficient_scope,
    assert_missing,
    assert_refused,
    bearer,
    build_for,
    denied_token,
)
from starlette.testclient import TestClient

from revoker.integrations.principal import Principal
from revoker.integrations.starlette import RevokerAuth, StarletteUser
from revoker.testing import TokenFactory


@pytest.fixture
def auth(factory: TokenFactory) -> RevokerAuth:
    return RevokerAuth(app_settings(factory), build=build_for(factory))


@pytest.fixture
def client(auth: RevokerAuth) -> Iterator[TestClient]:
    with TestClient(starlette_app(auth)) as client:
        yield client


def test_the_backend_fills_request_user_and_request_auth(
    client: TestClient, factory: TokenFactory
) -> None:
    """An allowed token: ``request.user`` is its principal, ``request.auth`` its scopes."""
    token = factory.access_token(scope="profile orders:read")
    assert client.get("/public", headers=bearer(token)).json() == {
        "authenticated": True,
        "scopes": ["profile", "orders:read"],
    }
    assert client.get("/me", headers=bearer(token)).json() == {
        "sub": "user-1",
        "identity": "user-1",
    }


def test_request_user_is_a_principal_and_a_starlette_user() -> None:
    """``StarletteUser`` is both the shared ``Principal`` and Starlette's ``BaseUser``."""
    from starlette.authentication import BaseUser  # noqa: PLC0415

    assert issubclass(StarletteUser, Principal)
    assert issubclass(StarletteUser, BaseUser)


def test_without_a_token_the_request_is_anonymous_until_a_route_needs_one(
    client: TestClient,
) -> None:
    """No token: public routes see an unauthenticated user; ``requires_token`` answers 401."""
    assert client.get("/public").json() == {"authenticated": False, "scopes": []}
    response = client.get("/me")
    assert_missing(response.status_code, response.headers)


@pytest.mark.parametrize("reason", DENIAL_REASONS)
def test_each_denial_is_refused_at_the_middleware(
    client: TestClient, auth: RevokerAuth, factory: TokenFactory, reason: str
) -> None:
    """A bad, expired or revoked token is refused even on a public route: 401 + reason."""
    token = denied_token(reason, factory, auth.guard.revoker.registry)
    for path in ("/public", "/me"):
        response = client.get(path, headers=bearer(token))
        assert_refused(response.status_code, response.headers, response.json(), reason)


def test_scopes_and_groups(client: TestClient, factory: TokenFactory) -> None:
    """``requires_token(scopes=…)``: 403 insufficient_scope; ``groups=…``: 403 forbidden."""
    plain = factory.access_token()
    response = client.get("/orders", headers=bearer(plain))
    assert_insufficient_scope(response.status_code, response.headers, response.json(), SCOPE)
    scoped = factory.access_token(scope=SCOPE)
    assert client.get("/orders", headers=bearer(scoped)).status_code == 200
    assert client.get("/admin", headers=bearer(plain)).status_code == 403
    admin = factory.id_token(**{"cognito:groups": ["admin", "staff"]})
    assert client.get("/admin", headers=bearer(admin)).status_code == 200


def test_logout_then_the_same_token_is_denied(client: TestClient, factory: TokenFactory) -> None:
    """Revoked mid-session by its own logout: the next request is refused, revoked_family."""
    token = factory.access_token()
    assert client.get("/me", headers=bearer(token)).status_code == 200
    assert client.post("/logout", headers=bearer(token)).json() == {"kind": "family"}
    response = client.get("/me", headers=bearer(token))
    assert_refused(response.status_code, response.headers, response.json(), "revoked_family")


def test_the_lifespan_starts_before_the_first_request_and_closes_after(
    factory: TokenFactory,
) -> None:
    """``install`` chains the lifespan: started inside, stopped once the client leaves."""
    auth = RevokerAuth(app_settings(factory), build=build_for(factory))
    app = starlette_app(auth)
    with TestClient(app):
        assert auth.guard.started
    assert not auth.guard.started
