"""The Redis store on a real Redis Cluster (``?cluster=1``): one slot per namespace,
WAIT on the slot's master, push from the cluster. The shared contract runs on it too
(``backend_redis_cluster``); the failover is in ``test_store_redis_failover``."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.cluster import RedisCluster
from registry_support import make

from redis_cluster_support import LocalRedisCluster, require_cluster_binaries, shared_cluster
from revoker.core.errors import ConfigurationError, StoreError
from revoker.core.registry import open_store
from revoker.core.registry.stores.redis import RedisStore, open_redis_store


@pytest.fixture
def cluster() -> LocalRedisCluster:
    return shared_cluster()


@pytest.fixture
def prefix() -> str:
    return f"cluster-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def store(cluster: LocalRedisCluster, prefix: str) -> Iterator[RedisStore]:
    opened = open_redis_store(f"{cluster.url}?cluster=1&prefix={prefix}")
    yield opened
    opened.close()


def test_cluster_1_opens_the_store_with_the_cluster_client(
    cluster: LocalRedisCluster, prefix: str
) -> None:
    """``redis://node?cluster=1`` seeds redis-py's cluster client, which finds every master."""
    store = open_store(f"{cluster.url}?cluster=1&prefix={prefix}")
    try:
        assert isinstance(store, RedisStore)
        client = store._client
        assert isinstance(client, RedisCluster)
        assert len(client.get_primaries()) == 3
    finally:
        store.close()


def test_a_bad_cluster_option_is_a_configuration_error(cluster: LocalRedisCluster) -> None:
    """``cluster`` takes 0 or 1, like the store's other switches."""
    with pytest.raises(ConfigurationError, match=r"cluster must be an integer 0\.\.1"):
        open_redis_store(f"{cluster.url}?cluster=yes")


def test_a_cluster_url_with_another_database_is_a_configuration_error(
    cluster: LocalRedisCluster,
) -> None:
    """A cluster has database 0 only: /1 is refused before any connection."""
    with pytest.raises(ConfigurationError, match="database 0 only"):
        open_redis_store(f"{cluster.url[:-2]}/1?cluster=1")


def test_every_key_of_a_namespace_lives_on_one_master(
    cluster: LocalRedisCluster, store: RedisStore, prefix: str
) -> None:
    """Adds, a lift, a bulk add and a prune put all of a prefix's keys in one slot, on the
    master that serves it, and nowhere else."""
    now = time.time()
    rule = make("token", "j-1", now=now)
    store.add(rule)
    store.add_many([make("subject", f"user-{n}", now=now) for n in range(20)])
    store.lift(rule.id, actor="test", reason="", now=now)
    store.prune(now)
    master = cluster.master_of("{" + prefix + "}:seq")
    holders: dict[int, list[str]] = {}
    for node in cluster.running():
        client = node.client()
        try:
            if client.info("replication")["role"] == "master":
                holders[node.port] = list(client.scan_iter(match="{" + prefix + "}:*"))
        finally:
            client.close()
    assert set(holders[master.port]) >= {"{" + prefix + "}:seq", "{" + prefix + "}:changes"}
    assert all(not keys for port, keys in holders.items() if port != master.port)


def test_wait_replicas_counts_the_slot_masters_own_replicas(
    cluster: LocalRedisCluster, prefix: str
) -> None:
    """WAIT goes to the slot's master: its one replica confirms wait_replicas=1, and
    wait_replicas=2 fails (the cluster client would have added up every node's answer)."""
    one = open_redis_store(f"{cluster.url}?cluster=1&prefix={prefix}&wait_replicas=1")
    two = RedisStore(
        cluster.url, prefix=prefix, cluster=True, wait_replicas=2, wait_timeout_seconds=0.2
    )
    try:
        assert one.add(make("token", "j-1")) == 1
        unconfirmed = make("token", "j-2")
        with pytest.raises(StoreError, match="only 1 of 2 Redis replicas"):
            two.add(unconfirmed)
        assert two.get(unconfirmed.id) is not None  # written, just not confirmed
    finally:
        one.close()
        two.close()


def test_a_subscriber_hears_every_write_on_the_cluster(store: RedisStore) -> None:
    """PUBLISH from the write script reaches the store's subscriber in cluster mode."""
    heard = threading.Event()
    subscription = store.subscribe(heard.set)
    try:
        assert heard.wait(10)  # the listener's one call on subscribing
        assert subscription.healthy
        heard.clear()
        store.add(make("token", "j-pushed"))
        assert heard.wait(10)
    finally:
        subscription.close()


def test_an_unreachable_cluster_is_a_store_error() -> None:
    """A seed node nobody listens on: StoreError naming the address, not a cluster trace."""
    with pytest.raises(StoreError, match=r"127\.0\.0\.1:1 could not reach the cluster"):
        open_redis_store("redis://:secret@127.0.0.1:1/0?cluster=1")


def test_a_cluster_error_never_shows_the_password() -> None:
    """The password in the URL stays out of the error."""
    with pytest.raises(StoreError) as caught:
        open_redis_store("redis://:hunter2-secret@127.0.0.1:1/0?cluster=1")
    assert "hunter2-secret" not in str(caught.value)


def test_missing_redis_server_fails_when_services_are_required(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under REVOKER_REQUIRE_SERVICES=1 (CI) a machine without redis-server fails, not skips."""
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no redis-server, no redis-cli
    monkeypatch.setenv("REVOKER_REQUIRE_SERVICES", "1")
    with pytest.raises(pytest.fail.Exception, match="REVOKER_REQUIRE_SERVICES=1"):
        require_cluster_binaries()
    monkeypatch.setenv("REVOKER_REQUIRE_SERVICES", "0")
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        require_cluster_binaries()
