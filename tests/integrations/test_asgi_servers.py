"""FastAPI and Starlette under a real uvicorn on loopback: decisions, the lifespan with real
SQLite and Redis stores, and a slow JWKS endpoint that must not stall the event loop."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
from asgi_apps import SCOPE, fastapi_app, starlette_app
from integrations_support import (
    SlowJwks,
    app_settings,
    assert_insufficient_scope,
    assert_refused,
    bearer,
    build_for,
    claims_of,
    redis_backend,
    replica_threads,
    uvicorn_thread,
    wait_until,
)

from revoker import Revoker
from revoker.core.clock import FrozenClock
from revoker.core.registry import RuleKind
from revoker.integrations import fastapi as revoker_fastapi
from revoker.integrations import starlette as revoker_starlette
from revoker.testing import TokenFactory


@pytest.mark.parametrize("framework", ["fastapi", "starlette"])
def test_under_uvicorn_allowed_denied_scoped_and_logged_out(
    factory: TokenFactory, framework: str
) -> None:
    """The same decisions over real HTTP: allowed, refused, 403 for a scope, then logout."""
    settings = app_settings(factory)
    if framework == "fastapi":
        auth = revoker_fastapi.RevokerAuth(settings, build=build_for(factory))
        app = fastapi_app(auth)
    else:
        auth = revoker_starlette.RevokerAuth(settings, build=build_for(factory))
        app = starlette_app(auth)
    token = factory.access_token()
    with uvicorn_thread(app) as url, httpx.Client(base_url=url, timeout=10) as http:
        assert http.get("/me", headers=bearer(token)).status_code == 200
        refused = http.get("/me", headers=bearer("not-a-jwt"))
        assert_refused(refused.status_code, refused.headers, refused.json(), "malformed")
        scoped = http.get("/orders", headers=bearer(token))
        assert_insufficient_scope(scoped.status_code, scoped.headers, scoped.json(), SCOPE)
        assert http.post("/logout", headers=bearer(token)).status_code == 200
        after = http.get("/me", headers=bearer(token))
        assert_refused(after.status_code, after.headers, after.json(), "revoked_family")


def _store_url(kind: str, tmp_path: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'rules.db'}"
    backend = redis_backend()
    backend.require_redis()
    return f"{backend.URL}?prefix={backend.new_prefix()}"


@pytest.mark.services
@pytest.mark.parametrize("store", ["sqlite", "redis"])
def test_the_lifespan_runs_the_registry_on_a_real_store(
    rs256_template: TokenFactory, tmp_path: Path, store: str
) -> None:
    """Startup syncs and follows a real store (a rule written elsewhere reaches the app);
    shutdown stops the replica and closes the store."""
    factory = TokenFactory(clock=FrozenClock(time.time()))
    factory.key = rs256_template.key
    settings = app_settings(
        factory, store_url=_store_url(store, tmp_path), poll_interval_seconds=0.05
    )
    auth = revoker_fastapi.RevokerAuth(settings, build=build_for(factory, frozen=False))
    token = factory.access_token()
    before = set(replica_threads())
    with uvicorn_thread(fastapi_app(auth)) as url, httpx.Client(base_url=url, timeout=10) as http:
        started = [thread for thread in replica_threads() if thread not in before]
        assert auth.guard.started
        assert len(started) == 1
        assert started[0].is_alive()
        assert http.get("/me", headers=bearer(token)).status_code == 200
        with Revoker.for_rules(settings) as cli:  # another process's writer, as the CLI is
            cli.registry.revoke(RuleKind.FAMILY, claims_of(token)["origin_jti"], reason="test")
        assert wait_until(lambda: http.get("/me", headers=bearer(token)).status_code == 401)
    assert not auth.guard.started
    assert wait_until(lambda: not started[0].is_alive(), seconds=5)


def test_a_slow_jwks_endpoint_does_not_stall_other_requests(
    rs256_template: TokenFactory,
) -> None:
    """While one request waits on a slow JWKS fetch (a new kid), warm requests answer fast."""
    now = time.time()
    known = TokenFactory(clock=FrozenClock(now), kid="key-1")
    known.key = rs256_template.key
    rotated = TokenFactory(clock=FrozenClock(now), kid="key-2")
    first = known.jwks()
    later = {"keys": first["keys"] + rotated.jwks()["keys"]}
    jwks = SlowJwks(first, later, delay_seconds=2.0)
    settings = app_settings(
        known, jwks_url=jwks.url, jwks_cooldown_seconds=0, jwks_timeout_seconds=10
    )
    auth = revoker_fastapi.RevokerAuth(settings)  # the real composition: HTTP key fetches
    warm_token, new_kid_token = known.access_token(), rotated.access_token()
    slow: dict[str, float] = {}
    try:
        with (
            uvicorn_thread(fastapi_app(auth)) as url,
            httpx.Client(base_url=url, timeout=10) as http,
        ):
            assert http.get("/me", headers=bearer(warm_token)).status_code == 200

            def new_kid_request() -> None:
                started = time.monotonic()
                with httpx.Client(base_url=url, timeout=10) as other:
                    slow["status"] = other.get("/me", headers=bearer(new_kid_token)).status_code
                slow["seconds"] = time.monotonic() - started

            waiter = threading.Thread(target=new_kid_request)
            waiter.start()
            assert jwks.slow_started.wait(5), "the new kid never reached the JWKS endpoint"
            timings = []
            for _ in range(5):
                started = time.monotonic()
                assert http.get("/me", headers=bearer(warm_token)).status_code == 200
                timings.append(time.monotonic() - started)
            waiter.join(15)
    finally:
        jwks.close()
    assert max(timings) < 0.5, timings  # the fetch takes 2 s: none of these waited for it
    assert slow == {"status": 200, "seconds": pytest.approx(2.0, abs=1.5)}
