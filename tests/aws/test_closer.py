"""Closing matching connections: the replica's matching, DeleteConnection's exact request,
410 Gone as success, other errors reported.

moto's Management API answers DeleteConnection but never 410, so the requests
and the errors here go through botocore's ``Stubber`` or a recording fake; the
WebSocket lifecycle on moto is in ``test_websocket_lifecycle.py``.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from revoker.aws.clients import AwsClients
from revoker.aws.closer import ConnectionCloser, endpoint_region
from revoker.aws.connections import Connection, MemoryConnectionStore
from revoker.core.clock import FrozenClock
from revoker.core.errors import StoreError
from revoker.core.registry import RegistryLimits
from revoker.core.registry.rules import Rule, new_rule

T0 = 1_700_000_000.0
ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Pool"
OTHER = "https://login.example.com"
ENDPOINT = "https://c5jwxq709g.execute-api.us-east-1.amazonaws.com/production"
LIMITS = RegistryLimits()


def record(connection_id: str, **fields: Any) -> Connection:
    values: dict[str, Any] = {
        "connection_id": connection_id,
        "endpoint": ENDPOINT,
        "issuer": ISSUER,
        "sub": "alice",
        "iat": T0 - 100,
        "exp": T0 + 3500,
        "jti": f"jti-{connection_id}",
        "origin_jti": "family-1",
        "client_id": "app-1",
        "kid": "key-1",
        "email": "Alice@Example.com",
        "connected_at": T0 - 50,
        "expires_at": T0 + 7150,
        **fields,
    }
    return Connection(**values)


def rule(kind: str, value: str, **options: Any) -> Rule:
    return new_rule(kind, value, now=T0, limits=LIMITS, actor="test", **options)


class FakeManagement:
    """Records DeleteConnection calls; answers an AWS error for the ids in ``errors``."""

    def __init__(self, errors: dict[str, str] | None = None) -> None:
        self.deleted: list[str] = []
        self.errors = errors or {}
        self._lock = threading.Lock()

    def delete_connection(self, *, ConnectionId: str) -> dict[str, Any]:  # noqa: N803 - boto3's
        with self._lock:
            self.deleted.append(ConnectionId)
        code = self.errors.get(ConnectionId)
        if code is not None:
            raise ClientError({"Error": {"Code": code, "Message": "x"}}, "DeleteConnection")
        return {}


def closer_for(
    store: MemoryConnectionStore, client: Any, clock: FrozenClock | None = None
) -> ConnectionCloser:
    clients = AwsClients(ready={"apigatewaymanagementapi": client})
    return ConnectionCloser(store, clients=clients, clock=clock or FrozenClock(T0))


@pytest.mark.parametrize(
    ("revocation", "closed"),
    [
        pytest.param(rule("subject", "alice", cutoff=T0 - 100), True, id="subject-iat-at-cutoff"),
        pytest.param(rule("subject", "alice", cutoff=T0 - 101), False, id="subject-issued-after"),
        pytest.param(rule("subject", "bob", cutoff=T0), False, id="another-subject"),
        pytest.param(rule("subject", "alice", issuer=OTHER, cutoff=T0), False, id="other-scope"),
        pytest.param(rule("subject", "alice", issuer=ISSUER, cutoff=T0), True, id="own-scope"),
        pytest.param(rule("family", "family-1"), True, id="family"),
        pytest.param(rule("session", "s-1"), True, id="session"),
        pytest.param(rule("token", "jti-c="), True, id="token"),
        pytest.param(rule("token", "jti-other"), False, id="another-token"),
        pytest.param(rule("client", "app-1", cutoff=T0), True, id="client"),
        pytest.param(rule("email", "alice@example.com", cutoff=T0), True, id="email"),
        pytest.param(rule("email", "bob@example.com", cutoff=T0), False, id="another-email"),
        pytest.param(rule("key", "key-1"), True, id="key"),
        pytest.param(rule("key", "key-1", issuer=OTHER), False, id="key-other-issuer"),
        pytest.param(rule("issuer", ISSUER, cutoff=T0), True, id="issuer"),
        pytest.param(rule("issuer", OTHER, cutoff=T0), False, id="another-issuer"),
    ],
)
def test_a_rule_closes_a_connection_exactly_when_it_matches_its_token(
    revocation: Rule, closed: bool
) -> None:
    """Issuer scope, inclusive cut-offs on iat and every kind, as the replica matches."""
    store = MemoryConnectionStore()
    store.put(record("c=", sid="s-1"))
    client = FakeManagement()
    report = closer_for(store, client).close_matching(revocation)
    assert client.deleted == (["c="] if closed else [])
    assert report.closed == (("c=",) if closed else ())
    assert report.ok


def test_an_id_tokens_connection_is_matched_by_its_aud() -> None:
    """A client rule closes a connection opened with an ID token of that app client."""
    store = MemoryConnectionStore()
    store.put(record("id=", client_id=None, aud=("app-2",)))
    client = FakeManagement()
    closer_for(store, client).close_matching(rule("client", "app-2", cutoff=T0))
    assert client.deleted == ["id="]


def test_delete_connection_is_called_with_exactly_the_connection_id() -> None:
    """The Management API request, as botocore sends it (Stubber)."""
    client = boto3.session.Session().client(
        "apigatewaymanagementapi",
        region_name="us-east-1",
        endpoint_url=ENDPOINT,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    store = MemoryConnectionStore()
    store.put(record("FDmBIeapIAMCIQg="))
    with Stubber(client) as stubber:
        stubber.add_response("delete_connection", {}, {"ConnectionId": "FDmBIeapIAMCIQg="})
        report = closer_for(store, client).close_matching(rule("family", "family-1"))
        stubber.assert_no_pending_responses()
    assert report.closed == ("FDmBIeapIAMCIQg=",)


def test_a_connection_already_gone_is_not_a_failure() -> None:
    """410 GoneException (the client left first): counted as gone, the report is ok."""
    client = boto3.session.Session().client(
        "apigatewaymanagementapi",
        region_name="us-east-1",
        endpoint_url=ENDPOINT,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    store = MemoryConnectionStore()
    store.put(record("left="))
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "delete_connection",
            service_error_code="GoneException",
            http_status_code=410,
            expected_params={"ConnectionId": "left="},
        )
        report = closer_for(store, client).close_matching(rule("family", "family-1"))
    assert (report.closed, report.gone, report.failed, report.ok) == ((), ("left=",), (), True)


def test_closing_twice_is_harmless() -> None:
    """The second close of the same rule finds the connection gone: still ok."""
    store = MemoryConnectionStore()
    store.put(record("c="))
    client = FakeManagement()
    closer = closer_for(store, client)
    assert closer.close_matching(rule("family", "family-1")).closed == ("c=",)
    client.errors["c="] = "GoneException"
    again = closer.close_matching(rule("family", "family-1"))
    assert (again.gone, again.ok) == (("c=",), True)


def test_other_errors_are_reported_as_failures() -> None:
    """ForbiddenException (no permission): failed, the others still closed."""
    store = MemoryConnectionStore()
    for name in ("a=", "b=", "c="):
        store.put(record(name))
    client = FakeManagement(errors={"b=": "ForbiddenException"})
    report = closer_for(store, client).close_matching(rule("subject", "alice", cutoff=T0))
    assert sorted(client.deleted) == ["a=", "b=", "c="]
    assert (sorted(report.closed), report.failed, report.ok) == (["a=", "c="], ("b=",), False)


def test_an_expired_record_or_rule_closes_nothing() -> None:
    """A record past its TTL (DynamoDB deletes lazily) and an expired rule are skipped."""
    store = MemoryConnectionStore()
    store.put(record("old=", expires_at=T0 - 1))
    client = FakeManagement()
    closer_for(store, client).close_matching(rule("family", "family-1"))
    assert client.deleted == []
    store.put(record("new="))
    late = FrozenClock(T0)
    stale = rule("token", "jti-new=")
    assert stale.expires_at is not None
    late.now = stale.expires_at + 1
    closer_for(store, client, late).close_matching(stale)
    assert client.deleted == []


def test_each_connection_is_closed_at_its_own_stages_endpoint() -> None:
    """The Management API client is made for the record's endpoint and region."""
    made: list[tuple[str, str | None, str | None]] = []

    class Clients(AwsClients):
        def get(
            self, service: str, *, endpoint_url: str | None = None, region: str | None = None
        ) -> Any:
            made.append((service, endpoint_url, region))
            return FakeManagement()

    store = MemoryConnectionStore()
    eu = "https://abc123defg.execute-api.eu-west-1.amazonaws.com/prod"
    store.put(record("eu=", endpoint=eu))
    ConnectionCloser(store, clients=Clients(), clock=FrozenClock(T0)).close_matching(
        rule("family", "family-1")
    )
    assert made == [("apigatewaymanagementapi", eu, "eu-west-1")]
    assert endpoint_region("https://example.com/prod") is None


class UnreadableStore(MemoryConnectionStore):
    def candidates(self, rule: Rule) -> Any:
        raise StoreError("the connections table could not find connections: Throttled")


def test_records_that_cannot_be_read_make_a_failed_report() -> None:
    """A table error is not raised through the hook: the report says so (the stream retries)."""
    report = closer_for(UnreadableStore(), FakeManagement()).close_matching(rule("key", "k"))
    assert (report.ok, report.error, report.closed) == (False, "store_error", ())
