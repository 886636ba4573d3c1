"""Shared Signals: from a transmitter's push to the moment /auth denies, on `revoker serve`.

A loopback transmitter (its ``/.well-known/ssf-configuration`` and JWKS over HTTP, RS256)
pushes one RISC ``account-disabled`` SET at a time (RFC 8935) for a user who holds a live
token, to the first of two ``revoker serve`` processes sharing one store; idle in between.
Per push, three figures, each from the moment the push starts:

- ``accepted``: the 202, i.e. the SET verified (signature, ``typ``, ``iss``, ``aud``, age),
  its rule durable in the store and applied in the receiving instance's replica;
- ``denied here``: the first ``/auth`` on the receiving instance that answers 401
  ``revoked_subject`` (asked right after the 202);
- ``denied elsewhere``: the first ``/auth`` on the *other* instance that answers 401, probed
  in a loop: the store's propagation (SQLite: its poll, 50 ms here; Redis and PostgreSQL push).

Run: ``python benchmarks/ssf_push.py`` (about 20 s; ``--pushes N``, ``--store URL``, default a
SQLite file in a temporary directory). Writes ``benchmarks/results/ssf_push.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from http_auth import free_port, wait_ready

from revoker.core.signing import generate_key, public_jwk, sign_compact
from revoker.testing import TokenFactory, serve_json

RESULTS = Path(__file__).parent / "results"
PUSH_TOKEN = "bench-push-token-0123456789"
AUDIENCE = "revoker-bench-receiver"
ACCOUNT_DISABLED = "https://schemas.openid.net/secevent/risc/event-type/account-disabled"
SQLITE_POLL_SECONDS = 0.05
WARMUP = 10


class Transmitter:
    """The SSF configuration and the JWKS of a transmitter at ``http://127.0.0.1:PORT``."""

    def __init__(self) -> None:
        self.key = generate_key("RS256")
        documents: dict[str, bytes] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(documents))
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        documents["/.well-known/ssf-configuration"] = json.dumps(
            {"issuer": self.issuer, "jwks_uri": self.issuer + "/jwks.json"}
        ).encode()
        jwks = {"keys": [public_jwk(self.key, kid="bench", alg="RS256")]}
        documents["/jwks.json"] = json.dumps(jwks).encode()
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def disabled(self, issuer: str, sub: str) -> str:
        claims = {"iss": self.issuer, "aud": AUDIENCE, "iat": int(time.time()),
                  "jti": uuid.uuid4().hex, "txn": uuid.uuid4().hex[:8],
                  "sub_id": {"format": "iss_sub", "iss": issuer, "sub": sub},
                  "events": {ACCOUNT_DISABLED: {"reason": "hijacking"}}}  # fmt: skip
        return sign_compact({"alg": "RS256", "kid": "bench", "typ": "secevent+jwt"}, claims,
                            self.key)  # fmt: skip


def _handler(documents: dict[str, bytes]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = documents.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def figures(samples: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(samples), 2),
        "p90_ms": round(percentile(samples, 0.90), 2),
        "p99_ms": round(percentile(samples, 0.99), 2),
        "max_ms": round(max(samples), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=300)
    parser.add_argument("--store", default=None, help="default: a SQLite file in a temp dir")
    args = parser.parse_args()
    factory = TokenFactory(lifetime_seconds=3600)
    transmitter = Transmitter()
    jwks = serve_json(factory.jwks())
    jwks_url = f"http://127.0.0.1:{jwks.server_address[1]}/jwks.json"
    with tempfile.TemporaryDirectory(prefix="revoker-ssf-bench-") as tmp:
        store = args.store or f"sqlite:///{tmp}/rules.db"
        env = {**os.environ, "REVOKER_SSF_PUSH_TOKEN": PUSH_TOKEN}
        ports = [free_port(), free_port()]
        command = [sys.executable, "-m", "revoker.cli", "serve", "--issuer", factory.issuer,
                   "--jwks-url", jwks_url, "--audience", factory.client_id, "--store", store,
                   "--ssf-transmitter", transmitter.issuer, "--ssf-audience", AUDIENCE,
                   "--ssf-streams", f"{tmp}/ssf-streams.json", "--log-level", "warning",
                   "--poll-interval", f"{SQLITE_POLL_SECONDS}s"]  # fmt: skip
        servers = [
            subprocess.Popen([*command, "--port", str(port)], env=env, stdout=subprocess.DEVNULL)
            for port in ports
        ]
        try:
            for port, server in zip(ports, servers, strict=True):
                wait_ready(f"http://127.0.0.1:{port}/healthz", server)
            result = measure(transmitter, factory, ports, args.pushes)
        finally:
            for server in servers:
                server.terminate()
            for server in servers:
                server.wait(timeout=15)
            jwks.shutdown()
            transmitter.server.shutdown()
    result["store"] = (args.store or "sqlite:///…").split("://")[0]
    result["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(),
                         "platform": platform.platform()}  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ssf_push.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"{args.pushes} pushes, store {result['store']}, {os.cpu_count()} cores, idle between")
    for name in ("accepted", "denied_here", "denied_elsewhere"):
        f = result[name]
        print(f"  {name:<17} p50 {f['p50_ms']:>7.2f} ms  p90 {f['p90_ms']:>7.2f} ms  "
              f"p99 {f['p99_ms']:>7.2f} ms  max {f['max_ms']:>7.2f} ms")  # fmt: skip
    print(f"  a first /auth after the 202 that was not denied yet: {result['not_denied_at_once']}")


def measure(
    transmitter: Transmitter, factory: TokenFactory, ports: list[int], pushes: int
) -> dict[str, Any]:
    here = httpx.Client(base_url=f"http://127.0.0.1:{ports[0]}", timeout=10)
    there = httpx.Client(base_url=f"http://127.0.0.1:{ports[1]}", timeout=10)
    accepted, denied_here, denied_elsewhere = [], [], []
    not_denied_at_once = 0
    try:
        for n in range(WARMUP + pushes):
            factory.clock.now = time.time() - 5  # issued before the event: the cut-off covers it
            sub = f"user-{n}"
            token = {"Authorization": f"Bearer {factory.access_token(sub=sub)}"}
            if {here.get("/auth", headers=token).status_code,
                    there.get("/auth", headers=token).status_code} != {200}:  # fmt: skip
                raise SystemExit("a fresh token was not allowed: the setup is wrong")
            set_token = transmitter.disabled(factory.issuer, sub)
            start = time.perf_counter()
            response = here.post("/ssf/events", content=set_token.encode(), headers={
                "Content-Type": "application/secevent+jwt",
                "Authorization": f"Bearer {PUSH_TOKEN}",
            })  # fmt: skip
            done = time.perf_counter()
            if response.status_code != 202:
                raise SystemExit(f"the push was refused: {response.status_code} {response.text}")
            while here.get("/auth", headers=token).status_code != 401:
                not_denied_at_once += 1
            denied = time.perf_counter()
            deadline = start + 5.0
            while there.get("/auth", headers=token).status_code != 401:
                if time.perf_counter() > deadline:
                    raise SystemExit("the other instance never denied")
            elsewhere = time.perf_counter()
            if n >= WARMUP:
                accepted.append((done - start) * 1000)
                denied_here.append((denied - start) * 1000)
                denied_elsewhere.append((elsewhere - start) * 1000)
    finally:
        here.close()
        there.close()
    return {
        "pushes": pushes,
        "accepted": figures(accepted),
        "denied_here": figures(denied_here),
        "denied_elsewhere": figures(denied_elsewhere),
        "not_denied_at_once": not_denied_at_once,
    }


if __name__ == "__main__":
    main()
