"""Push against the real servers: latency, killed connections, an outage, several processes.

Every replica here polls only every 30 s, so whatever arrives sooner came by
push (or by the catch-up a reconnect makes). Connections are found by the
client_name / application_name each replica sets, and killed with CLIENT KILL
or pg_terminate_backend; a server outage is a loopback relay the test cuts.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import backend_postgres
import backend_redis
import psycopg
import pytest
import redis

from revoker.core.clock import FrozenClock
from revoker.core.errors import RegistryStale
from revoker.core.registry import Registry, Rule

ISS = "https://issuer.example"
SLOW_POLL = {"poll_interval_seconds": 30.0, "max_staleness_seconds": 120.0}


def claims_for(jti: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    return {"iss": ISS, "jti": jti, "sub": "user-1", "iat": int(time.time())}, {}, "a.b.c"


def wait_for(predicate: Callable[[], bool], timeout_seconds: float) -> float | None:
    """Seconds until the predicate holds, or None past the bound (checked every 2 ms)."""
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) <= timeout_seconds:
        if predicate():
            return elapsed
        time.sleep(0.002)
    return None


def denies(registry: Registry, rule: Rule) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return registry.match(*claims_for(rule.value)) == rule
        except RegistryStale:
            return False

    return check


# -- the two servers ----------------------------------------------------------


def _kill_redis(app: str, *, push_only: bool) -> int:
    names = {f"{app}-push"} if push_only else {app, f"{app}-push"}
    client = redis.Redis.from_url(backend_redis.URL, decode_responses=True)
    try:
        ids = [c["id"] for c in client.client_list() if c["name"] in names]
        for client_id in ids:
            client.client_kill_filter(_id=client_id)
        return len(ids)
    finally:
        client.close()


def _kill_postgres(app: str, *, push_only: bool) -> int:
    names = [f"{app}-push"] if push_only else [app, f"{app}-push"]
    with psycopg.connect(backend_postgres.URL, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))"
            " FROM pg_stat_activity WHERE application_name = ANY(%s)",
            (names,),
        ).fetchone()
    assert row is not None
    return int(row[0])


@dataclass(frozen=True)
class Service:
    """One server: how to reach it, give a test its own namespace, and kill a client's links."""

    name: str
    url: str
    require: Callable[[], None]
    new_namespace: Callable[[], str]
    drop: Callable[[str], None]
    options: Callable[[str, str], str]  # (namespace, client name) -> query string
    kill: Callable[..., int]  # (client name, *, push_only) -> connections killed

    def store_url(self, namespace: str, app: str, *, via_port: int | None = None) -> str:
        parts = urlsplit(self.url)
        if via_port is not None:
            netloc = parts.netloc.rpartition("@")
            host = f"127.0.0.1:{via_port}"
            parts = parts._replace(netloc=f"{netloc[0]}@{host}" if netloc[1] else host)
        joined = "&" if parts.query else ""
        query = f"{parts.query}{joined}{self.options(namespace, app)}"
        return urlunsplit(parts._replace(query=query))


REDIS = Service(
    name="redis",
    url=backend_redis.URL,
    require=backend_redis.require_redis,
    new_namespace=backend_redis.new_prefix,
    drop=backend_redis.drop,
    options=lambda prefix, app: f"prefix={prefix}&client_name={app}",
    kill=_kill_redis,
)
POSTGRES = Service(
    name="postgresql",
    url=backend_postgres.URL,
    require=backend_postgres.require_postgres,
    new_namespace=backend_postgres.new_schema,
    drop=backend_postgres.drop,
    options=lambda schema, app: f"schema={schema}&application_name={app}&pool_timeout=1",
    kill=_kill_postgres,
)


@pytest.fixture(params=[pytest.param(REDIS, id="redis"), pytest.param(POSTGRES, id="postgresql")])
def service(request: pytest.FixtureRequest) -> Service:
    chosen: Service = request.param
    chosen.require()
    return chosen


@pytest.fixture
def namespace(service: Service) -> Iterator[str]:
    name = service.new_namespace()
    yield name
    service.drop(name)


@pytest.fixture
def writer(service: Service, namespace: str) -> Iterator[Registry]:
    """Another instance on the same store, through which the tests revoke."""
    with Registry.open(service.store_url(namespace, f"rt-writer-{uuid.uuid4().hex[:8]}")) as reg:
        reg.sync()
        yield reg


@pytest.fixture
def replicas(service: Service, namespace: str) -> Iterator[Callable[..., tuple[Registry, str]]]:
    """Starts registries that poll every 30 s, each with its own client name; stops them all."""
    started: list[Registry] = []

    def start(**options: Any) -> tuple[Registry, str]:
        app = f"rt-replica-{uuid.uuid4().hex[:8]}"
        url = service.store_url(namespace, app, via_port=options.pop("via_port", None))
        registry = Registry.open(url, **{**SLOW_POLL, **options})
        started.append(registry)
        registry.start()
        assert wait_for(lambda: registry.replica.push_healthy, 10) is not None
        return registry, app

    yield start
    for registry in started:
        registry.close()


# -- the tests ----------------------------------------------------------------


def test_push_reaches_a_replica_within_a_second(
    replicas: Callable[..., tuple[Registry, str]], writer: Registry
) -> None:
    """A revoke through another instance is denied here well before the 30 s poll."""
    watcher, _ = replicas()
    for i in range(3):
        rule = writer.revoke("token", f"jti-{i}", issuer=ISS)
        assert wait_for(denies(watcher, rule), 1.0) is not None


def test_a_killed_push_connection_reconnects_and_catches_up(
    service: Service, replicas: Callable[..., tuple[Registry, str]], writer: Registry
) -> None:
    """After its push link is killed the replica resubscribes, catches up, and pushes work again."""
    watcher, app = replicas()
    assert service.kill(app, push_only=True) == 1
    during = writer.revoke("token", "jti-during", issuer=ISS)  # likely before it resubscribed
    assert wait_for(denies(watcher, during), 10) is not None
    assert wait_for(lambda: watcher.replica.push_healthy, 10) is not None
    after = writer.revoke("token", "jti-after", issuer=ISS)
    assert wait_for(denies(watcher, after), 1.0) is not None


def test_killing_every_connection_loses_no_revocation(
    service: Service, replicas: Callable[..., tuple[Registry, str]], writer: Registry
) -> None:
    """Two replicas whose every link is killed again and again still end with every rule.

    They poll as in production, fast (0.5 s) whenever push is down or a sync
    failed, but only every 30 s while push is up and syncs work.
    """
    polls = {"poll_interval_seconds": 0.5, "push_poll_interval_seconds": 30.0}
    (first, first_app), (second, second_app) = replicas(**polls), replicas(**polls)
    rules: list[Rule] = []
    for round_ in range(5):
        for watcher, app in ((first, first_app), (second, second_app)):
            assert wait_for(lambda w=watcher: w.replica.push_healthy, 10) is not None
            assert service.kill(app, push_only=False) >= 1  # the push link, and pooled ones
        rules += [writer.revoke("token", f"jti-{round_}-{i}", issuer=ISS) for i in range(4)]
    for watcher in (first, second):
        assert wait_for(lambda w=watcher: all(denies(w, r)() for r in rules), 15) is not None
        assert watcher.replica.rule_count == len(rules)
        watcher.replica.check_fresh()
        assert wait_for(lambda w=watcher: w.replica.push_healthy, 10) is not None


def test_an_outage_fails_closed_then_heals_without_a_restart(
    service: Service, replicas: Callable[..., tuple[Registry, str]], writer: Registry
) -> None:
    """Cut off past max_staleness, a replica refuses to answer; once back, it has what it missed."""
    target = urlsplit(service.url)
    clock = FrozenClock(time.time())
    with TcpRelay(target.hostname or "127.0.0.1", target.port or 0) as relay:
        polls = {"poll_interval_seconds": 0.5, "push_poll_interval_seconds": 30.0}
        watcher, _ = replicas(via_port=relay.port, clock=clock, **polls)
        relay.cut()
        assert wait_for(lambda: not watcher.replica.push_healthy, 10) is not None
        missed = writer.revoke("token", "jti-missed", issuer=ISS)
        clock.advance(121)  # past max_staleness with no good sync since the cut
        with pytest.raises(RegistryStale):
            watcher.match(*claims_for(missed.value))
        relay.restore()
        assert wait_for(denies(watcher, missed), 30) is not None
        assert wait_for(lambda: watcher.replica.push_healthy, 10) is not None


CHILD = """
import sys, time
from revoker.core.registry import Registry
url, jti = sys.argv[1], sys.argv[2]
with Registry.open(url, poll_interval_seconds=30, max_staleness_seconds=120) as registry:
    registry.start()
    deadline = time.monotonic() + 20
    while not registry.replica.push_healthy and time.monotonic() < deadline:
        time.sleep(0.01)
    print("ready", flush=True)
    claims = {"iss": "https://issuer.example", "jti": jti, "iat": int(time.time())}
    while time.monotonic() < deadline:
        if registry.match(claims, {}, "a.b.c") is not None:
            print("denied", repr(time.time()), flush=True)
            break
        time.sleep(0.001)
    else:
        print("timeout", flush=True)
"""


def test_three_processes_all_deny_after_one_revoke(
    service: Service, namespace: str, writer: Registry
) -> None:
    """Three replica processes on one store each deny within a second of a revoke elsewhere."""
    url = service.store_url(namespace, "rt-child")
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, url, "jti-shared"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for _ in range(3)
    ]
    lines: queue.Queue[tuple[int, str]] = queue.Queue()
    readers = []
    for n, child in enumerate(children):
        assert child.stdout is not None
        pipe = child.stdout
        readers.append(
            threading.Thread(
                target=lambda n=n, pipe=pipe: [lines.put((n, line.strip())) for line in pipe],
                daemon=True,
            )
        )
        readers[-1].start()
    try:
        ready = {lines.get(timeout=30) for _ in children}
        assert ready == {(n, "ready") for n in range(3)}
        started = time.time()
        writer.revoke("token", "jti-shared", issuer=ISS)
        reports = dict(lines.get(timeout=30) for _ in children)
        delays = {n: float(text.split()[1]) - started for n, text in reports.items()}
        assert sorted(delays) == [0, 1, 2]
        assert all(delay < 1.0 for delay in delays.values()), delays
    finally:
        for child, reader in zip(children, readers, strict=False):
            child.kill()
            child.wait(timeout=10)
            reader.join(timeout=10)  # the pipe ends with the child
            if child.stdout is not None:
                child.stdout.close()


class TcpRelay:
    """A loopback TCP relay to one server that the test can ``cut`` (links closed, new ones
    refused) and ``restore``: a server outage without touching the shared server."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._cut = threading.Event()
        self._closed = threading.Event()
        self._links: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def __enter__(self) -> TcpRelay:
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.set()
        self.cut()
        self._acceptor.join(timeout=5)
        self._listener.close()

    def cut(self) -> None:
        self._cut.set()
        with self._lock:
            links, self._links = self._links, set()
        for link in links:
            _shut(link)

    def restore(self) -> None:
        self._cut.clear()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            if self._cut.is_set():
                _shut(client)
                continue
            try:
                upstream = socket.create_connection(self._target, timeout=2)
            except OSError:
                _shut(client)
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            with self._lock:
                self._links |= {client, upstream}
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(src, dst), daemon=True).start()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        _shut(src)
        _shut(dst)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already shut by the other direction
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
