"""Fuzz ``tokens.parse_unverified``: any input parses canonically or is refused with a
``MalformedToken``/``TokenTooLarge`` (see ``fuzz_targets.parse_one``).

    python fuzz/fuzz_tokens.py -runs=20000          # atheris if installed, else hypothesis
"""

from __future__ import annotations

import sys

import fuzz_runner

with fuzz_runner.instrumented(sys.argv[1:]):
    import fuzz_targets


def seeds() -> list[bytes]:
    from revoker.testing import TokenFactory  # noqa: PLC0415 - only when seeding

    factory = TokenFactory(alg="ES256")
    return [factory.access_token().encode(), factory.id_token().encode(), b"e30.e30.", b"..."]


if __name__ == "__main__":
    sys.exit(fuzz_runner.main(fuzz_targets.parse_one, seeds()))
