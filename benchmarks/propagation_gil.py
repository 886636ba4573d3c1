"""Propagation behind the GIL: a replica whose process has a thread that never blocks.

``python benchmarks/propagation.py --mode busy-loop`` runs this for Redis and
PostgreSQL. It isolates what the under-load mode mixes with CPU starvation: one
replica process (push on, poll at 30 s) runs a thread spinning in Python, as an
event loop under full load does, and this process writes one rule at a time
(idle in between). The figure is the replica's own, exact: each rule's commit
(``created_at``) -> applied in its index, from its propagation observer. Three
interpreter settings take turns in the same run, round after round:

- ``default``: the interpreter's 5 ms switch interval, the replica's cut turned
  off (what the replica did before);
- ``library``: as the library ships: the interval cut to 0.2 ms from a push
  until its sync ends, and during every sync;
- ``serve``: as ``revoker serve`` runs: 0.5 ms for the whole process, besides.
"""

from __future__ import annotations

import random
import statistics
import subprocess
import sys
import time
import uuid
from typing import Any

from revoker.core.registry import Registry

VARIANTS = ("default", "library", "serve")

REPLICA = """
import sys, threading, time
from revoker.core.registry import Registry
from revoker.core.registry import replica as replica_module
from revoker.core.registry.push import PushSource

url, variant = sys.argv[1], sys.argv[2]
if variant == "default":
    replica_module._SWITCH_SOONER._seconds = 1.0  # never shorter than the interpreter's 5 ms
elif variant == "serve":
    from revoker.service.interpreter import tune_for_serving
    tune_for_serving()
registry = Registry.open(url, poll_interval_seconds=30.0, max_staleness_seconds=300.0)


def observed(path, delays):
    sys.stdout.write("".join(f"{path} {seconds!r}\\n" for seconds in delays))
    sys.stdout.flush()


registry.replica.add_propagation_observer(observed)
registry.start()
deadline = time.monotonic() + 20
while not registry.replica.push_healthy and time.monotonic() < deadline:
    time.sleep(0.01)


def spin():  # an event loop that never blocks: it holds the GIL whenever it can
    total = 0
    while True:
        for n in range(1000):
            total += n


threading.Thread(target=spin, daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
registry.close()
"""


def one_round(url: str, variant: str, revocations: int, writer: Registry) -> list[float]:
    """``revocations`` rules through ``writer``; the replica's commit -> applied, in ms."""
    child = subprocess.Popen(
        [sys.executable, "-c", REPLICA, url, variant],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None  # noqa: S101 -- stdin=PIPE always gives one
    assert child.stdout is not None  # noqa: S101
    try:
        if child.stdout.readline().strip() != "ready":
            raise SystemExit(f"the {variant} replica did not start")
        run = uuid.uuid4().hex[:8]
        for n in range(revocations):
            writer.revoke("token", f"gil-{run}-{n}", reason="propagation behind the GIL")
            time.sleep(random.uniform(0.005, 0.02))  # out of step with anything periodic
        time.sleep(0.5)
    finally:
        child.stdin.close()
        out = child.stdout.read()
        child.wait(timeout=15)
        child.stdout.close()
    return [float(line.split()[1]) * 1000 for line in out.splitlines() if line.strip()]


def measure_busy(url: str, *, rounds: int, revocations: int) -> dict[str, dict[str, Any]]:
    """Each variant ``rounds`` times, interleaved; p50/p99 per variant over all its rounds."""
    samples: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    with Registry.open(url) as writer:
        writer.revoke("token", "gil-first-write", reason="names the store's history")
        for _ in range(rounds):
            for variant in VARIANTS:
                samples[variant].extend(one_round(url, variant, revocations, writer))
    result: dict[str, dict[str, Any]] = {}
    for variant, delays in samples.items():
        ordered = sorted(delays)
        if not ordered:
            raise SystemExit(f"the {variant} replica applied nothing")

        def pct(share: float, ordered: list[float] = ordered) -> float:
            return round(ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))], 3)

        result[variant] = {
            "applied": len(ordered),
            "p50_ms": pct(0.50),
            "p90_ms": pct(0.90),
            "p99_ms": pct(0.99),
            "max_ms": round(ordered[-1], 3),
            "mean_ms": round(statistics.fmean(ordered), 3),
        }
    return result
