"""Three `revoker serve` instances on one shared store: revoke through one, all three deny.

Runs against the real Redis and PostgreSQL of this machine (each test in its own
key prefix or schema); skips without them, fails under REVOKER_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import psycopg
import pytest
import redis
from service_support import ADMIN_TOKEN, bearer, service_missing

from process_support import ServeProcess
from revoker.devissuer import DevIssuerServer

Login = Callable[[], dict[str, str]]
REDIS_URL = os.environ.get("REVOKER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get(
    "REVOKER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
PROPAGATION_BOUND_SECONDS = 1.0


@pytest.fixture
def redis_store() -> Iterator[str]:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        service_missing(f"Redis at {REDIS_URL}")
    prefix = f"revoker-three-{uuid.uuid4().hex[:12]}"
    yield f"{REDIS_URL}?prefix={prefix}"
    keys = list(client.scan_iter(match="{" + prefix + "}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def postgres_store() -> Iterator[str]:
    try:
        psycopg.connect(POSTGRES_URL, connect_timeout=2).close()
    except psycopg.Error:
        service_missing(f"PostgreSQL at {POSTGRES_URL}")
    schema = f"revoker_three_{uuid.uuid4().hex[:12]}"
    yield f"{POSTGRES_URL}?schema={schema}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["redis", "postgresql"])
def shared_store(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param.replace('postgresql', 'postgres')}_store")
    return url


def test_a_revocation_through_one_instance_is_denied_by_all_three(
    shared_store: str, dev_issuer: DevIssuerServer, login: Login
) -> None:
    """Self-revocation on instance 1; within the bound, instances 1, 2 and 3 answer 401."""
    args = [
        "--issuer", dev_issuer.issuer,
        "--audience", dev_issuer.issuer_obj.client_id,
        "--store", shared_store,
        "--admin-token", ADMIN_TOKEN,
        "--max-staleness", "10",
    ]  # fmt: skip
    instances = [ServeProcess(*args) for _ in range(3)]
    try:
        urls = [instance.wait_ready() for instance in instances]
        tokens = login()
        for url in urls:
            allowed = httpx.get(f"{url}/auth", headers=bearer(tokens["IdToken"]), timeout=5)
            assert allowed.status_code == 200, allowed.text
        revoked = httpx.post(f"{urls[0]}/revoke", data={"token": tokens["AccessToken"]}, timeout=5)
        assert revoked.status_code == 200
        started = time.monotonic()
        denied_after: dict[str, float] = {}
        while len(denied_after) < 3 and time.monotonic() - started < 5:
            for url in urls:
                if url in denied_after:
                    continue
                answer = httpx.get(f"{url}/auth", headers=bearer(tokens["IdToken"]), timeout=5)
                if answer.status_code == 401:
                    assert "revoked_family" in answer.headers["www-authenticate"]
                    denied_after[url] = time.monotonic() - started
            time.sleep(0.01)
        assert sorted(denied_after) == sorted(urls), f"not every instance denied: {denied_after}"
        assert max(denied_after.values()) < PROPAGATION_BOUND_SECONDS, denied_after
        # Another sign-in is untouched everywhere.
        fresh = login()["IdToken"]
        for url in urls:
            assert httpx.get(f"{url}/auth", headers=bearer(fresh), timeout=5).status_code == 200
    finally:
        for instance in instances:
            instance.kill()
