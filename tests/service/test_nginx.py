"""A real nginx (auth_request) in front of a sample upstream, with `revoker serve` deciding:
allowed (identity headers reach the upstream), denied (401), revoked (self-revocation
through /revoke, then the same token gets 401), and the client's address as nginx saw it,
whatever X-Forwarded-For the client sends. deploy/nginx/revoker.conf is the config, with
its ports replaced. Skips without nginx, fails under REVOKER_REQUIRE_SERVICES=1."""

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

NGINX_CONF = REPO_ROOT / "deploy" / "nginx" / "revoker.conf"
Login = Callable[[], dict[str, str]]


def _nginx_binary() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


@pytest.fixture
def upstream() -> Iterator[EchoServer]:
    with echo_upstream() as server:
        yield server


@pytest.fixture
def nginx_binary() -> str:
    """nginx's path; skips (or fails under REVOKER_REQUIRE_SERVICES=1) when it is missing."""
    binary = _nginx_binary()
    if binary is None:
        service_missing("nginx")
    assert binary is not None
    return binary


@pytest.fixture
def revoker(
    nginx_binary: str, dev_issuer: DevIssuerServer, tmp_path: Path
) -> Iterator[ServeProcess]:
    with revoker_behind_a_proxy(dev_issuer, tmp_path) as serve:
        yield serve


@dataclass
class Nginx:
    url: str
    process: subprocess.Popen[bytes]
    error_log: Path


def _write_config(prefix: Path, listen: int, revoker_url: str, upstream_port: int) -> Path:
    site = NGINX_CONF.read_text(encoding="utf-8")
    for default, actual in (
        ("127.0.0.1:8000", f"127.0.0.1:{listen}"),
        ("127.0.0.1:8080", revoker_url.removeprefix("http://")),
        ("127.0.0.1:3000", f"127.0.0.1:{upstream_port}"),
    ):
        assert default in site, default
        site = site.replace(default, actual)
    (prefix / "revoker.conf").write_text(site, encoding="utf-8")
    temp = prefix / "temp"
    temp.mkdir()
    user = "user root;\n" if os.geteuid() == 0 else ""
    main = (
        f"{user}worker_processes 1;\nerror_log {prefix}/error.log info;\n"
        "events { worker_connections 64; }\n"
        "http {\n"
        f"  access_log {prefix}/access.log;\n"
        + "".join(
            f"  {kind}_temp_path {temp}/{kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        + f"  include {prefix}/revoker.conf;\n"
        "}\n"
    )
    config = prefix / "nginx.conf"
    config.write_text(main, encoding="utf-8")
    return config


@pytest.fixture
def nginx(
    nginx_binary: str, tmp_path: Path, revoker: ServeProcess, upstream: EchoServer
) -> Iterator[Nginx]:
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    listen = free_port()
    config = _write_config(prefix, listen, revoker.url, upstream.server_address[1])
    process = subprocess.Popen(
        [nginx_binary, "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(config),
         "-g", f"daemon off; pid {prefix}/nginx.pid;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{listen}"
    try:
        deadline = time.monotonic() + 10
        while True:
            if process.poll() is not None:
                errors = process.stderr.read().decode() if process.stderr else ""
                pytest.fail(f"nginx exited at start: {errors}")
            try:
                httpx.get(url + "/revoke", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "nginx did not start listening"
                time.sleep(0.05)
        yield Nginx(url, process, prefix / "error.log")
    finally:
        process.terminate()  # SIGTERM: nginx's fast shutdown
        process.wait(10)
        if process.stderr is not None:
            process.stderr.close()


def test_through_nginx_allowed_denied_and_revoked(
    nginx: Nginx, revoker: ServeProcess, upstream: EchoServer, login: Login
) -> None:
    """Allowed with identity headers upstream; forged identity replaced; denied with 401;
    self-revocation through /revoke, after which the same token (and its ID token) get 401."""
    tokens = login()
    access, id_token = tokens["AccessToken"], tokens["IdToken"]
    with httpx.Client(base_url=nginx.url, timeout=10) as client:
        allowed = client.get(
            "/api/orders?id=7", headers={**bearer(access), "X-Auth-Subject": "forged-admin"}
        )
        assert allowed.status_code == 200, nginx.error_log.read_text()
        seen = allowed.json()["headers"]
        assert seen["X-Auth-Subject"] != "forged-admin"
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
        assert len(upstream.seen) == hits  # denied requests never reach the app
        logged = denials(revoker, ["/api/orders/denied-1"])  # X-Original-URI/-Method sent
        assert logged["/api/orders/denied-1"]["method"] == "GET"

        assert client.get("/api/me", headers=bearer(id_token)).status_code == 200
        assert client.post("/revoke", data={"token": "not-a-token"}).status_code == 200
        revoked = client.post("/revoke", data={"token": access})
        assert revoked.status_code == 200
        after = client.get("/api/orders/denied-1", headers=bearer(access))
        assert after.status_code == 401
        assert 'error_description="revoked_family: ' in after.headers["www-authenticate"]
        sibling = client.get("/api/me", headers=bearer(id_token))
        assert sibling.status_code == 401  # the ID token of the same sign-in
        assert len(upstream.seen) == hits + 1


def test_through_nginx_revoker_sees_the_clients_address_not_a_forged_one(
    nginx: Nginx, revoker: ServeProcess, upstream: EchoServer, login: Login
) -> None:
    """A client sending a new X-Forwarded-For each time (with --forwarded-allow-ips set to
    nginx's address) is seen by revoker, and by the app, at the address nginx saw."""
    forged = ["203.0.113.7", "203.0.113.8", "198.51.100.9, 203.0.113.10", PROXY_ADDRESS, ""]
    uris = [f"/api/orders/forged-{n}" for n in range(len(forged))]
    transport = httpx.HTTPTransport(local_address=CLIENT_ADDRESS)
    with httpx.Client(base_url=nginx.url, transport=transport, timeout=10) as client:
        for uri, value in zip(uris, forged, strict=True):
            headers = {"Authorization": "Bearer not-a-token", "X-Forwarded-For": value}
            assert client.get(uri, headers=headers).status_code == 401
        access = login()["AccessToken"]
        allowed = client.get(
            "/api/orders", headers={**bearer(access), "X-Forwarded-For": "203.0.113.11"}
        )
        assert allowed.status_code == 200, nginx.error_log.read_text()
    clients = {uri: entry.get("client") for uri, entry in denials(revoker, uris).items()}
    assert clients == dict.fromkeys(uris, CLIENT_ADDRESS)
    assert allowed.json()["headers"]["X-Forwarded-For"] == CLIENT_ADDRESS
