"""Failover: a Redis Cluster master killed under a revocation load, and the history
rewrite a failover can leave behind for a reader."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis
from backend_redis import URL, drop, new_prefix, require_redis
from registry_support import T0, make

from redis_cluster_support import ClusterNode, LocalRedisCluster, require_cluster_binaries
from revoker.core.errors import StoreError
from revoker.core.registry import Registry, Rule, open_store
from revoker.core.registry.stores import _redis_bulk
from revoker.core.registry.stores.redis import open_redis_store

# A token carrying only a jti: what a token rule matches on.
RAW = "h.p.s"


class RevocationLoad:
    """Revokes token rules one after another on a thread (at most ``limit``, a few ms
    apart) and keeps what each call answered: a rule (acknowledged) or an error."""

    def __init__(self, registry: Registry, *, limit: int = 3_000) -> None:
        self._registry = registry
        self._limit = limit
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.acknowledged: list[Rule] = []
        self.refused: list[StoreError] = []
        self.unexpected: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, name="revocation-load", daemon=True)

    def __enter__(self) -> RevocationLoad:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def wait_acknowledged(self, count: int, timeout_seconds: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_seconds
        while len(self.acknowledged) < count:
            assert self._thread.is_alive(), "the load ended early"
            assert time.monotonic() < deadline, f"{len(self.acknowledged)} of {count} acked"
            time.sleep(0.01)

    def _run(self) -> None:
        for n in range(self._limit):
            if self._stop.is_set():
                return
            try:
                rule = self._registry.revoke("token", f"jti-{n}", reason="load")
            except StoreError as exc:  # not acknowledged: the caller would retry
                self.refused.append(exc)
            except BaseException as exc:  # noqa: BLE001 -- reported by the test
                self.unexpected.append(exc)
            else:
                self.acknowledged.append(rule)
            self._stop.wait(0.003)


def wait_for(condition: Callable[[], bool], *, timeout_seconds: float) -> bool:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def push_connection_on(node: ClusterNode, name: str) -> bool:
    """Whether a connection called ``name`` is open on ``node`` (CLIENT LIST)."""
    with node.client() as client:
        try:
            return any(entry.get("name") == name for entry in client.client_list())
        except redis.RedisError:
            return False


@pytest.fixture
def cluster() -> Iterator[LocalRedisCluster]:
    """A cluster of its own: this test kills one of its masters."""
    require_cluster_binaries()
    with LocalRedisCluster(node_timeout_ms=1000) as started:
        yield started


def test_a_master_killed_under_load_loses_no_acknowledged_revocation(
    cluster: LocalRedisCluster,
) -> None:
    """SIGKILL the master of the namespace's slot while revocations (wait_replicas=1) flow:
    its replica takes over, every acknowledged revocation is still there, writes resume,
    and a running replica's push reconnects and sees new rules without a restart."""
    prefix = f"failover-{uuid.uuid4().hex[:12]}"
    url = f"{cluster.url}?cluster=1&prefix={prefix}"
    seq_key = "{" + prefix + "}:seq"
    writer = Registry(open_store(f"{url}&wait_replicas=1&client_name=writer"))
    # Slow polls while push is up: a rule that arrives quickly after the failover came by push.
    reader = Registry(
        open_store(f"{url}&client_name=reader"),
        poll_interval_seconds=0.2,
        push_poll_interval_seconds=60,
    )
    try:
        reader.start()
        assert wait_for(lambda: reader.replica.push_healthy, timeout_seconds=10)
        master = cluster.master_of(seq_key)
        assert push_connection_on(master, "reader-push")  # it will lose its node too
        with RevocationLoad(writer) as load:
            load.wait_acknowledged(50)
            cluster.kill(master)
            acknowledged_before_kill = len(load.acknowledged)
            cluster.wait_master(seq_key, not_on=master)
            # Push moves to a live node while the killed one is still down.
            assert wait_for(
                lambda: any(push_connection_on(n, "reader-push") for n in cluster.running()),
                timeout_seconds=10,
            )
            cluster.restart(master)  # back as a replica: WAIT 1 can be met again
            cluster.wait_healthy()
            load.wait_acknowledged(acknowledged_before_kill + 50)
        assert not load.unexpected, load.unexpected
        acknowledged = load.acknowledged

        check = open_redis_store(url)
        try:
            stored = {rule.id for rule in check.snapshot(time.time())[1]}
        finally:
            check.close()
        lost = [rule.value for rule in acknowledged if rule.id not in stored]
        assert not lost, f"{len(lost)} acknowledged revocations lost: {lost[:5]}"

        assert wait_for(lambda: reader.replica.push_healthy, timeout_seconds=10)
        writer.revoke("token", "jti-after-failover")
        assert wait_for(
            lambda: reader.match({"jti": "jti-after-failover"}, {}, RAW) is not None,
            timeout_seconds=10,
        )
        missed = [r.value for r in acknowledged if reader.match({"jti": r.value}, {}, RAW) is None]
        assert not missed, f"the replica misses {len(missed)}: {missed[:5]}"
    finally:
        reader.close()
        writer.close()


@pytest.fixture
def prefix() -> Iterator[str]:
    require_redis()
    name = new_prefix()
    yield name
    drop(name)


def test_a_reader_reloads_when_a_failover_rewrote_its_last_seq(prefix: str) -> None:
    """A reader read seq 2 from a master that died before its replica had it; the new
    master gives seq 2 to another rule. The reader must reload, not skip that rule."""
    writer = open_redis_store(f"{URL}?prefix={prefix}")
    reader = open_redis_store(f"{URL}?prefix={prefix}")
    admin = redis.Redis.from_url(URL, decode_responses=True)
    try:
        writer.add(make("token", "j-1"))
        lost = make("token", "j-lost")
        writer.add(lost)
        changes = reader.changes_since(0)
        assert changes is not None
        assert [c.seq for c in changes] == [1, 2]
        # What the promoted replica holds: the history up to seq 1 only.
        tag = "{" + prefix + "}"
        for log in (f"{tag}:changes", f"{tag}:audit"):
            (_, first), *_ = admin.xrange(log, "1-0", "1-0")
            admin.delete(log)
            admin.xadd(log, first, id="1-0")
        admin.set(f"{tag}:seq", 1)
        admin.delete(f"{tag}:rule:{lost.id}")
        admin.zrem(f"{tag}:rules", lost.id)
        admin.zrem(f"{tag}:expiry", lost.id)
        admin.hdel(f"{tag}:bucket:{_redis_bulk.bucket_of(lost.id)}", lost.id)
        writer.add(make("token", "j-new"))  # seq 2 again, another rule
        assert reader.changes_since(2) is None
        assert sorted(r.value for r in reader.snapshot(T0)[1]) == ["j-1", "j-new"]
        assert reader.changes_since(2) == []
    finally:
        admin.close()
        reader.close()
        writer.close()


def test_a_reader_at_an_unchanged_seq_reads_on(prefix: str) -> None:
    """Without a rewrite the tip check passes: the reader gets the next changes as usual."""
    writer = open_redis_store(f"{URL}?prefix={prefix}")
    reader = open_redis_store(f"{URL}?prefix={prefix}")
    try:
        writer.add(make("token", "j-1"))
        seq, _ = reader.snapshot(T0)
        writer.add(make("token", "j-2"))
        changes = reader.changes_since(seq)
        assert changes is not None
        assert [c.rule.value for c in changes] == ["j-2"]
    finally:
        reader.close()
        writer.close()
