"""The Lambda authorizer on a large table: the replica mode against the lookup mode.

One moto DynamoDB table (in-process) holds N family rules (a mass sign-out), written
item by item as the store writes them (rule item, lookup item, head, count). Then,
for each mode, in the same run:

  cold start     a fresh runtime and its first invocation (a REST TOKEN event from the
                 shared fixtures): the replica reads every rule, the lookup mode one
                 BatchGetItem of the count shards and one of the token's keys
  warm, same     the same token again (the replica: a dict look-up; the lookup: a cache hit)
  warm, new      a new token in a warm container (the lookup: one BatchGetItem)

with the DynamoDB calls and items each made or read, and the ratios. moto answers in
microseconds what DynamoDB answers in milliseconds, so the absolute times understate
the network; the counts of calls and items are what the bill follows
(docs/performance.md, "DynamoDB at scale").

The clock is frozen: the replica's head read once a second and the lookup cache's
expiry do not show. moto's ``Query`` sorts the whole partition for every page, so
the replica's cold start in moto grows with the square of the rules (DynamoDB's
with the rules).

Run: ``python benchmarks/lambda_scale.py`` (100k rules, about 6 minutes, most of it
the replica's cold start in moto); ``--rules 1000000`` for the issue's figure,
bounded by ``--budget`` (600 s): when one timed page says the replica's cold start
would not fit in what is left, it is reported as cut off, with that estimate.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends

from revoker.aws.lambda_authorizer import Unauthorized, authorize
from revoker.aws.runtime import Runtime, build_runtime
from revoker.core.clock import FrozenClock
from revoker.core.registry import RegistryLimits
from revoker.core.registry.rules import new_rule
from revoker.core.registry.stores._dynamodb_keys import count_key, lookup_key_of, lookup_pk
from revoker.core.registry.stores.dynamodb import (
    LOOKUP_READY_SETTING,
    DynamoDBStore,
    create_table,
)
from revoker.testing import StaticJwksFetcher, TokenFactory

RESULTS = Path(__file__).parent / "results"
EVENT = (
    Path(__file__).resolve().parents[2]
    / "shared/fixtures/aws-events/powertools__apiGatewayAuthorizerTokenEvent.json"
)
TABLE = "revoker-scale"
T0 = 1_700_000_000.0


class Calls:
    """DynamoDB calls and the items they returned, through the client's event hooks."""

    def __init__(self, client: Any) -> None:
        self.calls: Counter[str] = Counter()
        self.items = 0
        client.meta.events.register("before-call.dynamodb", self._before)
        client.meta.events.register("after-call.dynamodb", self._after)

    def _before(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    def _after(self, parsed: dict[str, Any], **_: Any) -> None:
        self.items += len(parsed.get("Items", []))
        self.items += sum(len(found) for found in parsed.get("Responses", {}).values())
        self.items += "Item" in parsed

    def take(self) -> dict[str, Any]:
        taken = {"calls": dict(self.calls), "items_read": self.items}
        self.calls.clear()
        self.items = 0
        return taken


def fill(client: Any, count: int, deadline: float) -> list[str]:
    """Write ``count`` family rules as the store lays them out; their values."""
    limits = RegistryLimits()
    values = [f"family-{n:08d}" for n in range(count)]
    # Straight into moto's backend: through its HTTP layer an item costs about 0.25 ms,
    # four minutes at a million rules. What the store reads back is the same items.
    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    pending: list[dict[str, Any]] = []

    def flush() -> None:
        for item in pending:
            backend.put_item(TABLE, item)
        pending.clear()

    for seq, value in enumerate(values, start=1):
        rule = new_rule("family", value, now=T0, limits=limits, actor="bench")
        item = {
            "pk": {"S": "rule"},
            "sk": {"S": rule.id},
            "seq": {"N": str(seq)},
            "kind": {"S": "family"},
            "value": {"S": value},
            "reason": {"S": ""},
            "actor": {"S": "bench"},
            "created_at": {"N": repr(T0)},
            "expires_at": {"N": repr(rule.expires_at)},
        }
        filed = {
            "pk": {"S": lookup_pk(lookup_key_of(rule))},
            "sk": {"S": "L"},
            "r:" + rule.id: {"S": json.dumps(rule.to_dict(), separators=(",", ":"))},
        }
        pending += [item, filed]
        if len(pending) >= 5000:
            flush()
            if time.monotonic() > deadline:
                sys.exit(f"filling the table took past the budget at {seq} rules")
    flush()
    client.put_item(
        TableName=TABLE, Item={"pk": {"S": "head"}, "sk": {"S": "head"}, "seq": {"N": str(count)}}
    )
    client.put_item(TableName=TABLE, Item={**count_key(0), "n": {"N": str(count)}})
    client.put_item(
        TableName=TABLE,
        Item={"pk": {"S": "setting"}, "sk": {"S": LOOKUP_READY_SETTING}, "value": {"N": "1"}},
    )
    return values


class Bench:
    """One table, one token factory, and a way to invoke the authorizer on a runtime."""

    def __init__(self, rules: int, calls: int) -> None:
        self.rules, self.calls = rules, calls
        self.clock = FrozenClock(T0 + 60)
        self.factory = TokenFactory(clock=self.clock)
        self.template = json.loads(EVENT.read_text())
        self.revoked = ""

    def invoke(self, runtime: Runtime, token: str) -> bool:
        try:
            authorize(runtime, {**self.template, "authorizationToken": f"Bearer {token}"})
        except Unauthorized:
            return False
        return True

    def measure(self, mode: str) -> dict[str, Any]:
        """Cold start, then warm invocations, of a container that picks ``mode`` by itself."""
        factory = self.factory
        env = {
            "REVOKER_ISSUER": factory.issuer,
            "REVOKER_JWKS_URL": factory.issuer + "/.well-known/jwks.json",
            "REVOKER_AUDIENCE": factory.client_id,
            "REVOKER_TOKEN_USE": "any",
            "REVOKER_STORE": f"dynamodb://{TABLE}?region=us-east-1",
            "REVOKER_REGISTRY_MODE": "auto",
            "REVOKER_LOOKUP_ABOVE": str(self.rules - 1 if mode == "lookup" else self.rules),
        }
        t0 = time.perf_counter()
        runtime = build_runtime(env, fetcher=StaticJwksFetcher(factory.jwks()), clock=self.clock)
        store = runtime.registry.store
        assert isinstance(store, DynamoDBStore)  # noqa: S101
        calls = Calls(store.client)
        first = factory.access_token()
        assert self.invoke(runtime, first)  # noqa: S101 - a good token is allowed
        cold_s = time.perf_counter() - t0
        cold = calls.take()
        assert runtime.registry_mode == mode, runtime.registry_mode  # noqa: S101
        assert not self.invoke(runtime, self.revoked)  # noqa: S101 - its family is revoked
        calls.take()
        warm_same = per_call_us(lambda: self.invoke(runtime, first), self.calls)
        same = calls.take()
        fresh = iter([factory.access_token() for _ in range(self.calls)])
        warm_new = per_call_us(lambda: self.invoke(runtime, next(fresh)), self.calls)
        new = calls.take()
        runtime.close()
        return {
            "cold_start_s": cold_s,
            "cold_start_dynamodb": cold,
            "warm_same_token_us": warm_same,
            "warm_same_token_dynamodb": same,
            "warm_new_token_us": warm_new,
            "warm_new_token_dynamodb": new,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=100_000, help="family rules in the table")
    parser.add_argument("--calls", type=int, default=200, help="warm invocations per row")
    parser.add_argument("--budget", type=float, default=600.0, help="seconds for the whole run")
    args = parser.parse_args()
    deadline = time.monotonic() + args.budget
    os.environ.update(
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106 - moto takes any credentials
    )
    bench = Bench(args.rules, args.calls)
    results: dict[str, Any] = {"rules": args.rules}
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, TABLE)
        started = time.perf_counter()
        print(f"writing {args.rules} rules ...", flush=True)
        values = fill(client, args.rules, deadline)
        results["fill_s"] = time.perf_counter() - started
        bench.revoked = bench.factory.access_token(origin_jti=values[len(values) // 2])
        print("lookup: cold start and warm invocations ...", flush=True)
        results["lookup"] = bench.measure("lookup")  # first: the replica may not fit the budget
        estimate = replica_estimate_s(client, args.rules)
        left = deadline - time.monotonic()
        if estimate > left:
            print(f"replica: cut off (~{estimate:.0f} s in moto > {left:.0f} s left)")
            results["replica_cut_off"] = {"estimate_s": estimate, "left_s": left}
        else:
            print(f"replica: cold start (~{estimate:.0f} s) and warm invocations ...", flush=True)
            results["replica"] = bench.measure("replica")
    report(results, args.calls)


def replica_estimate_s(client: Any, count: int) -> float:
    """How long moto takes to hand a replica ``count`` rules: one 1 MB page, timed, times
    the pages (moto sorts the whole partition for each page, so a page's cost grows with
    the table, and the replica's cold start in moto with its square)."""
    t0 = time.perf_counter()
    page = client.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "rule"}},
        ConsistentRead=True,
    )
    pages = math.ceil(count / max(1, len(page["Items"])))
    return (time.perf_counter() - t0) * pages


def per_call_us(call: Callable[[], object], count: int) -> dict[str, float]:
    samples = []
    for _ in range(count):
        t0 = time.perf_counter_ns()
        call()
        samples.append((time.perf_counter_ns() - t0) / 1000)
    samples.sort()
    return {"p50": statistics.median(samples), "p99": samples[int(len(samples) * 0.99)]}


def report(results: dict[str, Any], calls: int) -> None:
    print()
    print(f"{results['rules']} family rules (table written in {results['fill_s']:.0f} s)")
    print(f"{'mode':<8} {'cold start':>12} {'cold items read':>16} {'warm same p50':>14} "
          f"{'warm new p50':>13} {'new-token calls':>16}")  # fmt: skip
    for mode in ("replica", "lookup"):
        row = results.get(mode)
        if row is None:
            cut = results.get("replica_cut_off", {})
            print(f"{mode:<8} {'cut off':>12} (about {cut.get('estimate_s', 0):.0f} s in moto)")
            continue
        per_new = sum(row["warm_new_token_dynamodb"]["calls"].values()) / calls
        cold_s, read = row["cold_start_s"], row["cold_start_dynamodb"]["items_read"]
        same, new = row["warm_same_token_us"]["p50"], row["warm_new_token_us"]["p50"]
        print(
            f"{mode:<8} {cold_s:>11.2f}s {read:>16} {same:>12.0f}µs {new:>11.0f}µs {per_new:>16.2f}"
        )
    if "replica" in results and "lookup" in results:
        replica, lookup = results["replica"], results["lookup"]
        ratios = {
            "cold start: replica / lookup": replica["cold_start_s"] / lookup["cold_start_s"],
            "warm same token: lookup / replica": lookup["warm_same_token_us"]["p50"]
            / replica["warm_same_token_us"]["p50"],
            "warm new token: lookup / replica": lookup["warm_new_token_us"]["p50"]
            / replica["warm_new_token_us"]["p50"],
        }
        results["ratios"] = ratios
        for label, ratio in ratios.items():
            print(f"{label:<36} {ratio:>8.2f}x")
    for mode in ("replica", "lookup"):
        if mode in results:
            print(
                f"{mode} cold start DynamoDB calls: {results[mode]['cold_start_dynamodb']['calls']}"
            )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "lambda_scale.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
