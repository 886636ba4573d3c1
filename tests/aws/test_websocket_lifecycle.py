"""A WebSocket connection's life on moto: connect (recorded), revoke, closed, disconnect (removed).

Everything is moto, in-process: Cognito mints the tokens, DynamoDB holds the
revocation table (with its stream) and the connections table, and the API
Gateway Management API holds the open connections (``DeleteConnection`` removes
one from moto's backend). moto's Management API never answers 410, which
``test_closer.py`` covers with botocore's Stubber.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import boto3
import pytest
from botocore.config import Config
from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends
from moto.core import DEFAULT_ACCOUNT_ID

from revoker.app.compose import Revoker
from revoker.app.sources import load_settings
from revoker.aws import stream_handler, websocket_handler
from revoker.aws.connections_dynamodb import DynamoDBConnectionStore
from revoker.aws.lambda_authorizer import Unauthorized, authorize
from revoker.aws.runtime import Runtime, build_runtime
from revoker.core.registry.stores.dynamodb import create_table, dynamodb_client
from revoker.testing import FrozenClock

from .conftest import WS_ENDPOINT, websocket_connect, websocket_route
from .moto_cognito import REGION, MotoJwksFetcher, MotoPool, clock_after

RULES, CONNECTIONS = "revoker-rules", "revoker-connections"


def open_connections() -> set[str]:
    """The connections moto's Management API holds open (it keys them URL-encoded)."""
    return {
        unquote(c) for c in apigatewaymanagementapi_backends[DEFAULT_ACCOUNT_ID][REGION].connections
    }


def management() -> Any:
    return boto3.session.Session().client(
        "apigatewaymanagementapi", region_name=REGION, endpoint_url=WS_ENDPOINT
    )


@pytest.fixture
def tables(aws: None) -> Iterator[Any]:
    """The revocation table (stream on, NEW_IMAGE) and the connections table, on moto."""
    client = dynamodb_client(region=REGION)
    create_table(client, RULES)
    create_table(client, CONNECTIONS)
    client.update_table(
        TableName=RULES, StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    )
    yield client
    client.close()


@pytest.fixture
def tokens(moto_pool: MotoPool, tables: Any) -> dict[str, dict[str, str]]:
    return {name: moto_pool.login(name) for name in ("alice", "bob")}


@pytest.fixture
def clock(tokens: dict[str, dict[str, str]]) -> FrozenClock:
    return clock_after(*(t["AccessToken"] for t in tokens.values()))


def env(moto_pool: MotoPool, **extra: str) -> dict[str, str]:
    return moto_pool.env(
        REVOKER_STORE=f"dynamodb://{RULES}?region={REGION}",
        REVOKER_CONNECTIONS=f"dynamodb://{CONNECTIONS}?region={REGION}",
        REVOKER_ADMIN_TOKEN="admin-secret-0123456789",
        **extra,
    )


@pytest.fixture
def runtime(moto_pool: MotoPool, clock: FrozenClock) -> Iterator[Runtime]:
    """One runtime for the authorizer, the routes and the revoke path (one container each
    on AWS; one process here, sharing the tables)."""
    made = build_runtime(env(moto_pool), fetcher=MotoJwksFetcher(), clock=clock)
    yield made
    made.close()


def connect(runtime: Runtime, token: str, connection_id: str) -> dict[str, Any]:
    """The authorizer runs; allowed, the connection is open (moto opens it on first sight)."""
    answer = authorize(runtime, websocket_connect(authorization=token, connection_id=connection_id))
    management().get_connection(ConnectionId=connection_id)
    return answer


def records(runtime: Runtime) -> DynamoDBConnectionStore:
    store = runtime.connections
    assert isinstance(store, DynamoDBConnectionStore)
    return store


def test_revoking_a_subject_closes_its_connections_and_only_those(
    runtime: Runtime, moto_pool: MotoPool, tokens: dict[str, dict[str, str]]
) -> None:
    """connect alice twice and bob once (recorded); revoke alice's subject: DeleteConnection
    for alice's connections, not bob's; disconnect: the records go."""
    connect(runtime, tokens["alice"]["AccessToken"], "alice-1=")
    connect(runtime, tokens["alice"]["IdToken"], "alice-2=")
    connect(runtime, tokens["bob"]["AccessToken"], "bob-1=")
    store = records(runtime)
    assert {store.get(c).sub for c in ("alice-1=", "alice-2=", "bob-1=")} == {
        moto_pool.subs["alice"],
        moto_pool.subs["bob"],
    }
    assert open_connections() == {"alice-1=", "alice-2=", "bob-1="}

    rule = runtime.revoker.operations.create_rule(
        {"kind": "subject", "value": moto_pool.subs["alice"], "reason": "password reset"},
        actor="admin",
    )
    assert open_connections() == {"bob-1="}

    for closed in ("alice-1=", "alice-2="):  # API Gateway runs $disconnect after the delete
        assert websocket_handler.handle(runtime, websocket_route("DISCONNECT", closed)) == {
            "statusCode": 200
        }
    assert store.get("alice-1=") is None
    assert store.get("alice-2=") is None
    assert store.get("bob-1=") is not None
    with pytest.raises(Unauthorized):  # and alice cannot come back with those tokens
        connect(runtime, tokens["alice"]["AccessToken"], "alice-3=")
    assert runtime.realtime is not None  # the same rule once more (a retry): nothing to close
    again = runtime.realtime.apply(rule).connections
    assert again is not None
    assert (again.closed, again.ok) == ((), True)
    assert open_connections() == {"bob-1="}


def test_a_revoke_through_the_revoke_function_closes_the_sign_ins_connection(
    runtime: Runtime, tokens: dict[str, dict[str, str]]
) -> None:
    """RFC 7009 /revoke with the access token: its family's connections close (the ID
    token's too), bob's stays."""
    connect(runtime, tokens["alice"]["IdToken"], "alice-id=")
    connect(runtime, tokens["bob"]["IdToken"], "bob-id=")
    answer = runtime.api.handle(_form_request({"token": tokens["alice"]["AccessToken"]}))
    assert answer.status == 200
    assert open_connections() == {"bob-id="}


def _form_request(form: dict[str, str]) -> Any:
    from urllib.parse import urlencode  # noqa: PLC0415

    from revoker.app.http_api import ApiRequest  # noqa: PLC0415

    return ApiRequest(
        method="POST",
        path="/revoke",
        headers={"content-type": "application/x-www-form-urlencoded"},
        query={},
        body=urlencode(form).encode(),
        client="127.0.0.1",
    )


def stream_records(client: Any) -> list[dict[str, Any]]:
    """Every record of the revocation table's stream so far, as Lambda would deliver them."""
    # botocore sends ARN calls to an account-specific host by default; moto knows the plain one.
    plain = Config(account_id_endpoint_mode="disabled")
    streams = boto3.session.Session().client("dynamodbstreams", region_name=REGION, config=plain)
    arn = client.describe_table(TableName=RULES)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records: list[dict[str, Any]] = streams.get_records(ShardIterator=iterator)["Records"]
    return records


def test_a_rule_written_by_a_process_without_the_hook_closes_through_the_stream(
    runtime: Runtime,
    moto_pool: MotoPool,
    tokens: dict[str, dict[str, str]],
    tables: Any,
    clock: FrozenClock,
) -> None:
    """`revoker revoke --store dynamodb://…` with no REVOKER_CONNECTIONS writes only the rule;
    the stream function, fed the table's stream records, closes alice's connection."""
    connect(runtime, tokens["alice"]["AccessToken"], "alice-1=")
    connect(runtime, tokens["bob"]["AccessToken"], "bob-1=")
    cli = load_settings(
        environ={"REVOKER_STORE": f"dynamodb://{RULES}?region={REGION}"}, config=None
    )
    with Revoker.for_rules(cli, clock=clock) as writer:
        writer.operations.create_rule(
            {"kind": "subject", "value": moto_pool.subs["alice"]}, actor="cli"
        )
    assert open_connections() == {"alice-1=", "bob-1="}  # nothing closed by the writer
    records = stream_records(tables)
    assert [r["eventName"] for r in records].count("INSERT") >= 3  # rule, change, audit
    answer = stream_handler.handle(runtime, {"Records": records})
    assert answer == {"batchItemFailures": []}
    assert open_connections() == {"bob-1="}
    # A redelivered batch (Lambda retries) closes nothing more and fails nothing.
    assert stream_handler.handle(runtime, {"Records": records}) == {"batchItemFailures": []}


def test_revoker_revoke_on_the_command_line_closes_the_connections_too(
    runtime: Runtime, moto_pool: MotoPool, tokens: dict[str, dict[str, str]]
) -> None:
    """`revoker revoke subject SUB --store dynamodb://…` with REVOKER_CONNECTIONS set runs the
    same hook as the revoke function: alice's connection closes, bob's stays."""
    from click.testing import CliRunner  # noqa: PLC0415

    from revoker.cli import main  # noqa: PLC0415

    connect(runtime, tokens["alice"]["AccessToken"], "alice-1=")
    connect(runtime, tokens["bob"]["AccessToken"], "bob-1=")
    result = CliRunner().invoke(
        main,
        [
            "revoke",
            "subject",
            moto_pool.subs["alice"],
            "--store",
            f"dynamodb://{RULES}?region={REGION}",
        ],
        env={"REVOKER_CONNECTIONS": f"dynamodb://{CONNECTIONS}?region={REGION}"},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert open_connections() == {"bob-1="}
