"""In-app checks: the same endpoint per framework with no auth, with revoker, and with the
usual alternative (a PyJWT dependency plus a Redis GET blocklist lookup), in one run.

Each framework under its real server on loopback, one worker process, loaded by ``wrk``:

  fastapi   uvicorn (httptools, uvloop)        ``Security(require_token)``
  flask     gunicorn (gthread, 4 threads)      ``@require_token``
  django    gunicorn (gthread, 4 threads)      ``RevokerMiddleware`` + ``@require_token``

  benchmarks/apps/inapp_{fastapi,flask,django}.py, BENCH_VARIANT = noauth | revoker | pyjwt

A pool of Cognito-shaped tokens rotates per request (1% of them revoked: a family rule
among other rules in revoker's SQLite store, a key in Redis for the PyJWT variant). All
servers run at once and are loaded in turn, round after round; each figure is the median
of its rounds: requests per second, p99, and the server's own CPU time per request (its
process tree, from /proc).

Then the same apps in-process, without a server: each request handed straight to the
ASGI or WSGI callable, best of 7 runs (benchmarks/apps/inapp_harness.py). That isolates
the endpoint's own cost from the server's and from other work on the machine, so the
added cost of the auth (``cost(auth) - cost(no auth)``) is measured in microseconds,
not lost in the noise of a shared machine. A fourth variant, an empty dependency (a
security dependency or decorator that does nothing), shows what the framework itself
charges for any auth hook.

Targets (warm): revoker adds at most 10% to the no-auth endpoint's own cost, and its added
cost is at least 5x below PyJWT + Redis's. Run: ``python benchmarks/inapp.py`` (about five
minutes; needs wrk and a Redis on 127.0.0.1:6379).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from http_auth import LUA, free_port, wait_ready

from revoker.core.clock import FrozenClock
from revoker.core.registry import Registry, RegistryLimits, RuleKind, open_store
from revoker.core.registry.rules import new_rule
from revoker.core.tokens import parse_unverified
from revoker.testing import TokenFactory, serve_json

HERE = Path(__file__).parent
APPS = HERE / "apps"
RESULTS = HERE / "results"
VARIANTS = {
    "noauth": "no auth",
    "empty": "empty dependency",
    "revoker": "revoker",
    "pyjwt": "PyJWT + Redis GET",
}
LUA_ME = LUA.replace('"/auth"', '"/me"')


def command(framework: str, port: int) -> list[str]:
    if framework == "fastapi":
        return [sys.executable, "-m", "uvicorn", "--loop", "uvloop", "--http", "httptools",
                "--no-access-log", "--log-level", "warning", "--app-dir", str(APPS),
                "--host", "127.0.0.1", "--port", str(port), "inapp_fastapi:app"]  # fmt: skip
    module = {"flask": "inapp_flask:app", "django": "inapp_django:application"}[framework]
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    return [gunicorn, "--workers", "1", "--worker-class", "gthread", "--threads", "4",
            "--bind", f"127.0.0.1:{port}", "--chdir", str(APPS), "--log-level", "warning",
            module]  # fmt: skip


def tree_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of ``pid`` and its descendants (gunicorn's worker), Linux."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # a process that just ended
        child = int(stat.parent.name)
        parents[child] = int(fields[1])
        times[child] = (int(fields[11]) + int(fields[12])) / ticks
    tree, total = {pid}, 0.0
    for _ in range(4):  # master -> worker is one level; a few more cost nothing
        tree |= {child for child, parent in parents.items() if parent in tree}
    for member in tree:
        total += times.get(member, 0.0)
    return total


def run_wrk(
    url: str, pid: int, tokens_file: Path, script: Path, args: argparse.Namespace
) -> dict[str, float]:
    """One wrk run: req/s, p99, and the server's CPU time per request (robust when other
    work shares the machine: it counts only the server's own CPU)."""
    before = tree_cpu_seconds(pid)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{args.connections}", f"-d{args.seconds}s", "--latency",
         "-s", str(script), url],
        capture_output=True, text=True, check=True,
        env={**os.environ, "BENCH_TOKENS": str(tokens_file)},
    ).stdout  # fmt: skip
    used = tree_cpu_seconds(pid) - before
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    return {
        "rps": rps,
        "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan"),
        "cpu_us": used / total * 1e6,
    }


def measure_in_process(
    frameworks: list[str], env: dict[str, str], tokens_file: Path, repeats: int
) -> dict[str, dict[str, float]]:
    """Microseconds per request with no server: the lowest of ``repeats`` interleaved runs
    of benchmarks/apps/inapp_harness.py per framework and variant."""
    modules = {"fastapi": "inapp_fastapi", "flask": "inapp_flask", "django": "inapp_django"}
    costs: dict[str, dict[str, float]] = {name: {} for name in frameworks}
    for _ in range(repeats):
        for framework in frameworks:
            for variant in VARIANTS:
                out = subprocess.run(
                    [sys.executable, str(APPS / "inapp_harness.py"), modules[framework],
                     str(tokens_file)],
                    env={**env, "BENCH_VARIANT": variant}, capture_output=True, text=True,
                    check=True, timeout=300,
                ).stdout  # fmt: skip
                cost = float(out.strip().splitlines()[-1])
                costs[framework][variant] = min(costs[framework].get(variant, cost), cost)
    return costs


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}")  # fmt: skip


def main() -> None:  # noqa: PLR0912, PLR0915 - one linear script reads best top to bottom
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=4, help="per contender and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--rules", type=int, default=10_000)
    parser.add_argument("--frameworks", default="fastapi,flask,django")
    parser.add_argument("--inprocess-repeats", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk; make bench does it)")
    import redis  # the PyJWT variant's blocklist, and a check that Redis is there

    client = redis.Redis(host="127.0.0.1", port=6379)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise SystemExit(f"Redis on 127.0.0.1:6379 is needed ({type(exc).__name__})") from exc

    factory = TokenFactory(clock=FrozenClock(time.time()), lifetime_seconds=3600)
    tokens = [
        (factory.id_token if n % 2 else factory.access_token)(sub=f"user-{n}")
        for n in range(args.tokens)
    ]
    revoked = tokens[::100]
    jwks = serve_json(factory.jwks())
    jwks_url = f"http://127.0.0.1:{jwks.server_address[1]}/jwks.json"
    redis_prefix = f"bench:{uuid.uuid4().hex}:"
    frameworks = args.frameworks.split(",")
    servers: dict[tuple[str, str], tuple[subprocess.Popen[bytes], str]] = {}
    results: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="revoker-inapp-") as tmp:
        tokens_file = Path(tmp) / "tokens.txt"
        tokens_file.write_text("\n".join(tokens) + "\n")
        script = Path(tmp) / "tokens.lua"
        script.write_text(LUA_ME)
        store_url = f"sqlite:///{tmp}/rules.db"
        registry = Registry(open_store(store_url))
        now = time.time()
        registry.store.add_many(  # type: ignore[attr-defined]
            new_rule(RuleKind.TOKEN, str(uuid.uuid4()), now=now, limits=RegistryLimits())
            for _ in range(args.rules)
        )
        for token in revoked:
            origin = parse_unverified(token).claims["origin_jti"]
            registry.revoke(RuleKind.FAMILY, origin)
            client.set(redis_prefix + origin, 1, ex=900)
        registry.close()
        env = {
            **os.environ,
            "REVOKER_ISSUER": factory.issuer,
            "REVOKER_JWKS_URL": jwks_url,
            "REVOKER_AUDIENCE": factory.client_id,
            "REVOKER_STORE": store_url,
            "BENCH_JWKS_URL": jwks_url,
            "BENCH_ISSUER": factory.issuer,
            "BENCH_AUDIENCE": factory.client_id,
            "BENCH_REDIS_PREFIX": redis_prefix,
            "PYTHONPATH": str(APPS),
        }
        try:
            for framework in frameworks:
                for variant in VARIANTS:
                    port = free_port()
                    process = subprocess.Popen(
                        command(framework, port),
                        env={**env, "BENCH_VARIANT": variant},
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                    servers[framework, variant] = (process, f"http://127.0.0.1:{port}/me")
            for (framework, variant), (process, url) in servers.items():
                wait_ready(url, process)
                good = httpx.get(url, headers={"Authorization": f"Bearer {tokens[1]}"})
                bad = httpx.get(url, headers={"Authorization": f"Bearer {revoked[1]}"})
                want = (200, 200) if variant in ("noauth", "empty") else (200, 401)
                if (good.status_code, bad.status_code) != want:
                    raise SystemExit(f"{framework}/{variant}: wrong decisions "
                                     f"({good.status_code}, {bad.status_code})")  # fmt: skip
            warm_up = argparse.Namespace(**{**vars(args), "seconds": 1})
            for process, url in servers.values():  # every token verified and cached once
                run_wrk(url, process.pid, tokens_file, script, warm_up)
            rounds: dict[tuple[str, str], list[dict[str, float]]] = {key: [] for key in servers}
            for number in range(args.rounds):
                print(f"round {number + 1}/{args.rounds}: {len(servers)} servers, "
                      f"{args.seconds} s each ...", flush=True)  # fmt: skip
                for key, (process, url) in servers.items():
                    rounds[key].append(run_wrk(url, process.pid, tokens_file, script, args))
            for process, _ in servers.values():
                process.terminate()
            for process, _ in servers.values():
                process.wait(timeout=15)
            servers.clear()
            print("in-process: each app called directly, best of 7 x 3000 requests ...")
            inprocess = measure_in_process(frameworks, env, tokens_file, args.inprocess_repeats)
        finally:
            for process, _ in servers.values():
                process.terminate()
            for process, _ in servers.values():
                process.wait(timeout=15)
            jwks.shutdown()
            jwks.server_close()
            for token in revoked:
                client.delete(redis_prefix + parse_unverified(token).claims["origin_jti"])
    for (framework, variant), runs in rounds.items():
        results.setdefault(framework, {})[variant] = {
            key: statistics.median(run[key] for run in runs) for key in runs[0]
        }

    print()
    print(f"machine: {machine()}; Redis and the servers on loopback")
    print(f"wrk -t1 -c{args.connections} -d{args.seconds}s x {args.rounds} rounds (medians), "
          f"{args.tokens} tokens rotating (1% revoked), {args.rules} other rules; one worker "
          "per server")  # fmt: skip
    print(f"served: {'framework':<9} {'variant':<18} {'req/s':>8} {'p99 ms':>7} "
          f"{'CPU µs/req':>10}")  # fmt: skip
    for framework, by_variant in results.items():
        for variant, figures in by_variant.items():
            print(f"        {framework:<9} {VARIANTS[variant]:<18} {figures['rps']:>8.0f} "
                  f"{figures['p99_ms']:>7.2f} {figures['cpu_us']:>10.1f}")  # fmt: skip
    print()
    print(f"in-process: {'framework':<9} {'variant':<18} {'µs/req':>7} {'added µs':>9} "
          f"{'% of no-auth':>12}")  # fmt: skip
    ratios: dict[str, dict[str, float]] = {}
    for framework, costs in inprocess.items():
        base = costs["noauth"]
        for variant, cost in costs.items():
            print(f"            {framework:<9} {VARIANTS[variant]:<18} {cost:>7.1f} "
                  f"{cost - base:>9.1f} {(cost - base) / base:>12.1%}")  # fmt: skip
        added = {variant: cost - base for variant, cost in costs.items()}
        served = results[framework]
        ratios[framework] = {
            "revoker's added cost / the no-auth endpoint's (target <= 10%)": (
                added["revoker"] / base
            ),
            "  of which the framework's own empty dependency": added["empty"] / base,
            "PyJWT+Redis's added cost / revoker's (target >= 5x)": (
                added["pyjwt"] / added["revoker"] if added["revoker"] > 0 else float("inf")
            ),
            "served req/s: revoker / no auth": served["revoker"]["rps"] / served["noauth"]["rps"],
            "served req/s: revoker / PyJWT+Redis": (
                served["revoker"]["rps"] / served["pyjwt"]["rps"]
            ),
        }
    print()
    for framework, values in ratios.items():
        for label, value in values.items():
            shown = f"{value:.1%}" if "%" in label or "own" in label else f"{value:.2f}x"
            print(f"{framework:<9} {label:<64} {shown:>8}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "inapp.json"
    out.write_text(json.dumps({"machine": machine(), "served": results, "in_process": inprocess,
                               "ratios": ratios, "args": vars(args)}, indent=2))  # fmt: skip
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
