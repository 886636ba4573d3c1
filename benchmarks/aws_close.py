"""Revoke to close: how long from a revoke until the matching WebSocket connections are closed.

Everything runs in this process on moto (``mock_aws``): the revocation table and the
connections table on moto's DynamoDB, the connections on moto's API Gateway
Management API. These are **in-process timings**: no network, no real DynamoDB,
no real API Gateway; what they show is the work revoker does and the number of
calls it makes, not AWS's latencies (see docs/aws.md for what to add on AWS).

  connect        the $connect authorizer for an allowed token: verify (cached), write the
                 record (one TransactWriteItems), sync the replica (one GetItem when
                 nothing changed), check again; against a REST TOKEN check of the same token
  hook           ``Operations.create_rule`` of a subject rule with the closer installed, from
                 the call's start until it returns: the rule's durable write, the Query of
                 that subject's connections, and one DeleteConnection per connection
                 (``--per-user`` of them), among ``--others`` connections of other users
  stream         the stream function on the rule's change record (as Lambda would deliver
                 it): the same Query and DeleteConnection calls, without the write
  scan           an issuer rule over ``--others`` connections: a Scan, then a
                 DeleteConnection for every one (8 at a time)
  code           the closer alone on moto's DynamoDB with a no-op Management API client, and
                 on a memory store with a no-op client: revoker's own work, moto taken away

Each scenario also counts the AWS calls it made (botocore ``before-call`` events), which
is what carries over to AWS: multiply by DynamoDB's and API Gateway's own latencies.

Run: ``python benchmarks/aws_close.py`` (about a minute).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

from revoker.aws import stream_handler
from revoker.aws.clients import AwsClients
from revoker.aws.closer import ConnectionCloser
from revoker.aws.connections import MemoryConnectionStore
from revoker.aws.lambda_authorizer import authorize
from revoker.aws.runtime import Runtime, build_runtime
from revoker.core.clock import FrozenClock
from revoker.core.registry.stores.dynamodb import create_table
from revoker.testing import StaticJwksFetcher, TokenFactory

RESULTS = Path(__file__).parent / "results"
EVENTS = Path(__file__).resolve().parents[2] / "shared/fixtures/aws-events"
REGION = "us-east-1"
RULES, CONNECTIONS = "bench-rules", "bench-connections"
ENDPOINT = "https://c5jwxq709g.execute-api.us-east-1.amazonaws.com/production"


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": statistics.median(ordered),
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "max_ms": ordered[-1],
    }


def timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000


class NoOpManagement:
    def delete_connection(self, **_request: Any) -> dict[str, Any]:
        return {}


class CallCounter:
    """Counts botocore calls by operation on the clients it is attached to."""

    def __init__(self, *clients: Any) -> None:
        self.calls: dict[str, int] = {}
        for client in clients:
            client.meta.events.register("before-call.*.*", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[model.name] = self.calls.get(model.name, 0) + 1

    def take(self, runs: int) -> dict[str, float]:
        """Calls per run since the last take."""
        counted, self.calls = self.calls, {}
        return {name: count / runs for name, count in sorted(counted.items())}


def main() -> None:  # noqa: PLR0915 - one scenario after another, in order
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="revokes per scenario")
    parser.add_argument("--per-user", type=int, default=2, help="connections per revoked user")
    parser.add_argument("--others", type=int, default=200, help="other users' connections")
    args = parser.parse_args()
    os.environ.update(
        AWS_DEFAULT_REGION=REGION,
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106 - moto takes any credentials
    )
    connect_event = json.loads((EVENTS / "powertools__apiGatewayAuthorizerWebSocketEvent.json")
                               .read_text())  # fmt: skip
    token_event = json.loads((EVENTS / "powertools__apiGatewayAuthorizerTokenEvent.json")
                             .read_text())  # fmt: skip
    clock = FrozenClock(time.time())
    factory = TokenFactory(clock=clock)
    results: dict[str, Any] = {"runs": args.runs, "per_user": args.per_user, "others": args.others}

    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_table(dynamodb, RULES)
        create_table(dynamodb, CONNECTIONS)
        runtime: Runtime = build_runtime(
            {
                "REVOKER_ISSUER": factory.issuer,
                "REVOKER_JWKS_URL": factory.issuer + "/.well-known/jwks.json",
                "REVOKER_AUDIENCE": factory.client_id,
                "REVOKER_STORE": f"dynamodb://{RULES}?region={REGION}",
                "REVOKER_CONNECTIONS": f"dynamodb://{CONNECTIONS}?region={REGION}",
            },
            fetcher=StaticJwksFetcher(factory.jwks()),
            clock=clock,
        )
        management = boto3.client("apigatewaymanagementapi", endpoint_url=ENDPOINT)

        def connect(sub: str, connection_id: str) -> float:
            token = factory.access_token(sub=sub)
            event = json.loads(json.dumps(connect_event))
            event["headers"]["Authorization"] = f"Bearer {token}"
            event["requestContext"]["connectionId"] = connection_id
            start = time.perf_counter()
            authorize(runtime, event)
            spent = (time.perf_counter() - start) * 1000
            counter.calls.pop("GetConnection", None)
            management.get_connection(ConnectionId=connection_id)  # moto opens it
            counter.calls.pop("GetConnection", None)
            return spent

        # The clients the parts use (private attributes: a benchmark may look inside).
        connections = runtime.connections
        assert connections is not None  # noqa: S101
        counter = CallCounter(
            runtime.registry.store._client,  # type: ignore[attr-defined]
            connections.client,  # type: ignore[attr-defined]
            runtime.clients.get("apigatewaymanagementapi", endpoint_url=ENDPOINT, region=REGION),
        )

        print(f"connecting {args.others} other users ...", flush=True)
        connect("warm-up", "warm-up=")  # the first call builds clients, keys and the replica
        counter.take(1)
        connects = [connect(f"other-{n}", f"other-{n}=") for n in range(args.others)]
        results["connect"] = {**summary(connects), "calls": counter.take(args.others)}
        rest_token = factory.access_token(sub="rest-user")
        rest = {**token_event, "authorizationToken": f"Bearer {rest_token}"}
        authorize(runtime, rest)
        counter.take(1)
        rest_times = [timed(lambda: authorize(runtime, rest)) for _ in range(args.runs)]
        results["rest_check"] = {**summary(rest_times), "calls": counter.take(args.runs)}

        print("hook path ...", flush=True)
        hook = []
        for run in range(args.runs):
            sub = f"hook-{run}"
            for n in range(args.per_user):
                connect(sub, f"{sub}-{n}=")
            counter.calls.clear()
            start = time.perf_counter()
            runtime.revoker.operations.create_rule({"kind": "subject", "value": sub}, actor="b")
            hook.append((time.perf_counter() - start) * 1000)
            clock.advance(0.001)
        results["hook"] = {**summary(hook), "calls": counter.take(1)}

        print("stream path ...", flush=True)
        writer = build_runtime(
            {
                "REVOKER_ISSUER": factory.issuer,
                "REVOKER_JWKS_URL": factory.issuer + "/.well-known/jwks.json",
                "REVOKER_AUDIENCE": factory.client_id,
                "REVOKER_STORE": f"dynamodb://{RULES}?region={REGION}",
            },
            fetcher=StaticJwksFetcher(factory.jwks()),
            clock=clock,
        )
        stream = []
        for run in range(args.runs):
            sub = f"stream-{run}"
            for n in range(args.per_user):
                connect(sub, f"{sub}-{n}=")
            rule = writer.revoker.operations.create_rule(
                {"kind": "subject", "value": sub}, actor="b"
            )
            record = {
                "eventName": "INSERT",
                "dynamodb": {
                    "SequenceNumber": str(run),
                    "NewImage": {
                        "pk": {"S": "change"},
                        "op": {"S": "add"},
                        "rule": {"S": json.dumps(rule.to_dict())},
                    },
                },
            }
            counter.calls.clear()
            start = time.perf_counter()
            stream_handler.handle(runtime, {"Records": [record]})
            stream.append((time.perf_counter() - start) * 1000)
            clock.advance(0.001)
        results["stream"] = {**summary(stream), "calls": counter.take(1)}

        print("code only ...", flush=True)
        assert runtime.connections is not None  # noqa: S101
        closer = ConnectionCloser(
            runtime.connections,
            clients=AwsClients(ready={"apigatewaymanagementapi": NoOpManagement()}),
            clock=clock,
        )
        code = []
        for run in range(args.runs):
            sub = f"code-{run}"
            for n in range(args.per_user):
                connect(sub, f"{sub}-{n}=")
            rule = writer.revoker.operations.create_rule(
                {"kind": "subject", "value": sub}, actor="b"
            )
            start = time.perf_counter()
            closer.close_matching(rule)
            code.append((time.perf_counter() - start) * 1000)
        results["code_with_moto_dynamodb"] = summary(code)

        print("code only, memory store ...", flush=True)
        memory = MemoryConnectionStore()
        everything = writer.revoker.operations.create_rule({"kind": "key", "value": "k"}, actor="b")
        for known in runtime.connections.candidates(everything):  # a key rule reads them all
            memory.put(known)
        in_memory = ConnectionCloser(
            memory,
            clients=AwsClients(ready={"apigatewaymanagementapi": NoOpManagement()}),
            clock=clock,
        )
        pure = []
        for run in range(args.runs):
            target = writer.revoker.operations.create_rule(
                {"kind": "subject", "value": f"code-{run}"}, actor="b"
            )
            start = time.perf_counter()
            in_memory.close_matching(target)
            pure.append((time.perf_counter() - start) * 1000)
        results["code_with_memory_store"] = {**summary(pure), "records": len(memory)}

        print("issuer rule (scan) ...", flush=True)
        rule = writer.revoker.operations.create_rule(
            {"kind": "issuer", "value": factory.issuer}, actor="b"
        )
        assert runtime.realtime is not None  # noqa: S101
        counter.calls.clear()
        started = time.perf_counter()
        outcome = runtime.realtime.apply(rule)
        results["scan"] = {
            "ms": (time.perf_counter() - started) * 1000,
            "closed": len(outcome.connections.closed) if outcome.connections else 0,
            "calls": counter.take(1),
        }
        writer.close()
        runtime.close()

    print()
    print(f"{'in-process, moto':<44} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, label in [
        ("rest_check", "REST TOKEN check (warm)"),
        ("connect", "$connect: check, record, sync, check again"),
        ("hook", f"revoke -> {args.per_user} closed (hook, write included)"),
        ("stream", f"stream record -> {args.per_user} closed"),
        ("code_with_moto_dynamodb", "closer, moto DynamoDB, no-op Management API"),
        ("code_with_memory_store", "closer, memory store, no-op Management API"),
    ]:
        row = results[name]
        print(f"{label:<44} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} {row['max_ms']:>8.2f}")
    scan = results["scan"]
    print(f"issuer rule: {scan['closed']} connections closed in {scan['ms']:.0f} ms (scan)")
    print()
    print("AWS calls per run:")
    for name in ("rest_check", "connect", "hook", "stream", "scan"):
        print(f"  {name:<12} {results[name]['calls']}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "aws_close.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
