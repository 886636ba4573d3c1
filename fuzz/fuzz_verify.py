"""Fuzz ``Verifier.verify`` with genuinely signed tokens whose header and claims the input
chooses: accepted only when every policy check holds, else a ``TokenRejected`` (see
``fuzz_targets.verify_one``).

    python fuzz/fuzz_verify.py -max_total_time=300   # atheris if installed, else hypothesis
"""

from __future__ import annotations

import sys

import fuzz_runner

with fuzz_runner.instrumented(sys.argv[1:]):
    import fuzz_targets


def seeds() -> list[bytes]:
    # Mode 0 (a genuine token, a few fields changed), mode 1 (also the alg), mode 2 (text).
    return [bytes([0] * 16), bytes([1, 0, 1, 5, 1, 2]), bytes([2, 3, 0, 0, 0, 9, 46]), b"\x00"]


if __name__ == "__main__":
    sys.exit(fuzz_runner.main(fuzz_targets.verify_one, seeds()))
