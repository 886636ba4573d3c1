"""A real Redis Cluster on loopback, for the cluster tests and benchmarks to share.

``LocalRedisCluster`` starts ``masters`` x (1 + ``replicas``) ``redis-server``
child processes in a temporary folder, each on a free port (its cluster bus on
port + 10000 free too), joins them with ``redis-cli --cluster create``, and
waits until every slot is served and every replica is in sync. It can kill a
node by its PID (SIGKILL, as a crash) and start it again on the same port and
folder, where it rejoins as a replica of whoever took its slots over.
``stop()`` ends every process it started, by PID, and removes the folder.

``shared_cluster()`` is one cluster per test process, started on first use and
stopped at exit, for the tests that do not break it (the store contract);
a test that kills nodes starts its own. Without ``redis-server``/``redis-cli``
``require_cluster_binaries()`` skips, or fails under REVOKER_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

__all__ = [
    "ClusterNode",
    "LocalRedisCluster",
    "cluster_binaries",
    "require_cluster_binaries",
    "shared_cluster",
]

_SHARED: list[LocalRedisCluster] = []


def cluster_binaries() -> tuple[str, str] | None:
    """The paths of ``redis-server`` and ``redis-cli``, or None when either is missing."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    return (server, cli) if server and cli else None


def require_cluster_binaries() -> None:
    """Skip without redis-server and redis-cli; fail under REVOKER_REQUIRE_SERVICES=1."""
    if cluster_binaries() is not None:
        return
    what = "redis-server and redis-cli (for a Redis Cluster)"
    if os.environ.get("REVOKER_REQUIRE_SERVICES", "") in ("1", "true", "yes"):
        pytest.fail(f"{what} are required (REVOKER_REQUIRE_SERVICES=1) but missing")
    pytest.skip(f"{what} are not installed here")


def shared_cluster() -> LocalRedisCluster:
    """One healthy cluster for this test process (started once, stopped at exit)."""
    require_cluster_binaries()
    if not _SHARED:
        cluster = LocalRedisCluster().start()
        atexit.register(cluster.stop)
        _SHARED.append(cluster)
    return _SHARED[0]


@dataclass
class ClusterNode:
    """One ``redis-server`` of the cluster: its port, folder and (while running) process."""

    port: int
    folder: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self, timeout_seconds: float = 2.0) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            decode_responses=True,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
        )

    def info(self, section: str) -> dict[str, str]:
        """``INFO section`` (or CLUSTER INFO for "cluster") as text fields; {} when down."""
        client = self.client(1.0)
        try:
            if section == "cluster":
                reply = client.execute_command("CLUSTER INFO")  # redis-py parses it to a dict
                return {str(key): str(value) for key, value in dict(reply).items()}
            return {key: str(value) for key, value in client.info(section).items()}
        except redis.RedisError:
            return {}
        finally:
            client.close()


class LocalRedisCluster:
    """Redis Cluster processes on loopback (see the module docstring)."""

    def __init__(
        self,
        *,
        masters: int = 3,
        replicas: int = 1,
        node_timeout_ms: int = 1000,
        root: Path | None = None,
    ) -> None:
        binaries = cluster_binaries()
        if binaries is None:
            raise FileNotFoundError("redis-server and redis-cli are needed for a Redis Cluster")
        self._server, self._cli = binaries
        self._root = root
        self._count = masters * (1 + replicas)
        self._node_timeout_ms = node_timeout_ms
        self._replicas = replicas
        self.nodes: list[ClusterNode] = []  # chosen by start()

    # -- lifecycle -----------------------------------------------------------

    def start(self, timeout_seconds: float = 20.0) -> LocalRedisCluster:
        """Start every node, create the cluster, and wait until it serves every slot."""
        root = self._root or Path(tempfile.mkdtemp(prefix="revoker-cluster-"))
        self.nodes = [ClusterNode(port, root / str(port)) for port in _free_ports(self._count)]
        try:
            for node in self.nodes:
                node.folder.mkdir(parents=True, exist_ok=True)
                self._spawn(node)
            deadline = time.monotonic() + timeout_seconds
            for node in self.nodes:
                self._wait_ping(node, deadline)
            subprocess.run(
                [
                    self._cli,
                    "--cluster",
                    "create",
                    *(node.address for node in self.nodes),
                    "--cluster-replicas",
                    str(self._replicas),
                    "--cluster-yes",
                ],
                check=True,
                capture_output=True,
                timeout=timeout_seconds,
            )
            self.wait_healthy(deadline - time.monotonic())
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """End every process this cluster started (by PID) and remove its folder."""
        for node in self.nodes:
            self._end(node, signal.SIGTERM)
        if self._root is None and self.nodes:
            shutil.rmtree(self.nodes[0].folder.parent, ignore_errors=True)

    def __enter__(self) -> LocalRedisCluster:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- what the tests ask --------------------------------------------------

    @property
    def url(self) -> str:
        """A seed URL (the first node); the cluster client discovers the rest."""
        return f"redis://{self.nodes[0].address}/0"

    def running(self) -> list[ClusterNode]:
        return [n for n in self.nodes if n.process is not None and n.process.poll() is None]

    def master_of(self, key: str) -> ClusterNode:
        """The node that currently serves ``key``'s slot as master."""
        for node in self.running():
            client = node.client()
            try:
                slot = int(client.execute_command("CLUSTER KEYSLOT", key))
                for start, end, master, *_ in client.execute_command("CLUSTER SLOTS"):
                    if int(start) <= slot <= int(end):
                        return self._node_at(int(master[1]))
            except redis.RedisError:
                continue
            finally:
                client.close()
        raise RuntimeError(f"no running node knows who serves {key!r}")

    def kill(self, node: ClusterNode) -> None:
        """SIGKILL ``node`` by its PID, as a crash: no shutdown, no last save."""
        self._end(node, signal.SIGKILL)

    def restart(self, node: ClusterNode) -> None:
        """Start ``node`` again on its port and folder (it rejoins from its nodes.conf)."""
        self._spawn(node)
        self._wait_ping(node, time.monotonic() + 10.0)

    def wait_healthy(self, timeout_seconds: float = 20.0) -> None:
        """Wait until every running node says the cluster is ok and its replicas are synced."""
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if all(self._healthy(node) for node in self.running()):
                return
            time.sleep(0.05)
        raise TimeoutError("the Redis Cluster did not become healthy in time")

    def wait_master(
        self, key: str, *, not_on: ClusterNode, timeout_seconds: float = 15.0
    ) -> ClusterNode:
        """Wait until ``key``'s slot is served by a running master other than ``not_on``."""
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            with contextlib.suppress(RuntimeError):
                node = self.master_of(key)
                if node is not not_on and node.info("cluster").get("cluster_state") == "ok":
                    return node
            time.sleep(0.05)
        raise TimeoutError(f"no replica took over {key!r}'s slot in time")

    # -- internals -----------------------------------------------------------

    def _node_at(self, port: int) -> ClusterNode:
        return next(node for node in self.nodes if node.port == port)

    def _healthy(self, node: ClusterNode) -> bool:
        if node.info("cluster").get("cluster_state") != "ok":
            return False
        replication = node.info("replication")
        if replication.get("role") == "slave":
            return replication.get("master_link_status") == "up"
        return replication.get("role") == "master"

    def _spawn(self, node: ClusterNode) -> None:
        log = (node.folder / "redis.log").open("ab")
        try:
            node.process = subprocess.Popen(
                [self._server, *_options(node.port, node.folder, self._node_timeout_ms)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=node.folder,
            )
        finally:
            log.close()

    def _wait_ping(self, node: ClusterNode, deadline: float) -> None:
        while time.monotonic() < deadline:
            if node.process is not None and node.process.poll() is not None:
                log = (node.folder / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server on {node.port} exited:\n{log}")
            client = node.client(0.5)
            try:
                if client.ping():
                    return
            except redis.RedisError:
                time.sleep(0.02)
            finally:
                client.close()
        raise TimeoutError(f"redis-server on {node.port} did not answer in time")

    def _end(self, node: ClusterNode, sig: signal.Signals) -> None:
        process, node.process = node.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _options(port: int, folder: Path, node_timeout_ms: int) -> list[str]:
    options = {
        "port": str(port),
        "bind": "127.0.0.1",
        "dir": str(folder),
        "cluster-enabled": "yes",
        "cluster-config-file": "nodes.conf",
        "cluster-node-timeout": str(node_timeout_ms),
        "save": "",
        "appendonly": "no",
        "repl-diskless-sync-delay": "0",  # a replica syncs at once, not in 5 s
        "protected-mode": "no",
    }
    return [part for name, value in options.items() for part in (f"--{name}", value)]


def _free_ports(count: int) -> list[int]:
    """``count`` ports free on loopback whose cluster bus ports (+10000) are free too."""
    ports: list[int] = []
    for _ in range(count * 50):
        if len(ports) == count:
            return ports
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if (
            port + 10000 < 65536
            and port not in ports
            and _bindable(port)
            and _bindable(port + 10000)
        ):
            ports.append(port)
    raise RuntimeError("found no free ports for a Redis Cluster")


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
