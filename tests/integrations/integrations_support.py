"""Helpers for the in-app integration suites: settings and a ``build`` around a token
factory, a token for each denial reason, the RFC 6750 answers expected, a real uvicorn
on loopback in a thread, a subprocess server with bounded start and stop, and a JWKS
endpoint that turns slow."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx

from revoker import Revoker, Settings
from revoker.core.registry import Registry, RuleKind
from revoker.core.registry.stores.memory import MemoryStore
from revoker.core.tokens import parse_unverified
from revoker.testing import StaticJwksFetcher, TokenFactory

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
EXAMPLES = REPO / "examples"

#: Every denial reason a suite runs through, each with a token made to earn it.
DENIAL_REASONS = [
    "malformed",
    "bad_signature",
    "expired",
    "wrong_audience",
    "revoked_token",
    "revoked_family",
    "revoked_session",
    "revoked_subject",
    "sender_constrained",
]


def _load(path: Path, name: str) -> ModuleType:
    # tests/ is not a package: load a sibling suite's helper module by its path.
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


root_conftest = _load(TESTS / "conftest.py", "revoker_tests_root_conftest_integrations")
service_missing: Callable[[str], None] = root_conftest.service_missing


def redis_backend() -> ModuleType:
    """tests/registry/backend_redis.py: ``require_redis``, ``new_prefix`` (dropped at exit)."""
    return _load(TESTS / "registry" / "backend_redis.py", "revoker_tests_backend_redis")


def app_settings(factory: TokenFactory, **overrides: Any) -> Settings:
    options: dict[str, Any] = {
        "issuers": (factory.issuer,),
        "audience": (factory.client_id,),
        "store_url": "memory://",
    }
    options.update(overrides)
    return Settings(**options)


def build_for(
    factory: TokenFactory, *, store: Any = None, frozen: bool = True
) -> Callable[[Settings], Revoker]:
    """``build``: the factory's keys (no network) and, when ``frozen``, its clock and a
    memory store; else the system clock and the settings' own store."""

    def build(settings: Settings) -> Revoker:
        if not frozen:
            return Revoker.from_settings(settings, fetcher=StaticJwksFetcher(factory.jwks()))
        return Revoker.from_settings(
            settings,
            fetcher=StaticJwksFetcher(factory.jwks()),
            clock=factory.clock,
            store=store if store is not None else MemoryStore(),
        )

    return build


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def claims_of(token: str) -> dict[str, Any]:
    return dict(parse_unverified(token).claims)


def denied_token(reason: str, factory: TokenFactory, registry: Registry) -> str:
    """A token that ``reason`` denies now (rules go into ``registry``)."""
    now = int(factory.clock())
    if reason == "malformed":
        return "not-a-jwt"
    if reason == "bad_signature":
        token = factory.access_token()
        head, _, signature = token.rpartition(".")
        return f"{head}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    if reason == "expired":
        return factory.access_token(iat=now - 7200, auth_time=now - 7200, exp=now - 3600)
    if reason == "wrong_audience":
        return factory.id_token(aud="another-app-client")
    if reason == "sender_constrained":  # DPoP-bound: never accepted as a plain Bearer (RFC 9449)
        return factory.access_token(cnf={"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"})
    token = factory.access_token(sid="session-1") if reason == "revoked_session" else None
    token = token or factory.access_token(sub=f"user-{reason}")
    claims = claims_of(token)
    kind, value = {
        "revoked_token": (RuleKind.TOKEN, claims["jti"]),
        "revoked_family": (RuleKind.FAMILY, claims["origin_jti"]),
        "revoked_session": (RuleKind.SESSION, "session-1"),
        "revoked_subject": (RuleKind.SUBJECT, claims["sub"]),
    }[reason]
    registry.revoke(kind, value, reason="test")
    return token


def invalid_token_challenge(reason: str) -> str:
    return f'Bearer error="invalid_token", error_description="{reason}"'


def assert_refused(
    status: int, headers: Mapping[str, str], body: Any, reason: str, *, no_store: bool = True
) -> None:
    """The 401 of a bad, expired or revoked token (RFC 6750 §3.1), in every framework
    (DRF's exception handler sets no ``Cache-Control``: ``no_store=False`` there)."""
    assert status == 401, body
    assert headers["www-authenticate"] == invalid_token_challenge(reason)
    assert body == {"error": "invalid_token", "error_description": reason}
    if no_store:
        assert headers["cache-control"] == "no-store"


def assert_missing(status: int, headers: Mapping[str, str], realm: str = "revoker") -> None:
    """The 401 of a request without a token: a challenge with no error code."""
    assert status == 401
    assert headers["www-authenticate"] == f'Bearer realm="{realm}"'


def assert_insufficient_scope(
    status: int, headers: Mapping[str, str], body: Any, scopes: str
) -> None:
    assert status == 403, body
    assert headers["www-authenticate"] == f'Bearer error="insufficient_scope", scope="{scopes}"'
    assert body["error"] == "insufficient_scope"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], bool], *, seconds: float = 10.0) -> bool:
    """Poll ``predicate`` until true or ``seconds`` pass (bounded)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def replica_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "revoker-replica"]


# -- servers ---------------------------------------------------------------------------


@contextmanager
def uvicorn_thread(app: Any) -> Iterator[str]:
    """``app`` on a real uvicorn (lifespan on) in a thread, on 127.0.0.1 and an ephemeral
    port; yields the base URL; stops gracefully and joins the thread (bounded)."""
    import uvicorn  # noqa: PLC0415 - only the ASGI suites need it

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(app, lifespan="on", log_config=None, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        if not wait_until(lambda: server.started or not thread.is_alive()) or not server.started:
            raise RuntimeError("uvicorn did not start")
        yield url
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
    assert not thread.is_alive(), "uvicorn did not stop"


class ServerProcess:
    """A server as a subprocess on loopback: started with a bounded wait until ``ready_url``
    answers, stopped with SIGTERM (then SIGKILL) by its own pid; output kept for asserts."""

    def __init__(
        self, command: list[str], *, env: Mapping[str, str], cwd: Path, ready_url: str
    ) -> None:
        self.command = command
        self.env = {**os.environ, **env}
        self.cwd = cwd
        self.ready_url = ready_url
        self.process: subprocess.Popen[str] | None = None
        self.output = ""
        self.returncode: int | None = None

    def __enter__(self) -> ServerProcess:
        self.process = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"the server exited at start:\n{self.output}")
            try:
                httpx.get(self.ready_url, timeout=1)
            except httpx.HTTPError:
                time.sleep(0.1)
            else:
                return self
        self.stop()
        raise RuntimeError(f"the server did not answer within 30 s:\n{self.output}")

    def stop(self) -> int:
        """SIGTERM, a bounded wait, SIGKILL if needed; the exit code."""
        process = self.process
        assert process is not None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            out, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, _ = process.communicate(timeout=10)
        self.output += out or ""
        self.returncode = process.returncode
        return process.returncode

    def __exit__(self, *exc: object) -> None:
        if self.returncode is None:
            self.stop()


def python_tool(name: str) -> str:
    """A console script of this interpreter's environment (gunicorn, waitress-serve …)."""
    return str(Path(sys.executable).with_name(name))


# -- a JWKS endpoint that turns slow ---------------------------------------------------------


class SlowJwks:
    """Serves ``first`` at once on the first GET, then ``later`` after ``delay_seconds``:
    an issuer whose key endpoint hangs when a new key is looked up."""

    def __init__(
        self, first: dict[str, Any], later: dict[str, Any], *, delay_seconds: float
    ) -> None:
        bodies = [json.dumps(first).encode(), json.dumps(later).encode()]
        self.requests = 0
        self.slow_started = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests += 1
                body = bodies[0] if owner.requests == 1 else bodies[1]
                if owner.requests > 1:
                    owner.slow_started.set()
                    time.sleep(delay_seconds)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def port_of(text: str, pattern: str) -> int | None:
    match = re.search(pattern, text)
    return int(match.group(1)) if match else None
