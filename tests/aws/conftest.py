"""Fixtures for the AWS handlers: a runtime on a memory store and a frozen clock, and events.

Events are the real samples in ``../shared/fixtures/aws-events/`` (Powertools
and SAM CLI), loaded by path with the token substituted in.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

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
