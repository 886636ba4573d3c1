"""Internet scale: the compact replica's bytes per rule, load time per store, and check latency.

For each size (1M, and 10M unless ``--quick``) the rules are a mix of every
kind (as in ``replica_memory.py``: UUID values, 32-hex ids, one Cognito issuer
as the scope, a few actors and reasons), written straight into each store's
tables in bulk, then loaded by a fresh ``Replica`` in a child process:

  load    time around the first ``sync()`` (snapshot read + index built), and the
          child's resident growth (RSS, /proc/self/statm), gc'd: an upper bound;
          then ``save_index()`` (the built index saved whole to the store) timed
  saved   a second fresh replica's first ``sync()``, which loads that saved index
          (``index_snapshot.py``) instead of building: what a restart costs
  traced  the saved load under ``tracemalloc``: bytes still allocated after it
          (numpy arrays included), the replica's own retained memory

Stores: SQLite (a temporary file), PostgreSQL (127.0.0.1:5432, database
``test``, a private schema dropped afterwards) and Redis (127.0.0.1:6379, a
private prefix, every key deleted afterwards). The bulk fill writes what a
snapshot reads: SQLite and PostgreSQL rows (no change log or audit), Redis the
snapshot buckets and the order set a replica counts (no rule keys: ten million of
those need 7 GB).

Then, at 1M rules, warm and cold ``Authorizer.check`` (p50, p99 over a sample
of single calls) with today's dictionary index and with the compact index on
the same rules, and the compact index at the largest size. Ratios are compact /
today. Run: ``python benchmarks/scale.py`` (10 minutes: ``--budget``, a 10M store
that would not fit is skipped and named; ``--budget 900`` runs all three, about 14;
``--quick``: 1M only, about 70 s). Writes ``benchmarks/results/scale.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import struct
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
POSTGRES_URL = os.environ.get(
    "REVOKER_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("REVOKER_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
CHILD_TIMEOUT_SECONDS = 240
TARGET_BYTES_PER_RULE = 64
TARGET_LOAD_10M_SECONDS = 10.0
CHECKS_10M_SECONDS = 120  # the 10M check run: its rows made and its index built in-process
KINDS = ("token", "family", "session", "subject", "client", "key", "issuer")
SHARES = (0.40, 0.30, 0.10, 0.17, 0.02, 0.005, 0.005)
ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Bench0001"
ACTORS = ("system", "admin@example.com", "cognito-events", "support@example.com")
REASONS = ("", "user signed out", "password changed", "account disabled", "compromised")
LIFETIME = {"token": 86_700.0, "family": 30 * 86_400.0 + 300, "session": 30 * 86_400.0 + 300}
CHUNK = 250_000

Row = tuple[str, str, str, str | None, float | None, float | None, str, str, float]


def rows(count: int, now: float, seed: int = 7) -> Iterator[list[Row]]:
    """``count`` trusted rows in chunks, the same for the same seed."""
    import numpy as np

    rng = np.random.default_rng(seed)
    for start in range(0, count, CHUNK):
        n = min(CHUNK, count - start)
        kinds = rng.choice(len(KINDS), n, p=SHARES)
        hexes = rng.bytes(32 * n).hex()
        created = (now - rng.uniform(0, 600, n)).tolist()
        cutoffs = (now - rng.uniform(0, 3600, n)).tolist()
        reasons = rng.integers(0, len(REASONS), n).tolist()
        actors = rng.integers(0, len(ACTORS), n).tolist()
        chunk: list[Row] = []
        for i, k in enumerate(kinds.tolist()):
            kind = KINDS[k]
            h = hexes[64 * i : 64 * i + 64]
            if kind == "issuer":
                value, scope = f"https://issuer-{h[32:48]}.example", None
            else:
                value, scope = f"{h[32:40]}-{h[40:44]}-{h[44:48]}-{h[48:52]}-{h[52:64]}", ISSUER
            cutoff = cutoffs[i] if kind in ("subject", "client", "issuer") else None
            if kind == "key":
                expires = None
            elif cutoff is not None:
                expires = cutoff + 86_700.0
            else:
                expires = created[i] + LIFETIME[kind]
            chunk.append((h[:32], kind, value, scope, cutoff, expires, REASONS[reasons[i]],
                          ACTORS[actors[i]], created[i]))  # fmt: skip
        yield chunk


# -- filling the stores in bulk -------------------------------------------------


def fill_sqlite(path: Path, count: int, now: float) -> None:
    import sqlite3

    from revoker.core.registry.stores.sqlite import SqliteStore

    SqliteStore(path).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA synchronous=OFF")
    for index in ("rules_by_kind_value", "rules_by_expiry", "rules_by_seq"):
        db.execute(f"DROP INDEX {index}")
    seq = 0
    for chunk in rows(count, now):
        db.executemany(
            "INSERT INTO rules (seq, id, kind, value, issuer, cutoff, expires_at, reason, actor,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ((seq + n + 1, *row) for n, row in enumerate(chunk)),
        )
        seq += len(chunk)
    db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('changes', ?)", (seq,))
    db.commit()
    db.close()
    SqliteStore(path).close()  # the indexes again


def fill_postgres(schema: str, count: int, now: float) -> None:
    import psycopg

    from revoker.core.registry.stores.postgres import open_postgres_store

    open_postgres_store(f"{POSTGRES_URL}?schema={schema}").migrate()
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP INDEX "{schema}".rules_by_kind_value, "{schema}".rules_by_expiry')
        seq = 0
        columns = "seq, id, kind, value, issuer, cutoff, expires_at, reason, actor, created_at"
        with conn.cursor() as cursor:
            with cursor.copy(f'COPY "{schema}".rules ({columns}) FROM STDIN') as copy:
                for chunk in rows(count, now):
                    for row in chunk:
                        seq += 1
                        copy.write_row((seq, *row))
            head = f"UPDATE \"{schema}\".meta SET value = %s WHERE name = 'head'"  # noqa: S608 -- our own schema
            cursor.execute(head, (seq,))
            cursor.execute(f'ANALYZE "{schema}".rules')


def fill_redis(prefix: str, count: int, now: float) -> None:
    import redis

    from revoker.core.registry.stores._redis_bulk import bucket_of

    client = redis.Redis.from_url(REDIS_URL)
    tag = "{" + prefix + "}"
    seq = 0
    for chunk in rows(count, now):
        pipe = client.pipeline(transaction=False)
        for row in chunk:
            seq += 1
            rule_id, kind, value, scope, cutoff, expires, reason, actor, created = row
            times = "".join(
                "7ff8000000000000" if x is None else struct.pack(">d", x).hex()
                for x in (cutoff, expires, created)
            )
            digit = str(("key", "token", "family", "session", "subject", "client",
                         "issuer").index(kind))  # fmt: skip
            record = "\x1f".join((f"{seq:016d}{times}{digit}", rule_id, value, scope or "",
                                  reason, actor))  # fmt: skip
            pipe.hset(f"{tag}:bucket:{bucket_of(rule_id)}", rule_id, record)
            pipe.zadd(f"{tag}:rules", {rule_id: seq})  # the order set, which a replica counts
        pipe.execute()
    client.set(f"{tag}:seq", seq)
    client.close()


def drop_postgres(schema: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def drop_redis(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match="{" + prefix + "}:*", count=10_000))
    for first in range(0, len(keys), 1000):
        client.unlink(*keys[first : first + 1000])
    client.close()


# -- loading, in a child process --------------------------------------------------


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def child(url: str, mode: str) -> dict[str, Any]:
    import numpy  # noqa: F401 -- loaded before the measurement: not a per-rule cost

    from revoker.core.clock import SystemClock
    from revoker.core.registry import open_store
    from revoker.core.registry.replica import Replica

    store = open_store(url)
    replica = Replica(store, clock=SystemClock(), max_staleness_seconds=3600)
    saved_before = store.saved_index_info() is not None  # type: ignore[attr-defined]
    gc.collect()
    if mode == "traced":
        tracemalloc.start()
    before = rss_bytes()
    started = time.perf_counter()
    replica.sync()
    seconds = time.perf_counter() - started
    gc.collect()
    if mode != "traced":  # what the process holds: free heap pages back to the system
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    report: dict[str, Any] = {"rules": replica.rule_count, "load_seconds": seconds,
                              "from_saved_index": saved_before}  # fmt: skip
    if mode == "traced":
        report["traced_bytes"] = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
    else:
        report["rss_bytes"] = rss_bytes() - before
    if mode == "save":
        started = time.perf_counter()
        replica.save_index()
        report["save_seconds"] = time.perf_counter() - started
        saved = store.saved_index()  # type: ignore[attr-defined]
        report["saved_bytes"] = len(saved.data)
    store.close()
    return report


def run_child(*args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=CHILD_TIMEOUT_SECONDS,
    )
    if out.returncode:
        raise SystemExit(f"the child {args[:2]} failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.splitlines()[-1]))


def lambda_figures(count: int) -> dict[str, Any]:
    """``lambda_scale.py --rules count`` (replica mode against lookup mode, on moto): its
    table, as it prints it, and its JSON."""
    script = Path(__file__).with_name("lambda_scale.py")
    out = subprocess.run(
        [sys.executable, str(script), "--rules", str(count), "--budget", "600"],
        text=True,
        check=False,
        timeout=CHILD_TIMEOUT_SECONDS + 600,
    )
    if out.returncode:
        raise SystemExit("lambda_scale.py failed")
    figures: dict[str, Any] = json.loads((RESULTS / "lambda_scale.json").read_text())
    return figures


def measure_load(name: str, url: str, count: int, traced: bool) -> dict[str, Any]:
    load = run_child("--child", url, "--mode", "save")
    saved = run_child("--child", url, "--mode", "load")
    for got in (load, saved):
        if got["rules"] != count:
            raise SystemExit(f"{name}: the replica holds {got['rules']} rules, not {count}")
    if load["from_saved_index"] or not saved["from_saved_index"]:
        raise SystemExit(f"{name}: the first load found a saved index, or the second none")
    row: dict[str, Any] = {
        "store": name,
        "rules": count,
        "load_seconds": round(load["load_seconds"], 2),
        "rss_bytes_per_rule": round(load["rss_bytes"] / count, 1),
        "save_seconds": round(load["save_seconds"], 2),
        "saved_bytes_per_rule": round(load["saved_bytes"] / count, 1),
        "saved_load_seconds": round(saved["load_seconds"], 2),
        "saved_rss_bytes_per_rule": round(saved["rss_bytes"] / count, 1),
    }
    if traced:
        row["traced_bytes_per_rule"] = round(
            run_child("--child", url, "--mode", "traced")["traced_bytes"] / count, 1
        )
    print(f"  {row}", flush=True)
    return row


def memory(count: int) -> dict[str, Any]:
    """The compact index alone at ``count`` rules, built from columns in this process: its
    build time, the bytes tracemalloc still counts after it, and the resident growth once
    the columns are freed and malloc has given its free pages back (an upper bound)."""
    import ctypes

    import numpy as np

    from revoker.core.registry.columns import Columns
    from revoker.core.registry.compact import CompactIndex

    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    before = rss_bytes()
    now = time.time()
    parts = [Columns.from_rows(chunk) for chunk in rows(count, now)]
    columns = Columns.concat(parts)
    del parts
    gc.collect()
    tracemalloc.start()
    started = time.perf_counter()
    index = CompactIndex.from_columns(columns, now)
    seconds = time.perf_counter() - started
    del columns
    gc.collect()
    traced = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    arrays = sum(
        a.nbytes
        for s in index.segments
        if s is not None
        for a in (s.keys, s.ids, s.values, s.created, s.expires, s.meta, s.cutoff)
        if isinstance(a, np.ndarray)
    ) + sum(len(s.bits) + len(s.dead) for s in index.segments if s is not None)
    return {
        "rules": index.rule_count,
        "build_seconds": round(seconds, 2),
        "traced_bytes_per_rule": round(traced / count, 1),
        "rss_bytes_per_rule": round((rss_bytes() - before) / count, 1),
        "array_bytes_per_rule": round(arrays / count, 1),
    }


# -- checks: today's dictionary index against the compact one ---------------------


def checks(count: int, compare: bool) -> dict[str, Any]:
    """Warm and cold check latencies on ``count`` rules (and today's index, if ``compare``)."""
    from revoker.core.authorizer import Authorizer
    from revoker.core.clock import FrozenClock
    from revoker.core.registry import Registry, open_store
    from revoker.core.registry.compact import CompactIndex
    from revoker.core.registry.index import RuleIndex, match_index
    from revoker.core.tokens import parse_unverified
    from revoker.testing import TokenFactory

    clock = FrozenClock(time.time())
    factory = TokenFactory(clock=clock)
    tokens = [
        (factory.id_token if n % 2 else factory.access_token)(sub=f"user-{n}") for n in range(2000)
    ]
    registry = Registry(open_store("memory://"), clock=clock)
    registry.sync()
    revoked = tokens[::100]
    extra: list[Row] = [
        (
            uuid.uuid4().hex,
            "family",
            parse_unverified(t).claims["origin_jti"],
            factory.issuer,
            None,
            clock() + 86_400,
            "",
            "system",
            clock(),
        )
        for t in revoked
    ]
    every = [row for chunk in rows(count, clock()) for row in chunk] + extra
    compact = CompactIndex.from_rows(every, clock())
    today = None
    if compare:
        today = RuleIndex()
        today.load(every, clock())
    del every
    gc.collect()

    class Today:
        """Today's index behind the interface the replica reads (one call, as before)."""

        def __init__(self, index: RuleIndex) -> None:
            self.index = index.index

        def match(self, claims: Any, header: Any, raw: str) -> Any:
            return match_index(self.index, claims, header, raw)

    verifier = factory.verifier()
    warm = Authorizer(verifier, registry)
    cold = Authorizer(verifier, registry, cache_size=0)
    for token in tokens:
        warm.check(token)
    report: dict[str, Any] = {"rules": count}
    contenders: list[tuple[str, Any]] = [("compact", compact)]
    if today is not None:
        contenders.insert(0, ("today", Today(today)))
    for name, index in contenders:
        registry.replica._rules = index
        wrong = sum(warm.check(t).allowed == (t in revoked) for t in tokens)
        report[name] = {
            "warm": latencies(warm.check, tokens * 25),
            "cold": latencies(cold.check, tokens[:1000]),
            "wrong_decisions": wrong,
        }
        print(f"  checks {count} {name}: {report[name]}", flush=True)
    return report


def latencies(check: Any, stream: list[str]) -> dict[str, float]:
    timer = time.perf_counter_ns
    runs = []
    for _ in range(3):  # three passes, the best p50 and p99 of them: noise only adds
        samples = []
        for token in stream:
            t0 = timer()
            check(token)
            samples.append(timer() - t0)
        samples.sort()
        runs.append((samples[len(samples) // 2] / 1000, samples[int(len(samples) * 0.99)] / 1000))
    return {
        "p50_us": round(min(r[0] for r in runs), 3),
        "p99_us": round(min(r[1] for r in runs), 3),
    }


# -- the run -------------------------------------------------------------------------


def fill(name: str, count: int, now: float, tmp: Path, tag: str) -> str:
    """Fill one store with ``count`` rules; its URL."""
    if name == "sqlite":
        fill_sqlite(tmp / "rules.db", count, now)
        return f"sqlite:///{tmp / 'rules.db'}"
    if name == "postgres":
        fill_postgres(f"revoker_scale_{tag}", count, now)
        return f"{POSTGRES_URL}?schema=revoker_scale_{tag}"
    fill_redis(f"revoker-scale-{tag}", count, now)
    return f"{REDIS_URL}?prefix=revoker-scale-{tag}"


def clean(name: str, tmp: Path, tag: str) -> None:
    if name == "sqlite":
        for path in tmp.glob("rules.db*"):
            path.unlink()
    elif name == "postgres":
        drop_postgres(f"revoker_scale_{tag}")
    else:
        drop_redis(f"revoker-scale-{tag}")


def measure_stores(
    stores: list[str], sizes: list[int], started: float, budget: float
) -> tuple[list[dict[str, Any]], dict[str, float], list[str]]:
    """Fill each store at each size and measure its loads; the loads, the fill times and
    the (store, size) pairs skipped because they would not fit ``budget``."""
    now = time.time()
    loads: list[dict[str, Any]] = []
    fills: dict[str, float] = {}
    skipped: list[str] = []
    spent: dict[str, float] = {}  # seconds per store at the first size: fill and loads
    tag = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="revoker-scale-") as tmp:
        for count in sizes:
            print(f"{count} rules", flush=True)
            for name in stores:
                if count > sizes[0]:
                    left = budget - (time.perf_counter() - started) - CHECKS_10M_SECONDS
                    if spent[name] * count / sizes[0] > left:
                        skipped.append(f"{name} {count}")
                        print(f"  {name}: skipped, would not fit the budget", flush=True)
                        continue
                t0 = time.perf_counter()
                url = fill(name, count, now, Path(tmp), tag)
                fills[f"{name} {count}"] = round(time.perf_counter() - t0, 1)
                try:
                    loads.append(measure_load(name, url, count, traced=name == stores[0]))
                finally:
                    clean(name, Path(tmp), tag)
                spent[name] = time.perf_counter() - t0
    return loads, fills, skipped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1M rules only")
    parser.add_argument("--stores", default="sqlite,postgres,redis")
    parser.add_argument(
        "--budget",
        type=float,
        default=600.0,
        help="seconds for the whole run: a 10M store whose fill and loads would not fit "
        "(ten times its 1M figures, plus the checks still to come) is skipped and named",
    )
    parser.add_argument(
        "--lambda-rules",
        type=int,
        default=0,
        help="also the Lambda's cold and warm invocation on moto with this many rules "
        "(lambda_scale.py; 1000000 for the issue's figure, within its own 10-minute budget)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="load", help=argparse.SUPPRESS)
    parser.add_argument("--checks", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--compare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--memory", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.mode)))
        return
    if args.checks:
        print(json.dumps(checks(args.checks, args.compare)))
        return
    if args.memory:
        print(json.dumps(memory(args.memory)))
        return
    started = time.perf_counter()
    sizes = [1_000_000] if args.quick else [1_000_000, 10_000_000]
    loads, fills, skipped = measure_stores(args.stores.split(","), sizes, started, args.budget)
    # The index alone at 1M; at 10M the loads' traced and resident figures say the same.
    memory_runs = [run_child("--memory", str(sizes[0]))]
    print(f"  index alone: {memory_runs}", flush=True)
    check_runs = [run_child("--checks", "1000000", "--compare")]
    if not args.quick:
        check_runs.append(run_child("--checks", str(sizes[-1])))
    aws = lambda_figures(args.lambda_rules) if args.lambda_rules else None
    report = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "targets": {"bytes_per_rule": TARGET_BYTES_PER_RULE, "load_10m_seconds": 10.0},
        "loads": loads,
        "skipped_for_budget": skipped,
        "fill_seconds": fills,
        "index_alone": memory_runs,
        "checks": check_runs,
        "lambda": aws,
        "seconds": round(time.perf_counter() - started),
    }
    print_summary(report)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "scale.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {out}")


def print_summary(report: dict[str, Any]) -> None:
    print(f"\nfilled in bulk (s): {report['fill_seconds']}")
    head = f"{'store':<9} {'rules':>9} {'build s':>7} {'RSS B/rule':>10} {'/64':>5}"
    print(f"\n{head} {'traced':>7} {'/64':>5} {'save s':>6} {'saved s':>7} {'/10 s':>5}")
    for row in report["loads"]:
        traced = row.get("traced_bytes_per_rule")
        traced_text = f"{traced:>7.1f} {traced / 64:>5.2f}" if traced else f"{'-':>7} {'-':>5}"
        rss = row["rss_bytes_per_rule"]
        saved = row["saved_load_seconds"]
        print(f"{row['store']:<9} {row['rules']:>9} {row['load_seconds']:>7.2f} {rss:>10.1f}"
              f" {rss / 64:>5.2f} {traced_text} {row['save_seconds']:>6.2f} {saved:>7.2f}"
              f" {saved / TARGET_LOAD_10M_SECONDS:>5.2f}")  # fmt: skip
    base = report["checks"][0]
    print("\nchecks (µs)       p50     p99   vs today p50 / p99")
    for run in report["checks"]:
        for name in ("today", "compact"):
            if name not in run:
                continue
            for path in ("warm", "cold"):
                got = run[name][path]
                ref = base["today"][path]
                p50, p99 = got["p50_us"], got["p99_us"]
                print(f"{name:>7} {run['rules']:>9} {path}: {p50:>7.2f} {p99:>7.2f}"
                      f"   {p50 / ref['p50_us']:.2f}x / {p99 / ref['p99_us']:.2f}x")  # fmt: skip
    if report["skipped_for_budget"]:
        print(f"skipped for the budget (run them with --stores): {report['skipped_for_budget']}")
    print(f"load average at the end: {report['load_average']}; {report['seconds']} s in all")


if __name__ == "__main__":
    main()
