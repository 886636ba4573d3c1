"""Fixtures for the service tests: a token factory on a frozen clock, a service state around
it, and an HTTP client of the app served by one session-wide uvicorn on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from service_support import (
    T0,
    AppSwitch,
    Serve,
    SwitchableStore,
    live_switch_server,
    make_state,
    serve_on,
)

from revoker.service.app import RevokerApp, build_app
from revoker.service.state import ServiceState
from revoker.testing import FrozenClock, TokenFactory


@pytest.fixture(scope="session")
def session_factory() -> TokenFactory:
    """One RSA key for the session: generating one per test costs more than the test."""
    return TokenFactory(clock=FrozenClock(T0))


@pytest.fixture
def factory(session_factory: TokenFactory) -> TokenFactory:
    """The session's factory on a fresh frozen clock at T0."""
    session_factory.clock = FrozenClock(T0)
    return session_factory


@pytest.fixture
def clock(factory: TokenFactory) -> FrozenClock:
    return factory.clock


@pytest.fixture
def store() -> SwitchableStore:
    return SwitchableStore()


@pytest.fixture
def state(factory: TokenFactory, store: SwitchableStore) -> ServiceState:
    return make_state(factory, store)


@pytest.fixture
def app(state: ServiceState) -> RevokerApp:
    return build_app(state)


@pytest.fixture(scope="session")
def live_switch() -> Iterator[tuple[AppSwitch, str]]:
    """One uvicorn on loopback for the session, serving whatever app is plugged in."""
    with live_switch_server() as live:
        yield live


@pytest.fixture
def serve(live_switch: tuple[AppSwitch, str]) -> Serve:
    """``with serve(app) as client``: the app's state started and plugged in, then closed."""
    return serve_on(live_switch)


@pytest.fixture
def client(app: RevokerApp, serve: Serve) -> Iterator[httpx.Client]:
    """An HTTP client of the app, served on loopback with its state started."""
    with serve(app) as http:
        yield http
