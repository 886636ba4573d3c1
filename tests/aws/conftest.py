"""Fixtures for the AWS handlers: a runtime on a memory store and a frozen clock, and events.

Events are the real samples in ``../shared/fixtures/aws-events/`` (Powertools
and SAM CLI), loaded by path with the token substituted in.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from revoker.aws.clients import AwsClients
from revoker.aws.runtime import Runtime, build_runtime
from revoker.testing import TEST_AUDIENCE, TEST_ISSUER, FrozenClock, StaticJwksFetcher, TokenFactory
from shared_fixtures import FIXTURES, need_fixtures

T0 = 1_700_000_000.0
EVENTS = FIXTURES / "aws-events"
# The SAM CLI templates carry mustache placeholders; these are the values we fill in.
SAM_VALUES = {
    "partition": "aws",
    "region": "eu-west-1",
    "account_id": "123456789012",
    "restApiId": "a1b2c3d4e5",
    "stage": "prod",
    "method": "GET",
    "resource": "pets",
}

BASE_ENV = {
    "REVOKER_ISSUER": TEST_ISSUER,
    "REVOKER_AUDIENCE": TEST_AUDIENCE,
    "REVOKER_STORE": "memory://",
    "REVOKER_TOKEN_USE": "any",
}


class RecordingClient:
    """Records every method called on it, and answers nothing."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        def call(**_request: Any) -> dict[str, Any]:
            self.calls.append(name)
            return {}

        return call


def load_event(name: str) -> dict[str, Any]:
    """A fixture event by file name, SAM CLI placeholders filled in."""
    text = (need_fixtures() / "aws-events" / name).read_text(encoding="utf-8")
    for key, value in SAM_VALUES.items():
        text = text.replace("{{{" + key + "}}}", value)
    event: dict[str, Any] = json.loads(text)
    return event


def with_token(name: str, authorization: str | None) -> dict[str, Any]:
    """The fixture event ``name`` carrying ``authorization`` where its kind carries a token."""
    event = copy.deepcopy(load_event(name))
    if event.get("type") == "TOKEN":
        event["authorizationToken"] = authorization
        return event
    headers = {k: v for k, v in event.get("headers", {}).items() if k.lower() != "authorization"}
    if authorization is not None:
        headers["Authorization"] = authorization
    event["headers"] = headers
    return event


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def factory(clock: FrozenClock) -> TokenFactory:
    return TokenFactory(clock=clock)


@pytest.fixture
def fetcher(factory: TokenFactory) -> StaticJwksFetcher:
    return StaticJwksFetcher(factory.jwks())


@pytest.fixture
def make_runtime(
    clock: FrozenClock, fetcher: StaticJwksFetcher
) -> Iterator[Callable[..., Runtime]]:
    """Builds runtimes from an environment (BASE_ENV plus overrides) through build_runtime."""
    built: list[Runtime] = []

    def make(clients: AwsClients | None = None, **env: str) -> Runtime:
        runtime = build_runtime({**BASE_ENV, **env}, fetcher=fetcher, clock=clock, clients=clients)
        built.append(runtime)
        return runtime

    yield make
    for runtime in built:
        runtime.close()


@pytest.fixture
def runtime(make_runtime: Callable[..., Runtime]) -> Runtime:
    """A runtime with the defaults: IAM policies on the method ARN, no pass-through."""
    return make_runtime()


# --- WebSocket and AppSync events, moto's Cognito ------------------------------------------


def require_fixtures() -> None:
    """Skip without ../shared/fixtures (a checkout of its own); fail where they must be."""
    need_fixtures()


WS_CONNECT = "powertools__apiGatewayAuthorizerWebSocketEvent.json"
WS_ARN = "arn:aws:execute-api:us-east-1:533568316194:c5jwxq709g/production/$connect"
WS_ENDPOINT = "https://c5jwxq709g.execute-api.us-east-1.amazonaws.com/production"
WS_CONNECTION = "FDmBIeapIAMCIQg="
APPSYNC_EVENT = "powertools__appSyncAuthorizerEvent.json"
APPSYNC_RESPONSE = "powertools__appSyncAuthorizerResponse.json"


def websocket_connect(
    *,
    authorization: str | None = None,
    query: dict[str, str] | None = None,
    protocols: str | None = None,
    connection_id: str | None = None,
) -> dict[str, Any]:
    """The Powertools ``$connect`` authorizer event carrying a token where a test says."""
    require_fixtures()
    event = copy.deepcopy(load_event(WS_CONNECT))
    for name in ("headers", "multiValueHeaders"):
        event[name] = {k: v for k, v in event[name].items() if k.lower() != "authorization"}
    if authorization is not None:
        event["headers"]["Authorization"] = authorization
        event["multiValueHeaders"]["Authorization"] = [authorization]
    if protocols is not None:
        event["headers"]["Sec-WebSocket-Protocol"] = protocols
    event["queryStringParameters"] = dict(query or {})
    if connection_id is not None:
        event["requestContext"]["connectionId"] = connection_id
    return event


def websocket_route(kind: str, connection_id: str, **headers: str) -> dict[str, Any]:
    """A ``$connect`` or ``$disconnect`` route integration event (shape from the AWS docs)."""
    route = {"CONNECT": "$connect", "DISCONNECT": "$disconnect"}[kind]
    return {
        "headers": dict(headers),
        "requestContext": {
            "routeKey": route,
            "eventType": kind,
            "connectionId": connection_id,
            "stage": "production",
            "apiId": "c5jwxq709g",
            "domainName": "c5jwxq709g.execute-api.us-east-1.amazonaws.com",
            "disconnectStatusCode": 1000 if kind == "DISCONNECT" else None,
        },
        "isBase64Encoded": False,
    }


def appsync_event(authorization: Any) -> dict[str, Any]:
    """The Powertools AppSync authorizer event with ``authorizationToken`` replaced."""
    require_fixtures()
    event = copy.deepcopy(load_event(APPSYNC_EVENT))
    event["authorizationToken"] = authorization
    return event


@pytest.fixture
def aws() -> Iterator[None]:
    """moto's in-process AWS (Cognito, DynamoDB, the API Gateway Management API, …)."""
    with mock_aws():
        yield


@pytest.fixture
def moto_pool(aws: None) -> Any:
    """A moto Cognito user pool (``moto_cognito.MotoPool``); ``login(name)`` signs a user in."""
    from .moto_cognito import REGION, MotoPool  # noqa: PLC0415 - kept out of the shared imports

    return MotoPool.create(boto3.session.Session().client("cognito-idp", region_name=REGION))
