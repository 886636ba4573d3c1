"""Store faults under load, through two service instances on one store.

- A private ``redis-server`` (its own port and directory, an fsync'd AOF) is killed with
  SIGKILL and started again: the instance keeps serving from its replica within
  ``max_staleness``, then denies ``registry_stale`` and ``/readyz`` turns 503; when Redis is
  back it heals without a restart, and every acknowledged revocation is still there.
- On the shared Redis and PostgreSQL, the instance's connections are killed again and again
  (CLIENT KILL, pg_terminate_backend, by client name) while revocations stream in through
  the other instance: no 5xx, no wrong decision, no acknowledged revocation lost.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hardening_attacks import Kit
from hardening_support import (
    TESTS,
    LiveServer,
    PrivateRedis,
    ask_auth,
    load_module,
    state_for,
    verifier_for,
)

from revoker.core.clock import FrozenClock
from revoker.core.registry import open_store
from revoker.service.app import RevokerApp, build_app

STALENESS = 30.0
PROPAGATION_SECONDS = 3.0


def wait_until(predicate: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


class Load:
    """A thread asking /auth about one token until stopped (at most ``limit`` requests)."""

    def __init__(self, url: str, token: str, limit: int = 50_000) -> None:
        self.answers: Counter[tuple[int, str]] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(url, token, limit), daemon=True)

    def _run(self, url: str, token: str, limit: int) -> None:
        with httpx.Client(base_url=url, timeout=10) as client:
            for _ in range(limit):
                if self._stop.is_set():
                    return
                answer = ask_auth(client, token)
                self.answers[(answer.status, answer.reason)] += 1

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(15)


@pytest.fixture
def instances(kit: Kit) -> Iterator[Callable[[str, FrozenClock], tuple[str, RevokerApp]]]:
    """``start(store_url, clock)``: an instance on loopback with a replica polling every 0.2 s."""
    servers: list[LiveServer] = []

    def start(url: str, clock: FrozenClock) -> tuple[str, RevokerApp]:
        verifier = verifier_for([kit.rs], clock)
        state = state_for(
            verifier, clock, kit.rs, store=open_store(url),
            max_staleness_seconds=STALENESS, poll_interval_seconds=0.2,
        )  # fmt: skip
        app = build_app(state)
        server = LiveServer(app)
        servers.append(server)
        return str(server.__enter__().base_url), app

    yield start
    for server in reversed(servers):
        server.__exit__(None, None, None)


@pytest.fixture
def wall_kit(kit: Kit) -> Kit:
    """Times near the wall clock, so Redis key expiries mean what they say."""
    kit.rs.clock = FrozenClock(time.time())
    return kit


def revoke(url: str, token: str) -> int:
    return httpx.post(url + "/revoke", data={"token": token}, timeout=30).status_code


def reason_at(url: str, token: str) -> str:
    with httpx.Client(base_url=url, timeout=10) as client:
        return ask_auth(client, token).reason


def test_a_redis_crash_fails_closed_then_heals_and_keeps_acknowledged_revocations(
    wall_kit: Kit, tmp_path: Path, instances: Callable[[str, FrozenClock], tuple[str, RevokerApp]]
) -> None:
    """Redis killed under load: stale then red, heals without restart, loses no revocation."""
    kit = wall_kit
    redis = PrivateRedis(tmp_path)
    redis.start()
    try:
        url = f"{redis.url}?prefix=hardening-{uuid.uuid4().hex[:8]}"
        clock_a = FrozenClock(kit.rs.clock())
        a, _ = instances(url, clock_a)
        b, _ = instances(url, FrozenClock(kit.rs.clock()))
        valid, before = kit.rs.access_token(), kit.rs.access_token()
        with Load(a, valid) as load:
            assert revoke(b, before) == 200  # acknowledged: durable in the AOF
            assert wait_until(lambda: reason_at(a, before) == "revoked_family", 5)

            redis.stop()  # kill -9
            assert revoke(b, kit.rs.access_token()) == 503  # not acknowledged
            assert reason_at(a, valid) == "allowed"  # within max_staleness
            assert reason_at(a, before) == "revoked_family"
            assert httpx.get(a + "/readyz").status_code == 200

            clock_a.advance(STALENESS + 1)
            assert reason_at(a, valid) == "registry_stale"
            assert reason_at(a, before) == "registry_stale"
            assert httpx.get(a + "/readyz").status_code == 503

            redis.start()
            assert wait_until(lambda: httpx.get(a + "/readyz").status_code == 200, 15)
            assert reason_at(a, valid) == "allowed"
            assert reason_at(a, before) == "revoked_family"
            after = kit.rs.access_token()
            assert revoke(b, after) == 200
            assert wait_until(lambda: reason_at(a, after) == "revoked_family", 5)
            # A new instance reads the store itself: the rule survived the crash there too.
            c, _ = instances(url, FrozenClock(kit.rs.clock()))
            assert reason_at(c, before) == "revoked_family"
        assert set(load.answers) <= {(200, "allowed"), (401, "registry_stale")}
        assert load.answers[(200, "allowed")] > 20
        assert load.answers[(401, "registry_stale")] > 0
    finally:
        redis.stop()


def _kill_redis(base_url: str, names: set[str]) -> int:
    import redis  # noqa: PLC0415 - only this backend's test needs the driver

    client = redis.Redis.from_url(base_url, decode_responses=True)
    try:
        ids = [c["id"] for c in client.client_list() if c["name"] in names]
        for client_id in ids:
            client.client_kill_filter(_id=client_id)
        return len(ids)
    finally:
        client.close()


def _kill_postgres(base_url: str, names: set[str]) -> int:
    import psycopg  # noqa: PLC0415

    with psycopg.connect(base_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))"
            " FROM pg_stat_activity WHERE application_name = ANY(%s)",
            (sorted(names),),
        ).fetchone()
    assert row is not None
    return int(row[0])


def _backend(name: str) -> tuple[str, Callable[[str], str], Callable[[str, set[str]], int]]:
    """The server URL, how to name an instance's connections in it, and how to kill them."""
    module: Any = load_module(TESTS / "registry" / f"backend_{name}.py")
    if name == "redis":
        module.require_redis()
        prefix = module.new_prefix()
        return (
            module.URL,
            lambda app: f"{module.URL}?prefix={prefix}&client_name={app}",
            _kill_redis,
        )
    module.require_postgres()
    schema = module.new_schema()
    sep = "&" if "?" in module.URL else "?"
    options = f"schema={schema}&pool_timeout=2&application_name="
    return module.URL, lambda app: f"{module.URL}{sep}{options}{app}", _kill_postgres


@pytest.mark.parametrize("backend", ["redis", "postgresql"])
def test_killed_connections_under_load_lose_no_revocation(
    wall_kit: Kit, instances: Callable[[str, FrozenClock], tuple[str, RevokerApp]], backend: str
) -> None:
    """Killing A's store connections again and again: no 5xx, no wrong or lost decision."""
    kit = wall_kit
    base, url_for, kill = _backend("redis" if backend == "redis" else "postgres")
    name_a = f"hardening-a-{uuid.uuid4().hex[:8]}"
    a, _ = instances(url_for(name_a), FrozenClock(kit.rs.clock()))
    b, _ = instances(url_for(f"hardening-b-{uuid.uuid4().hex[:8]}"), FrozenClock(kit.rs.clock()))
    valid = kit.rs.access_token()
    acknowledged: list[str] = []
    with Load(a, valid) as load:
        for n in range(12):
            if n % 3 == 0:  # A may still be reconnecting from the last kill: kill once it is back
                names = {name_a, f"{name_a}-push"}
                assert wait_until(lambda: kill(base, names) >= 1, 10.0)  # noqa: B023
            token = kit.rs.access_token()
            for _attempt in range(5):  # a client retries a 503, as RFC 7009 lets it
                if revoke(b, token) == 200:
                    acknowledged.append(token)
                    break
        assert len(acknowledged) == 12
        assert wait_until(
            lambda: all(reason_at(a, t) == "revoked_family" for t in acknowledged),
            PROPAGATION_SECONDS + 10,
        )
        assert httpx.get(a + "/readyz").status_code == 200
    assert set(load.answers) == {(200, "allowed")}, load.answers
    assert load.answers[(200, "allowed")] > 20
