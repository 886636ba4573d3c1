"""Django and DRF: the middleware, ``@require_token``, ``RevokerAuthentication`` and its
permissions through Django's and DRF's own test clients, ``settings.REVOKER`` through the one
loader, the system check, and the project under waitress."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import django
import django_test_settings
import httpx
import pytest
from django.conf import settings
from integrations_support import (
    DENIAL_REASONS,
    ServerProcess,
    assert_insufficient_scope,
    assert_missing,
    assert_refused,
    bearer,
    claims_of,
    denied_token,
    free_port,
    python_tool,
    redis_backend,
    replica_threads,
    wait_until,
)

from revoker import Revoker
from revoker.core.clock import FrozenClock
from revoker.core.registry import RuleKind
from revoker.testing import TokenFactory, serve_json

if not settings.configured:
    settings.configure(
        **{name: value for name, value in vars(django_test_settings).items() if name.isupper()}
    )
    django.setup()

from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, override_settings
from rest_framework.test import APIClient

from revoker.integrations import django as revoker_django
from revoker.integrations.config import settings_from_mapping

HERE = Path(__file__).resolve().parent
SCOPE = "orders:read"


@pytest.fixture(scope="module")
def jwks_factory(rs256_template: TokenFactory) -> Iterator[tuple[TokenFactory, str]]:
    """A factory on the wall clock (Django's revoker uses the system clock) and its JWKS URL."""
    factory = TokenFactory(clock=FrozenClock(time.time()))
    factory.key = rs256_template.key
    server = serve_json(factory.jwks())
    yield factory, f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    server.shutdown()
    server.server_close()


def revoker_config(factory: TokenFactory, jwks_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "issuers": [factory.issuer],
        "jwks_url": jwks_url,
        "audience": [factory.client_id],
        "store_url": "memory://",
        **extra,
    }


@pytest.fixture
def factory(jwks_factory: tuple[TokenFactory, str]) -> Iterator[TokenFactory]:
    """``settings.REVOKER`` for this test: the factory's issuer, keys over HTTP, memory store."""
    factory, jwks_url = jwks_factory
    with override_settings(REVOKER=revoker_config(factory, jwks_url)):
        yield factory


@pytest.fixture
def client(factory: TokenFactory) -> Client:
    return Client()


def _registry() -> Any:
    return revoker_django.get_guard().revoker.registry


def test_the_middleware_sets_request_principal(client: Client, factory: TokenFactory) -> None:
    """With a good token ``request.principal`` is its holder; without one it is None."""
    token = factory.access_token()
    assert client.get("/public", headers=bearer(token)).json()["sub"] == "user-1"
    assert client.get("/public").json()["sub"] is None
    assert client.get("/me", headers=bearer(token)).json() == {"sub": "user-1", "pk": "user-1"}


def test_no_token_on_a_protected_view_is_a_challenge(client: Client) -> None:
    """``require_token`` without a token: 401 ``Bearer realm=…``, no error code."""
    response = client.get("/me")
    assert_missing(response.status_code, response.headers)


@pytest.mark.parametrize("reason", DENIAL_REASONS)
@pytest.mark.parametrize("path", ["/me", "/api/me"], ids=["plain", "drf"])
def test_each_denial_is_a_401_naming_its_reason(
    client: Client, factory: TokenFactory, reason: str, path: str
) -> None:
    """A bad, expired or revoked token: 401 ``invalid_token`` with the reason, plain or DRF."""
    token = denied_token(reason, factory, _registry())
    response = client.get(path, headers=bearer(token))
    assert_refused(response.status_code, response.headers, response.json(), reason)


def test_drf_without_the_middleware_authenticates_by_itself(factory: TokenFactory) -> None:
    """``RevokerAuthentication`` alone: ``request.user`` and ``request.auth`` are the principal;
    a refused token carries its reason; no token is DRF's 401 with our challenge."""
    with override_settings(MIDDLEWARE=[]):
        api = APIClient()
        token = factory.id_token()
        assert api.get("/api/me", headers=bearer(token)).json() == {
            "sub": "user-1",
            "auth": "alice",
        }
        refused = api.get("/api/me", headers=bearer(denied_token("expired", factory, _registry())))
        assert_refused(
            refused.status_code, refused.headers, refused.json(), "expired", no_store=False
        )
        missing = api.get("/api/me")
        assert_missing(missing.status_code, missing.headers)


def test_the_decorator_checks_by_itself_without_the_middleware(factory: TokenFactory) -> None:
    """``require_token`` on a project without the middleware still checks the token."""
    with override_settings(MIDDLEWARE=[]):
        client = Client()
        assert client.get("/me", headers=bearer(factory.access_token())).status_code == 200
        refused = client.get("/me", headers=bearer("not-a-jwt"))
        assert_refused(refused.status_code, refused.headers, refused.json(), "malformed")
        assert client.get("/async-me", headers=bearer(factory.access_token())).json() == {
            "sub": "user-1"
        }


@pytest.mark.parametrize("prefix", ["", "/api"], ids=["plain", "drf"])
def test_scopes_and_groups(client: Client, factory: TokenFactory, prefix: str) -> None:
    """A missing scope: 403 insufficient_scope with ``scope=``; a missing group: 403."""
    plain = factory.access_token()
    response = client.get(f"{prefix}/orders", headers=bearer(plain))
    assert_insufficient_scope(response.status_code, response.headers, response.json(), SCOPE)
    scoped = factory.access_token(scope=SCOPE)
    assert client.get(f"{prefix}/orders", headers=bearer(scoped)).status_code == 200
    assert client.get(f"{prefix}/admin", headers=bearer(plain)).status_code == 403
    admin = factory.id_token(**{"cognito:groups": ["admin"]})
    assert client.get(f"{prefix}/admin", headers=bearer(admin)).status_code == 200


@pytest.mark.parametrize("path", ["/logout", "/api/logout"], ids=["plain", "drf"])
def test_logout_revokes_the_family_for_the_next_request(
    client: Client, factory: TokenFactory, path: str
) -> None:
    """Revoked mid-session by its own logout: the token and its family are refused next."""
    access = factory.access_token()
    sibling = factory.id_token(origin_jti=claims_of(access)["origin_jti"])
    assert client.get("/me", headers=bearer(access)).status_code == 200
    assert client.post(path, headers=bearer(access)).json()["kind"] == "family"
    for token in (access, sibling):
        response = client.get("/me", headers=bearer(token))
        assert_refused(response.status_code, response.headers, response.json(), "revoked_family")


def test_changing_settings_revoker_builds_a_new_revoker(
    jwks_factory: tuple[TokenFactory, str],
) -> None:
    """``settings.REVOKER`` is read through the one loader; overriding it starts afresh."""
    factory, jwks_url = jwks_factory
    with override_settings(REVOKER=revoker_config(factory, jwks_url, max_staleness_seconds="1m")):
        first = revoker_django.get_guard()
        assert first.settings.max_staleness_seconds == 60.0
        first.start()
        with override_settings(REVOKER=revoker_config(factory, jwks_url, cache_size=7)):
            second = revoker_django.get_guard()
            assert second is not first
            assert second.settings.cache_size == 7
        assert not first.started  # closed when its settings went away


def test_a_misconfiguration_fails_the_start(jwks_factory: tuple[TokenFactory, str]) -> None:
    """No audience: the middleware refuses to load (ImproperlyConfigured), naming the fix."""
    factory, jwks_url = jwks_factory
    config = revoker_config(factory, jwks_url)
    del config["audience"]
    with override_settings(REVOKER=config), pytest.raises(ImproperlyConfigured, match="audience"):
        revoker_django.RevokerMiddleware(lambda request: None)  # type: ignore[arg-type,return-value]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ["revoker.E001"]),
        (["not", "a", "dict"], ["revoker.E001"]),
        ({"isuers": ["https://issuer.example"]}, ["revoker.E002"]),
        ({"issuers": ["https://issuer.example"]}, ["revoker.E002"]),
        ({"issuers": ["https://i.example"], "audience": "*", "fail_open": True}, ["revoker.W001"]),
        ({"issuers": ["https://i.example"], "audience": ["c"], "store_url": "sqlite:///r.db"}, []),
    ],
    ids=["missing", "not-a-dict", "misspelt", "no-audience", "fail-open", "fine"],
)
def test_the_system_check_reports_misconfiguration(value: Any, expected: list[str]) -> None:
    """``manage.py check`` names what is wrong with ``settings.REVOKER``, opening nothing."""
    with override_settings(REVOKER=value):
        if value is None:
            del settings.REVOKER
        messages = run_checks(tags=["revoker"])
    assert [message.id for message in messages] == expected


def test_the_system_check_warns_of_a_memory_store_outside_debug() -> None:
    """``memory://`` with DEBUG off: each worker would keep its own rules."""
    config = {"issuers": ["https://i.example"], "audience": ["c"], "store_url": "memory://"}
    with override_settings(REVOKER=config, DEBUG=False):
        assert [message.id for message in run_checks(tags=["revoker"])] == ["revoker.W002"]


def test_the_project_under_waitress(jwks_factory: tuple[TokenFactory, str], tmp_path: Path) -> None:
    """A real server (waitress, threaded): allowed, refused, and a revocation written to the
    shared SQLite store by another process denied on the next requests."""
    factory, jwks_url = jwks_factory
    store_url = f"sqlite:///{tmp_path / 'rules.db'}"
    env = {
        "REVOKER_ISSUER": factory.issuer,
        "REVOKER_JWKS_URL": jwks_url,
        "REVOKER_AUDIENCE": factory.client_id,
        "REVOKER_STORE": store_url,
        "REVOKER_POLL_INTERVAL": "0.05",
        "DJANGO_SETTINGS_MODULE": "django_test_settings",
        "PYTHONPATH": str(HERE),
    }
    port = free_port()
    command = [python_tool("waitress-serve"), f"--listen=127.0.0.1:{port}", "--threads=4",
               "django_test_wsgi:application"]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    token = factory.access_token()
    with ServerProcess(command, env=env, cwd=tmp_path, ready_url=f"{url}/public") as server:
        assert httpx.get(f"{url}/api/me", headers=bearer(token)).status_code == 200
        refused = httpx.get(f"{url}/me", headers=bearer("not-a-jwt"))
        assert_refused(refused.status_code, refused.headers, refused.json(), "malformed")
        settings_for_writer = settings_from_mapping(
            revoker_config(factory, jwks_url, store_url=store_url), where="test", config=None
        )
        with Revoker.for_rules(settings_for_writer) as writer:
            writer.registry.revoke(RuleKind.FAMILY, claims_of(token)["origin_jti"])
        assert wait_until(lambda: httpx.get(f"{url}/me", headers=bearer(token)).status_code == 401)
        server.stop()
    assert "Traceback" not in server.output, server.output


@pytest.mark.services
@pytest.mark.parametrize("store", ["sqlite", "redis"])
def test_the_registry_runs_on_a_real_store_and_stops_on_reset(
    jwks_factory: tuple[TokenFactory, str], tmp_path: Path, store: str
) -> None:
    """The first request starts the registry on a real store (a rule written by another
    process reaches it); ``reset`` (as at a settings change) stops its replica."""
    factory, jwks_url = jwks_factory
    if store == "sqlite":
        store_url = f"sqlite:///{tmp_path / 'rules.db'}"
    else:
        backend = redis_backend()
        backend.require_redis()
        store_url = f"{backend.URL}?prefix={backend.new_prefix()}"
    config = revoker_config(factory, jwks_url, store_url=store_url, poll_interval_seconds=0.05)
    token = factory.access_token()
    with override_settings(REVOKER=config):
        client = Client()
        before = set(replica_threads())
        assert client.get("/me", headers=bearer(token)).status_code == 200
        started = [thread for thread in replica_threads() if thread not in before]
        assert len(started) == 1
        writer_settings = settings_from_mapping(config, where="test", config=None)
        with Revoker.for_rules(writer_settings) as writer:
            writer.registry.revoke(RuleKind.FAMILY, claims_of(token)["origin_jti"])
        assert wait_until(lambda: client.get("/me", headers=bearer(token)).status_code == 401)
        revoker_django.reset()
        assert wait_until(lambda: not started[0].is_alive(), seconds=5)
