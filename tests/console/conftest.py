"""Fixtures for the console tests: a service state on a token factory (memory store, frozen
clock, an admin and a viewer credential), its app on one session-wide uvicorn on loopback,
and clients already signed in as the admin and as the viewer."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from console_support import (
    ADMIN_TOKEN,
    T0,
    VIEWER_TOKEN,
    Signed,
    csrf_of,
    live_switch_server,
    make_state,
    serve_on,
    sign_in,
)

from revoker.service.app import RevokerApp, build_app
from revoker.service.state import ServiceState
from revoker.testing import FrozenClock, TokenFactory

Live = tuple[object, str]


@pytest.fixture(scope="session")
def session_factory() -> TokenFactory:
    return TokenFactory(clock=FrozenClock(T0))


@pytest.fixture
def factory(session_factory: TokenFactory) -> TokenFactory:
    session_factory.clock = FrozenClock(T0)
    return session_factory


@pytest.fixture
def clock(factory: TokenFactory) -> FrozenClock:
    return factory.clock


@pytest.fixture
def state(factory: TokenFactory) -> ServiceState:
    return make_state(factory, viewer_token=VIEWER_TOKEN, auth_failures_per_minute=3)


@pytest.fixture
def app(state: ServiceState) -> RevokerApp:
    return build_app(state)


@pytest.fixture(scope="session")
def live_switch() -> Iterator[Live]:
    """One uvicorn on loopback for the console tests, serving whichever app is plugged in."""
    with live_switch_server() as live:
        yield live


@pytest.fixture
def client(app: RevokerApp, live_switch: Live) -> Iterator[httpx.Client]:
    """The app's state started and plugged in; a client that is not signed in."""
    with serve_on(live_switch)(app) as http:  # type: ignore[arg-type]
        yield http


def _signed(client: httpx.Client, credential: str) -> Iterator[Signed]:
    with httpx.Client(base_url=client.base_url, timeout=10) as other:
        response = sign_in(other, credential)
        assert response.status_code == 303, response.text
        yield Signed(other, csrf_of(other.get("/console").text))


@pytest.fixture
def admin(client: httpx.Client) -> Iterator[Signed]:
    yield from _signed(client, ADMIN_TOKEN)


@pytest.fixture
def viewer(client: httpx.Client) -> Iterator[Signed]:
    yield from _signed(client, VIEWER_TOKEN)
