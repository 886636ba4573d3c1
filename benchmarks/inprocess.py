"""In-process checks: revoker against the crypto floor, PyJWT, and PyJWT + Redis GET.

The workload: USERS users with one token each (half ID, half access tokens),
reused with a Zipf-like skew; RULES active rules of mixed kinds in the
replica; 1% of the users revoked (their family), so about 1% of the stream is
denied. Every contender runs over the same stream in the same run:

  floor          raw ``cryptography`` RS256 verify of the token (no parsing, no claims)
  pyjwt          ``jwt.decode`` with a preloaded key, checking exp, iss and aud
  pyjwt+redis    the hand-rolled authorizer: ``jwt.decode`` + one Redis GET per check
  revoker cold   ``Authorizer.check`` with no verified-token cache: every token new
  revoker warm   ``Authorizer.check`` with its cache, as a long-running service sees it

Throughput is single-threaded (per core); p50/p99 come from timing each call
of a sample. Run: ``python benchmarks/inprocess.py`` (about a minute).
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt as pyjwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from revoker.core.authorizer import Authorizer
from revoker.core.clock import FrozenClock
from revoker.core.registry import Registry, RegistryLimits, RuleKind, open_store
from revoker.core.registry.rules import CUTOFF_KINDS, new_rule
from revoker.core.tokens import parse_unverified
from revoker.testing import TokenFactory

RESULTS = Path(__file__).parent / "results"
KIND_MIX = (  # share of the synthetic rules per kind
    (RuleKind.TOKEN, 0.40),
    (RuleKind.FAMILY, 0.30),
    (RuleKind.SESSION, 0.10),
    (RuleKind.SUBJECT, 0.17),
    (RuleKind.CLIENT, 0.02),
    (RuleKind.KEY, 0.005),
    (RuleKind.ISSUER, 0.005),
)


@dataclass
class Result:
    name: str
    calls_per_second: float
    p50_us: float
    p99_us: float
    denied_share: float


def zipf_stream(size: int, length: int, rng: random.Random, s: float = 1.1) -> list[int]:
    """Indices in [0, size) where rank k is drawn with weight 1/k**s (a few hot users)."""
    cumulative = list(itertools.accumulate(1.0 / (k**s) for k in range(1, size + 1)))
    total = cumulative[-1]
    return [bisect.bisect_left(cumulative, rng.random() * total) for _ in range(length)]


def measure(
    name: str, check: Callable[[str], bool], stream: Sequence[str], seconds: float
) -> Result:
    """Throughput over the stream for ``seconds``, then per-call latency on a sample."""
    calls = 0
    denied = 0
    start = time.perf_counter()
    deadline = start + seconds
    for token in itertools.cycle(stream):
        if not check(token):
            denied += 1
        calls += 1
        if calls % 256 == 0 and time.perf_counter() > deadline:
            break
    elapsed = time.perf_counter() - start
    timer = time.perf_counter_ns
    sample = stream[: min(len(stream), max(2000, calls // 4))]
    latencies = []
    for token in sample:
        t0 = timer()
        check(token)
        latencies.append(timer() - t0)
    latencies.sort()
    return Result(
        name,
        calls / elapsed,
        latencies[len(latencies) // 2] / 1000,
        latencies[int(len(latencies) * 0.99)] / 1000,
        denied / calls,
    )


def build_rules(
    registry: Registry, count: int, now: float, issuer: str, rng: random.Random
) -> None:
    limits = RegistryLimits()
    store = registry.store
    for kind, share in KIND_MIX:
        for _ in range(int(count * share)):
            cutoff = now - rng.uniform(0, 86_400) if kind in CUTOFF_KINDS else None
            value = str(uuid.UUID(int=rng.getrandbits(128)))
            scope = None if kind == RuleKind.ISSUER else issuer
            store.add(new_rule(kind, value, now=now, limits=limits, issuer=scope, cutoff=cutoff))
    registry.sync()


def redis_client() -> Any | None:
    try:
        import redis
    except ImportError:
        return None
    client = redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=0.5)
    try:
        client.ping()
    except redis.RedisError:
        return None
    return client


def main() -> None:  # noqa: PLR0915 - one linear script reads best top to bottom
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--rules", type=int, default=100_000)
    parser.add_argument("--stream", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=3.0, help="per contender")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    clock = FrozenClock(time.time())
    factory = TokenFactory(clock=clock)
    print(f"minting {args.users} tokens ...", flush=True)
    tokens = []
    for user in range(args.users):
        mint = factory.id_token if user % 2 else factory.access_token
        tokens.append(mint(sub=f"user-{user}", **{"cognito:groups": ["users"]}))
    stream = [tokens[i] for i in zipf_stream(args.users, args.stream, rng)]

    print(f"loading {args.rules} rules ...", flush=True)
    registry = Registry(open_store("memory://"), clock=clock)
    build_rules(registry, args.rules, clock(), factory.issuer, rng)
    revoked_users = rng.sample(range(args.users), max(1, args.users // 100))
    for user in revoked_users:
        origin = parse_unverified(tokens[user]).claims["origin_jti"]
        registry.revoke(RuleKind.FAMILY, origin, issuer=factory.issuer)
    revoked_tokens = {tokens[user] for user in revoked_users}
    expected_denied = sum(token in revoked_tokens for token in stream) / len(stream)

    public_key = factory.key.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise SystemExit("the benchmark expects an RSA key")
    parsed = {token: parse_unverified(token) for token in set(stream)}
    pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()

    def floor(token: str) -> bool:
        p = parsed[token]
        public_key.verify(p.signature, p.signing_input, pkcs1, sha256)
        return True

    def pyjwt_decode(token: str) -> dict[str, Any]:
        return pyjwt.decode(
            token,
            public_key,
            algorithms=["RS256"],
            issuer=factory.issuer,
            options={"verify_aud": False, "verify_iat": False},
            leeway=5,
        )

    def pyjwt_only(token: str) -> bool:
        pyjwt_decode(token)
        return True

    verifier = factory.verifier()
    cold = Authorizer(verifier, registry, cache_size=0)
    warm = Authorizer(verifier, registry)
    for token in set(stream):
        warm.check(token)

    contenders: list[tuple[str, Callable[[str], bool]]] = [
        ("floor: cryptography verify", floor),
        ("pyjwt decode", pyjwt_only),
    ]
    client = redis_client()
    if client is not None:
        client.delete(*[f"bench:revoked:{uuid.uuid4()}" for _ in range(1)])
        for token in revoked_tokens:
            client.set(f"bench:revoked:{parse_unverified(token).claims['origin_jti']}", 1, ex=600)

        def pyjwt_redis(token: str) -> bool:
            claims = pyjwt_decode(token)
            return client.get(f"bench:revoked:{claims['origin_jti']}") is None

        contenders.append(("pyjwt + redis GET", pyjwt_redis))
    else:
        print("Redis is not reachable on 127.0.0.1:6379: skipping pyjwt + redis GET")
    contenders += [
        ("revoker cold (no cache)", lambda t: cold.check(t).allowed),
        ("revoker warm (cached)", lambda t: warm.check(t).allowed),
    ]

    results = []
    for name, check in contenders:
        print(f"measuring {name} ...", flush=True)
        results.append(measure(name, check, stream, args.seconds))
    by_name = {r.name: r for r in results}

    print()
    print(f"users={args.users} rules={registry.replica.rule_count} stream={len(stream)} "
          f"expected denied={expected_denied:.2%}")  # fmt: skip
    print(f"{'contender':<28} {'checks/s':>10} {'p50 µs':>8} {'p99 µs':>8} {'denied':>7}")
    for r in results:
        print(
            f"{r.name:<28} {r.calls_per_second:>10.0f} {r.p50_us:>8.1f} {r.p99_us:>8.1f} "
            f"{r.denied_share:>7.2%}"
        )
    floor_r, pyjwt_r = by_name["floor: cryptography verify"], by_name["pyjwt decode"]
    warm_r, cold_r = by_name["revoker warm (cached)"], by_name["revoker cold (no cache)"]
    ratios = {
        "warm vs pyjwt (target >= 30x)": warm_r.calls_per_second / pyjwt_r.calls_per_second,
        "cold cost vs floor (target <= 1.5x)": floor_r.calls_per_second / cold_r.calls_per_second,
        "cold vs pyjwt": cold_r.calls_per_second / pyjwt_r.calls_per_second,
    }
    if "pyjwt + redis GET" in by_name:
        hand_rolled = by_name["pyjwt + redis GET"].calls_per_second
        ratios["warm vs pyjwt+redis (target >= 60x)"] = warm_r.calls_per_second / hand_rolled
    print()
    for label, ratio in ratios.items():
        print(f"{label:<40} {ratio:>7.2f}x")
    wrong = sum(warm.check(token).allowed == (token in revoked_tokens) for token in tokens)
    print(f"\nwrong decisions over all {len(tokens)} tokens: {wrong}")

    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "inprocess.json"
    out.write_text(
        json.dumps(
            {
                "args": vars(args),
                "results": [r.__dict__ for r in results],
                "ratios": ratios,
                "wrong_decisions": wrong,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out}")
    if wrong:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
