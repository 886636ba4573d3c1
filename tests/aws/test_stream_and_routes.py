"""The stream function's records and retries, and the WebSocket $connect/$disconnect routes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from revoker.aws import stream_handler, websocket_handler
from revoker.aws.closer import CloseReport
from revoker.aws.connections import Connection, MemoryConnectionStore
from revoker.aws.realtime import Realtime, RealtimeOutcome
from revoker.aws.runtime import Runtime
from revoker.core.errors import ConfigurationError, StoreError
from revoker.core.registry import RegistryLimits
from revoker.core.registry.rules import Rule, new_rule

from .conftest import T0, WS_CONNECTION, WS_ENDPOINT, websocket_route

LIMITS = RegistryLimits()


def change_record(
    rule: Rule, sequence: str, *, op: str = "add", pk: str = "change"
) -> dict[str, Any]:
    """A stream record of the revocation table, as Lambda delivers it (NEW_IMAGE)."""
    return {
        "eventID": f"e-{sequence}",
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "dynamodb": {
            "SequenceNumber": sequence,
            "NewImage": {
                "pk": {"S": pk},
                "sk": {"S": f"{int(sequence):020d}"},
                "op": {"S": op},
                "rule": {"S": json.dumps(rule.to_dict())},
            },
            "StreamViewType": "NEW_IMAGE",
        },
    }


class Recorder:
    """A Realtime stand-in: the rules applied, and whether each one worked."""

    def __init__(self, failing: set[str] | None = None) -> None:
        self.applied: list[str] = []
        self.failing = failing or set()

    def apply(self, rule: Rule) -> RealtimeOutcome:
        self.applied.append(rule.id)
        failed = (rule.id,) if rule.id in self.failing else ()
        return RealtimeOutcome(CloseReport(rule.id, failed=failed), None)

    def close(self) -> None:
        return None


def subject(value: str) -> Rule:
    return new_rule("subject", value, now=T0, limits=LIMITS, actor="test")


@pytest.fixture
def streaming(make_runtime: Callable[..., Runtime]) -> Callable[[Recorder], Runtime]:
    def runtime(recorder: Recorder) -> Runtime:
        made = make_runtime(REVOKER_CONNECTIONS="memory://")
        made.realtime = recorder  # type: ignore[assignment]
        return made

    return runtime


def test_each_new_rule_in_a_batch_is_applied_once(
    streaming: Callable[[Recorder], Runtime],
) -> None:
    """Change items of op add are applied; rule, audit and lift items are not."""
    recorder = Recorder()
    first, second = subject("a"), subject("b")
    records = [
        change_record(first, "1"),
        change_record(first, "2", pk="rule"),
        change_record(first, "3", pk="audit"),
        change_record(second, "4"),
        change_record(second, "5", op="lift"),
        {**change_record(second, "6"), "eventName": "MODIFY"},
    ]
    answer = stream_handler.handle(streaming(recorder), {"Records": records})
    assert answer == {"batchItemFailures": []}
    assert recorder.applied == [first.id, second.id]


def test_a_failure_reports_its_record_for_a_retry(
    streaming: Callable[[Recorder], Runtime],
) -> None:
    """The first record that failed is reported; Lambda retries from it (nothing after runs)."""
    first, second, third = subject("a"), subject("b"), subject("c")
    recorder = Recorder(failing={second.id})
    records = [change_record(rule, str(n)) for n, rule in enumerate((first, second, third), 1)]
    answer = stream_handler.handle(streaming(recorder), {"Records": records})
    assert answer == {"batchItemFailures": [{"itemIdentifier": "2"}]}
    assert recorder.applied == [first.id, second.id]


@pytest.mark.parametrize(
    "record",
    [
        pytest.param({}, id="empty"),
        pytest.param({"eventName": "INSERT"}, id="no-image"),
        pytest.param({"eventName": "INSERT", "dynamodb": {"NewImage": "x"}}, id="image-text"),
        pytest.param(
            {
                "eventName": "INSERT",
                "dynamodb": {"NewImage": {"pk": {"S": "change"}, "op": {"S": "add"}}},
            },
            id="no-rule",
        ),
        pytest.param(
            {
                "eventName": "INSERT",
                "dynamodb": {
                    "NewImage": {
                        "pk": {"S": "change"},
                        "op": {"S": "add"},
                        "rule": {"S": '{"kind": "nonsense"}'},
                    }
                },
            },
            id="bad-rule",
        ),
    ],
)
def test_an_unreadable_record_is_skipped(
    streaming: Callable[[Recorder], Runtime], record: dict[str, Any]
) -> None:
    """A record that can never succeed is logged and skipped, never retried forever."""
    recorder = Recorder()
    assert stream_handler.handle(streaming(recorder), {"Records": [record]}) == {
        "batchItemFailures": []
    }
    assert recorder.applied == []


def test_the_stream_function_needs_a_realtime_setting(runtime: Runtime) -> None:
    """Without REVOKER_CONNECTIONS or an AppSync URL it refuses to run (misconfiguration)."""
    with pytest.raises(ConfigurationError):
        stream_handler.handle(runtime, {"Records": []})


def test_a_realtime_outcome_is_ok_only_when_everything_worked() -> None:
    """A failed close or a refused AppSync invalidation makes the record fail."""
    assert RealtimeOutcome(None, None).ok
    assert RealtimeOutcome(CloseReport("r", gone=("x",)), True).ok
    assert not RealtimeOutcome(CloseReport("r", failed=("x",)), None).ok
    assert not RealtimeOutcome(None, False).ok
    assert isinstance(
        Realtime(connections=None, closer=None, invalidator=None).apply(subject("a")),
        RealtimeOutcome,
    )


# --- the routes ---------------------------------------------------------------------------


def connection(connection_id: str = WS_CONNECTION) -> Connection:
    return Connection(
        connection_id=connection_id,
        endpoint=WS_ENDPOINT,
        issuer="https://issuer.example",
        sub="user-1",
        iat=T0,
        exp=T0 + 3600,
        jti="j",
        connected_at=T0,
        expires_at=T0 + 7200,
    )


def test_connect_selects_the_marker_subprotocol(make_runtime: Callable[..., Runtime]) -> None:
    """A browser that offered subprotocols gets the marker back; never the token."""
    runtime = make_runtime(REVOKER_WEBSOCKET_TOKEN_SOURCES="protocol:bearer,header:authorization")
    offered = websocket_route(
        "CONNECT", WS_CONNECTION, **{"Sec-WebSocket-Protocol": "bearer, eyJx.y.z"}
    )
    assert websocket_handler.handle(runtime, offered) == {
        "statusCode": 200,
        "headers": {"Sec-WebSocket-Protocol": "bearer"},
    }
    assert websocket_handler.handle(runtime, websocket_route("CONNECT", WS_CONNECTION)) == {
        "statusCode": 200
    }


def test_connect_selects_nothing_without_a_protocol_source(
    make_runtime: Callable[..., Runtime],
) -> None:
    """With the token in a header, no subprotocol is selected."""
    runtime = make_runtime()
    offered = websocket_route("CONNECT", WS_CONNECTION, **{"Sec-WebSocket-Protocol": "bearer, x"})
    assert websocket_handler.handle(runtime, offered) == {"statusCode": 200}


def test_disconnect_removes_the_record(make_runtime: Callable[..., Runtime]) -> None:
    """$disconnect forgets the connection; a second one (or an unknown id) is fine."""
    runtime = make_runtime(REVOKER_CONNECTIONS="memory://")
    store = runtime.connections
    assert isinstance(store, MemoryConnectionStore)
    store.put(connection())
    store.put(connection("other="))
    event = websocket_route("DISCONNECT", WS_CONNECTION)
    assert websocket_handler.handle(runtime, event) == {"statusCode": 200}
    assert websocket_handler.handle(runtime, event) == {"statusCode": 200}
    assert store.get(WS_CONNECTION) is None
    assert store.get("other=") is not None


class BrokenStore(MemoryConnectionStore):
    def remove(self, connection_id: str) -> Connection | None:
        raise StoreError("the connections table could not forget a connection: Throttled")


def test_a_disconnect_that_cannot_remove_answers_500(
    make_runtime: Callable[..., Runtime],
) -> None:
    """The record then expires by TTL; the route says it failed."""
    runtime = make_runtime(REVOKER_CONNECTIONS="memory://")
    assert runtime.realtime is not None
    runtime.realtime.connections = BrokenStore()
    answer = websocket_handler.handle(runtime, websocket_route("DISCONNECT", WS_CONNECTION))
    assert answer == {"statusCode": 500}


@pytest.mark.parametrize(
    "event",
    [
        pytest.param([], id="not-an-object"),
        pytest.param({"requestContext": "x"}, id="context-text"),
        pytest.param({"requestContext": {"eventType": "MESSAGE"}}, id="a-message"),
    ],
)
def test_other_events_are_refused(runtime: Runtime, event: Any) -> None:
    """The function serves $connect and $disconnect only: anything else is a 400."""
    assert websocket_handler.handle(runtime, event) == {"statusCode": 400}
