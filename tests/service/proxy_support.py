"""Helpers for the tests of a real proxy (nginx, Caddy) in front of `revoker serve`: a sample
upstream that echoes the headers it received, a free port to hand a proxy, `revoker serve`
trusting the proxy's address, and what revoker logged about each denial."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from service_support import ADMIN_TOKEN

from process_support import ServeProcess
from revoker.devissuer import DevIssuerServer

REPO_ROOT = Path(__file__).resolve().parents[2]
#: The proxy connects to revoker from here; the tests' client from another loopback address.
PROXY_ADDRESS = "127.0.0.1"
CLIENT_ADDRESS = "127.0.0.5"
IDENTITY_HEADERS = (
    "X-Auth-Subject",
    "X-Auth-Username",
    "X-Auth-Groups",
    "X-Auth-Scope",
    "X-Auth-Client-Id",
    "X-Auth-Token-Use",
)


def free_port() -> int:
    # A proxy cannot report a port it picked: take a free one and hand it over.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _EchoHandler(BaseHTTPRequestHandler):
    """The sample upstream: answers 200 with the headers it received, as JSON."""

    server: EchoServer

    def _echo(self) -> None:
        self.server.seen.append(dict(self.headers.items()))
        body = json.dumps({"path": self.path, "headers": dict(self.headers.items())}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._echo()

    def do_POST(self) -> None:
        self._echo()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass


class EchoServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _EchoHandler)
        self.seen: list[dict[str, str]] = []


@contextmanager
def echo_upstream() -> Iterator[EchoServer]:
    """The sample upstream on an ephemeral loopback port, in a thread."""
    server = EchoServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


@contextmanager
def revoker_behind_a_proxy(dev_issuer: DevIssuerServer, tmp_path: Path) -> Iterator[ServeProcess]:
    """`revoker serve` trusting the dev issuer, logging JSON at debug, and believing
    X-Forwarded-For from the proxy's address only."""
    serve = ServeProcess(
        "--issuer", dev_issuer.issuer, "--audience", dev_issuer.issuer_obj.client_id,
        "--store", f"sqlite:///{tmp_path}/rules.db", "--admin-token", ADMIN_TOKEN,
        "--log-level", "debug", "--log-format", "json",
        "--forwarded-allow-ips", PROXY_ADDRESS,
    )  # fmt: skip
    try:
        serve.wait_ready()
        yield serve
        assert serve.stop() == 0
    finally:
        serve.kill()


def denials(revoker: ServeProcess, uris: list[str]) -> dict[str, dict[str, Any]]:
    """revoker's debug log entry of its denial of each of ``uris`` (as the gateway named the
    original request), waiting a bounded time for them to appear."""
    seen: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 5
    while len(seen) < len(uris) and time.monotonic() < deadline:
        for line in list(revoker.stderr):
            if '"message":"denied"' in line:
                entry = json.loads(line)
                if entry.get("uri") in uris:
                    seen[entry["uri"]] = entry
        time.sleep(0.02)
    return seen
