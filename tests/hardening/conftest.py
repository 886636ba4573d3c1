"""Fixtures for the hardening suites: the attack kit (keys made once per session, clocks fresh
per test), a server jku/x5u point at that must never be asked, and one uvicorn on loopback
serving whichever app a test plugs in."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hardening_attacks import EC_ISSUER, SERVICES, Kit
from hardening_support import (
    T0,
    AppSwitch,
    JwksServer,
    Serve,
    live_switch_server,
    serve_on,
    state_for,
    verifier_for,
)

from revoker.core.clock import FrozenClock
from revoker.core.signing import generate_key
from revoker.service.app import RevokerApp, build_app
from revoker.testing import TokenFactory


@pytest.fixture(scope="session")
def never_asked() -> Iterator[JwksServer]:
    """Where hostile jku/x5u headers point: any request it records is a failure."""
    with JwksServer() as server:
        yield server


@pytest.fixture(scope="session")
def _keys() -> tuple[TokenFactory, TokenFactory, rsa.RSAPrivateKey]:
    # Generating an RSA key costs more than most tests: once per session.
    attacker = generate_key("RS256")
    assert isinstance(attacker, rsa.RSAPrivateKey)
    return (
        TokenFactory(clock=FrozenClock(T0)),
        TokenFactory(alg="ES256", issuer=EC_ISSUER, kid="ec-key-1", clock=FrozenClock(T0)),
        attacker,
    )


@pytest.fixture
def kit(
    _keys: tuple[TokenFactory, TokenFactory, rsa.RSAPrivateKey], never_asked: JwksServer
) -> Iterator[Kit]:
    """The attack kit on one fresh frozen clock at T0, shared by both issuers."""
    rs, ec, attacker = _keys
    rs.clock = ec.clock = FrozenClock(T0)
    yield Kit(rs=rs, ec=ec, attacker=attacker, key_url=never_asked.url)
    assert never_asked.hits == [], "a key URL from a token header was fetched"


@pytest.fixture
def clock(kit: Kit) -> FrozenClock:
    clock = kit.rs.clock
    assert isinstance(clock, FrozenClock)
    return clock


@pytest.fixture
def make_app(kit: Kit, clock: FrozenClock) -> Callable[..., RevokerApp]:
    """``make_app(variant, **registry_options)``: an app trusting both issuers of the kit."""

    def make(variant: str = "default", **options: Any) -> RevokerApp:
        verifier = verifier_for([kit.rs, kit.ec], clock, **SERVICES[variant])
        return build_app(state_for(verifier, clock, kit.rs, **options))

    return make


@pytest.fixture(scope="session")
def live_switch() -> Iterator[tuple[AppSwitch, str]]:
    """One uvicorn on loopback for the session, serving whatever app is plugged in."""
    with live_switch_server() as live:
        yield live


@pytest.fixture
def serve(live_switch: tuple[AppSwitch, str]) -> Serve:
    """``with serve(app) as client``: the app's state started and plugged in, then closed."""
    return serve_on(live_switch)
