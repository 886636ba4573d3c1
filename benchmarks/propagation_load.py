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

Beside that client-side probe, the server side: each instance's replica times
every rule the change log brings it, from the rule's commit (its ``created_at``
on the writer's clock; one host, so no skew) to its application in the index.
Instances run ``revoker serve`` through a wrapper that adds one benchmark-only
propagation observer writing each exact delay to a file; the same figures are
scraped from each instance's ``revoker_propagation_seconds`` histogram on
/metrics and interpolated within buckets, as Prometheus' ``histogram_quantile``
would. Instance 1 wrote every rule, so only instances 2 and 3 time them.

The CPU each party used during the revocations is read from /proc (user +
system time of the wrk processes, the servers, this process, and the whole
machine), as shares of all cores.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import math
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
from prometheus_client.parser import text_string_to_metric_families

from revoker.core.clock import FrozenClock
from revoker.core.registry import RegistryLimits, RuleKind, open_store
from revoker.core.registry.rules import new_rule
from revoker.core.tokens import parse_unverified
from revoker.testing import TokenFactory, serve_json

ADMIN_TOKEN = "propagation-benchmark-admin-" + uuid.uuid4().hex
INSTANCES = 3
PROBE_DEADLINE_SECONDS = 2.0
SEED_RULES = 10_000  # other active rules in the store, as a service would hold
HISTOGRAM = "revoker_propagation_seconds"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# ``revoker serve`` with a benchmark-only observer on its replica: each exact delay to a file.
SERVE = """
import sys, time
import revoker.core.registry as registry
from revoker.core.registry import replica, store

log = open(sys.argv.pop(1), "a", buffering=1)


def observe(path, delays):
    log.write("".join(f"observed {path} {seconds!r}\\n" for seconds in delays))


def heard(changes):
    now = time.time()
    log.write("".join(f"applied {c.rule.id} {now!r}\\n" for c in changes if c.op == "add"))


def init(self, *args, _init=replica.Replica.__init__, **kwargs):
    _init(self, *args, **kwargs)
    self.add_propagation_observer(observe)
    self.add_change_listener(heard)


def timed(opener):
    def open_timed(url):
        opened = opener(url)
        add = opened.add

        def add_timed(rule):
            entered = time.time()
            seq = add(rule)
            log.write(f"wrote {rule.id} {rule.created_at!r} {entered!r} {time.time()!r}\\n")
            return seq

        opened.add = add_timed
        return opened

    return open_timed


replica.Replica.__init__ = init
registry.open_store = store.open_store = timed(store.open_store)
from revoker.cli.main import main

sys.argv[0] = "revoker"
main()
"""


@dataclass
class ServerLog:
    """What the instances' wrappers wrote: exact observations, applies and the writer's adds."""

    observed: list[tuple[str, float]] = dataclasses.field(default_factory=list)
    # rule id -> (created_at, store.add entered, store.add returned), on the writing instance
    wrote: dict[str, tuple[float, float, float]] = dataclasses.field(default_factory=dict)
    # rule id -> the times the other instances applied it (a change listener, just after)
    applied: dict[str, list[float]] = dataclasses.field(default_factory=dict)


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
    # The server side, exactly: what each instance's replica applied, and the writer's adds.
    server: ServerLog = dataclasses.field(default_factory=ServerLog)
    # The same from /metrics: (path, upper bound) -> count, summed over the instances.
    scraped: dict[tuple[str, float], float] = dataclasses.field(default_factory=dict)
    cpu_share: dict[str, float] = dataclasses.field(default_factory=dict)


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
    store_url: str,
    *,
    revocations: int,
    connections: int,
    budget_seconds: float,
    niceness: int = 0,
) -> Loaded:
    """Three instances on ``store_url``, each under wrk; revoke and probe (see the docstring).
    ``niceness`` above 0 runs the servers and wrk under ``nice``: the store's processes then
    get the cores first, as a store on machines of its own would."""
    nice = ["nice", "-n", str(niceness)] if niceness else []
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
    serve = ["serve", "--issuer", factory.issuer, "--jwks-url", jwks_url,
             "--audience", factory.client_id, "--store", store_url,
             "--admin-token", ADMIN_TOKEN, "--log-level", "warning"]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="revoker-load-") as tmp:
        logs = [Path(tmp) / f"propagation-{n}.txt" for n in range(INSTANCES)]
        servers = [
            subprocess.Popen(
                [*nice, sys.executable, "-c", SERVE, str(log), *serve, "--port", str(port)],
                stdout=subprocess.DEVNULL,
            )
            for port, log in zip(ports, logs, strict=True)
        ]
        loads: list[subprocess.Popen[Any]] = []
        try:
            for port, server in zip(ports, servers, strict=True):
                wait_ready(f"http://127.0.0.1:{port}/healthz", server)
            tokens_file = Path(tmp) / "tokens.txt"
            tokens_file.write_text("\n".join(load_tokens) + "\n")
            script = Path(tmp) / "tokens.lua"
            script.write_text(LUA)
            per_instance = max(1, connections // INSTANCES)
            wrk_seconds = round(budget_seconds)
            loads = [
                subprocess.Popen(
                    [
                        *nice,
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
            parties = {"wrk": loads, "servers": servers}
            loaded = _revoke_and_probe(
                ports, victims, stop_at=time.monotonic() + wrk_seconds - 2, parties=parties
            )
            scraped = _scrape_histograms(ports)
            wrk = [_wrk_figures(load.communicate(timeout=wrk_seconds + 30)[0]) for load in loads]
        finally:
            for process in [*loads, *servers]:
                if process.poll() is None:
                    process.terminate()
            for process in [*loads, *servers]:
                process.wait(timeout=15)
            jwks.shutdown()
        server_log = _read_logs(logs)
    return dataclasses.replace(loaded, wrk=wrk, server=server_log, scraped=scraped)


def _read_logs(logs: list[Path]) -> ServerLog:
    server = ServerLog()
    for log in logs:
        if not log.exists():
            continue
        for line in log.read_text().splitlines():
            what, *fields = line.split()
            if what == "observed":
                server.observed.append((fields[0], float(fields[1])))
            elif what == "wrote":
                created, entered, returned = map(float, fields[1:])
                server.wrote[fields[0]] = (created, entered, returned)
            elif what == "applied":
                server.applied.setdefault(fields[0], []).append(float(fields[1]))
    return server


def _scrape_histograms(ports: list[int]) -> dict[tuple[str, float], float]:
    """``revoker_propagation_seconds`` cumulative buckets, (path, le) -> count, all instances."""
    buckets: dict[tuple[str, float], float] = {}
    for port in ports:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", "/metrics")
            text = conn.getresponse().read().decode()
        finally:
            conn.close()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == f"{HISTOGRAM}_bucket":
                    key = (sample.labels["path"], float(sample.labels["le"]))
                    buckets[key] = buckets.get(key, 0.0) + sample.value
    return buckets


def histogram_quantile(share: float, buckets: list[tuple[float, float]]) -> float | None:
    """Prometheus' estimate from cumulative (upper bound, count) buckets: linear in a bucket.

    None without observations; the highest finite bound when it lands in +Inf.
    """
    buckets = sorted(buckets)
    total = buckets[-1][1] if buckets else 0.0
    if total == 0:
        return None
    rank = share * total
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * (rank - below) / max(count - below, 1e-12)
        lower, below = bound, count
    return lower


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time a process (all its threads) has used; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def _machine_busy_seconds() -> float:
    """CPU time every core spent busy (not idle, not waiting on I/O) since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


class CpuMeter:
    """Shares of all cores each party used between ``start`` and ``stop``."""

    def __init__(self, parties: dict[str, list[subprocess.Popen[Any]]]) -> None:
        self._parties = parties
        self._cores = os.cpu_count() or 1
        self._start = self._sample()

    def _sample(self) -> dict[str, float]:
        sample = {
            name: sum(_cpu_seconds(process.pid) for process in processes)
            for name, processes in self._parties.items()
        }
        sample["benchmark (revoke, probes)"] = _cpu_seconds(os.getpid())
        sample["machine"] = _machine_busy_seconds()
        sample["wall"] = time.monotonic()
        return sample

    def stop(self) -> dict[str, float]:
        end = self._sample()
        wall = end["wall"] - self._start["wall"]
        shares = {
            name: round((end[name] - self._start[name]) / (wall * self._cores), 3)
            for name in end
            if name != "wall"
        }
        named = sum(share for name, share in shares.items() if name != "machine")
        shares["others (stores, other processes)"] = round(max(0.0, shares["machine"] - named), 3)
        shares["cores"] = self._cores
        return shares


def _revoke_and_probe(
    ports: list[int],
    victims: list[str],
    *,
    stop_at: float,
    parties: dict[str, list[subprocess.Popen[Any]]],
) -> Loaded:
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
        meter = CpuMeter(parties)
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
        cpu_share = meter.stop()
    finally:
        for probe in probes:
            probe.close()
    rtts_ms = [rtt * 1000 for rtt in rtts]
    return Loaded(
        delays_ms, rtts_ms, missed, [], calls_ms, per_instance, spreads, cpu_share=cpu_share
    )


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
        **server_side(loaded),
        "cpu_share_during_revocations": loaded.cpu_share,
        "target_p99_ms": 50.0,
    }


def server_side(loaded: Loaded) -> dict[str, Any]:
    """Commit -> applied in the other instances' replicas: exact, and from /metrics; and the
    same split at the write: created_at -> store.add returned (on the writer), and store.add
    returned -> applied in each other instance (commit happens within the add)."""

    def pct(samples: list[float], share: float) -> float:
        ordered = sorted(samples)
        return round(ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))], 3)

    figures: dict[str, Any] = {}
    server = loaded.server
    exact_ms = [seconds * 1000 for _, seconds in server.observed]
    figures["server_applied"] = len(exact_ms)
    figures["server_paths"] = {
        path: sum(1 for p, _ in server.observed if p == path) for path in ("push", "poll")
    }
    if exact_ms:
        figures["server_p50_ms"] = pct(exact_ms, 0.50)
        figures["server_p99_ms"] = pct(exact_ms, 0.99)
        figures["server_max_ms"] = round(max(exact_ms), 3)
    merged: dict[float, float] = {}
    for (_, bound), count in loaded.scraped.items():
        merged[bound] = merged.get(bound, 0.0) + count
    for label, share in (("p50", 0.50), ("p99", 0.99)):
        estimate = histogram_quantile(share, list(merged.items()))
        figures[f"metric_{label}_ms"] = None if estimate is None else round(estimate * 1000, 3)
    write_ms = [(returned - created) * 1000 for created, _, returned in server.wrote.values()]
    add_ms = [(returned - entered) * 1000 for _, entered, returned in server.wrote.values()]
    after_ms = [
        (at - server.wrote[rule_id][2]) * 1000
        for rule_id, times in server.applied.items()
        if rule_id in server.wrote
        for at in times
    ]
    if write_ms:
        figures["write_p50_ms"] = pct(write_ms, 0.50)
        figures["write_p99_ms"] = pct(write_ms, 0.99)
        figures["write_max_ms"] = round(max(write_ms), 3)
        figures["store_add_p50_ms"] = pct(add_ms, 0.50)  # the store call alone
        figures["store_add_p99_ms"] = pct(add_ms, 0.99)
    if after_ms:
        figures["after_write_p50_ms"] = pct(after_ms, 0.50)
        figures["after_write_p99_ms"] = pct(after_ms, 0.99)
        figures["after_write_max_ms"] = round(max(after_ms), 3)
    return figures
