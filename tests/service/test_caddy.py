"""A real Caddy (forward_auth) in front of a sample upstream, with `revoker serve` deciding:
allowed (identity headers reach the upstream), denied (401 with revoker's challenge),
revoked (self-revocation through /revoke, then the same token gets 401), identity headers
a client forges never reach the upstream, and the client's address as Caddy saw it whatever
X-Forwarded-For the client sends. deploy/caddy/Caddyfile is the config, with its addresses
replaced; Caddy runs with its admin endpoint off and its storage and config directories under
the test's tmp_path. Skips without caddy, fails under REVOKER_REQUIRE_SERVICES=1."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from proxy_support import (
    CLIENT_ADDRESS,
    IDENTITY_HEADERS,
    PROXY_ADDRESS,
    REPO_ROOT,
    EchoServer,
    denials,
    echo_upstream,
    free_port,
    revoker_behind_a_proxy,
)
from service_support import bearer, service_missing

from process_support import ServeProcess
from revoker.devissuer import DevIssuerServer

CADDYFILE = REPO_ROOT / "deploy" / "caddy" / "Caddyfile"
Login = Callable[[], dict[str, str]]


@pytest.fixture
def caddy_binary() -> str:
    """caddy's path; skips (or fails under REVOKER_REQUIRE_SERVICES=1) when it is missing."""
    binary = shutil.which("caddy") or ("/usr/bin/caddy" if os.access("/usr/bin/caddy", os.X_OK)
                                       else None)  # fmt: skip
    if binary is None:
        service_missing("caddy")
    assert binary is not None
    return binary


@pytest.fixture
def upstream() -> Iterator[EchoServer]:
    with echo_upstream() as server:
        yield server


@pytest.fixture
def revoker(
    caddy_binary: str, dev_issuer: DevIssuerServer, tmp_path: Path
) -> Iterator[ServeProcess]:
    with revoker_behind_a_proxy(dev_issuer, tmp_path) as serve:
        yield serve


@dataclass
class Caddy:
    url: str
    log: Path


def _write_caddyfile(home: Path, listen: int, revoker_url: str, upstream_port: int) -> Path:
    site = CADDYFILE.read_text(encoding="utf-8")
    for default, actual in (
        ("http://127.0.0.1:8000", f"http://127.0.0.1:{listen}"),
        ("127.0.0.1:8080", revoker_url.removeprefix("http://")),
        ("127.0.0.1:3000", f"127.0.0.1:{upstream_port}"),
    ):
        assert default in site, default
        site = site.replace(default, actual)
    assert not site.lstrip().startswith("{"), "the shipped file has no global options"
    options = (
        "{\n\tadmin off\n\tauto_https off\n\tskip_install_trust\n\tdefault_bind 127.0.0.1\n"
        f"\tstorage file_system {home / 'data'}\n}}\n\n"
    )
    path = home / "Caddyfile"
    path.write_text(options + site, encoding="utf-8")
    return path


@pytest.fixture
def caddy(
    caddy_binary: str, tmp_path: Path, revoker: ServeProcess, upstream: EchoServer
) -> Iterator[Caddy]:
    home = tmp_path / "caddy"
    home.mkdir()
    listen = free_port()
    config = _write_caddyfile(home, listen, revoker.url, upstream.server_address[1])
    # Caddy writes its autosave and data under these: keep them in the test's directory.
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"),
           "XDG_DATA_HOME": str(home / "data")}  # fmt: skip
    log = home / "caddy.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [caddy_binary, "run", "--config", str(config), "--adapter", "caddyfile"],
            stdout=sink, stderr=sink, env=env, cwd=home,
        )  # fmt: skip
    url = f"http://127.0.0.1:{listen}"
    try:
        deadline = time.monotonic() + 10
        while True:
            if process.poll() is not None:
                pytest.fail(f"caddy exited at start: {log.read_text()}")
            try:
                httpx.get(url + "/revoke", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "caddy did not start listening"
                time.sleep(0.05)
        yield Caddy(url, log)
    finally:
        process.terminate()  # SIGTERM: a graceful stop
        process.wait(10)
    assert (home / "config" / "caddy" / "autosave.json").exists()  # ours, not $HOME's


def test_through_caddy_allowed_denied_and_revoked(
    caddy: Caddy, revoker: ServeProcess, upstream: EchoServer, login: Login
) -> None:
    """Allowed with identity headers upstream; denied with 401 and revoker's challenge, the
    upstream not reached; self-revocation through /revoke, after which the same token (and
    its ID token) get 401 revoked_family."""
    tokens = login()
    access, id_token = tokens["AccessToken"], tokens["IdToken"]
    with httpx.Client(base_url=caddy.url, timeout=10) as client:
        allowed = client.get("/api/orders?id=7", headers=bearer(access))
        assert allowed.status_code == 200, caddy.log.read_text()
        seen = allowed.json()["headers"]
        assert seen["X-Auth-Subject"]
        assert seen["X-Auth-Username"] == "alice"
        assert seen["X-Auth-Token-Use"] == "access"
        assert seen["X-Auth-Client-Id"] == "revokerdemo0client0id000000"
        assert seen["X-Auth-Scope"] == "aws.cognito.signin.user.admin"
        assert allowed.json()["path"] == "/api/orders?id=7"

        hits = len(upstream.seen)
        missing = client.get("/api/orders")
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == 'Bearer realm="revoker"'
        header, payload, signature = access.split(".")
        tampered = f"{header}.{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
        denied = client.get("/api/orders/denied-1", headers=bearer(tampered))
        assert denied.status_code == 401
        assert denied.headers["www-authenticate"].startswith(
            'Bearer error="invalid_token", error_description="bad_signature: '
        )
        assert denied.json() == {"allowed": False, "reason": "bad_signature"}
        assert len(upstream.seen) == hits  # denied requests never reach the app
        logged = denials(revoker, ["/api/orders/denied-1"])  # X-Original-URI/-Method sent
        assert logged["/api/orders/denied-1"]["method"] == "GET"

        assert client.get("/api/me", headers=bearer(id_token)).status_code == 200
        assert client.post("/revoke", data={"token": "not-a-token"}).status_code == 200
        assert client.post("/revoke", data={"token": access}).status_code == 200
        after = client.get("/api/orders", headers=bearer(access))
        assert after.status_code == 401
        assert 'error_description="revoked_family: ' in after.headers["www-authenticate"]
        sibling = client.get("/api/me", headers=bearer(id_token))
        assert sibling.status_code == 401  # the ID token of the same sign-in
        assert len(upstream.seen) == hits + 1


def test_through_caddy_identity_headers_a_client_forges_never_reach_the_upstream(
    caddy: Caddy, upstream: EchoServer, login: Login
) -> None:
    """A client sending all six X-Auth-* headers (twice each) with a valid token: the upstream
    sees revoker's values only, and an empty one where the token has no such claim (alice is
    in no group); with no token the request never reaches the upstream at all."""
    forged = [(name, f"forged-{name}") for name in IDENTITY_HEADERS] * 2
    access = login()["AccessToken"]
    with httpx.Client(base_url=caddy.url, timeout=10) as client:
        allowed = client.get("/api/orders", headers=[*bearer(access).items(), *forged])
        assert allowed.status_code == 200, caddy.log.read_text()
        assert client.get("/api/orders", headers=forged).status_code == 401
    seen = allowed.json()["headers"]
    assert len(upstream.seen) == 1
    for name in IDENTITY_HEADERS:
        assert "forged" not in seen.get(name, ""), name
    assert seen.get("X-Auth-Groups", "") == ""
    assert seen["X-Auth-Username"] == "alice"


def test_through_caddy_revoker_sees_the_clients_address_not_a_forged_one(
    caddy: Caddy, revoker: ServeProcess, upstream: EchoServer, login: Login
) -> None:
    """A client sending a new X-Forwarded-For each time (with --forwarded-allow-ips set to
    Caddy's address) is seen by revoker, and by the app, at the address Caddy saw."""
    forged = ["203.0.113.7", "203.0.113.8", "198.51.100.9, 203.0.113.10", PROXY_ADDRESS, ""]
    uris = [f"/api/orders/forged-{n}" for n in range(len(forged))]
    transport = httpx.HTTPTransport(local_address=CLIENT_ADDRESS)
    with httpx.Client(base_url=caddy.url, transport=transport, timeout=10) as client:
        for uri, value in zip(uris, forged, strict=True):
            headers = {"Authorization": "Bearer not-a-token", "X-Forwarded-For": value}
            assert client.get(uri, headers=headers).status_code == 401
        access = login()["AccessToken"]
        allowed = client.get(
            "/api/orders", headers={**bearer(access), "X-Forwarded-For": "203.0.113.11"}
        )
        assert allowed.status_code == 200, caddy.log.read_text()
    clients = {uri: entry.get("client") for uri, entry in denials(revoker, uris).items()}
    assert clients == dict.fromkeys(uris, CLIENT_ADDRESS)
    assert allowed.json()["headers"]["X-Forwarded-For"] == CLIENT_ADDRESS
