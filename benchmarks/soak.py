"""Soak: two ``revoker serve`` instances on one Redis store, a mixed load, revocations streaming in.

All on loopback: this script serves the issuer's JWKS, mints a pool of valid tokens and
some forged ones, starts instances A and B (one worker each, one Redis key prefix of their
own), and for ``--seconds`` (default 60) runs ``--threads`` load threads against both
``/auth`` while another thread revokes a pool token every ``--revoke-every`` seconds through
B, alternating ``/revoke`` (self-revocation) and ``/admin/rules`` (a family rule). Judged:

- a forged token must be denied, with its own reason code;
- a pool token never revoked must be allowed;
- a pool token must be denied by B from the moment B acknowledged its revocation, and by A
  from ``--propagation-bound`` seconds later (default 1 s; the push takes milliseconds);
- between the revocation's start and that moment either answer is right.

Anything else, a 5xx or a transport error, is a wrong decision. Reported: requests per
second, latency p50/p99, decisions by kind, the longest A was seen allowing a token after
B acknowledged its revocation, and each instance's RSS after the warm-up and at the end
(growth must stay under ``--rss-bound-mib``, default 32 MiB). Exit 1 on any wrong decision
or memory past the bound, 2 without Redis. ``--seconds 8`` is the short run CI makes.
Writes ``benchmarks/results/soak.json`` (``--json PATH``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from revoker.core.clock import FrozenClock
from revoker.core.signing import generate_key
from revoker.core.tokens import b64url_encode
from revoker.testing import TokenFactory, serve_json

RESULTS = Path(__file__).parent / "results"
ISSUER = "https://soak.revoker.test/pool"
ADMIN_TOKEN = "soak-admin-token-" + uuid.uuid4().hex
FORGED_SHARE = 0.15
MAX_REQUESTS_PER_THREAD = 2_000_000  # a bound besides the clock


@dataclass
class PoolToken:
    """A valid token and what happened to it: when its revocation started and was acknowledged."""

    token: str
    origin_jti: str
    sent_at: float | None = None
    acked_at: float | None = None


@dataclass
class Tally:
    """What the load threads saw; one per thread, merged at the end."""

    latencies: list[float] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    wrong: list[str] = field(default_factory=list)
    allowed_after_ack: float = 0.0  # longest A answered 200 after B acknowledged


def forged_tokens(factory: TokenFactory) -> list[tuple[str, str]]:
    """Tokens an attacker would send, each with the reason code it must earn."""
    claims = factory.base_claims("access")
    header = b64url_encode(json.dumps({"alg": "none", "kid": factory.kid}).encode())
    body = b64url_encode(json.dumps(claims).encode())
    genuine = factory.access_token()
    now = int(factory.clock())
    return [
        (f"{header}.{body}.", "unsupported_alg"),
        (genuine[:-4] + ("AAAA" if not genuine.endswith("AAAA") else "BBBA"), "bad_signature"),
        (factory.sign(claims, key=generate_key("RS256")), "bad_signature"),
        (factory.access_token(exp=now - 60, iat=now - 3600), "expired"),
        (factory.access_token(client_id="someone-else"), "wrong_audience"),
        (factory.access_token(iss=ISSUER + "/"), "wrong_issuer"),
        (factory.sign(claims, header={"alg": "RS256", "kid": "unknown"}), "unknown_kid"),
        ("not.a.token", "malformed"),
    ]


class Instance:
    """One ``revoker serve`` process on an ephemeral loopback port; stderr goes to a file."""

    def __init__(self, name: str, store_url: str, jwks_url: str, client_id: str, logs: Path):
        self.name = name
        self.log = logs / f"{name}.log"
        command = [
            sys.executable, "-m", "revoker.cli", "serve", "--port", "0",
            "--issuer", ISSUER, "--jwks-url", jwks_url, "--audience", client_id,
            "--store", f"{store_url}&client_name=soak-{name}", "--log-level", "warning",
        ]  # fmt: skip
        env = {**os.environ, "REVOKER_ADMIN_TOKEN": ADMIN_TOKEN, "PYTHONUNBUFFERED": "1"}
        with self.log.open("w") as err:
            self.process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=err, text=True, env=env
            )
        self.url = ""
        self._banner = threading.Event()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        for line in self.process.stdout or ():  # the banner's first line names the URL
            if not self.url and "listening on http://" in line:
                self.url = line.split("listening on ", 1)[1].split()[0]
                self._banner.set()

    def wait_ready(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        self._banner.wait(seconds)
        while self.url and time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise SystemExit(f"instance {self.name} did not become ready; see {self.log}")

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait(5)


@dataclass
class LoadThread:
    """Asks both instances in turn until the deadline, judging each answer as it comes."""

    urls: tuple[str, str]
    pool: list[PoolToken]
    forged: list[tuple[str, str]]
    deadline: float
    bound: float  # how long after B's acknowledgement A may still allow
    seed: int
    tally: Tally = field(default_factory=Tally)

    def run(self) -> None:
        rng = random.Random(self.seed)
        with httpx.Client(timeout=10) as client:
            for n in range(MAX_REQUESTS_PER_THREAD):
                if time.monotonic() >= self.deadline:
                    break
                at_b = n % 2 == 1
                entry = None if rng.random() < FORGED_SHARE else rng.choice(self.pool)
                token, expected = rng.choice(self.forged) if entry is None else (entry.token, "")
                started = time.monotonic()
                try:
                    response = client.get(
                        self.urls[at_b] + "/auth", headers={"Authorization": f"Bearer {token}"}
                    )
                    status = response.status_code
                    reason = response.json().get("reason", "?") if status in (200, 401) else "?"
                except httpx.HTTPError as exc:
                    status, reason = 0, type(exc).__name__
                done = time.monotonic()
                self.tally.latencies.append(done - started)
                where = "B" if at_b else "A"
                if entry is None:
                    self.judge_forged(where, expected, status, reason)
                else:
                    self.judge_pool(where, entry, status, reason, (started, done))

    def judge_forged(self, where: str, expected: str, status: int, reason: str) -> None:
        if status == 401 and reason == expected:
            self.tally.kinds["forged denied"] += 1
            return
        self.tally.kinds["forged WRONG"] += 1
        self.tally.wrong.append(f"{where}: forged ({expected}) got {status} {reason}")

    def judge_pool(
        self, where: str, entry: PoolToken, status: int, reason: str, span: tuple[float, float]
    ) -> None:
        tally, (started, done) = self.tally, span
        sent, acked = entry.sent_at, entry.acked_at
        if status == 200:
            if acked is not None and started > acked + (0.0 if where == "B" else self.bound):
                tally.wrong.append(f"{where}: allowed {started - acked:.3f}s after the ack")
                tally.kinds["revoked but allowed"] += 1
                return
            if acked is not None and where == "A":
                tally.allowed_after_ack = max(tally.allowed_after_ack, started - acked)
            tally.kinds["valid allowed" if sent is None else "revoking, allowed"] += 1
        elif status == 401 and reason == "revoked_family" and sent is not None and sent <= done:
            tally.kinds["revoked denied"] += 1
        else:
            tally.wrong.append(f"{where}: a valid token got {status} {reason}")
            tally.kinds["valid but denied"] += 1


def warm_up(urls: tuple[str, str], pool: list[PoolToken]) -> None:
    """Every pool token once on each instance: the caches are full before RSS is first read."""
    for url in urls:
        with httpx.Client(base_url=url, timeout=10) as client:
            for entry in pool:
                client.get("/auth", headers={"Authorization": f"Bearer {entry.token}"})


def revoker_thread(
    url: str, pool: list[PoolToken], deadline: float, every: float, errors: list[str]
) -> None:
    """Revoke one not-yet-revoked pool token at a time through B until the deadline."""
    order = list(range(len(pool) // 2))  # half the pool stays valid for the whole run
    random.Random(7).shuffle(order)
    with httpx.Client(base_url=url, timeout=10) as client:
        for n, index in enumerate(order):
            if time.monotonic() >= deadline - 1:
                return
            entry = pool[index]
            entry.sent_at = time.monotonic()
            if n % 2 == 0:
                response = client.post("/revoke", data={"token": entry.token})
            else:
                rule = {"kind": "family", "value": entry.origin_jti, "issuer": ISSUER}
                headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
                response = client.post("/admin/rules", json=rule, headers=headers)
            if response.status_code in (200, 201):
                entry.acked_at = time.monotonic()
            else:
                errors.append(f"revocation {n} answered {response.status_code}")
            time.sleep(every)


def drop_prefix(redis_url: str, prefix: str) -> None:
    import redis

    with redis.Redis.from_url(redis_url) as client:
        keys = list(client.scan_iter(match="{" + prefix + "}:*", count=1000))
        for first in range(0, len(keys), 1000):
            client.delete(*keys[first : first + 1000])


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0915 - one linear run reads best
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=1500)
    parser.add_argument("--revoke-every", type=float, default=0.1)
    parser.add_argument("--propagation-bound", type=float, default=1.0)
    parser.add_argument("--rss-bound-mib", type=float, default=32.0)
    parser.add_argument(
        "--redis", default=os.environ.get("REVOKER_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--json", type=Path, default=RESULTS / "soak.json")
    args = parser.parse_args(argv)
    if not 1 <= args.seconds <= 3600 or not 1 <= args.threads <= 32:
        parser.error("--seconds must be 1..3600 and --threads 1..32")
    if not args.redis.startswith(("redis://127.0.0.1", "redis://localhost", "redis://[::1]")):
        parser.error("the soak runs on loopback only: --redis redis://127.0.0.1:PORT/DB")
    try:
        import redis

        redis.Redis.from_url(args.redis, socket_connect_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means the same: no Redis to soak on
        print(f"soak: Redis at {args.redis} is not reachable ({exc})", file=sys.stderr)
        return 2

    factory = TokenFactory(issuer=ISSUER, clock=FrozenClock(time.time()), lifetime_seconds=7200)
    pool = []
    for _ in range(args.tokens):
        claims = factory.base_claims("access")
        pool.append(PoolToken(factory.sign(claims), claims["origin_jti"]))
    forged = forged_tokens(factory)
    jwks = serve_json(factory.jwks())
    prefix = f"revoker-soak-{uuid.uuid4().hex[:12]}"
    sep = "&" if "?" in args.redis else "?"
    store_url = f"{args.redis}{sep}prefix={prefix}"
    jwks_url = f"http://127.0.0.1:{jwks.server_address[1]}/jwks.json"
    logs = Path(tempfile.mkdtemp(prefix="revoker-soak-"))
    a = Instance("a", store_url, jwks_url, factory.client_id, logs)
    b = Instance("b", store_url, jwks_url, factory.client_id, logs)
    exit_codes: dict[str, int] = {}
    try:
        a.wait_ready()
        b.wait_ready()
        urls = (a.url, b.url)
        warm_up(urls, pool)
        rss_start = {"a": a.rss_mib(), "b": b.rss_mib()}
        started = time.monotonic()
        deadline = started + args.seconds
        errors: list[str] = []
        revoking = threading.Thread(
            target=revoker_thread, args=(b.url, pool, deadline, args.revoke_every, errors)
        )
        loads = [
            LoadThread(urls, pool, forged, deadline, args.propagation_bound, seed)
            for seed in range(1, args.threads + 1)
        ]
        workers = [threading.Thread(target=load.run) for load in loads]
        for thread in [revoking, *workers]:
            thread.start()
        for thread in [revoking, *workers]:
            thread.join(args.seconds + 60)
        elapsed = time.monotonic() - started
        rss_end = {"a": a.rss_mib(), "b": b.rss_mib()}
    finally:
        exit_codes = {"a": a.stop(), "b": b.stop()}
        jwks.shutdown()
        drop_prefix(args.redis, prefix)

    results = [load.tally for load in loads]
    latencies = [x for tally in results for x in tally.latencies]
    kinds: Counter[str] = sum((tally.kinds for tally in results), Counter())
    wrong = [line for tally in results for line in tally.wrong] + errors
    growth = {name: rss_end[name] - rss_start[name] for name in rss_start}
    tracebacks = sum(path.read_text().count("Traceback") for path in logs.glob("*.log"))
    revoked = sum(1 for entry in pool if entry.acked_at is not None)
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [math.nan] * 99
    report = {
        "seconds": round(elapsed, 1),
        "threads": args.threads,
        "requests": len(latencies),
        "requests_per_second": round(len(latencies) / elapsed, 1),
        "latency_ms": {"p50": round(cuts[49] * 1000, 2), "p99": round(cuts[98] * 1000, 2)},
        "decisions": dict(sorted(kinds.items())),
        "revocations_acknowledged": revoked,
        "propagation_bound_seconds": args.propagation_bound,
        "longest_allowed_after_ack_at_a_seconds": round(
            max((tally.allowed_after_ack for tally in results), default=0.0), 4
        ),
        "wrong_decisions": len(wrong),
        "wrong_examples": wrong[:10],
        "rss_mib": {
            name: {"start": round(rss_start[name], 1), "end": round(rss_end[name], 1)}
            for name in rss_start
        },
        "rss_bound_mib": args.rss_bound_mib,
        "exit_codes": exit_codes,
        "tracebacks_in_logs": tracebacks,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {sys.version[:6]}",
        "command": " ".join(["python benchmarks/soak.py", *(argv or sys.argv[1:])]),
    }
    ok = (
        not wrong
        and revoked > 0
        and all(value < args.rss_bound_mib for value in growth.values())
        and set(exit_codes.values()) == {0}
        and tracebacks == 0
    )
    report["passed"] = ok
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    if ok:
        shutil.rmtree(logs, ignore_errors=True)
    else:
        print(f"soak: FAILED (instance logs in {logs})", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
