"""``/auth`` over HTTP: revoker serve against a bare ASGI floor and a hand-rolled authorizer.

All on the same stack (uvicorn with httptools and uvloop, one worker) on
loopback, loaded by ``wrk`` with the same connections and duration:

  floor          a bare ASGI app answering 200 (benchmarks/apps/bare_asgi.py)
  hand-rolled    PyJWT decode + one Redis GET per request
                 (benchmarks/apps/hand_rolled_authorizer.py)
  revoker warm   ``revoker serve`` /auth, tokens reused (verified-token cache)
  revoker cold   ``revoker serve --cache-size 0``: every request verified from scratch

The token pool (2000 Cognito-shaped tokens) rotates per request; 1% of them are
revoked (a family rule in revoker's store, a key in Redis for the hand-rolled
one), among 100k other rules. All four servers run at once and are loaded in turn, round
after round (``--rounds``, ``--seconds``), and each figure is the median of its rounds,
so a burst from a neighbour on a shared machine skews no contender alone.
Run: ``python benchmarks/http_auth.py`` (about a
minute; needs wrk: ``make bench`` installs it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from revoker.core.clock import FrozenClock
from revoker.core.registry import Registry, RegistryLimits, RuleKind, open_store
from revoker.core.registry.rules import new_rule
from revoker.core.tokens import parse_unverified
from revoker.testing import TokenFactory, serve_json

HERE = Path(__file__).parent
RESULTS = HERE / "results"
LUA = """
local tokens = {}
for line in io.lines(os.getenv("BENCH_TOKENS")) do tokens[#tokens + 1] = line end
local i = math.random(#tokens)
request = function()
  i = i % #tokens + 1
  return wrk.format("GET", "/auth", {["Authorization"] = "Bearer " .. tokens[i]})
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen[bytes], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server for {url} exited with {process.returncode}")
        try:
            httpx.get(url, timeout=0.5)
        except httpx.HTTPError:
            time.sleep(0.1)
        else:
            return
    raise SystemExit(f"{url} did not come up in {seconds} s")


def run_wrk(
    url: str, tokens_file: Path, script: Path, args: argparse.Namespace
) -> dict[str, float]:
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{args.connections}",
            f"-d{args.seconds}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "BENCH_TOKENS": str(tokens_file)},
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    denied = int(non_2xx.group(1)) if non_2xx else 0
    return {
        "rps": rps,
        "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan"),
        "denied_share": denied / int(total.group(1)) if total else 0.0,
    }


def load_in_rounds(
    contenders: list[tuple[str, list[str], dict[str, str]]],
    probes: tuple[str, str],
    tokens_file: Path,
    script: Path,
    args: argparse.Namespace,
) -> dict[str, dict[str, float]]:
    """Start every contender, check its decisions on a good and a revoked token, load each
    in turn for ``args.rounds`` rounds; the median of each figure per contender."""
    good_token, revoked_token = probes
    results: dict[str, dict[str, float]] = {}
    # Every server up at once, then rounds that load each in turn: a neighbour's burst
    # on this shared machine then hits every contender alike, and the median per
    # contender discards the round it hit hardest.
    servers: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    try:
        for name, command, env in contenders:
            port = free_port()
            process = subprocess.Popen(
                [*command, "--port", str(port)],
                env={**os.environ, **env},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            servers[name] = (process, f"http://127.0.0.1:{port}/auth")
        for name, (process, url) in servers.items():
            wait_ready(url, process)
            good = httpx.get(url, headers={"Authorization": f"Bearer {good_token}"})
            bad = httpx.get(url, headers={"Authorization": f"Bearer {revoked_token}"})
            if "floor" not in name and (good.status_code, bad.status_code) != (200, 401):
                raise SystemExit(f"{name}: wrong decisions ({good.status_code}, "
                                 f"{bad.status_code})")  # fmt: skip
        rounds: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
        for round_number in range(args.rounds):
            print(f"round {round_number + 1}/{args.rounds}: {args.seconds} s each ...",
                  flush=True)  # fmt: skip
            for name, (_, url) in servers.items():
                rounds[name].append(run_wrk(url, tokens_file, script, args))
    finally:
        for process, _ in servers.values():
            process.terminate()
        for process, _ in servers.values():
            process.wait(timeout=15)
    for name, runs in rounds.items():
        results[name] = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    return results


def main() -> None:  # noqa: PLR0915 - one linear script reads best top to bottom
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=4, help="per contender and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--rules", type=int, default=100_000)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk; make bench does it)")

    clock = FrozenClock(time.time())
    factory = TokenFactory(clock=clock, lifetime_seconds=3600)
    print(f"minting {args.tokens} tokens ...", flush=True)
    tokens = [
        (factory.id_token if n % 2 else factory.access_token)(sub=f"user-{n}")
        for n in range(args.tokens)
    ]
    revoked = tokens[::100]
    jwks = serve_json(factory.jwks())
    jwks_url = f"http://127.0.0.1:{jwks.server_address[1]}/jwks.json"
    with tempfile.TemporaryDirectory(prefix="revoker-bench-") as tmp:
        tokens_file = Path(tmp) / "tokens.txt"
        tokens_file.write_text("\n".join(tokens) + "\n")
        script = Path(tmp) / "tokens.lua"
        script.write_text(LUA)
        store_url = f"sqlite:///{tmp}/rules.db"
        print(f"loading {args.rules} rules ...", flush=True)
        registry = Registry(open_store(store_url))
        limits = RegistryLimits()
        now = time.time()
        registry.store.add_many(  # type: ignore[attr-defined]
            new_rule(RuleKind.TOKEN, str(uuid.uuid4()), now=now, limits=limits)
            for _ in range(args.rules)
        )
        for token in revoked:
            registry.revoke(RuleKind.FAMILY, parse_unverified(token).claims["origin_jti"])
        registry.close()

        redis_prefix = f"bench:{uuid.uuid4().hex}:"
        redis_ok = True
        try:
            import redis

            client = redis.Redis(host="127.0.0.1", port=6379)
            for token in revoked:
                client.set(redis_prefix + parse_unverified(token).claims["origin_jti"], 1, ex=900)
        except Exception as exc:  # noqa: BLE001 - any Redis trouble: skip that contender
            print(f"Redis unavailable ({type(exc).__name__}): skipping the hand-rolled authorizer")
            redis_ok = False

        apps = str(HERE / "apps")
        uvicorn = [sys.executable, "-m", "uvicorn", "--loop", "uvloop", "--http", "httptools",
                   "--no-access-log", "--log-level", "warning", "--app-dir", apps]  # fmt: skip
        serve = [sys.executable, "-m", "revoker.cli", "serve", "--issuer", factory.issuer,
                 "--jwks-url", jwks_url, "--audience", factory.client_id, "--store", store_url,
                 "--log-level", "warning"]  # fmt: skip
        contenders: list[tuple[str, list[str], dict[str, str]]] = [
            ("floor: bare ASGI", [*uvicorn, "bare_asgi:app"], {}),
        ]
        if redis_ok:
            contenders.append(
                (
                    "hand-rolled PyJWT + Redis GET",
                    [*uvicorn, "hand_rolled_authorizer:app"],
                    {
                        "BENCH_JWKS_URL": jwks_url,
                        "BENCH_ISSUER": factory.issuer,
                        "BENCH_AUDIENCE": factory.client_id,
                        "BENCH_REDIS_PREFIX": redis_prefix,
                    },
                )
            )
        contenders += [
            ("revoker /auth, warm", serve, {}),
            ("revoker /auth, every token new", [*serve, "--cache-size", "0"], {}),
        ]
        results = load_in_rounds(contenders, (tokens[1], revoked[1]), tokens_file, script, args)
    jwks.shutdown()

    floor = results["floor: bare ASGI"]["rps"]
    print()
    print(f"wrk -t1 -c{args.connections} -d{args.seconds}s x {args.rounds} rounds (medians),"
          " uvicorn + httptools + uvloop, 1 worker")  # fmt: skip
    print(f"{'server':<34} {'req/s':>9} {'p99 ms':>8} {'% floor':>8} {'401s':>6}")
    for name, r in results.items():
        print(f"{name:<34} {r['rps']:>9.0f} {r['p99_ms']:>8.2f} {r['rps'] / floor:>8.0%} "
              f"{r['denied_share']:>6.1%}")  # fmt: skip
    warm = results["revoker /auth, warm"]
    cold = results["revoker /auth, every token new"]
    ratios = {
        "warm / floor (target >= 60%)": warm["rps"] / floor,
        "every token new / floor (target >= 30%)": cold["rps"] / floor,
        "warm p99 ms (target <= 2 ms)": warm["p99_ms"],
    }
    if "hand-rolled PyJWT + Redis GET" in results:
        ratios["warm / hand-rolled (target >= 5x)"] = (
            warm["rps"] / results["hand-rolled PyJWT + Redis GET"]["rps"]
        )
    print()
    for label, value in ratios.items():
        print(f"{label:<42} {value:>8.2f}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "http_auth.json"
    out.write_text(json.dumps({"results": results, "ratios": ratios, "args": vars(args)}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
