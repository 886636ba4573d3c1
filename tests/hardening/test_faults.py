"""Faults of the key source and of the clock, through /auth on loopback.

JWKS: the endpoint fails (503), hangs past the fetch timeout, answers garbage, or drops the
connection. Cached keys keep serving, even past their TTL; a token signed by a new kid is
``unknown_kid`` without a fetch inside the cooldown, ``jwks_unavailable`` once a fetch was
tried and failed, and allowed once the endpoint is back and the cooldown has passed.

Clock skew: two instances on one store, each with its own frozen clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from hardening_attacks import Kit
from hardening_support import (
    ADMIN,
    ADMIN_TOKEN,
    JwksServer,
    LiveServer,
    Serve,
    ask_auth,
    state_for,
    verifier_for,
)

from revoker.app.settings import Settings
from revoker.core.clock import FrozenClock
from revoker.core.registry.stores.memory import MemoryStore
from revoker.service.app import RevokerApp, build_app
from revoker.service.state import ServiceState
from revoker.testing import TokenFactory

TIMEOUT = 0.5  # the JWKS fetch timeout these services run with
COOLDOWN = 10.0
TTL = 3600.0


@pytest.fixture(scope="module")
def rotated_key() -> TokenFactory:
    """The issuer's next key (a new kid), published during the outage."""
    return TokenFactory(kid="test-key-2")


@pytest.fixture
def jwks(kit: Kit) -> Iterator[JwksServer]:
    with JwksServer(kit.rs.jwks()) as server:
        yield server


def jwks_app(kit: Kit, clock: FrozenClock, server: JwksServer) -> RevokerApp:
    """``ServiceState.build`` as ``revoker serve`` does it, fetching keys over real HTTP."""
    settings = Settings(
        issuers=(kit.rs.issuer,),
        jwks_url=server.url + "/jwks.json",
        audience=(kit.rs.client_id,),
        store_url="memory://",
        jwks_timeout_seconds=TIMEOUT,
        jwks_cooldown_seconds=COOLDOWN,
        admin_token=ADMIN_TOKEN,
    )
    return build_app(ServiceState.build(settings, clock=clock))


def later(app: RevokerApp, clock: FrozenClock, seconds: float) -> None:
    """Move the frozen clock on, and sync the replica as its poll thread would have."""
    clock.advance(seconds)
    app.state.registry.sync()


@pytest.mark.parametrize("mode", ["error", "slow", "garbage", "reset"])
def test_a_jwks_outage_keeps_cached_keys_serving_and_a_new_kid_waits(
    kit: Kit, jwks: JwksServer, rotated_key: TokenFactory, serve: Serve, mode: str
) -> None:
    """The documented outcome of each JWKS fault, fetch by fetch."""
    clock = kit.rs.clock
    assert isinstance(clock, FrozenClock)
    rotated_key.clock = clock
    app = jwks_app(kit, clock, jwks)
    with serve(app) as client:
        assert ask_auth(client, kit.rs.access_token()).reason == "allowed"
        assert len(jwks.hits) == 1  # the warm-up at start
        jwks.mode = mode
        jwks.document = {"keys": kit.rs.jwks()["keys"] + rotated_key.jwks()["keys"]}

        assert ask_auth(client, kit.rs.access_token()).reason == "allowed"
        assert ask_auth(client, rotated_key.access_token()).reason == "unknown_kid"
        assert len(jwks.hits) == 1  # inside the cooldown: no fetch for an unknown kid

        later(app, clock, COOLDOWN)
        answer = ask_auth(client, rotated_key.access_token())
        assert (answer.status, answer.reason) == (401, "jwks_unavailable")
        assert answer.seconds < TIMEOUT + 0.5
        assert len(jwks.hits) == 2
        assert ask_auth(client, rotated_key.access_token()).reason == "jwks_unavailable"
        assert ask_auth(client, kit.rs.access_token()).reason == "allowed"

        later(app, clock, TTL)  # past the TTL: the refetch fails, the old key still serves
        assert ask_auth(client, kit.rs.access_token()).reason == "allowed"
        assert len(jwks.hits) == 3

        jwks.mode = "ok"
        assert ask_auth(client, rotated_key.access_token()).reason == "jwks_unavailable"
        later(app, clock, COOLDOWN)
        assert ask_auth(client, rotated_key.access_token()).reason == "allowed"
        assert ask_auth(client, kit.rs.access_token()).reason == "allowed"
        assert len(jwks.hits) == 4


def test_a_service_that_starts_during_an_outage_denies_until_the_keys_come(
    kit: Kit, clock: FrozenClock, jwks: JwksServer, serve: Serve
) -> None:
    """No keys at start: 401 jwks_unavailable, never a 5xx, until a fetch after the cooldown."""
    jwks.mode = "error"
    app = jwks_app(kit, clock, jwks)
    with serve(app) as client:
        answer = ask_auth(client, kit.rs.access_token())
        assert (answer.status, answer.reason) == (401, "jwks_unavailable")
        assert client.get("/readyz").status_code == 200
        jwks.mode = "ok"
        later(app, clock, COOLDOWN)
        assert ask_auth(client, kit.rs.access_token()).reason == "allowed"


def test_a_slow_jwks_does_not_stall_other_auth_requests(
    kit: Kit, clock: FrozenClock, jwks: JwksServer, rotated_key: TokenFactory, serve: Serve
) -> None:
    """A hanging refetch (an unknown kid) waits in a worker thread: a cached token is
    answered at once meanwhile, not after the fetch timeout."""
    rotated_key.clock = clock
    app = jwks_app(kit, clock, jwks)
    with serve(app) as client:
        cached = kit.rs.access_token()
        assert ask_auth(client, cached).reason == "allowed"
        jwks.mode = "slow"
        later(app, clock, COOLDOWN)
        trigger = threading.Thread(
            target=lambda: ask_auth(client, rotated_key.access_token()), daemon=True
        )
        trigger.start()
        time.sleep(0.1)  # the refetch is under way (there is no event to wait on from here)
        with httpx.Client(base_url=str(client.base_url), timeout=10) as other:
            answer = ask_auth(other, cached)
        trigger.join(10)
        assert answer.reason == "allowed"
        assert answer.seconds < 1.0  # the hang itself lasts TIMEOUT (3 s)


# -- clock skew between instances --------------------------------------------------------------

LEEWAY = 5


@pytest.fixture
def pair(
    kit: Kit, serve: Serve
) -> Iterator[Callable[[float], tuple[httpx.Client, httpx.Client, RevokerApp, RevokerApp]]]:
    """``pair(skew)``: instance A on the issuer's clock and B ``skew`` seconds off, on one store."""
    opened: list[LiveServer] = []

    def make(skew: float) -> tuple[httpx.Client, httpx.Client, RevokerApp, RevokerApp]:
        store = MemoryStore()
        apps = []
        for offset in (0.0, skew):
            clock = FrozenClock(kit.rs.clock() + offset)
            verifier = verifier_for([kit.rs, kit.ec], clock)
            apps.append(build_app(state_for(verifier, clock, kit.rs, store=store)))
        servers = [LiveServer(app) for app in apps]
        clients = [server.__enter__() for server in servers]
        opened.extend(servers)
        return clients[0], clients[1], apps[0], apps[1]

    yield make
    for server in opened:
        server.__exit__(None, None, None)


@pytest.mark.parametrize(
    ("skew", "reason_at_b"),
    [(-3, "allowed"), (-LEEWAY, "allowed"), (-LEEWAY - 1, "issued_in_future"), (10, "allowed")],
    ids=["behind-3s", "behind-by-the-leeway", "behind-past-the-leeway", "ahead-10s"],
)
def test_a_fresh_token_on_a_skewed_instance(
    kit: Kit,
    pair: Callable[..., tuple[httpx.Client, httpx.Client, RevokerApp, RevokerApp]],
    skew: float,
    reason_at_b: str,
) -> None:
    """A fresh token is issued_in_future only on an instance behind by more than the leeway."""
    a, b, _, _ = pair(skew)
    token = kit.rs.access_token()
    assert ask_auth(a, token).reason == "allowed"
    assert ask_auth(b, token).reason == reason_at_b


@pytest.mark.parametrize(
    ("skew", "reason_at_b"),
    [(3, "allowed"), (LEEWAY + 1, "expired")],
    ids=["ahead-within-leeway", "ahead-past-the-leeway"],
)
def test_expiry_on_an_instance_ahead(
    kit: Kit,
    pair: Callable[..., tuple[httpx.Client, httpx.Client, RevokerApp, RevokerApp]],
    skew: float,
    reason_at_b: str,
) -> None:
    """A token expiring now is already expired on an instance ahead by more than the leeway."""
    now = int(kit.rs.clock())
    token = kit.rs.access_token(iat=now - 60, exp=now)
    a, b, _, _ = pair(skew)
    assert ask_auth(a, token).reason == "allowed"  # inside A's leeway
    assert ask_auth(b, token).reason == reason_at_b


@pytest.mark.parametrize(
    "skew", [-3, -LEEWAY - 5, LEEWAY + 5], ids=["behind-3s", "behind-10s", "ahead-10s"]
)
def test_a_self_revocation_holds_whatever_the_skew(
    kit: Kit,
    pair: Callable[..., tuple[httpx.Client, httpx.Client, RevokerApp, RevokerApp]],
    skew: float,
) -> None:
    """Token and family rules compare no times: revoked on B, denied on A at its next sync."""
    a, b, app_a, _ = pair(skew)
    token = kit.rs.access_token(iat=int(kit.rs.clock()) - 30)
    assert b.post("/revoke", data={"token": token}).status_code == 200
    app_a.state.registry.sync()
    assert ask_auth(a, token).reason == "revoked_family"


@pytest.mark.parametrize(
    ("skew", "revoked_at_a"),
    [(0, True), (3, True), (-3, False)],
    ids=["no-skew", "revoker-ahead-3s", "revoker-behind-3s"],
)
def test_a_cut_off_rule_from_a_skewed_instance(
    kit: Kit,
    pair: Callable[..., tuple[httpx.Client, httpx.Client, RevokerApp, RevokerApp]],
    skew: float,
    revoked_at_a: bool,
) -> None:
    """A subject rule made on a clock behind by d misses tokens issued in those d seconds."""
    a, b, app_a, _ = pair(skew)
    token = kit.rs.access_token(sub="user-skew", iat=int(kit.rs.clock()) - 1)
    response = b.post("/admin/rules", json={"kind": "subject", "value": "user-skew"}, headers=ADMIN)
    assert response.status_code == 201
    app_a.state.registry.sync()
    assert ask_auth(a, token).reason == ("revoked_subject" if revoked_at_a else "allowed")
