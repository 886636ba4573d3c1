"""The Lambda authorizer: cold import, and per-invocation time against a hand-rolled one.

  cold import    ``import revoker.aws.lambda_authorizer`` in a fresh interpreter (median
                 of repeats), against ``import jwt, boto3`` (what the hand-rolled
                 handler loads), timed inside a fresh interpreter
  invocations    revoker's handler against a hand-rolled PyJWT + DynamoDB GetItem
                 handler, both on moto's DynamoDB (in-process), with a REST TOKEN event
                 from the shared fixtures: warm (the same token again) and cold (a new
                 token every time)

Run: ``python benchmarks/lambda_handler.py`` (about 30 s).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import jwt as pyjwt
from moto import mock_aws

from revoker.aws import lambda_authorizer
from revoker.aws.runtime import build_runtime, install_runtime
from revoker.core.clock import FrozenClock
from revoker.core.registry.stores.dynamodb import create_table
from revoker.core.tokens import parse_unverified
from revoker.testing import StaticJwksFetcher, TokenFactory

RESULTS = Path(__file__).parent / "results"
EVENT = (
    Path(__file__).resolve().parents[2]
    / "shared/fixtures/aws-events/powertools__apiGatewayAuthorizerTokenEvent.json"
)
TABLE = "revoker-bench"


def import_ms(statement: str, repeats: int) -> float:
    """Median time ``statement`` takes in a fresh interpreter (its start excluded)."""
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    samples = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        samples.append(float(out) * 1000)
    return statistics.median(samples)


def per_call_us(call: Callable[[], object], count: int) -> tuple[float, float]:
    samples = []
    for _ in range(count):
        t0 = time.perf_counter_ns()
        call()
        samples.append(time.perf_counter_ns() - t0)
    samples.sort()
    return samples[len(samples) // 2] / 1000, samples[int(len(samples) * 0.99)] / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="fresh interpreters per import")
    parser.add_argument("--calls", type=int, default=300, help="invocations per contender")
    args = parser.parse_args()
    os.environ.update(
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106 - moto takes any credentials
    )

    print("cold imports ...", flush=True)
    imports = {
        "revoker.aws.lambda_authorizer": import_ms(
            "import revoker.aws.lambda_authorizer", args.repeats
        ),
        "jwt + boto3 (hand-rolled)": import_ms("import jwt, boto3", args.repeats),
    }

    template = json.loads(EVENT.read_text())
    clock = FrozenClock(time.time())
    factory = TokenFactory(clock=clock)
    public_key = factory.key.public_key()
    tokens = [factory.id_token() for _ in range(args.calls + 1)]

    def event(token: str) -> dict[str, Any]:
        return {**template, "authorizationToken": f"Bearer {token}"}

    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, TABLE)
        runtime = build_runtime(
            {
                "REVOKER_ISSUER": factory.issuer,
                "REVOKER_JWKS_URL": factory.issuer + "/.well-known/jwks.json",
                "REVOKER_AUDIENCE": factory.client_id,
                "REVOKER_STORE": f"dynamodb://{TABLE}?region=us-east-1",
            },
            fetcher=StaticJwksFetcher(factory.jwks()),
            clock=clock,
        )
        install_runtime(runtime)

        def revoker_call(token: str) -> None:
            lambda_authorizer.handler(event(token), None)

        def hand_rolled(token: str) -> None:
            # What the seed's answer suggests: verify with PyJWT, then ask DynamoDB.
            header_token = event(token)["authorizationToken"].removeprefix("Bearer ")
            claims = pyjwt.decode(
                header_token,
                public_key,
                algorithms=["RS256"],
                audience=factory.client_id,
                issuer=factory.issuer,
                options={"verify_iat": False},
            )
            item = client.get_item(
                TableName=TABLE,
                Key={"pk": {"S": f"family#{claims['origin_jti']}"}, "sk": {"S": "r"}},
            )
            if "Item" in item:
                raise PermissionError("Unauthorized")

        revoker_call(tokens[0])  # the first invocation builds keys and the replica
        hand_rolled(tokens[0])
        warm_token = tokens[0]
        print("invocations ...", flush=True)
        cold_iter = iter(tokens[1:])
        cold_iter_b = iter(tokens[1:])
        rows = {
            "revoker warm": per_call_us(lambda: revoker_call(warm_token), args.calls),
            "hand-rolled warm": per_call_us(lambda: hand_rolled(warm_token), args.calls),
            "revoker cold (new token)": per_call_us(
                lambda: revoker_call(next(cold_iter)), args.calls
            ),
            "hand-rolled cold (new token)": per_call_us(
                lambda: hand_rolled(next(cold_iter_b)), args.calls
            ),
        }
        install_runtime(None)
    assert parse_unverified(warm_token).claims["sub"]  # noqa: S101 - sanity of the fixture

    print()
    print(f"{'cold import':<34} {'ms':>8}")
    for name, ms in imports.items():
        print(f"{name:<34} {ms:>8.1f}")
    own = imports["revoker.aws.lambda_authorizer"]
    print(f"revoker handler import: {own:.1f} ms (target <= 100 ms, boto3 aside)")
    print()
    print(f"{'invocation (moto DynamoDB)':<34} {'p50 µs':>9} {'p99 µs':>9}")
    for name, (p50, p99) in rows.items():
        print(f"{name:<34} {p50:>9.1f} {p99:>9.1f}")
    ratios = {
        "warm: hand-rolled / revoker": rows["hand-rolled warm"][0] / rows["revoker warm"][0],
        "cold: hand-rolled / revoker": rows["hand-rolled cold (new token)"][0]
        / rows["revoker cold (new token)"][0],
    }
    for label, ratio in ratios.items():
        print(f"{label:<34} {ratio:>9.1f}x")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "lambda_handler.json"
    out.write_text(
        json.dumps({"import_ms": imports, "invocation_us": rows, "ratios": ratios}, indent=2) + "\n"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
