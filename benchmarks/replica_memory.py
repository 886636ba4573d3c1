"""Replica memory and start: bytes per active rule, and the time to load 1M rules at start.

The rules are a mix of every kind (as in ``inprocess.py``), with realistic
values: UUID-shaped jti/origin_jti/sid/sub, 32-hex ids, one Cognito issuer as
the scope, a handful of actors and reasons. The stores are filled in bulk
(``add_many``: one SQLite transaction; Redis scripts of 1000 rules), then each
measurement runs in a fresh child process, so nothing the parent built counts:

  load     a new ``Replica`` on the store, timed around its first ``sync()``
           (snapshot read, rules rebuilt, index built), and the child's RSS
           (resident set, /proc/self/statm) before and after it, gc'd: the
           resident growth, allocator slack and the snapshot's freed pages
           included, so an upper bound
  traced   the same load under ``tracemalloc``: the bytes allocated during the
           sync that are still alive afterwards, i.e. what the replica itself
           retains (Python objects only, exactly, without allocator rounding)

Targets (issue 7): <= 128 B per active rule; <= 3 s to load 1M rules.
Redis: 127.0.0.1:6379 under a prefix of our own, every key deleted afterwards
(never FLUSHALL). Run: ``python benchmarks/replica_memory.py`` (about 2
minutes; ``--sizes 100000,1000000``). Writes ``benchmarks/results/replica_memory.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

from revoker.core.clock import SystemClock
from revoker.core.registry import RegistryLimits, Rule, RuleKind, open_store
from revoker.core.registry.replica import Replica
from revoker.core.registry.rules import CUTOFF_KINDS, default_expires_at, stored_rule

RESULTS = Path(__file__).parent / "results"
REDIS_URL = os.environ.get("REVOKER_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
TARGET_BYTES_PER_RULE = 128
TARGET_LOAD_SECONDS = 3.0
CHILD_TIMEOUT_SECONDS = 150
KIND_MIX = (  # share of the rules per kind, as in inprocess.py
    (RuleKind.TOKEN, 0.40),
    (RuleKind.FAMILY, 0.30),
    (RuleKind.SESSION, 0.10),
    (RuleKind.SUBJECT, 0.17),
    (RuleKind.CLIENT, 0.02),
    (RuleKind.KEY, 0.005),
    (RuleKind.ISSUER, 0.005),
)
ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Bench0001"
ACTORS = ("system", "admin@example.com", "cognito-events", "support@example.com")
REASONS = ("", "user signed out", "password changed", "account disabled", "compromised")


def make_rules(count: int, now: float, seed: int = 7) -> list[Rule]:
    """``count`` valid rules of every kind; built trusted (their fields are valid by making)."""
    rng = random.Random(seed)
    limits = RegistryLimits()
    rules: list[Rule] = []
    for kind, share in KIND_MIX:
        for _ in range(round(count * share)):
            cutoff = now - rng.uniform(0, 3600) if kind in CUTOFF_KINDS else None
            if kind is RuleKind.ISSUER:
                value, scope = f"https://issuer-{rng.getrandbits(64):x}.example", None
            else:
                value, scope = str(uuid.UUID(int=rng.getrandbits(128), version=4)), ISSUER
            created = now - rng.uniform(0, 600)
            expires = default_expires_at(kind, now=created, cutoff=cutoff, limits=limits)
            rule_id = uuid.UUID(int=rng.getrandbits(128), version=4).hex
            reason, actor = rng.choice(REASONS), rng.choice(ACTORS)
            rules.append(
                stored_rule(rule_id, kind, value, scope, cutoff, expires, reason, actor, created)
            )
    return rules[:count]


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def child(url: str, mode: str) -> dict[str, Any]:
    """One load into a fresh Replica in this (fresh) process; its figures."""
    store = open_store(url)
    replica = Replica(store, clock=SystemClock(), max_staleness_seconds=3600)
    gc.collect()
    if mode == "traced":
        tracemalloc.start()
    before = rss_bytes()
    started = time.perf_counter()
    replica.sync()
    seconds = time.perf_counter() - started
    gc.collect()
    report: dict[str, Any] = {"rules": replica.rule_count, "load_seconds": seconds}
    if mode == "traced":
        report["traced_bytes"] = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
    else:
        report["rss_bytes"] = rss_bytes() - before
    store.close()
    return report


def run_child(url: str, mode: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", url, "--mode", mode],
        capture_output=True,
        text=True,
        check=False,
        timeout=CHILD_TIMEOUT_SECONDS,
    )
    if out.returncode:
        raise SystemExit(
            f"the {mode} load of {url.split('?', maxsplit=1)[0]} failed:\n{out.stderr[-2000:]}"
        )
    return dict(json.loads(out.stdout))


def fill(url: str, rules: list[Rule]) -> float:
    store = open_store(url)
    started = time.perf_counter()
    store.add_many(rules)  # type: ignore[attr-defined]
    seconds = time.perf_counter() - started
    store.close()
    return seconds


def delete_redis(prefix: str, rules: list[Rule]) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    tag = "{" + prefix + "}"
    names = ("rules", "expiry", "seq", "changes", "audit", "meta")
    keys = [f"{tag}:{name}" for name in names] + [f"{tag}:rule:{r.id}" for r in rules]
    for first in range(0, len(keys), 10_000):
        client.unlink(*keys[first : first + 10_000])
    left = list(client.scan_iter(match=tag + ":*", count=10_000))
    if left:
        client.unlink(*left)
    client.close()


def measure(name: str, url: str, count: int, traced: bool) -> dict[str, Any]:
    row: dict[str, Any] = {"store": name, "rules": count}
    load = run_child(url, "load")
    if load["rules"] != count:
        raise SystemExit(f"{name}: the replica holds {load['rules']} rules, not {count}")
    row["load_seconds"] = round(load["load_seconds"], 3)
    row["rss_bytes_per_rule"] = round(load["rss_bytes"] / count, 1)
    if traced:
        row["traced_bytes_per_rule"] = round(run_child(url, "traced")["traced_bytes"] / count, 1)
    print(f"  {name} {count}: {row}", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--no-redis", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="load", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.mode)))
        return
    sizes = [int(size) for size in args.sizes.split(",")]
    now = time.time()
    rows: list[dict[str, Any]] = []
    fills: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="revoker-memory-") as tmp:
        for count in sizes:
            print(f"making {count} rules ...", flush=True)
            rules = make_rules(count, now)
            url = f"sqlite:///{tmp}/rules-{count}.db"
            fills[f"sqlite {count}"] = round(fill(url, rules), 2)
            rows.append(measure("sqlite", url, count, traced=True))
            if count == max(sizes) and not args.no_redis:
                prefix = f"revoker-memory-{uuid.uuid4().hex[:8]}"
                redis_url = f"{REDIS_URL}?prefix={prefix}&max_changes=1000&max_audit=1000"
                try:
                    fills[f"redis {count}"] = round(fill(redis_url, rules), 2)
                    rows.append(measure("redis", redis_url, count, traced=False))
                finally:
                    delete_redis(prefix, rules)
            del rules
            gc.collect()
    print_table(rows, fills)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "replica_memory.json"
    report = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "targets": {"bytes_per_rule": TARGET_BYTES_PER_RULE, "load_1m_seconds": 3.0},
        "rows": rows,
        "fill_seconds": fills,
    }
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {out}")


def print_table(rows: list[dict[str, Any]], fills: dict[str, float]) -> None:
    print(f"\nfilled in bulk (s): {fills}")
    print(
        f"\n{'store':<7} {'rules':>8} {'load s':>7} {'/3 s':>6} {'traced B/rule':>13}"
        f" {'/128':>6} {'RSS B/rule':>10} {'/128':>6}"
    )
    for row in rows:
        # The load target is for 1M rules: scale a smaller load linearly to compare.
        per_million = row["load_seconds"] * 1_000_000 / row["rules"]
        traced = row.get("traced_bytes_per_rule")
        traced_text = (
            f"{traced:>13.0f} {traced / TARGET_BYTES_PER_RULE:>6.2f}"
            if traced
            else (f"{'-':>13} {'-':>6}")
        )
        rss = row["rss_bytes_per_rule"]
        print(
            f"{row['store']:<7} {row['rules']:>8} {row['load_seconds']:>7.2f}"
            f" {per_million / TARGET_LOAD_SECONDS:>6.2f} {traced_text}"
            f" {rss:>10.0f} {rss / TARGET_BYTES_PER_RULE:>6.2f}"
        )
    print("ratios are measured / target: <= 1.00 meets it (load scaled to 1M rules)")


if __name__ == "__main__":
    main()
