"""What the DynamoDB store does beyond the shared contract: schema, seq races, throttling, gaps.

moto's in-process DynamoDB is the only DynamoDB here; the shared contract
runs on it through ``tests/registry/backend_dynamodb.py``. These tests pin one log
shard, the layout whose keys and seqs they spell out; ``test_dynamodb_shards.py``
covers a table of several.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from revoker.core.clock import FrozenClock
from revoker.core.errors import ConfigurationError, StoreError
from revoker.core.registry import Registry, RegistryLimits, open_store
from revoker.core.registry.rules import Rule, new_rule
from revoker.core.registry.stores.dynamodb import (
    DynamoDBStore,
    create_table,
    dynamodb_client,
    open_dynamodb_store,
)

T0 = 1_700_000_000.0
TABLE = "revoker-test"
LIMITS = RegistryLimits()


def make(kind: str, value: str, **options: Any) -> Rule:
    return new_rule(kind, value, now=T0, limits=LIMITS, actor="test", **options)


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        client = dynamodb_client(region="us-east-1")
        create_table(client, TABLE)
        yield client


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class FlakyClient:
    """Delegates to a real client; the first transactions fail or race as told."""

    def __init__(self, inner: Any, failures: list[str], before_write: Any = None) -> None:
        self._inner = inner
        self._failures = list(failures)
        self._before_write = before_write
        self.transactions = 0

    def transact_write_items(self, **request: Any) -> Any:
        self.transactions += 1
        if self._before_write is not None:
            hook, self._before_write = self._before_write, None
            hook()
        if self._failures:
            code = self._failures.pop(0)
            raise ClientError(
                {"Error": {"Code": code, "Message": "slow down"}}, "TransactWriteItems"
            )
        return self._inner.transact_write_items(**request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_the_table_has_ttl_on_the_ttl_attribute(client: Any) -> None:
    """create_table (like the SAM template) switches DynamoDB TTL on for ``ttl``."""
    described = client.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]
    assert (described["TimeToLiveStatus"], described["AttributeName"]) == ("ENABLED", "ttl")


def test_items_follow_the_documented_schema(client: Any) -> None:
    """A rule item carries ttl = ceil(expires_at); a key rule none; change and audit by seq."""
    store = DynamoDBStore(client, TABLE, log_shards=1)
    expiring = make("token", "j-1", expires_at=T0 + 10.25)
    forever = make("key", "kid-1")
    store.add(expiring)
    store.add(forever)

    def item(pk: str, sk: str) -> dict[str, Any]:
        key = {"pk": {"S": pk}, "sk": {"S": sk}}
        found: dict[str, Any] = client.get_item(TableName=TABLE, Key=key)["Item"]
        return found

    assert item("head", "head")["seq"] == {"N": "2"}
    assert item("rule", expiring.id)["ttl"] == {"N": str(math.ceil(T0 + 10.25))}
    assert item("rule", expiring.id)["seq"] == {"N": "1"}
    assert "ttl" not in item("rule", forever.id)
    change = item("change", f"{1:020d}")
    assert (change["op"], change["ttl"]) == ({"S": "add"}, {"N": str(math.ceil(T0 + 3600))})
    audit = item("audit", f"{2:020d}")
    assert (audit["action"], audit["rule_id"], "ttl" in audit) == (
        {"S": "revoke"},
        {"S": forever.id},
        False,
    )


def test_two_containers_share_one_sequence(client: Any) -> None:
    """Stores in two processes on one table take turns on the seq; a replica sees both."""
    first, second = (DynamoDBStore(client, TABLE, log_shards=1) for _ in range(2))
    a, b, c = make("token", "a"), make("token", "b"), make("token", "c")
    assert [first.add(a), second.add(b), first.add(c)] == [1, 2, 3]
    registry = Registry(first, clock=FrozenClock(T0))
    registry.sync()
    assert registry.replica.rule_count == 3
    assert second.lift(a.id, actor="x", reason="", now=T0) == a
    registry.sync()  # by the change log this time, not a snapshot
    assert (registry.replica.seq, registry.replica.rule_count) == (4, 2)


def test_a_writer_that_lost_the_race_for_the_head_tries_again(client: Any) -> None:
    """Another process moving the head between our read and our write costs a retry, not a seq."""
    other = DynamoDBStore(client, TABLE, log_shards=1)
    racing = FlakyClient(client, [], before_write=lambda: other.add(make("token", "theirs")))
    store = DynamoDBStore(racing, TABLE, sleep=Sleeps(), log_shards=1)
    assert store.add(make("token", "ours")) == 2
    assert racing.transactions == 2
    changes = store.changes_since(0)
    assert changes is not None
    assert [c.rule.value for c in changes] == ["theirs", "ours"]


def test_each_attempt_carries_its_own_idempotency_token(client: Any) -> None:
    """A transaction whose answer was lost is sent again by botocore with the same
    ClientRequestToken, which DynamoDB applies once; a retry of ours after a lost head race
    is a new transaction with a token of its own."""
    tokens: list[str] = []
    other = DynamoDBStore(client, TABLE, log_shards=1)
    racing = FlakyClient(client, [], before_write=lambda: other.add(make("token", "theirs")))
    client.meta.events.register(
        "provide-client-params.dynamodb.TransactWriteItems",
        lambda params, **_: tokens.append(params["ClientRequestToken"]),
    )
    DynamoDBStore(racing, TABLE, sleep=Sleeps(), log_shards=1).add(make("token", "ours"))
    ours = tokens[1:]  # the first is the other store's own write
    assert len(ours) == 2
    assert len(set(ours)) == 2
    assert all(len(token) == 32 for token in ours)


@pytest.mark.parametrize(
    "code",
    [
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "TransactionConflictException",
    ],
)
def test_throttled_writes_back_off_and_retry(client: Any, code: str) -> None:
    """Throttling is retried with growing, jittered waits; the write then succeeds once."""
    sleeps = Sleeps()
    store = DynamoDBStore(
        FlakyClient(client, [code, code, code]), TABLE, sleep=sleeps, log_shards=1
    )
    assert store.add(make("token", "j")) == 1
    assert len(sleeps.waits) == 3
    assert all(0 <= w <= cap for w, cap in zip(sleeps.waits, [0.05, 0.1, 0.2], strict=True))


def test_writes_give_up_after_the_last_attempt(client: Any) -> None:
    """Throttled on every attempt: a StoreError (a 503), and nothing was written."""
    store = DynamoDBStore(
        FlakyClient(client, ["ThrottlingException"] * 3),
        TABLE,
        max_write_attempts=3,
        sleep=Sleeps(),
        log_shards=1,
    )
    with pytest.raises(StoreError, match="throttled"):
        store.add(make("token", "j"))
    assert DynamoDBStore(client, TABLE, log_shards=1).changes_since(0) == []


def test_other_errors_are_store_errors_naming_the_aws_code(client: Any) -> None:
    """A non-retryable AWS error becomes a StoreError with the code, at once."""
    sleeps = Sleeps()
    store = DynamoDBStore(FlakyClient(client, ["ValidationException"]), TABLE, sleep=sleeps)
    with pytest.raises(StoreError, match="ValidationException"):
        store.add(make("token", "j"))
    assert sleeps.waits == []
    with pytest.raises(StoreError, match="ResourceNotFoundException"):
        DynamoDBStore(client, "no-such-table").snapshot(T0)


def test_a_change_deleted_by_ttl_sends_readers_to_a_snapshot(client: Any) -> None:
    """TTL deletes in any order: a missing seq below the head makes changes_since say None."""
    store = DynamoDBStore(client, TABLE, log_shards=1)
    for value in "abcd":
        store.add(make("token", value))
    client.delete_item(TableName=TABLE, Key={"pk": {"S": "change"}, "sk": {"S": f"{2:020d}"}})
    assert store.changes_since(0) is None
    assert store.changes_since(1) is None
    changes = store.changes_since(2)
    assert changes is not None
    assert [c.seq for c in changes] == [3, 4]


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("dynamodb://", id="no-table"),
        pytest.param("dynamodb://a b", id="bad-name"),
        pytest.param("dynamodb://t1x?color=blue", id="unknown-option"),
        pytest.param("dynamodb://t1x?region=not%20a%20region", id="bad-region"),
        pytest.param("dynamodb://t1x?region=us-east-1&endpoint_url=nope", id="bad-endpoint"),
        pytest.param("dynamodb://t1x?region=us-east-1&log_shards=0", id="no-shards"),
        pytest.param("dynamodb://t1x?region=us-east-1&log_shards=65", id="too-many-shards"),
        pytest.param("dynamodb://t1x?region=us-east-1&log_shards=%C2%B2", id="not-a-number"),
    ],
)
def test_bad_store_urls_are_configuration_errors(url: str) -> None:
    """A malformed dynamodb:// URL is a one-line ConfigurationError."""
    with pytest.raises(ConfigurationError):
        open_dynamodb_store(url)


def test_open_store_maps_the_scheme(client: Any) -> None:
    """open_store('dynamodb://TABLE?region=…') opens a working store on that table."""
    store = open_store(f"dynamodb://{TABLE}?region=us-east-1&log_shards=1")
    assert isinstance(store, DynamoDBStore)
    assert store.add(make("subject", "user-1")) == 1
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.get("x")
