"""Run a fuzz target under atheris (coverage-guided, libFuzzer flags) when it is installed,
else under hypothesis with the same bytes-in target: the harness runs either way.

    python fuzz/fuzz_tokens.py -runs=20000                  # atheris, or the fallback
    python fuzz/fuzz_verify.py -max_total_time=300 fuzz/corpus/verify \\
        -artifact_prefix=fuzz/artifacts/
    python fuzz/fuzz_tokens.py --hypothesis -runs=2000      # force the fallback

The fallback reads ``-runs=N`` (examples) and ``-max_total_time=S`` (seconds; batches of
examples until then) and ignores the other libFuzzer flags. An empty corpus directory
given to atheris is seeded first. A failure exits non-zero with the failing input shown.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

Target = Callable[[bytes], None]


def _atheris() -> Any | None:
    try:
        return importlib.import_module("atheris")
    except ImportError:
        return None


def wants_atheris(argv: list[str]) -> bool:
    return "--hypothesis" not in argv and _atheris() is not None


@contextlib.contextmanager
def instrumented(argv: list[str]) -> Iterator[None]:
    """Import the targets inside this block: atheris instruments them for coverage."""
    atheris = _atheris() if wants_atheris(argv) else None
    if atheris is None:
        yield
        return
    with atheris.instrument_imports():
        yield


def _flag(argv: list[str], name: str) -> float | None:
    for arg in argv:
        if arg.startswith(f"-{name}="):
            return float(arg.split("=", 1)[1])
    return None


def main(target: Target, seeds: list[bytes], argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    if wants_atheris(argv[1:]):
        return _run_atheris(target, seeds, argv)
    runs = _flag(argv, "runs")
    seconds = _flag(argv, "max_total_time")
    return _run_hypothesis(target, seeds, examples=int(runs or 1000), seconds=seconds)


def _run_atheris(target: Target, seeds: list[bytes], argv: list[str]) -> int:
    atheris = _atheris()
    if atheris is None:
        raise RuntimeError("atheris is not installed")
    for arg in argv[1:]:
        corpus = Path(arg)
        if not arg.startswith("-") and corpus.is_dir() and not any(corpus.iterdir()):
            for n, seed in enumerate(seeds):
                (corpus / f"seed-{n}").write_bytes(seed)
    sys.stderr.write(f"fuzzing {target.__name__} with atheris\n")
    atheris.Setup(argv, target)
    atheris.Fuzz()  # returns only by exiting the process
    return 0


def _run_hypothesis(
    target: Target, seeds: list[bytes], *, examples: int, seconds: float | None
) -> int:
    from hypothesis import HealthCheck, example, given, seed, settings  # noqa: PLC0415
    from hypothesis import strategies as st  # noqa: PLC0415

    deadline = time.monotonic() + (seconds or 0)
    batch = min(examples, 500) if seconds else examples
    total, round_ = 0, 0
    while True:

        @settings(
            max_examples=batch,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(st.binary(max_size=512))
        def run(data: bytes) -> None:
            target(data)

        for value in seeds:
            run = example(value)(run)
        seed(round_)(run)()  # a failure raises, with hypothesis' report of the input
        total += batch
        round_ += 1
        if seconds is None or time.monotonic() >= deadline:
            break
    sys.stderr.write(f"{target.__name__}: {total} hypothesis examples, no failure\n")
    return 0
