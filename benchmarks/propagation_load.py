"""Propagation under full load: three ``revoker serve`` instances on one store, all under wrk.

The mode ``python benchmarks/propagation.py --under-load`` runs this for Redis
and PostgreSQL. Three ``revoker serve`` processes share the store; each is
loaded on ``/auth`` by a wrk of its own (one thread, ``connections // 3``
connections: the single-instance HTTP benchmark's 32 connections, split evenly;
on a 2-core machine the three servers and three wrk threads then share both
cores, which stay saturated). While the load runs, this process revokes one
token at a time through instance 1's admin API and, from one thread per
instance, asks ``/auth`` about that token over a keep-alive connection until the
answer is 401. The figure per revocation is the latest instance's first 401,
measured from the start of the revoke call: an upper bound, since each probe
also waits its turn behind the wrk connections (the probe round trip is
reported beside it).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from http_auth import LUA, free_port, wait_ready

from revoker.core.clock import FrozenClock
from revoker.core.registry import RegistryLimits, RuleKind, open_store
from revoker.core.registry.rules import new_rule
from revoker.core.tokens import parse_unverified
from revoker.testing import TokenFactory, serve_json

ADMIN_TOKEN = "propagation-benchmark-admin-" + uuid.uuid4().hex
INSTANCES = 3
PROBE_DEADLINE_SECONDS = 2.0
SEED_RULES = 10_000  # other active rules in the store, as a service would hold


@dataclass(frozen=True)
class Loaded:
    """What one store's run under load measured."""

    delays_ms: list[float]
    probe_rtt_ms: list[float]
    missed: int
    wrk: list[dict[str, float]]
    revoke_call_ms: list[float]
    per_instance_ms: list[list[float]]
    spread_ms: list[float]  # per revocation: the last instance's 401 minus the first's


class Probe:
    """One keep-alive connection to one instance's /auth."""

    def __init__(self, port: int) -> None:
        self._conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)

    def status(self, token: str) -> int:
        self._conn.request("GET", "/auth", headers={"Authorization": f"Bearer {token}"})
        response = self._conn.getresponse()
        response.read()
        return response.status

    def until_denied(self, token: str, rtts: list[float]) -> float | None:
        """Ask until a 401; the wall-clock time it arrived (None: not within the deadline)."""
        deadline = time.monotonic() + PROBE_DEADLINE_SECONDS
        while time.monotonic() < deadline:
            sent = time.perf_counter()
            status = self.status(token)
            rtts.append(time.perf_counter() - sent)
            if status == 401:
                return time.time()
        return None

    def close(self) -> None:
        self._conn.close()


def revoke_through(port: int, jti: str) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        body = json.dumps({"kind": "token", "value": jti, "reason": "propagation under load"})
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
        conn.request("POST", "/admin/rules", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status != 201:
            raise SystemExit(f"the revoke through instance 1 answered {response.status}")
    finally:
        conn.close()


def measure_under_load(
    store_url: str, *, revocations: int, connections: int, budget_seconds: float
) -> Loaded:
    """Three instances on ``store_url``, each under wrk; revoke and probe (see the docstring)."""
    clock = FrozenClock(time.time())
    factory = TokenFactory(clock=clock, lifetime_seconds=3600)
    load_tokens = [factory.access_token(sub=f"user-{n}") for n in range(1000)]
    victims = [factory.id_token(sub=f"victim-{n}") for n in range(revocations)]
    store = open_store(store_url)
    limits, now = RegistryLimits(), time.time()
    store.add_many(  # type: ignore[attr-defined]
        new_rule(RuleKind.TOKEN, str(uuid.uuid4()), now=now, limits=limits)
        for _ in range(SEED_RULES)
    )
    store.close()
    jwks = serve_json(factory.jwks())
    jwks_url = f"http://127.0.0.1:{jwks.server_address[1]}/jwks.json"
    ports = [free_port() for _ in range(INSTANCES)]
    serve = [sys.executable, "-m", "revoker.cli", "serve", "--issuer", factory.issuer,
             "--jwks-url", jwks_url, "--audience", factory.client_id, "--store", store_url,
             "--admin-token", ADMIN_TOKEN, "--log-level", "warning"]  # fmt: skip
    servers = [
        subprocess.Popen([*serve, "--port", str(port)], stdout=subprocess.DEVNULL) for port in ports
    ]
    loads: list[subprocess.Popen[Any]] = []
    try:
        for port, server in zip(ports, servers, strict=True):
            wait_ready(f"http://127.0.0.1:{port}/healthz", server)
        with tempfile.TemporaryDirectory(prefix="revoker-load-") as tmp:
            tokens_file = Path(tmp) / "tokens.txt"
            tokens_file.write_text("\n".join(load_tokens) + "\n")
            script = Path(tmp) / "tokens.lua"
            script.write_text(LUA)
            per_instance = max(1, connections // INSTANCES)
            wrk_seconds = round(budget_seconds)
            loads = [
                subprocess.Popen(
                    [
                        "wrk",
                        "-t1",
                        f"-c{per_instance}",
                        f"-d{wrk_seconds}s",
                        "--latency",
                        "-s",
                        str(script),
                        f"http://127.0.0.1:{port}/auth",
                    ],
                    stdout=subprocess.PIPE,
                    text=True,
                    env={**os.environ, "BENCH_TOKENS": str(tokens_file)},
                )
                for port in ports
            ]
            loaded = _revoke_and_probe(ports, victims, stop_at=time.monotonic() + wrk_seconds - 2)
            wrk = [_wrk_figures(load.communicate(timeout=wrk_seconds + 30)[0]) for load in loads]
    finally:
        for process in [*loads, *servers]:
            if process.poll() is None:
                process.terminate()
        for process in [*loads, *servers]:
            process.wait(timeout=15)
        jwks.shutdown()
    return Loaded(
        loaded.delays_ms,
        loaded.probe_rtt_ms,
        loaded.missed,
        wrk,
        loaded.revoke_call_ms,
        loaded.per_instance_ms,
        loaded.spread_ms,
    )


def _revoke_and_probe(ports: list[int], victims: list[str], *, stop_at: float) -> Loaded:
    probes = [Probe(port) for port in ports]
    delays_ms: list[float] = []
    rtts: list[float] = []
    calls_ms: list[float] = []
    per_instance: list[list[float]] = [[] for _ in probes]
    spreads: list[float] = []
    missed = 0
    rtt_lock = threading.Lock()
    try:
        for victim in victims:  # each instance verifies (and caches) the token first: 200
            if [probe.status(victim) for probe in probes] != [200] * len(probes):
                raise SystemExit("an instance does not allow a fresh token")
        time.sleep(2.0)  # let the load settle
        with ThreadPoolExecutor(len(probes)) as pool:
            for victim in victims:
                if time.monotonic() > stop_at:
                    break
                jti = parse_unverified(victim).claims["jti"]
                own: list[list[float]] = [[] for _ in probes]
                started = time.time()
                waits = [
                    pool.submit(probe.until_denied, victim, own[n])
                    for n, probe in enumerate(probes)
                ]
                revoke_through(ports[0], jti)
                calls_ms.append((time.time() - started) * 1000)
                denied = [wait.result() for wait in waits]
                with rtt_lock:
                    rtts.extend(rtt for mine in own for rtt in mine)
                if any(at is None for at in denied):
                    missed += 1
                    continue
                arrived = [at for at in denied if at is not None]
                delays_ms.append((max(arrived) - started) * 1000)
                spreads.append((max(arrived) - min(arrived)) * 1000)
                for mine, at in zip(per_instance, arrived, strict=True):
                    mine.append((at - started) * 1000)
                time.sleep(random.uniform(0.01, 0.05))  # out of step with any poll
    finally:
        for probe in probes:
            probe.close()
    rtts_ms = [rtt * 1000 for rtt in rtts]
    return Loaded(delays_ms, rtts_ms, missed, [], calls_ms, per_instance, spreads)


def _wrk_figures(out: str) -> dict[str, float]:
    units = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    figures: dict[str, float] = {}
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            figures["rps"] = float(parts[1])
        elif parts[:1] == ["99%"]:
            number = parts[1].rstrip("mus")
            figures["p99_ms"] = float(number) * units[parts[1][len(number) :]]
    return figures


def summary(loaded: Loaded) -> dict[str, Any]:
    def pct(samples: list[float], share: float) -> float:
        ordered = sorted(samples)
        return round(ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))], 3)

    if not loaded.delays_ms:
        raise SystemExit("no revocation reached every instance under load")
    return {
        "instances": INSTANCES,
        "revocations": len(loaded.delays_ms),
        "missed": loaded.missed,
        "p50_ms": pct(loaded.delays_ms, 0.50),
        "p99_ms": pct(loaded.delays_ms, 0.99),
        "max_ms": round(max(loaded.delays_ms), 3),
        "mean_ms": round(statistics.fmean(loaded.delays_ms), 3),
        "revoke_call_p50_ms": pct(loaded.revoke_call_ms, 0.50),
        "revoke_call_p99_ms": pct(loaded.revoke_call_ms, 0.99),
        "spread_p50_ms": pct(loaded.spread_ms, 0.50),
        "spread_p99_ms": pct(loaded.spread_ms, 0.99),
        "p50_ms_per_instance": [pct(mine, 0.50) for mine in loaded.per_instance_ms],
        "p99_ms_per_instance": [pct(mine, 0.99) for mine in loaded.per_instance_ms],
        "probe_rtt_p50_ms": pct(loaded.probe_rtt_ms, 0.50),
        "probe_rtt_p99_ms": pct(loaded.probe_rtt_ms, 0.99),
        "load_rps_per_instance": [round(w.get("rps", 0.0)) for w in loaded.wrk],
        "load_p99_ms_per_instance": [w.get("p99_ms") for w in loaded.wrk],
        "target_p99_ms": 50.0,
    }
