"""The admin surface, over real TCP: no route creates or lifts a rule without a valid
credential, failed credentials are limited per client address, and every body is bounded."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator

import httpx
import pytest
from hardening_attacks import Kit
from hardening_support import ADMIN, ADMIN_TOKEN, AppSwitch, Serve, bearer
from starlette.routing import Route

from revoker.core.registry import RuleKind
from revoker.service.app import RevokerApp

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def wrong_credentials(kit: Kit) -> dict[str, dict[str, str]]:
    """Every way of presenting a credential that is not valid for the admin API."""
    wrong_basic = base64.b64encode(b"resource-server:not-the-secret").decode()
    return {
        "wrong-admin-token": bearer("wrong-admin-token-0123456789"),
        "admin-token-prefix": bearer(ADMIN_TOKEN[:-1]),
        "admin-token-with-suffix": bearer(ADMIN_TOKEN + "x"),
        "end-user-jwt": bearer(kit.rs.access_token(sub="mallory")),
        "wrong-basic-secret": {"Authorization": f"Basic {wrong_basic}"},
        "malformed-basic": {"Authorization": "Basic !!!"},
        "other-scheme": {"Authorization": f"Digest {ADMIN_TOKEN}"},
        "lower-case-scheme-wrong": {"Authorization": "bearer nope"},
    }


def _routes(app: RevokerApp) -> list[str]:
    return [route.path for route in app.starlette.routes if isinstance(route, Route)]


def test_no_route_creates_or_lifts_a_rule_without_a_valid_credential(
    kit: Kit, make_app: Callable[..., RevokerApp], serve: Serve
) -> None:
    """Every route, method and wrong credential, with bodies that would write: nothing changes."""
    app = make_app(settings={"auth_failures_per_minute": 1_000_000})  # every attempt is checked
    registry = app.state.registry
    victim = kit.rs.access_token(sub="victim")
    forged = victim.rsplit(".", 1)[0] + ".AAAA"
    paths = [*_routes(app), "/auth"]
    assert {"/admin/rules", "/admin/rules/{rule_id}", "/revoke"} <= set(paths)
    with serve(app) as client:
        existing = registry.revoke(RuleKind.SUBJECT, "someone", actor="setup")
        credentials = {"none": {}, **wrong_credentials(kit)}
        statuses: set[int] = set()
        for path in paths:
            url = path.replace("{rule_id}", existing.id)
            for method in METHODS:
                for name, headers in credentials.items():
                    # No credential on /revoke is self-revocation (holding the token is the
                    # credential), so then the form carries a token that is not valid.
                    token = forged if name == "none" else victim
                    rule = {"kind": "subject", "value": "victim", "token": token}
                    for as_json in (True, False):
                        if as_json:
                            response = client.request(method, url, headers=headers, json=rule)
                        else:
                            response = client.request(method, url, headers=headers, data=rule)
                        statuses.add(response.status_code)
                        assert response.status_code < 500, (method, url, name)
        assert [rule.id for rule in registry.rules()] == [existing.id]
        assert [(entry.action, entry.actor) for entry in registry.audit()] == [("revoke", "setup")]
        assert ask_ok(client, victim)
    # 200: health routes, and /revoke of an invalid token (RFC 7009); 400: a logout token
    # that is not one (/backchannel-logout takes no credential); 303: the console sends a
    # request without a session to its sign-in form, 403: it refuses a sign-in without the
    # form's own token; never 201 nor a 5xx.
    assert 401 in statuses
    assert statuses <= {200, 303, 400, 401, 403, 404, 405, 415}


def ask_ok(client: httpx.Client, token: str) -> bool:
    return client.get("/auth", headers=bearer(token)).status_code == 200


@pytest.fixture
def from_address(live_switch: tuple[AppSwitch, str]) -> Iterator[Callable[[str], httpx.Client]]:
    """Clients whose connections come from a chosen loopback address (127.0.0.x)."""
    _, url = live_switch
    clients: list[httpx.Client] = []

    def make(address: str) -> httpx.Client:
        transport = httpx.HTTPTransport(local_address=address)
        clients.append(httpx.Client(base_url=url, transport=transport, timeout=10))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


def test_failed_admin_credentials_are_limited_per_client_address(
    make_app: Callable[..., RevokerApp], serve: Serve, from_address: Callable[[str], httpx.Client]
) -> None:
    """Ten failures lock 127.0.0.2 out (429 even for the right token); 127.0.0.3 is unaffected."""
    with serve(make_app()):
        guesser, bystander = from_address("127.0.0.2"), from_address("127.0.0.3")
        for attempt in range(10):
            wrong = bearer(f"guess-{attempt:04d}-0123456789abcdef")
            assert guesser.get("/admin/rules", headers=wrong).status_code == 401
        locked = guesser.get("/admin/rules", headers=ADMIN)
        assert locked.status_code == 429
        assert int(locked.headers["retry-after"]) > 0
        assert (
            guesser.post(
                "/admin/rules", json={"kind": "key", "value": "k"}, headers=ADMIN
            ).status_code
            == 429
        )
        assert bystander.get("/admin/rules", headers=ADMIN).status_code == 200


MIB = 1024 * 1024


def _chunks(size: int) -> Iterator[bytes]:
    for _ in range(size // 65536):
        yield b"a" * 65536


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/admin/rules", "application/json"),
        ("/admin/check", "application/json"),
        ("/introspect", "application/x-www-form-urlencoded"),
        ("/revoke", "application/x-www-form-urlencoded"),
        ("/backchannel-logout", "application/x-www-form-urlencoded"),
        ("/ssf/events", "application/secevent+jwt"),
        ("/global-token-revocation", "application/json"),
    ],
    ids=["admin-rules", "admin-check", "introspect", "revoke", "backchannel-logout",
         "ssf-events", "global-token-revocation"],
)  # fmt: skip
@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
def test_every_body_has_a_size_limit(
    make_app: Callable[..., RevokerApp],
    serve: Serve,
    path: str,
    content_type: str,
    streamed: bool,
) -> None:
    """A 1 MiB body to any route that reads one is 413, declared or streamed."""
    headers = {**ADMIN, "Content-Type": content_type}
    app = make_app()
    with serve(app) as client:
        content = _chunks(MIB) if streamed else b"a" * MIB
        response = client.post(path, content=content, headers=headers)
        assert response.status_code == 413
        assert response.json()["error"] == "request_too_large"
        assert app.state.registry.rules() == []


def test_every_route_that_reads_a_body_is_in_the_size_test(
    make_app: Callable[..., RevokerApp],
) -> None:
    """A new POST route must join the size-limit test above (the console's forms: the one in
    tests/console/test_console_guard.py)."""
    app = make_app()
    posts = {
        route.path
        for route in app.starlette.routes
        if isinstance(route, Route) and "POST" in (route.methods or ())
    }
    console = {path for path in posts if path.startswith("/console/")}
    assert console == {"/console/login", "/console/logout", "/console/revoke", "/console/check",
                       "/console/rules/{rule_id}/lift"}  # fmt: skip
    assert posts - console == {
        "/admin/rules", "/admin/check", "/introspect", "/revoke", "/backchannel-logout",
        "/ssf/events", "/global-token-revocation",
    }  # fmt: skip


def test_auth_never_reads_a_body(
    kit: Kit, make_app: Callable[..., RevokerApp], serve: Serve
) -> None:
    """/auth decides from headers alone: a 1 MiB body changes nothing."""
    with serve(make_app()) as client:
        response = client.post("/auth", content=b"a" * MIB, headers=bearer(kit.rs.access_token()))
        assert response.status_code == 200
