"""The Redis store on a Redis Cluster: redis-py's cluster client, and the slot's master.

Every key of a namespace carries one hash tag (``{revoker}``), so they all live
in one slot, on one master. Single commands and MULTI pipelines go through
``redis.cluster.RedisCluster``, which follows MOVED and refreshes its slot
table after a failover. A write, though, must run its script and its WAIT on
one connection (WAIT counts that connection's writes), and the cluster client
would send WAIT to every node and add the answers up; so writes go to the
slot's master directly (``on_slot_master``), and when that master is gone or
has been demoted, the slot table is refreshed and the write is sent again
(safe: each write carries a nonce, see ``_redis_lua``).

Push stays on classic PUBLISH, which a cluster broadcasts to every node: the
subscriber may listen on any live node, so losing one node (the slot's master
included) costs a reconnect to another, and the scripts are the same as on a
single server. Sharded SPUBLISH would spare the other shards that traffic, but
ties the subscriber to the slot's nodes; one small message per revocation is
not worth that.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.cluster import RedisCluster
from redis.exceptions import (
    ClusterDownError,
    RedisClusterException,
    TryAgainError,
)
from redis.retry import Retry

__all__ = [
    "CLUSTER_ERRORS",
    "SlotPipeline",
    "close_cluster",
    "connect_cluster",
    "node_urls",
    "on_slot_master",
]

T = TypeVar("T")

#: What the store turns into ``StoreError`` besides ``redis.RedisError``: the cluster
#: client raises these (no slot covered, no node reachable), and they are not RedisErrors.
CLUSTER_ERRORS = (redis.RedisError, RedisClusterException)

# A master that died, was demoted (MOVED), or a slot mid-failover: refresh and resend.
_RESEND = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.exceptions.AskError,  # MovedError is an AskError
    TryAgainError,
    ClusterDownError,
    redis.ReadOnlyError,
    RedisClusterException,
)
_ATTEMPTS = 6  # waits of 0.05 .. 0.5 s: about 1.3 s, then the caller sees StoreError


def connect_cluster(url: str, retry: Retry, *, client_name: str, binary: bool = False) -> Any:
    """A cluster client seeded from ``url``'s node; its replies are str (bytes if ``binary``)."""
    return RedisCluster.from_url(
        url,
        client_name=client_name,
        decode_responses=not binary,
        socket_timeout=5.0,
        socket_connect_timeout=5.0,
        retry=retry,
    )


def close_cluster(cluster: Any) -> None:
    """Close the client and its node pools: redis-py's ``close`` leaves the pools of a
    client made ``from_url`` open, and their sockets would linger until collected."""
    nodes = cluster.get_nodes()
    cluster.close()
    for node in nodes:
        if node.redis_connection is not None:
            node.redis_connection.connection_pool.disconnect()


def on_slot_master(cluster: Any, key: str, run: Callable[[Any], T]) -> T:
    """``run(client)`` with a plain client of the master that serves ``key``'s slot.

    On a lost or demoted master, the slot table is refreshed and ``run`` called
    again, a bounded number of times; the last error is raised.
    """
    for attempt in range(_ATTEMPTS):
        try:
            node = cluster.get_node_from_key(key)
            return run(cluster.get_redis_connection(node))
        except _RESEND:
            if attempt == _ATTEMPTS - 1:
                raise
        time.sleep(min(0.5, 0.05 * 2**attempt))
        with contextlib.suppress(*CLUSTER_ERRORS):
            cluster.nodes_manager.initialize()
    raise AssertionError("unreachable")  # pragma: no cover -- the loop returns or raises


class SlotPipeline:
    """A pipeline queued here and sent, on ``execute``, to the master of ``key``'s slot
    (again after a failover). redis-py's cluster pipeline is not used: in a MULTI it
    hands back raw replies (XRANGE as nested lists), and it would spread WAIT over
    every node."""

    def __init__(self, cluster: Any, key: str, *, transaction: bool) -> None:
        self._cluster = cluster
        self._key = key
        self._transaction = transaction
        self._calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Callable[..., SlotPipeline]:
        def queue(*args: Any, **kwargs: Any) -> SlotPipeline:
            self._calls.append((name, args, kwargs))
            return self

        return queue

    def execute(self) -> list[Any]:
        def run(client: Any) -> list[Any]:
            pipe = client.pipeline(transaction=self._transaction)
            for name, args, kwargs in self._calls:
                getattr(pipe, name)(*args, **kwargs)
            return list(pipe.execute())

        return on_slot_master(self._cluster, self._key, run)


def node_urls(cluster: Any, url: str, key: str) -> Iterator[str]:
    """``url`` pointed at each node the cluster client knows (the seed's too), so a
    subscriber can fall back from a dead node to a live one with the same credentials.

    The master of ``key``'s slot comes first: it runs the scripts, so its own
    subscribers hear a PUBLISH without the hop over the cluster bus.
    """
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    seen: set[tuple[str, int]] = set()
    known = cluster.get_nodes()
    with contextlib.suppress(*CLUSTER_ERRORS):
        known.insert(0, cluster.get_node_from_key(key))
    nodes = [(str(node.host), int(node.port)) for node in known]
    for host, port in [*nodes, (parts.hostname or "localhost", parts.port or 6379)]:
        if (host, port) in seen:
            continue
        seen.add((host, port))
        netloc = f"{credentials}@" if credentials else ""
        netloc += f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        yield urlunsplit(parts._replace(netloc=netloc))
