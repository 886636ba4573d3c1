"""Connection records: the DynamoDB store on moto, the memory store, what a record keeps."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from revoker.aws.authorizer_event import WebSocketConnect
from revoker.aws.connections import Connection, MemoryConnectionStore, open_connection_store
from revoker.aws.connections_dynamodb import DynamoDBConnectionStore, lookup_key
from revoker.core.errors import ConfigurationError, StoreError
from revoker.core.registry import RegistryLimits
from revoker.core.registry.rules import RuleKind, new_rule, signed_part_sha256
from revoker.core.registry.stores.dynamodb import create_table, dynamodb_client
from revoker.core.verify import VerifiedToken

T0 = 1_700_000_000.0
TABLE = "revoker-connections"
ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Pool"
ENDPOINT = "https://c5jwxq709g.execute-api.us-east-1.amazonaws.com/production"
LIMITS = RegistryLimits()


def record(connection_id: str = "conn-1=", **fields: Any) -> Connection:
    values: dict[str, Any] = {
        "connection_id": connection_id,
        "endpoint": ENDPOINT,
        "issuer": ISSUER,
        "sub": "user-1",
        "iat": T0 - 60,
        "exp": T0 + 3540,
        "jti": f"jti-{connection_id}",
        "origin_jti": "family-1",
        "connected_at": T0,
        "expires_at": T0 + 7200,
        **fields,
    }
    return Connection(**values)


def rule(kind: str, value: str, **options: Any) -> Any:
    return new_rule(kind, value, now=T0, limits=LIMITS, actor="test", **options)


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        client = dynamodb_client(region="us-east-1")
        create_table(client, TABLE)
        yield client


@pytest.fixture
def store(client: Any) -> DynamoDBConnectionStore:
    return DynamoDBConnectionStore(client, TABLE)


def test_a_record_is_kept_whole_and_found_by_id(store: DynamoDBConnectionStore) -> None:
    """Every field round-trips, the aud list, the email and a missing sid included."""
    connection = record(
        client_id=None, aud=("app-1", "app-2"), kid="key-1", sid=None, email="a@example.com"
    )
    store.put(connection)
    assert store.get("conn-1=") == connection
    assert store.get("another=") is None


def test_one_transaction_writes_the_record_and_its_lookups(
    client: Any, store: DynamoDBConnectionStore
) -> None:
    """The record under connection#id and one item per lookup value, each with the TTL."""
    store.put(record(sid="session-1"))
    items = client.scan(TableName=TABLE)["Items"]
    keys = sorted((item["pk"]["S"], item["sk"]["S"]) for item in items)
    assert keys == sorted(
        [
            ("connection#conn-1=", "#"),
            (lookup_key(RuleKind.TOKEN, "jti-conn-1="), "conn-1="),
            (lookup_key(RuleKind.FAMILY, "family-1"), "conn-1="),
            (lookup_key(RuleKind.SESSION, "session-1"), "conn-1="),
            (lookup_key(RuleKind.SUBJECT, "user-1"), "conn-1="),
        ]
    )
    assert {item["ttl"]["N"] for item in items} == {str(int(T0 + 7200))}


def test_a_lookup_rule_reads_only_its_partition(store: DynamoDBConnectionStore) -> None:
    """A subject rule finds that subject's connections, not another's."""
    store.put(record("a=", sub="alice"))
    store.put(record("b=", sub="bob"))
    store.put(record("c=", sub="alice"))
    found = {c.connection_id for c in store.candidates(rule("subject", "alice"))}
    assert found == {"a=", "c="}
    assert {c.connection_id for c in store.candidates(rule("family", "family-1"))} == {
        "a=",
        "b=",
        "c=",
    }
    assert list(store.candidates(rule("session", "none"))) == []


@pytest.mark.parametrize("kind", ["client", "key", "issuer"])
def test_a_client_key_or_issuer_rule_reads_every_record_once(
    store: DynamoDBConnectionStore, kind: str
) -> None:
    """The rare kinds scan the records (not the lookups): each connection appears once."""
    for name in ("a=", "b=", "c="):
        store.put(record(name))
    value = ISSUER if kind == "issuer" else "x"
    options = {"cutoff": T0} if kind != "key" else {}
    found = [c.connection_id for c in store.candidates(rule(kind, value, **options))]
    assert sorted(found) == ["a=", "b=", "c="]


def test_scanning_follows_pages(client: Any) -> None:
    """More records than one page: the scan reads them all."""
    store = DynamoDBConnectionStore(PagedClient(client, page=2), TABLE)
    for n in range(5):
        store.put(record(f"c{n}="))
    assert len(list(store.candidates(rule("key", "k")))) == 5


class PagedClient:
    """Delegates to a real client, cutting every scan and query to ``page`` items."""

    def __init__(self, inner: Any, page: int) -> None:
        self._inner, self._page = inner, page

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._inner, name)
        if name not in ("scan", "query"):
            return call
        return lambda **request: call(Limit=self._page, **request)


def test_remove_deletes_the_record_and_every_lookup(
    client: Any, store: DynamoDBConnectionStore
) -> None:
    """After a disconnect nothing of the connection is left; a second remove is a no-op."""
    store.put(record(sid="s"))
    store.put(record("other="))
    assert store.remove("conn-1=") == record(sid="s")
    keys = {item["sk"]["S"] for item in client.scan(TableName=TABLE)["Items"]}
    assert "conn-1=" not in keys
    assert store.remove("conn-1=") is None
    assert store.get("other=") is not None


def test_a_malformed_item_is_skipped_not_fatal(client: Any, store: DynamoDBConnectionStore) -> None:
    """One item someone edited by hand does not keep the other connections open."""
    store.put(record("good="))
    client.put_item(TableName=TABLE, Item={"pk": {"S": "connection#bad="}, "sk": {"S": "#"}})
    assert [c.connection_id for c in store.candidates(rule("key", "k"))] == ["good="]


def test_a_table_error_is_a_store_error(client: Any) -> None:
    """A missing table (or any AWS error) becomes StoreError naming the AWS error code."""
    store = DynamoDBConnectionStore(client, "no-such-table")
    with pytest.raises(StoreError, match="ResourceNotFoundException"):
        store.put(record())


def test_open_connection_store_reads_the_url() -> None:
    """memory:// and dynamodb://TABLE?region=…; anything else is a configuration error."""
    assert isinstance(open_connection_store("memory://"), MemoryConnectionStore)
    with mock_aws():
        store = open_connection_store("dynamodb://my-connections?region=eu-west-1")
        assert isinstance(store, DynamoDBConnectionStore)
        assert store.table == "my-connections"
        store.close()
    for url in ("redis://x", "dynamodb://a", "dynamodb://table?color=red", "nothing"):
        with pytest.raises(ConfigurationError):
            open_connection_store(url)


def test_a_record_keeps_what_the_token_rule_names() -> None:
    """A token without a jti is recorded by its signed part's SHA-256, as a token rule is."""
    raw = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln"
    token = VerifiedToken(
        raw=raw,
        header={"alg": "RS256", "kid": "k"},
        claims={"iss": ISSUER, "sub": "u", "iat": T0, "exp": T0 + 60, "client_id": "app"},
    )
    connect = WebSocketConnect("id=", "api", "prod", "us-east-1", ENDPOINT)
    opened = Connection.opened(token, connect, now=T0, max_connection_seconds=7200)
    assert opened.jti == signed_part_sha256(raw)
    assert opened.expires_at == T0 + 7200  # the connection's limit, not the token's exp
    assert opened.claims() == {
        "iss": ISSUER,
        "iat": T0,
        "jti": signed_part_sha256(raw),
        "sub": "u",
        "client_id": "app",
    }
    assert opened.header() == {"kid": "k"}
