"""Helpers for the hardening suites: the service's own test support (loaded by path), service
states for several policies, a JWKS server whose faults a test switches, a private Redis, and
one call that asks ``/auth`` and returns status, reason code and time taken."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from revoker.core.authorizer import Authorizer
from revoker.core.clock import Clock
from revoker.core.jwks import JwksCache, JwksSource
from revoker.core.registry import Registry, RuleStore
from revoker.core.verify import VerificationPolicy, Verifier
from revoker.service.app import RevokerApp
from revoker.service.state import ServiceState
from revoker.testing import StaticJwksFetcher, TokenFactory

TESTS = Path(__file__).resolve().parents[1]
REPO_ROOT = TESTS.parent


def _load(path: Path, name: str) -> Any:
    # tests/ is not a package: load the service's helpers under a name of their own.
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_module(path: Path) -> Any:
    """A helper module of another test folder, by path (for the store backends' helpers)."""
    return _load(path, f"hardening_{path.stem}")


service_support: Any = _load(TESTS / "service" / "service_support.py", "hardening_service_support")
root_conftest: Any = _load(TESTS / "conftest.py", "hardening_root_conftest")

ADMIN_TOKEN: str = service_support.ADMIN_TOKEN
ADMIN: dict[str, str] = service_support.ADMIN
T0: int = service_support.T0
LiveServer: Any = service_support.LiveServer
AppSwitch: Any = service_support.AppSwitch
live_switch_server: Any = service_support.live_switch_server
serve_on: Any = service_support.serve_on
SwitchableStore: Any = service_support.SwitchableStore
ServeProcess: Any = _load(TESTS / "process_support.py", "hardening_process_support").ServeProcess
service_settings: Any = service_support.service_settings
service_missing: Any = root_conftest.service_missing

#: ``with serve(app) as client``: the app started and served on loopback (see conftest).
Serve = Callable[[RevokerApp], AbstractContextManager[httpx.Client]]

#: Every /auth answer in these suites must come within this (generous for a busy 2-core CI).
AUTH_DEADLINE_SECONDS = 1.0

# The reason code comes first in error_description, then ": " and the detail.
_DESCRIPTION = re.compile(r'error_description="([a-z_]+)(?::[^"]*)?"')


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class AuthAnswer:
    """What /auth said: the status, the reason code from the challenge, and the time taken."""

    status: int
    reason: str
    seconds: float
    challenge: str


def ask_auth(client: httpx.Client, token: str | bytes) -> AuthAnswer:
    """GET /auth with the token as bearer; the reason comes from WWW-Authenticate on a 401."""
    raw = token if isinstance(token, bytes) else token.encode("utf-8")
    started = time.perf_counter()
    response = client.get("/auth", headers=[(b"authorization", b"Bearer " + raw)])
    seconds = time.perf_counter() - started
    challenge = response.headers.get("www-authenticate", "")
    if response.status_code == 200:
        return AuthAnswer(200, "allowed", seconds, challenge)
    match = _DESCRIPTION.search(challenge)
    reason = match.group(1) if match else f"(no reason: {challenge!r})"
    if response.status_code == 401:
        assert response.json()["reason"] == reason, "the body and the challenge disagree"
    return AuthAnswer(response.status_code, reason, seconds, challenge)


def verifier_for(
    factories: list[TokenFactory], clock: Clock, fetchers: list[Any] | None = None, **policy: Any
) -> Verifier:
    """A verifier trusting each factory's issuer and key (a StaticJwksFetcher each)."""
    fields: dict[str, Any] = {
        "issuers": tuple(f.issuer for f in factories),
        "audience": tuple(dict.fromkeys(f.client_id for f in factories)),
        "token_use": frozenset({"id", "access"}),
        "algorithms": frozenset(f.alg for f in factories),
    }
    fields.update(policy)
    caches = {}
    for n, factory in enumerate(factories):
        fetcher = fetchers[n] if fetchers else StaticJwksFetcher(factory.jwks())
        source = JwksSource.from_url(factory.issuer + "/.well-known/jwks.json")
        caches[factory.issuer] = JwksCache(source, fetcher=fetcher, clock=clock)
    return Verifier(VerificationPolicy(**fields), caches, clock=clock)


def state_for(
    verifier: Verifier,
    clock: Clock,
    factory: TokenFactory,
    store: RuleStore | None = None,
    settings: dict[str, Any] | None = None,
    **registry_options: Any,
) -> ServiceState:
    """A service state around ``verifier`` with a registry on ``store`` (a memory store);
    ``settings`` overrides ``Settings`` fields."""
    options: dict[str, Any] = {"max_staleness_seconds": 30.0}
    options.update(registry_options)
    registry = Registry(store or SwitchableStore(), clock=clock, **options)
    authorizer = Authorizer(verifier, registry)
    return ServiceState.assemble(service_settings(factory, **(settings or {})), authorizer)


# -- a JWKS endpoint whose faults the test switches --------------------------------------


class _JwksHandler(BaseHTTPRequestHandler):
    server: JwksServer

    def do_GET(self) -> None:
        server = self.server
        with server.lock:
            server.hits.append(self.path)
            mode, document = server.mode, server.document
        if mode == "slow":
            server.release.wait(server.slow_seconds)  # bounded; released at shutdown
        if mode == "reset":
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        status, body = 200, json.dumps(document).encode()
        if mode == "error":
            status, body = 503, b'{"message": "down for maintenance"}'
        elif mode == "garbage":
            body = b"<html>\x00\xff not a JWKS"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):  # a client that timed out has gone
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        return


class JwksServer(ThreadingHTTPServer):
    """Serves ``document`` on 127.0.0.1 at any path; ``mode`` is ok, error (503), slow, garbage
    or reset (the connection closed without an answer). Records every path asked for."""

    daemon_threads = True

    def __init__(self, document: dict[str, Any] | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _JwksHandler)
        self.document: dict[str, Any] = document or {"keys": []}
        self.mode = "ok"
        self.slow_seconds = 3.0
        self.hits: list[str] = []
        self.lock = threading.Lock()
        self.release = threading.Event()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> JwksServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release.set()
        self.shutdown()
        self.server_close()
        self._thread.join(5)


# -- a Redis of our own, to stop and start --------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PrivateRedis:
    """A ``redis-server`` on its own loopback port and directory, with an fsync'd AOF, so an
    acknowledged write survives a kill -9. Started and stopped by PID, never by name."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_seconds: float = 10.0) -> None:
        command = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.directory), "--save", "", "--appendonly", "yes",
            "--appendfsync", "always", "--daemonize", "no", "--loglevel", "warning",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock,
            ):
                sock.sendall(b"PING\r\n")
                if sock.recv(64).startswith(b"+PONG"):
                    return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("redis-server did not answer PING")

    def stop(self, sig: int = signal.SIGKILL) -> None:
        """Signal our process (SIGKILL: a crash) and reap it."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(sig)
            process.wait(10)
