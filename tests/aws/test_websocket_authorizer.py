"""The WebSocket ``$connect`` authorizer: the Powertools fixture, moto's Cognito tokens."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revoker.aws.connections import Connection, MemoryConnectionStore
from revoker.aws.lambda_authorizer import AuthorizerUnavailable, Unauthorized, authorize
from revoker.aws.runtime import Runtime, build_runtime
from revoker.core.errors import StoreError
from revoker.core.registry.rules import new_rule
from revoker.core.tokens import parse_unverified
from revoker.testing import FrozenClock

from .conftest import WS_ARN, WS_CONNECTION, WS_ENDPOINT, websocket_connect, with_token
from .moto_cognito import MotoJwksFetcher, MotoPool, clock_after

CONNECTIONS = {"REVOKER_CONNECTIONS": "memory://"}


def allow(sub: str, context: dict[str, str]) -> dict[str, Any]:
    """The exact answer to an allowed $connect: an IAM policy for that route."""
    return {
        "principalId": sub,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": WS_ARN}],
        },
        "context": context,
    }


@pytest.fixture
def alice(moto_pool: MotoPool) -> dict[str, str]:
    return moto_pool.login("alice")


@pytest.fixture
def clock(alice: dict[str, str]) -> FrozenClock:
    return clock_after(alice["AccessToken"], alice["IdToken"])


@pytest.fixture
def make(moto_pool: MotoPool, clock: FrozenClock) -> Callable[..., Runtime]:
    """A runtime trusting the moto pool, on the frozen clock; environment overrides."""
    built: list[Runtime] = []

    def runtime(**env: str) -> Runtime:
        made = build_runtime(
            moto_pool.env(**CONNECTIONS, **env), fetcher=MotoJwksFetcher(), clock=clock
        )
        built.append(made)
        return made

    yield runtime  # type: ignore[misc]
    for made in built:
        made.close()


def records(runtime: Runtime) -> MemoryConnectionStore:
    store = runtime.connections
    assert isinstance(store, MemoryConnectionStore)
    return store


def test_an_access_token_opens_the_connection_and_records_it(
    make: Callable[..., Runtime], moto_pool: MotoPool, alice: dict[str, str], clock: FrozenClock
) -> None:
    """Allowed: the $connect route's policy, the identity as context, and the record."""
    runtime = make()
    token = alice["AccessToken"]
    answer = authorize(runtime, websocket_connect(authorization=f"Bearer {token}"))
    sub = moto_pool.subs["alice"]
    assert answer == allow(
        sub,
        {
            "sub": sub,
            "username": "alice",
            "groups": "staff",
            "scope": "aws.cognito.signin.user.admin",
            "client_id": moto_pool.client_id,
            "token_use": "access",
        },
    )
    claims = parse_unverified(token).claims
    assert records(runtime).get(WS_CONNECTION) == Connection(
        connection_id=WS_CONNECTION,
        endpoint=WS_ENDPOINT,
        issuer=moto_pool.issuer,
        sub=sub,
        iat=claims["iat"],
        exp=claims["exp"],
        jti=claims["jti"],
        origin_jti=claims["origin_jti"],
        client_id=moto_pool.client_id,
        kid="dummy",
        connected_at=clock(),
        expires_at=clock() + 7200,
    )


def test_an_id_token_records_its_audience(
    make: Callable[..., Runtime], moto_pool: MotoPool, alice: dict[str, str]
) -> None:
    """An ID token (aud, no client_id) connects too; its record keeps the aud."""
    runtime = make()
    answer = authorize(runtime, websocket_connect(authorization=alice["IdToken"]))
    assert answer["context"]["token_use"] == "id"
    record = records(runtime).get(WS_CONNECTION)
    assert record is not None
    assert (record.client_id, record.aud) == (None, (moto_pool.client_id,))


@pytest.mark.parametrize(
    ("sources", "place"),
    [
        pytest.param("header:authorization", "header", id="header"),
        pytest.param("header:X-Token", "x-token", id="custom-header"),
        pytest.param("query:access_token", "query", id="query"),
        pytest.param("protocol:bearer", "protocol", id="protocol"),
        pytest.param("protocol:bearer,query:access_token", "query", id="second-source"),
    ],
)
def test_the_token_comes_from_each_configured_source(
    make: Callable[..., Runtime], alice: dict[str, str], sources: str, place: str
) -> None:
    """A header, a query parameter or the Sec-WebSocket-Protocol entry after the marker."""
    runtime = make(REVOKER_WEBSOCKET_TOKEN_SOURCES=sources)
    token = alice["AccessToken"]
    if place == "header":
        event = websocket_connect(authorization=f"Bearer {token}")
    elif place == "x-token":
        event = websocket_connect()
        event["headers"]["x-TOKEN"] = token
    elif place == "query":
        event = websocket_connect(query={"access_token": token})
    else:
        event = websocket_connect(protocols=f"chat.v1, bearer, {token}")
    assert authorize(runtime, event)["policyDocument"]["Statement"][0]["Resource"] == WS_ARN
    assert len(records(runtime)) == 1


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(lambda t: websocket_connect(query={"access_token": t}), id="query-not-on"),
        pytest.param(lambda t: websocket_connect(protocols=f"bearer, {t}"), id="protocol-not-on"),
        pytest.param(lambda t: websocket_connect(), id="no-token"),
        pytest.param(lambda t: websocket_connect(authorization="Leo"), id="fixture-garbage"),
        pytest.param(lambda t: websocket_connect(authorization=f"Basic {t}"), id="basic"),
    ],
)
def test_no_usable_token_is_unauthorized(
    make: Callable[..., Runtime], alice: dict[str, str], event: Callable[[str], Any]
) -> None:
    """A source that is not configured is not read; no token, or a bad one, is a 401."""
    runtime = make()
    with pytest.raises(Unauthorized):
        authorize(runtime, event(alice["AccessToken"]))
    assert len(records(runtime)) == 0


def test_the_protocol_entry_must_follow_the_marker(
    make: Callable[..., Runtime], alice: dict[str, str]
) -> None:
    """The marker alone, or the token before it, carries no token."""
    runtime = make(REVOKER_WEBSOCKET_TOKEN_SOURCES="protocol:bearer")
    token = alice["AccessToken"]
    for offered in ("bearer", f"{token}, bearer", "chat.v1"):
        with pytest.raises(Unauthorized):
            authorize(runtime, websocket_connect(protocols=offered))


@pytest.mark.parametrize(
    "reason",
    [
        "expired",
        "wrong_audience",
        "wrong_issuer",
        "revoked_family",
        "revoked_subject",
        "revoked_token",
        "revoked_client",
        "revoked_issuer",
    ],
)
def test_each_denial_is_unauthorized_and_records_nothing(
    make: Callable[..., Runtime],
    moto_pool: MotoPool,
    alice: dict[str, str],
    clock: FrozenClock,
    reason: str,
) -> None:
    """Expired, another client or pool, or revoked by any rule kind: 401, no record."""
    runtime = make()
    token = alice["AccessToken"]
    claims = parse_unverified(token).claims
    if reason == "expired":
        clock.now = claims["exp"] + 6
    elif reason == "wrong_audience":
        runtime = make(REVOKER_AUDIENCE="someone-else")
    elif reason == "wrong_issuer":
        other = MotoPool.create(moto_pool.client, "other-pool")
        runtime = make(REVOKER_ISSUER=other.issuer)
    else:
        kind = reason.removeprefix("revoked_")
        value = {
            "family": claims["origin_jti"],
            "subject": claims["sub"],
            "token": claims["jti"],
            "client": moto_pool.client_id,
            "issuer": moto_pool.issuer,
        }[kind]
        runtime.registry.revoke(kind, value, actor="test")
    event = websocket_connect(authorization=f"Bearer {token}")
    with pytest.raises(Unauthorized) as raised:
        authorize(runtime, event)
    assert str(raised.value) == "Unauthorized"
    assert runtime.authorizer.check(token).reason == reason
    assert len(records(runtime)) == 0


def test_a_rule_stored_since_the_last_sync_denies_the_connection(
    make: Callable[..., Runtime], alice: dict[str, str], clock: FrozenClock
) -> None:
    """The record is written, the replica synced at once and the token checked again: a
    rule another container stored half a second ago (a REST check would not see it yet)
    denies the connection, and its record is removed."""
    runtime = make()
    token = alice["AccessToken"]
    rest = with_token("samcli__ApiGatewayAuthorizer.template.json", f"Bearer {token}")
    assert authorize(runtime, rest)["principalId"]  # synced now
    sub = parse_unverified(token).claims["sub"]
    elsewhere = new_rule("subject", sub, now=clock(), limits=runtime.registry.limits, actor="x")
    runtime.registry.store.add(elsewhere)
    clock.advance(0.5)
    assert authorize(runtime, rest)["principalId"]  # within REVOKER_SYNC_MAX_AGE: not seen
    with pytest.raises(Unauthorized):
        authorize(runtime, websocket_connect(authorization=token))
    assert len(records(runtime)) == 0


class FailingStore(MemoryConnectionStore):
    def put(self, connection: Connection) -> None:
        raise StoreError("the connections table could not record a connection: Throttled")


def test_a_connection_that_cannot_be_recorded_is_an_outage(
    make: Callable[..., Runtime], alice: dict[str, str]
) -> None:
    """Never an unrecorded allow: the record's failure raises AuthorizerUnavailable (500)."""
    runtime = make()
    assert runtime.realtime is not None
    runtime.realtime.connections = FailingStore()
    with pytest.raises(AuthorizerUnavailable) as raised:
        authorize(runtime, websocket_connect(authorization=alice["AccessToken"]))
    assert raised.value.reason == "connections_unavailable"


def test_a_sync_that_fails_after_recording_is_an_outage(
    make: Callable[..., Runtime], alice: dict[str, str]
) -> None:
    """The record is removed again and the connection refused with a 500, not allowed."""
    runtime = make()
    authorize(runtime, websocket_connect(authorization=alice["AccessToken"], connection_id="a="))
    runtime.registry.store.close()  # unreachable from now on
    with pytest.raises(AuthorizerUnavailable) as raised:
        authorize(runtime, websocket_connect(authorization=alice["AccessToken"]))
    assert raised.value.reason == "registry_stale"
    assert records(runtime).get(WS_CONNECTION) is None


def test_without_a_connections_store_the_connection_is_allowed_unrecorded(
    moto_pool: MotoPool, alice: dict[str, str], clock: FrozenClock
) -> None:
    """REVOKER_CONNECTIONS unset: the $connect is authorized as before, nothing recorded."""
    runtime = build_runtime(moto_pool.env(), fetcher=MotoJwksFetcher(), clock=clock)
    try:
        answer = authorize(runtime, websocket_connect(authorization=alice["AccessToken"]))
        assert answer["policyDocument"]["Statement"][0]["Resource"] == WS_ARN
        assert runtime.connections is None
    finally:
        runtime.close()


def _drop(path: tuple[str, ...]) -> Callable[[dict[str, Any]], None]:
    def mutate(event: dict[str, Any]) -> None:
        target = event
        for part in path[:-1]:
            target = target[part]
        del target[path[-1]]

    return mutate


def _set(path: tuple[str, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(event: dict[str, Any]) -> None:
        target = event
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return mutate


MALFORMED = [
    pytest.param(_drop(("requestContext", "connectionId")), id="no-connection-id"),
    pytest.param(_set(("requestContext", "connectionId"), 42), id="connection-id-number"),
    pytest.param(_set(("requestContext", "connectionId"), "a b"), id="connection-id-space"),
    pytest.param(_set(("requestContext", "connectionId"), ""), id="connection-id-empty"),
    pytest.param(_set(("requestContext",), "CONNECT"), id="context-not-object"),
    pytest.param(_drop(("methodArn",)), id="no-method-arn"),
    pytest.param(_set(("methodArn",), "arn:aws:execute-api:us-east-1:1:x/p/$connect"), id="arn"),
    pytest.param(_set(("methodArn",), WS_ARN.replace("$connect", "$default")), id="not-connect"),
    pytest.param(_set(("requestContext", "apiId"), "otherapi99"), id="another-api"),
    pytest.param(_set(("requestContext", "stage"), "beta"), id="another-stage"),
    pytest.param(_set(("requestContext", "routeKey"), "$default"), id="route-default"),
    pytest.param(_set(("requestContext", "eventType"), "MESSAGE"), id="event-message"),
    pytest.param(_set(("headers",), ["Authorization"]), id="headers-list"),
]


@pytest.mark.parametrize("mutate", MALFORMED)
def test_a_malformed_event_with_a_valid_token_is_unauthorized(
    make: Callable[..., Runtime], alice: dict[str, str], mutate: Callable[[dict[str, Any]], None]
) -> None:
    """An event whose connection cannot be read never allows, and raises only Unauthorized."""
    runtime = make()
    event = websocket_connect(authorization=f"Bearer {alice['AccessToken']}")
    mutate(event)
    with pytest.raises(Exception, match=r"^Unauthorized$") as raised:
        authorize(runtime, event)
    assert type(raised.value) is Unauthorized
    assert len(records(runtime)) == 0


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_one_change_to_the_event_never_allows_an_unrecorded_connection(
    make: Callable[..., Runtime], alice: dict[str, str], data: st.DataObject
) -> None:
    """Replace or drop any one part of a valid $connect (``type`` aside): the answer is an
    allow whose connection was recorded, or exactly Unauthorized; nothing else is raised."""
    runtime = make()
    store = records(runtime)
    template = websocket_connect(authorization=f"Bearer {alice['AccessToken']}")
    paths = [path for path in _paths(template) if path != ("type",)]
    path = data.draw(st.sampled_from(paths))
    event = copy.deepcopy(template)
    target = event
    for part in path[:-1]:
        target = target[part]
    if data.draw(st.booleans()):
        target[path[-1]] = data.draw(JSON)
    elif isinstance(target, dict):
        del target[path[-1]]
    try:
        answer = authorize(runtime, event)
    except Unauthorized:
        return
    connection_id = event["requestContext"]["connectionId"]
    assert answer["policyDocument"]["Statement"][0]["Resource"] == event["methodArn"]
    assert store.get(connection_id) is not None
    store.remove(connection_id)
