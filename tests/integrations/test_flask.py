"""Flask: the extension, ``@require_token`` and ``current_principal`` through Flask's own test
client, and under gunicorn's pre-fork workers."""

from __future__ import annotations

import concurrent.futures
import sys
import time
from pathlib import Path

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient
from integrations_support import (
    DENIAL_REASONS,
    ServerProcess,
    app_settings,
    assert_insufficient_scope,
    assert_missing,
    assert_refused,
    bearer,
    build_for,
    claims_of,
    denied_token,
    free_port,
    python_tool,
    redis_backend,
    replica_threads,
    wait_until,
)
from werkzeug.exceptions import HTTPException
from wsgi_apps import SCOPE, flask_app

from revoker import Revoker
from revoker.core.clock import FrozenClock
from revoker.core.errors import ConfigurationError
from revoker.core.registry import RuleKind
from revoker.integrations.flask import RevokerAuth, TokenRefused
from revoker.testing import TokenFactory, serve_json

HERE = Path(__file__).resolve().parent


@pytest.fixture
def auth(factory: TokenFactory) -> RevokerAuth:
    return RevokerAuth(settings=app_settings(factory), build=build_for(factory))


@pytest.fixture
def app(auth: RevokerAuth) -> Flask:
    return flask_app(auth)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def test_an_allowed_token_is_the_current_principal(
    client: FlaskClient, factory: TokenFactory
) -> None:
    """A genuine token: 200, and ``current_principal`` is its holder, in sync and async views."""
    token = factory.access_token()
    assert client.get("/me", headers=bearer(token)).json["sub"] == "user-1"  # type: ignore[index]
    assert client.get("/async", headers=bearer(token)).json == {"sub": "user-1"}


def test_no_token_is_a_challenge_without_an_error_code(client: FlaskClient) -> None:
    """No bearer token: 401 ``Bearer realm=…``; a public view needs none."""
    response = client.get("/me")
    assert_missing(response.status_code, response.headers)
    assert response.json == {
        "error": "missing_token",
        "error_description": "send Authorization: Bearer <token>",
    }
    assert client.get("/public").status_code == 200


@pytest.mark.parametrize("reason", DENIAL_REASONS)
def test_each_denial_is_a_401_naming_its_reason(
    client: FlaskClient, app: Flask, factory: TokenFactory, reason: str
) -> None:
    """A bad, expired or revoked token: 401 ``invalid_token`` with the reason code."""
    token = denied_token(reason, factory, RevokerAuth.guard(app).revoker.registry)
    response = client.get("/me", headers=bearer(token))
    assert_refused(response.status_code, response.headers, response.json, reason)


def test_scopes_and_groups(client: FlaskClient, factory: TokenFactory) -> None:
    """``scopes=``: 403 insufficient_scope with ``scope=``; ``groups=``: 403 forbidden."""
    plain = factory.access_token()
    response = client.get("/orders", headers=bearer(plain))
    assert_insufficient_scope(response.status_code, response.headers, response.json, SCOPE)
    assert (
        client.get("/orders", headers=bearer(factory.access_token(scope=SCOPE))).status_code == 200
    )
    assert client.get("/admin", headers=bearer(plain)).json["error"] == "forbidden"  # type: ignore[index]
    admin = factory.id_token(**{"cognito:groups": ["admin"]})
    assert client.get("/admin", headers=bearer(admin)).status_code == 200


def test_logout_revokes_the_family_for_the_next_request(
    client: FlaskClient, factory: TokenFactory
) -> None:
    """Revoked mid-session: the token and its family's ID token are refused afterwards."""
    access = factory.access_token()
    sibling = factory.id_token(origin_jti=claims_of(access)["origin_jti"])
    assert client.post("/logout", headers=bearer(access)).json == {
        "kind": "family",
        "created": True,
    }
    for token in (access, sibling):
        response = client.get("/me", headers=bearer(token))
        assert_refused(response.status_code, response.headers, response.json, "revoked_family")


def test_an_app_wide_http_error_handler_does_not_reshape_the_answer(
    auth: RevokerAuth, factory: TokenFactory
) -> None:
    """``init_app`` registers the refusal's own handler, which wins over a generic one."""
    app = flask_app(auth)
    app.register_error_handler(HTTPException, lambda exc: ("generic", 599))
    response = app.test_client().get("/me", headers=bearer("not-a-jwt"))
    assert_refused(response.status_code, response.headers, response.json, "malformed")
    assert issubclass(TokenRefused, HTTPException)


def test_settings_come_from_app_config_through_the_one_loader(
    factory: TokenFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``app.config["REVOKER"]``: setting names to values, parsed like revoker.toml, winning
    over the environment, which fills in the rest."""
    monkeypatch.setenv("REVOKER_LEEWAY_SECONDS", "2")
    monkeypatch.setenv("REVOKER_MAX_STALENESS", "99")
    config = {
        "issuers": [factory.issuer],
        "audience": factory.client_id,  # a string, as in revoker.toml
        "store_url": "memory://",
        "max_staleness_seconds": "45s",
    }
    app = flask_app(RevokerAuth(build=build_for(factory)), REVOKER=config)
    settings = RevokerAuth.guard(app).settings
    assert settings.audience == (factory.client_id,)
    assert settings.max_staleness_seconds == 45.0
    assert settings.leeway_seconds == 2.0


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"audiense": ["x"]}, "did you mean audience"),
        ({"issuers": ["https://i.example"], "max_staleness_seconds": "soon"}, "duration"),
        ({"issuers": ["https://i.example"]}, "--audience"),
    ],
    ids=["misspelt", "unparsable", "no-audience"],
)
def test_a_misconfiguration_fails_at_init_app(config: dict[str, object], message: str) -> None:
    """A bad ``app.config["REVOKER"]`` fails when the app is set up, not at a request."""
    app = Flask(__name__)
    app.config["REVOKER"] = config
    with pytest.raises(ConfigurationError, match=message):
        RevokerAuth(app)


def test_threads_share_one_revoker_started_once(
    client: FlaskClient, app: Flask, factory: TokenFactory
) -> None:
    """Concurrent first requests on a threaded server start the revoker exactly once."""
    before = set(replica_threads())
    token = factory.access_token()

    def first_request(_: int) -> int:
        return app.test_client().get("/me", headers=bearer(token)).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(first_request, range(16)))
    assert statuses == [200] * 16
    assert len(set(replica_threads()) - before) == 1
    RevokerAuth.guard(app).close()
    assert not RevokerAuth.guard(app).started


@pytest.mark.skipif(sys.platform == "win32", reason="gunicorn is POSIX only")
def test_gunicorn_preforked_workers_each_start_their_own_revoker(
    rs256_template: TokenFactory, tmp_path: Path
) -> None:
    """gunicorn ``--preload`` with 2 workers, the revoker started in the master: each worker
    notices the fork, starts its own, and sees a rule written to the shared SQLite store."""
    factory = TokenFactory(clock=FrozenClock(time.time()))
    factory.key = rs256_template.key
    jwks = serve_json(factory.jwks())
    store_url = f"sqlite:///{tmp_path / 'rules.db'}"
    env = {
        "REVOKER_ISSUER": factory.issuer,
        "REVOKER_JWKS_URL": f"http://127.0.0.1:{jwks.server_address[1]}/jwks.json",
        "REVOKER_AUDIENCE": factory.client_id,
        "REVOKER_STORE": store_url,
        "REVOKER_POLL_INTERVAL": "0.05",
        "PYTHONPATH": str(HERE),
    }
    port = free_port()
    command = [python_tool("gunicorn"), "--preload", "--workers", "2", "--threads", "4",
               "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "5",
               "flask_preload_app:app"]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    token = factory.access_token()
    try:
        with ServerProcess(command, env=env, cwd=tmp_path, ready_url=f"{url}/public") as server:
            pids = set()
            for _ in range(40):  # a new connection each: both workers take some
                response = httpx.get(f"{url}/me", headers=bearer(token), timeout=5)
                assert response.status_code == 200
                pids.add(response.json()["pid"])
            assert len(pids) == 2, pids
            settings = app_settings(factory, store_url=store_url)
            with Revoker.for_rules(settings) as writer:
                writer.registry.revoke(RuleKind.FAMILY, claims_of(token)["origin_jti"])

            def every_worker_denies() -> bool:
                statuses = {
                    httpx.get(f"{url}/me", headers=bearer(token), timeout=5).status_code
                    for _ in range(10)
                }
                return statuses == {401}

            assert wait_until(every_worker_denies, seconds=10)
            code = server.stop()
    finally:
        jwks.shutdown()
        jwks.server_close()
    assert code == 0, server.output
    assert "Traceback" not in server.output, server.output


@pytest.mark.services
@pytest.mark.parametrize("store", ["sqlite", "redis"])
def test_the_first_request_starts_the_registry_on_a_real_store_and_close_stops_it(
    rs256_template: TokenFactory, tmp_path: Path, store: str
) -> None:
    """The first request starts this process's registry on a real store (a rule written
    by another process reaches it); ``close`` stops the replica thread and the store."""
    factory = TokenFactory(clock=FrozenClock(time.time()))
    factory.key = rs256_template.key
    if store == "sqlite":
        store_url = f"sqlite:///{tmp_path / 'rules.db'}"
    else:
        backend = redis_backend()
        backend.require_redis()
        store_url = f"{backend.URL}?prefix={backend.new_prefix()}"
    settings = app_settings(factory, store_url=store_url, poll_interval_seconds=0.05)
    auth = RevokerAuth(settings=settings, build=build_for(factory, frozen=False))
    app = flask_app(auth)
    client = app.test_client()
    token = factory.access_token()
    before = set(replica_threads())
    assert not RevokerAuth.guard(app).started
    assert client.get("/me", headers=bearer(token)).status_code == 200
    started = [thread for thread in replica_threads() if thread not in before]
    assert len(started) == 1
    with Revoker.for_rules(settings) as writer:
        writer.registry.revoke(RuleKind.FAMILY, claims_of(token)["origin_jti"])
    assert wait_until(lambda: client.get("/me", headers=bearer(token)).status_code == 401)
    auth.close(app)
    assert not RevokerAuth.guard(app).started
    assert wait_until(lambda: not started[0].is_alive(), seconds=5)
