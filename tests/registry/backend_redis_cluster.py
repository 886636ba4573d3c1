"""The Redis store on a real Redis Cluster (3 masters, 3 replicas on loopback) in the
contract suite: one cluster per test process, and a prefix (one hash slot) per test."""

from __future__ import annotations

import hashlib
from pathlib import Path

from redis_cluster_support import shared_cluster
from revoker.core.registry.stores.redis import RedisStore, open_redis_store


def open_store(path: Path) -> RedisStore:
    cluster = shared_cluster()
    # The same prefix for the same tmp_path, so a reopen finds the same keys.
    prefix = "revoker-cluster-" + hashlib.sha256(str(path).encode()).hexdigest()[:16]
    return open_redis_store(f"{cluster.url}?cluster=1&prefix={prefix}")


BACKENDS = [("redis-cluster", open_store, True)]
