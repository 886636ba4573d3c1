"""Helpers for the service tests: credentials, a store that can fail, a service state around
a token factory (memory store, static JWKS, frozen clock), and the app served by a real
uvicorn on an ephemeral loopback port, in a thread."""

from __future__ import annotations

import base64
import importlib.util
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import uvicorn

from revoker.app.settings import Settings
from revoker.core.authorizer import Authorizer
from revoker.core.errors import StoreError
from revoker.core.jwks import JwksCache, JwksSource
from revoker.core.registry import AuditEntry, Change, Registry, Rule, RuleFilter
from revoker.core.registry.stores.memory import MemoryStore
from revoker.core.verify import Verifier
from revoker.service.app import RevokerApp
from revoker.service.runner import bind_socket
from revoker.service.state import ServiceState
from revoker.testing import StaticJwksFetcher, TokenFactory

ADMIN_TOKEN = "admin-token-for-tests-0123456789"
CLIENT_ID = "resource-server"
CLIENT_SECRET = "client-secret:with-a-colon"
T0 = 1_700_000_000


def _root_conftest() -> Any:
    # tests/ is not a package: load the top conftest under its own name for service_missing.
    path = Path(__file__).resolve().parents[1] / "conftest.py"
    spec = importlib.util.spec_from_file_location("revoker_tests_root_conftest", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


service_missing: Callable[[str], None] = _root_conftest().service_missing


Serve = Callable[[RevokerApp], AbstractContextManager[httpx.Client]]


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


ADMIN = bearer(ADMIN_TOKEN)
CLIENT = {"Authorization": basic(CLIENT_ID, CLIENT_SECRET)}


class SwitchableStore:
    """A memory store that fails every call with StoreError while ``failing`` is set."""

    def __init__(self) -> None:
        self.inner = MemoryStore()
        self.failing = False

    def _check(self) -> None:
        if self.failing:
            raise StoreError("the store is down (test)")

    def add(self, rule: Rule) -> int:
        self._check()
        return self.inner.add(rule)

    def lift(self, rule_id: str, *, actor: str, reason: str, now: float) -> Rule | None:
        self._check()
        return self.inner.lift(rule_id, actor=actor, reason=reason, now=now)

    def changes_since(self, seq: int, *, limit: int = 10_000) -> list[Change] | None:
        self._check()
        return self.inner.changes_since(seq, limit=limit)

    def snapshot(self, now: float) -> tuple[int, list[Rule]]:
        self._check()
        return self.inner.snapshot(now)

    def get(self, rule_id: str) -> Rule | None:
        self._check()
        return self.inner.get(rule_id)

    def list_rules(self, rule_filter: RuleFilter, *, now: float) -> list[Rule]:
        self._check()
        return self.inner.list_rules(rule_filter, now=now)

    def audit_log(self, *, limit: int = 100, since_seq: int = 0) -> list[AuditEntry]:
        self._check()
        return self.inner.audit_log(limit=limit, since_seq=since_seq)

    def prune(self, now: float) -> int:
        self._check()
        return self.inner.prune(now)

    def claim_setting(self, name: str, value: float) -> float:
        self._check()
        return self.inner.claim_setting(name, value)

    def record_setting(self, name: str, value: float) -> None:
        self._check()
        self.inner.record_setting(name, value)

    def close(self) -> None:
        self.inner.close()


def service_settings(factory: TokenFactory, **overrides: Any) -> Settings:
    options: dict[str, Any] = {
        "issuers": (factory.issuer,),
        "audience": (factory.client_id,),
        "admin_token": ADMIN_TOKEN,
        "introspect_clients": ((CLIENT_ID, CLIENT_SECRET),),
    }
    options.update(overrides)
    return Settings(**options)


def unreachable_keys_verifier(factory: TokenFactory) -> Verifier:
    """A verifier of the factory's issuer whose key source is down."""
    policy = factory.verifier().policy
    source = JwksSource.from_url(factory.issuer + "/.well-known/jwks.json")
    cache = JwksCache(source, fetcher=StaticJwksFetcher(None), clock=factory.clock)
    return Verifier(policy, {factory.issuer: cache}, clock=factory.clock)


def make_state(
    factory: TokenFactory,
    store: SwitchableStore | None = None,
    *,
    authorizer_class: type[Authorizer] = Authorizer,
    verifier: Verifier | None = None,
    **overrides: Any,
) -> ServiceState:
    """A state on the factory's clock and key; ``overrides`` go to ``Settings``."""
    registry = Registry(store or SwitchableStore(), clock=factory.clock, max_staleness_seconds=30)
    authorizer = authorizer_class(verifier or factory.verifier(), registry)
    return ServiceState.assemble(service_settings(factory, **overrides), authorizer)


class LiveServer:
    """``app`` on uvicorn (httptools) in a thread, on 127.0.0.1 and an ephemeral port.

    Entering runs the app's lifespan (replica sync, key warm-up) and waits, bounded,
    until uvicorn serves; leaving shuts it down gracefully and joins the thread.
    """

    def __init__(self, app: RevokerApp | AppSwitch) -> None:
        self.sock = bind_socket("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, lifespan="on", log_config=None, access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> httpx.Client:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.sock.close()
                raise RuntimeError("the test server did not start")
            time.sleep(0.005)
        self.client = httpx.Client(base_url=self.url, timeout=10)
        return self.client

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()
        assert not self.thread.is_alive(), "the test server did not stop"


class AppSwitch:
    """An ASGI app that forwards each request to the app the current test plugged in.

    One uvicorn serves the whole session; each test plugs in an app around its own
    state (started and closed by the test's fixture, not by a lifespan).
    """

    def __init__(self) -> None:
        self.app: RevokerApp | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].removeprefix("lifespan.")
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        assert self.app is not None, "no app is plugged in"
        await self.app(scope, receive, send)


@contextmanager
def live_switch_server() -> Iterator[tuple[AppSwitch, str]]:
    """One uvicorn (httptools) on loopback, serving whatever app is plugged into the switch."""
    switch = AppSwitch()
    with LiveServer(switch) as http:
        yield switch, str(http.base_url)


def serve_on(live: tuple[AppSwitch, str]) -> Serve:
    """``with serve(app) as client``: the app's state started and plugged in, then closed."""
    switch, url = live

    @contextmanager
    def serving(app: RevokerApp) -> Iterator[httpx.Client]:
        app.state.start()
        switch.app = app
        try:
            with httpx.Client(base_url=url, timeout=10) as http:
                yield http
        finally:
            switch.app = None
            app.state.close()

    return serving
