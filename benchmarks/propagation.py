"""Propagation: from the start of a revoke to the moment every instance denies, per store.

For each shared store (SQLite, Redis, PostgreSQL; memory is not shared), three
instance processes each run a ``Registry`` replica (with push where the store
has it: Redis pub/sub, PostgreSQL LISTEN/NOTIFY; SQLite polls). This process
is the fourth instance: it revokes one rule at a time, idle in between, and
each instance reports over its stdout pipe the wall-clock ``time.time()`` at
which its replica first matched the rule (a change listener, run right after
the sync applied it, checks ``match``). The figure per revocation is the
latest instance's time minus the revoke's start, so it includes the durable
write itself (shown apart as "write": the whole ``revoke`` call, its commit
and its own catch-up).

Then, under load (``propagation_load.py``): three ``revoker serve`` instances
on Redis and on PostgreSQL, each under a wrk of its own on ``/auth``, with one
token revoked at a time through instance 1's admin API and every instance
probed over HTTP until it answers 401.

Targets on loopback: p99 <= 5 ms idle for Redis and PostgreSQL, <= 50 ms under
full load (issue 7); SQLite is bounded by its poll interval (50 ms here).

Run: ``python benchmarks/propagation.py`` (about 80 s; ``--mode idle`` or
``--mode under-load`` for one half, with ``--store-first`` to run the servers
and wrk at nice 10; ``--revocations``, ``--instances``,
``--seconds``). Servers: REVOKER_BENCH_REDIS_URL and
REVOKER_BENCH_POSTGRES_URL (default 127.0.0.1); a store whose server is down
is skipped with a line saying so. Writes ``benchmarks/results/propagation.json``
and ``propagation_load.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from revoker.core.registry import Registry

RESULTS = Path(__file__).parent / "results"
REDIS_URL = os.environ.get("REVOKER_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get(
    "REVOKER_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
SQLITE_POLL_SECONDS = 0.05
TARGET_P99_MS = {"sqlite": SQLITE_POLL_SECONDS * 1000, "redis": 5.0, "postgresql": 5.0}
ISSUE_TARGET_P99_MS = {"sqlite": SQLITE_POLL_SECONDS * 1000, "redis": 50.0, "postgresql": 50.0}
WARMUP = 5
WAIT_SECONDS = 2.0  # per revocation, for every instance to report
BUDGET_SECONDS = 50.0  # the whole run stays under a minute

# One instance: a replica that reports when it first matches each rule.
INSTANCE = """
import sys, time
from revoker.core.registry import Registry
from revoker.core.registry.push import PushSource
url, poll = sys.argv[1], float(sys.argv[2])
registry = Registry.open(url, poll_interval_seconds=poll, max_staleness_seconds=300)
replica = registry.replica
write = sys.stdout.write

def heard(changes):
    now = time.time()
    for change in changes:
        rule = change.rule
        if change.op == "add" and replica.match({"jti": rule.value}, {}, "") == rule:
            write(f"{rule.value} {now!r}\\n")
    sys.stdout.flush()

def observed(path, delays):  # the server side: commit -> applied here, exact
    write("".join(f"observed {seconds!r}\\n" for seconds in delays))
    sys.stdout.flush()

replica.add_change_listener(heard)
replica.add_propagation_observer(observed)
registry.start()
deadline = time.monotonic() + 20
while isinstance(registry.store, PushSource) and not replica.push_healthy and (
    time.monotonic() < deadline
):
    time.sleep(0.01)
print("ready", flush=True)
sys.stdin.read()  # until the benchmark closes our stdin
registry.close()
"""


@dataclass(frozen=True)
class Store:
    name: str
    url: str
    poll_seconds: float  # the instances' poll; a healthy push slows it further


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


@contextmanager
def instances(store: Store, count: int) -> Iterator[queue.Queue[tuple[int, str]]]:
    """``count`` instance processes; yields the queue of (instance, line) they report."""
    lines: queue.Queue[tuple[int, str]] = queue.Queue()
    children = [
        subprocess.Popen(
            [sys.executable, "-c", INSTANCE, store.url, str(store.poll_seconds)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    readers = []
    for n, child in enumerate(children):
        pipe = child.stdout
        if pipe is None:  # pragma: no cover - stdout=PIPE always gives one
            raise SystemExit("no pipe to an instance")

        def read(n: int = n, pipe: object = pipe) -> None:
            for line in pipe:  # type: ignore[attr-defined]
                lines.put((n, line.strip()))

        readers.append(threading.Thread(target=read, daemon=True))
        readers[-1].start()
    try:
        ready = {lines.get(timeout=30) for _ in children}
        if ready != {(n, "ready") for n in range(count)}:
            raise SystemExit(f"{store.name}: the instances did not start: {sorted(ready)}")
        yield lines
    finally:
        for child in children:
            if child.stdin is not None:
                child.stdin.close()
        for child, reader in zip(children, readers, strict=True):
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=10)
            reader.join(timeout=5)
            if child.stdout is not None:
                child.stdout.close()


def measure(store: Store, *, count: int, revocations: int, deadline: float) -> dict[str, object]:
    """Revoke one rule at a time; per rule, the latest instance's match time minus its start."""
    run = uuid.uuid4().hex[:8]
    delays_ms: list[float] = []
    writes_ms: list[float] = []
    server_ms: list[float] = []
    missed = 0
    with instances(store, count) as lines, Registry.open(store.url) as writer:
        writer.sync()
        for i in range(WARMUP + revocations):
            if time.monotonic() > deadline:
                break
            value = f"bench-{run}-{i}"
            started = time.time()
            writer.revoke("token", value, reason="propagation benchmark")
            written = time.time()
            seen: dict[int, float] = {}
            while len(seen) < count:
                try:
                    n, text = lines.get(timeout=WAIT_SECONDS)
                except queue.Empty:
                    break
                name, _, at = text.partition(" ")
                if name == value:
                    seen[n] = float(at)
                elif name == "observed" and i >= WARMUP:
                    server_ms.append(float(at) * 1000)
            if i < WARMUP:
                continue
            if len(seen) < count:
                missed += 1
                continue
            delays_ms.append((max(seen.values()) - started) * 1000)
            writes_ms.append((written - started) * 1000)
            time.sleep(random.uniform(0.002, 0.02))  # idle, and out of step with any poll
    if not delays_ms:
        raise SystemExit(f"{store.name}: no revocation reached every instance")
    return {
        "instances": count,
        "revocations": len(delays_ms),
        "missed": missed,
        "p50_ms": round(percentile(delays_ms, 0.50), 3),
        "p99_ms": round(percentile(delays_ms, 0.99), 3),
        "max_ms": round(max(delays_ms), 3),
        "mean_ms": round(statistics.fmean(delays_ms), 3),
        "revoke_call_p50_ms": round(percentile(writes_ms, 0.50), 3),
        "revoke_call_p99_ms": round(percentile(writes_ms, 0.99), 3),
        "server_p50_ms": round(percentile(server_ms, 0.50), 3) if server_ms else None,
        "server_p99_ms": round(percentile(server_ms, 0.99), 3) if server_ms else None,
        "poll_seconds": store.poll_seconds,
        "target_p99_ms": TARGET_P99_MS[store.name],
        "issue_target_p99_ms": ISSUE_TARGET_P99_MS[store.name],
    }


def redis_store() -> tuple[Store | None, str, Callable[[], None]]:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    prefix = f"revoker-bench-{uuid.uuid4().hex[:8]}"
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        return None, f"no Redis at {REDIS_URL} ({type(exc).__name__})", lambda: None

    def cleanup() -> None:
        keys = list(client.scan_iter(match="{" + prefix + "}:*", count=1000))
        for first in range(0, len(keys), 1000):
            client.delete(*keys[first : first + 1000])
        client.close()

    return Store("redis", f"{REDIS_URL}?prefix={prefix}", 0.5), "", cleanup


def postgres_store() -> tuple[Store | None, str, Callable[[], None]]:
    import psycopg

    schema = f"revoker_bench_{uuid.uuid4().hex[:8]}"
    try:
        psycopg.connect(POSTGRES_URL, connect_timeout=2).close()
    except psycopg.Error as exc:
        return None, f"no PostgreSQL at {POSTGRES_URL} ({type(exc).__name__})", lambda: None

    def cleanup() -> None:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    sep = "&" if "?" in POSTGRES_URL else "?"
    return Store("postgresql", f"{POSTGRES_URL}{sep}schema={schema}", 0.5), "", cleanup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--revocations", type=int, default=200)
    parser.add_argument("--instances", type=int, default=3)
    parser.add_argument(
        "--mode",
        choices=("idle", "under-load", "busy-loop", "both"),
        default="both",
        help="idle replicas, or three revoker serve instances under wrk load (Redis,"
        " PostgreSQL), or one replica behind a spinning thread at three switch intervals"
        " (busy-loop; not part of both)",
    )
    parser.add_argument("--connections", type=int, default=32, help="under load: in all")
    parser.add_argument("--seconds", type=float, default=20.0, help="under load: per store")
    parser.add_argument("--rounds", type=int, default=3, help="busy-loop: rounds per variant")
    parser.add_argument(
        "--store-first",
        action="store_true",
        help="under load: the servers and wrk at nice 10, so the store's processes (not"
        " started here) get the cores first, as a store on machines of its own would",
    )
    args = parser.parse_args()
    if args.mode == "busy-loop":
        main_busy_loop(args)
        return
    if args.mode != "under-load":
        main_idle(args)
    if args.mode != "idle":
        main_under_load(args)


def main_busy_loop(args: argparse.Namespace) -> None:
    """One replica behind a thread that never blocks, at three switch intervals (see
    ``propagation_gil``); ``--revocations`` per round and variant (default 200: use ~60)."""
    from propagation_gil import VARIANTS, measure_busy

    results: dict[str, dict[str, dict[str, object]]] = {}
    load = os.getloadavg()[0]
    for opener in (redis_store, postgres_store):
        store, why, cleanup = opener()
        if store is None:
            print(f"skipped: {why}")
            continue
        try:
            print(f"{store.name}: {args.rounds} rounds of {len(VARIANTS)} variants ...", flush=True)
            results[store.name] = measure_busy(
                store.url, rounds=args.rounds, revocations=args.revocations
            )
        finally:
            cleanup()
    print(f"\n{'store':<11} {'variant':<8} {'applied':>7} {'p50 ms':>8} {'p90 ms':>8}"
          f" {'p99 ms':>8} {'max ms':>8} {'p99 / default':>13}")  # fmt: skip
    for name, variants in results.items():
        base = float(str(variants["default"]["p99_ms"]))
        for variant, row in variants.items():
            print(
                f"{name:<11} {variant:<8} {row['applied']:>7} {row['p50_ms']:>8}"
                f" {row['p90_ms']:>8} {row['p99_ms']:>8} {row['max_ms']:>8}"
                f" {float(str(row['p99_ms'])) / base:>13.2f}"
            )
    print(f"load average at the start: {load:.2f} ({os.cpu_count()} cores)")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "propagation_gil.json"
    report = {
        "measure": "a rule's commit -> applied in a replica whose process spins a thread"
        " (ms, exact, from its propagation observer)",
        "load_average_at_start": load,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "stores": results,
    }
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {out}")


def main_idle(args: argparse.Namespace) -> None:
    """Propagation between idle replicas, one revocation at a time."""
    deadline = time.monotonic() + BUDGET_SECONDS
    results: dict[str, dict[str, object]] = {}
    skipped: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = Store("sqlite", f"sqlite:///{Path(tmp) / 'rules.db'}", SQLITE_POLL_SECONDS)
        openers = [
            lambda: (sqlite, "", lambda: None),
            redis_store,
            postgres_store,
        ]
        for opener in openers:
            store, why, cleanup = opener()
            if store is None:
                name = "redis" if "Redis" in why else "postgresql"
                skipped[name] = why
                print(f"{name}: skipped, {why}")
                continue
            try:
                # Share what is left of the budget between this store and those after it.
                left = len(openers) - openers.index(opener)
                share = (deadline - time.monotonic()) / left
                results[store.name] = measure(
                    store,
                    count=args.instances,
                    revocations=args.revocations,
                    deadline=time.monotonic() + share,
                )
            finally:
                cleanup()
    print_table(results)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "propagation.json"
    report = {
        "measure": "revoke start -> every instance denies (ms), one revocation at a time",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "stores": results,
        "skipped": skipped,
    }
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {out}")


def main_under_load(args: argparse.Namespace) -> None:
    """Propagation with every instance's /auth under wrk (see ``propagation_load``)."""
    from propagation_load import measure_under_load, summary

    results: dict[str, dict[str, object]] = {}
    skipped: dict[str, str] = {}
    for opener in (redis_store, postgres_store):
        store, why, cleanup = opener()
        if store is None:
            name = "redis" if "Redis" in why else "postgresql"
            skipped[name] = why
            print(f"{name}: skipped, {why}")
            continue
        try:
            print(f"{store.name}: 3 instances under wrk for {args.seconds:g} s ...", flush=True)
            loaded = measure_under_load(
                store.url,
                revocations=args.revocations,
                connections=args.connections,
                budget_seconds=args.seconds,
                niceness=10 if args.store_first else 0,
            )
            results[store.name] = summary(loaded)
        finally:
            cleanup()
    print_load_table(results)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "propagation_load.json"
    report = {
        "measure": "revoke start (admin API of instance 1) -> first 401 from all 3 instances"
        " (ms), each instance's /auth under wrk",
        "load": f"one wrk -t1 -c{max(1, args.connections // 3)} per instance",
        "servers_and_wrk_niceness": 10 if args.store_first else 0,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "stores": results,
        "skipped": skipped,
    }
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {out}")


def print_load_table(results: dict[str, dict[str, object]]) -> None:
    """Client-side (revoke start -> every instance 401) beside server-side (commit -> applied)."""
    print(
        f"\n{'store':<11} {'revokes':>7} {'client p50':>10} {'p99':>8} {'max':>8}"
        f" {'server p50':>10} {'p99':>8} {'max':>8} {'/metrics p50':>12} {'p99':>8}"
        f" {'revoke call p50':>15} {'req/s per instance':>20} {'server p99/50 ms':>16}"
    )
    for name, row in results.items():
        server_p99 = row.get("server_p99_ms")
        ratio = "-" if server_p99 is None else f"{float(str(server_p99)) / 50.0:.2f}"
        print(
            f"{name:<11} {row['revocations']:>7} {row['p50_ms']:>10} {row['p99_ms']:>8}"
            f" {row['max_ms']:>8} {row.get('server_p50_ms', '-')!s:>10}"
            f" {row.get('server_p99_ms', '-')!s:>8} {row.get('server_max_ms', '-')!s:>8}"
            f" {row.get('metric_p50_ms', '-')!s:>12} {row.get('metric_p99_ms', '-')!s:>8}"
            f" {row['revoke_call_p50_ms']:>15} {row['load_rps_per_instance']!s:>20}"
            f" {ratio:>16}"
        )
    for name, row in results.items():
        print(
            f"{name}: the write (created_at -> store.add returned, on instance 1)"
            f" p50 {row.get('write_p50_ms')} ms, p99 {row.get('write_p99_ms')} ms;"
            f" after it (store.add returned -> applied in instances 2, 3)"
            f" p50 {row.get('after_write_p50_ms')} ms, p99 {row.get('after_write_p99_ms')} ms,"
            f" max {row.get('after_write_max_ms')} ms"
        )
    for name, row in results.items():
        shares = cast("dict[str, float]", row["cpu_share_during_revocations"])
        parts = ", ".join(
            f"{party} {share:.0%}" for party, share in shares.items() if party != "cores"
        )
        print(f"{name}: CPU during the revocations, as shares of {shares['cores']} cores: {parts}")
    print(
        "client: revoke start (admin API of instance 1) -> the last instance's first 401;"
        " server: a rule's commit -> applied in instances 2 and 3 (exact; /metrics: the"
        " same from revoker_propagation_seconds, bucket-interpolated)"
    )


def print_table(results: dict[str, dict[str, object]]) -> None:
    print(
        f"\n{'store':<11} {'inst':>4} {'revokes':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"
        f" {'write p50':>9} {'write p99':>9} {'server p50':>10} {'server p99':>10}"
        f" {'target':>7} {'p99/target':>10}"
    )
    for name, row in results.items():
        p99 = float(str(row["p99_ms"]))
        target = float(str(row["target_p99_ms"]))
        print(
            f"{name:<11} {row['instances']:>4} {row['revocations']:>7} {row['p50_ms']:>8}"
            f" {row['p99_ms']:>8} {row['max_ms']:>8} {row['revoke_call_p50_ms']:>9}"
            f" {row['revoke_call_p99_ms']:>9} {row['server_p50_ms']!s:>10}"
            f" {row['server_p99_ms']!s:>10} {target:>7g} {p99 / target:>10.2f}"
        )
    print(
        "p50/p99: revoke start -> every instance matched (client side); server: a rule's"
        " commit -> applied in each instance's replica (exact, its propagation observer)"
    )


if __name__ == "__main__":
    main()
