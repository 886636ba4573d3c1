"""The lookup mode: the same decisions as a replica of the same table, at one BatchGetItem a
new token, with each answer cached no longer than REVOKER_SYNC_MAX_AGE.

moto's in-process DynamoDB throughout; calls are counted through the boto3 client's
own event hooks (``before-call.dynamodb.<Operation>``).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from revoker.aws.lambda_authorizer import Unauthorized, authorize
from revoker.aws.runtime import Runtime
from revoker.core.clock import FrozenClock
from revoker.core.errors import RegistryStale
from revoker.core.registry import Registry, RegistryLimits
from revoker.core.registry.rules import Rule, RuleKind, new_rule
from revoker.core.registry.stores._dynamodb_keys import candidate_keys, lookup_pk
from revoker.core.registry.stores._dynamodb_lookup import DynamoDBLookup
from revoker.core.registry.stores.dynamodb import (
    LOOKUP_READY_SETTING,
    DynamoDBStore,
    create_table,
    dynamodb_client,
)
from revoker.testing import TokenFactory

from .conftest import with_token

T0 = 1_700_000_000.0
LIMITS = RegistryLimits()
ISSUERS = ("https://issuer-a", "https://issuer-b")
VALUES = ("v1", "v2", "V3@Example.COM")
V2_EVENT = "powertools__apiGatewayAuthorizerV2Event.json"
_tables = itertools.count()


class Calls:
    """Counts the DynamoDB operations a client makes (and what each Query asked for)."""

    def __init__(self, client: Any) -> None:
        self.counts: Counter[str] = Counter()
        self.query_partitions: list[str] = []
        client.meta.events.register("before-call.dynamodb", self._record)

    def _record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.counts[model.name] += 1
        if model.name == "Query":
            self.query_partitions.append(params["ExpressionAttributeValues"][":pk"]["S"])

    def reset(self) -> None:
        self.counts.clear()
        self.query_partitions.clear()


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        yield dynamodb_client(region="us-east-1")


def new_table(client: Any) -> DynamoDBStore:
    table = f"revoker-lookup-{next(_tables)}"
    create_table(client, table)
    return DynamoDBStore(client, table, sleep=lambda _seconds: None)


def rule(kind: str, value: str, *, now: float = T0, **options: Any) -> Rule:
    return new_rule(kind, value, now=now, limits=LIMITS, actor="test", **options)


def lookup_on(store: DynamoDBStore, clock: FrozenClock, **options: Any) -> DynamoDBLookup:
    lookup = DynamoDBLookup(store, clock=clock, max_age_seconds=1.0, **options)
    lookup.sync()
    return lookup


# -- the same decisions --------------------------------------------------------------

CUTOFF_KINDS = {"subject", "client", "issuer", "email"}


@st.composite
def rules(draw: st.DrawFn, created: float) -> Rule:
    kind = draw(st.sampled_from([k.value for k in RuleKind]))
    value = draw(st.sampled_from(ISSUERS if kind == "issuer" else VALUES))
    if kind == "email":
        value = value.lower()
    scopes = (None, value) if kind == "issuer" else (None, *ISSUERS)
    options: dict[str, Any] = {"issuer": draw(st.sampled_from(scopes))}
    expired = kind != "key" and draw(st.booleans())
    if expired:  # written long ago, expired a second before the checks
        created -= 5000
        options["expires_at"] = T0 - 1
    if kind in CUTOFF_KINDS:
        options["cutoff"] = created + draw(st.sampled_from([-100, 0, 100]))
    return rule(kind, value, now=created, **options)


# Written a millisecond apart, so the oldest rule matching first is the same in both.
TABLES = st.integers(0, 14).flatmap(
    lambda size: st.tuples(*(rules(T0 + n / 1000) for n in range(size)))
)


@st.composite
def tokens(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any], str]:
    maybe = st.one_of(st.none(), st.sampled_from(VALUES))
    claims: dict[str, Any] = {
        "iss": draw(st.sampled_from(ISSUERS)),
        "iat": T0 + draw(st.sampled_from([-200, -100, 0, 50, 100, 200])),
    }
    for name in ("jti", "origin_jti", "sid", "sub", "client_id", "email"):
        value = draw(maybe)
        if value is not None:
            claims[name] = value
    aud = draw(st.one_of(st.none(), st.sampled_from(VALUES), st.lists(st.sampled_from(VALUES))))
    if aud is not None:
        claims["aud"] = aud
    kid = draw(maybe)
    header = {} if kid is None else {"kid": kid}
    return claims, header, "eyJh.eyJi.c2ln"


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    added=TABLES,
    lifted=st.sets(st.integers(min_value=0, max_value=13)),
    checks=st.lists(tokens(), min_size=8, max_size=32),
)
def test_lookup_decides_as_the_replica_on_the_same_table(
    client: Any,
    added: tuple[Rule, ...],
    lifted: set[int],
    checks: list[tuple[dict[str, Any], dict[str, Any], str]],
) -> None:
    """Every kind, scoped and unscoped, cut-offs on both sides, expired rules, adds and lifts:
    the lookup and the full replica revoke the same tokens with the same rule."""
    store = new_table(client)
    clock = FrozenClock(T0)
    for position, item in enumerate(added):
        store.add(item)
        if position in lifted:
            store.lift(item.id, actor="test", reason="", now=T0)
    registry = Registry(store, clock=clock)
    registry.sync()
    lookup = lookup_on(store, clock)
    for claims, header, raw in checks:
        expected = registry.replica.match(claims, header, raw)
        found = lookup.match(claims, header, raw)
        assert (found and found.id) == (expected and expected.id), (claims, header)


def test_rules_added_and_lifted_after_a_check_count_once_the_cache_ages(client: Any) -> None:
    """A rule another writer adds is found once the answer is older than the bound; a lift too."""
    store = new_table(client)
    clock = FrozenClock(T0)
    lookup = lookup_on(store, clock)
    claims = {"iss": ISSUERS[0], "sub": "user-1", "iat": T0 - 10}
    assert lookup.match(claims, {}, "raw") is None
    subject = rule("subject", "user-1", cutoff=T0, issuer=ISSUERS[0])
    store.add(subject)
    clock.advance(1.0)
    assert lookup.match(claims, {}, "raw") is None  # the answer is 1 s old: still served
    clock.advance(0.01)
    assert lookup.match(claims, {}, "raw") == subject
    store.lift(subject.id, actor="test", reason="", now=clock())
    clock.advance(1.01)
    assert lookup.match(claims, {}, "raw") is None


# -- what a check costs ----------------------------------------------------------------


def test_a_new_token_costs_one_batch_get_and_a_repeated_one_nothing(client: Any) -> None:
    """One BatchGetItem for a new token's ~16 keys; the same token within the bound: none."""
    store = new_table(client)
    store.add(rule("family", "fam-1"))
    clock = FrozenClock(T0)
    lookup = lookup_on(store, clock)
    calls = Calls(client)
    claims = {
        "iss": ISSUERS[0],
        "sub": "u",
        "sid": "s",
        "jti": "j",
        "origin_jti": "fam-1",
        "client_id": "c",
        "email": "A@B.C",
        "iat": T0,
    }
    header = {"kid": "k"}
    assert lookup.match(claims, header, "raw") is not None
    assert calls.counts == Counter({"BatchGetItem": 1})
    assert len(candidate_keys(claims, header, "raw")) == 16
    calls.reset()
    clock.advance(0.5)
    lookup.match(claims, header, "raw")
    assert calls.counts == Counter()


def test_a_token_with_a_long_audience_list_stays_within_the_key_limit(client: Any) -> None:
    """BatchGetItem takes 100 keys: a token naming 60 audiences is looked up in two requests,
    and a rule on the last audience still revokes it."""
    store = new_table(client)
    store.add(rule("client", "aud-59", cutoff=T0))
    lookup = lookup_on(store, FrozenClock(T0))
    calls = Calls(client)
    claims = {"iss": ISSUERS[0], "aud": [f"aud-{n}" for n in range(60)], "iat": T0}
    found = lookup.match(claims, {}, "raw")
    assert found is not None
    assert found.value == "aud-59"
    assert calls.counts == Counter({"BatchGetItem": 2})


# -- staleness ---------------------------------------------------------------------------------


class BrokenLookups:
    """A client whose BatchGetItem fails while ``broken``; everything else goes through."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.broken = False

    def batch_get_item(self, **request: Any) -> Any:
        if self.broken:
            raise ClientError({"Error": {"Code": "ThrottlingException"}}, "BatchGetItem")
        return self._inner.batch_get_item(**request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_a_failed_lookup_serves_answers_up_to_max_staleness_then_fails_closed(
    client: Any,
) -> None:
    """As a replica serves its last sync: cached answers up to max_staleness, then
    registry_stale; a token never looked up is stale at once."""
    table = new_table(client).table
    flaky = BrokenLookups(client)
    store = DynamoDBStore(flaky, table, sleep=lambda _seconds: None)
    store.add(rule("session", "s-1"))
    clock = FrozenClock(T0)
    lookup = lookup_on(store, clock, max_staleness_seconds=30.0)
    revoked = {"iss": ISSUERS[0], "sid": "s-1", "iat": T0}
    assert lookup.match(revoked, {}, "raw") is not None
    flaky.broken = True
    clock.advance(30.0)
    assert lookup.match(revoked, {}, "raw") is not None
    with pytest.raises(RegistryStale):
        lookup.match({"iss": ISSUERS[0], "sid": "other", "iat": T0}, {}, "raw")
    clock.advance(0.01)
    with pytest.raises(RegistryStale):
        lookup.match(revoked, {}, "raw")


def test_fail_open_allows_what_it_cannot_look_up(client: Any) -> None:
    """REVOKER_FAIL_OPEN: a failed lookup finds no rule instead of failing closed."""
    table = new_table(client).table
    flaky = BrokenLookups(client)
    store = DynamoDBStore(flaky, table, sleep=lambda _seconds: None)
    store.add(rule("session", "s-1"))
    lookup = lookup_on(store, FrozenClock(T0), fail_open=True)
    flaky.broken = True
    assert lookup.match({"iss": ISSUERS[0], "sid": "s-1", "iat": T0}, {}, "raw") is None


def test_sync_forgets_cached_answers(client: Any) -> None:
    """The WebSocket $connect order: a rule stored before a sync is seen right after it."""
    store = new_table(client)
    clock = FrozenClock(T0)
    lookup = lookup_on(store, clock)
    claims = {"iss": ISSUERS[0], "jti": "j-1", "iat": T0}
    assert lookup.match(claims, {}, "raw") is None
    store.add(rule("token", "j-1"))
    lookup.sync()
    assert lookup.match(claims, {}, "raw") is not None


def test_a_rule_this_process_writes_is_seen_at_once(client: Any) -> None:
    """A revoke through the registry drops its key's cached answer: the next check denies."""
    store = new_table(client)
    clock = FrozenClock(T0)
    registry = Registry(store, clock=clock)
    registry.replica = lookup_on(store, clock, before_sync=registry.agree)
    claims = {"iss": ISSUERS[0], "sub": "user-1", "iat": T0 - 5}
    assert registry.match(claims, {}, "raw") is None
    revoked = registry.revoke("subject", "user-1")
    assert registry.match(claims, {}, "raw") == revoked
    registry.lift(revoked.id, actor="test")
    assert registry.match(claims, {}, "raw") is None


def test_checks_are_stale_until_the_lifetime_is_agreed(client: Any) -> None:
    """Before its first sync (the lifetime agreement), a lookup answers registry_stale."""
    store = new_table(client)
    lookup = DynamoDBLookup(store, clock=FrozenClock(T0), max_age_seconds=1.0)
    with pytest.raises(RegistryStale):
        lookup.check_fresh()
    assert lookup.sync_if_older(1.0)
    lookup.check_fresh()
    assert not lookup.sync_if_older(1.0)


# -- the table -------------------------------------------------------------------------------


def item(client: Any, table: str, pk: str, sk: str) -> dict[str, Any] | None:
    found = client.get_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"S": sk}})
    return found.get("Item")


def test_a_lookup_item_lives_as_long_as_its_longest_rule(client: Any) -> None:
    """Two rules on one key: the item's ttl is the later expiry, whichever came first; a
    lift removes only its own rule."""
    store = new_table(client)
    late = rule("subject", "u", cutoff=T0, expires_at=T0 + 5000)
    early = rule("subject", "u", cutoff=T0, expires_at=T0 + 100)
    store.add(late)
    store.add(early)
    pk = lookup_pk(("subject", None, "u"))
    stored = item(client, store.table, pk, "L")
    assert stored is not None
    assert stored["ttl"] == {"N": str(int(T0 + 5000))}
    assert {name for name in stored if name.startswith("r:")} == {"r:" + late.id, "r:" + early.id}
    store.lift(late.id, actor="test", reason="", now=T0)
    assert store.lookup([("subject", None, "u")]) == {("subject", None, "u"): [early]}
    stored = item(client, store.table, pk, "L")
    assert stored is not None
    assert stored["ttl"] == {"N": str(int(T0 + 5000))}


def test_prune_unfiles_expired_rules_and_sets_the_count_exact(client: Any) -> None:
    """prune takes an expired rule out of its lookup item, and counts what is left."""
    store = new_table(client)
    gone = rule("token", "j-1", expires_at=T0 + 10)
    kept = rule("token", "j-2", expires_at=T0 + 1000)
    store.add(gone)
    store.add(kept)
    assert store.lookup_status() == (True, 2)
    assert store.prune(T0 + 20) == 1
    assert store.lookup([("token", None, "j-1"), ("token", None, "j-2")]) == {
        ("token", None, "j-1"): [],
        ("token", None, "j-2"): [kept],
    }
    assert store.lookup_status() == (True, 1)


def test_only_a_tables_first_write_marks_it_ready(client: Any) -> None:
    """An empty table is not ready (it may be an old one, emptied); its first write by this
    version marks it, as no rule without a lookup item can be in it."""
    store = new_table(client)
    assert store.lookup_status() == (False, 0)
    store.add(rule("token", "j-1"))
    assert store.lookup_status() == (True, 1)


def test_migrate_files_older_rules_and_marks_the_table_ready(client: Any) -> None:
    """A table written before lookup items (none, and no ready mark): migrate files its rules."""
    store = new_table(client)
    old = rule("family", "fam-old")
    store.add(old)
    client.delete_item(
        TableName=store.table,
        Key={"pk": {"S": lookup_pk(("family", None, "fam-old"))}, "sk": {"S": "L"}},
    )
    client.delete_item(
        TableName=store.table, Key={"pk": {"S": "setting"}, "sk": {"S": LOOKUP_READY_SETTING}}
    )
    assert store.lookup_status()[0] is False
    assert "1 rule" in store.migrate()
    assert store.lookup_status() == (True, 1)
    assert store.lookup([("family", None, "fam-old")]) == {("family", None, "fam-old"): [old]}


# -- the Lambda: the mode, and its cold start --------------------------------------------------


@pytest.fixture
def dynamodb_runtime(
    client: Any, make_runtime: Callable[..., Runtime]
) -> Callable[..., tuple[Runtime, DynamoDBStore, Calls]]:
    """A Lambda runtime on a fresh moto table, and a counter of the calls its store makes."""
    store = new_table(client)

    def make(**env: str) -> tuple[Runtime, DynamoDBStore, Calls]:
        runtime = make_runtime(REVOKER_STORE=f"dynamodb://{store.table}?region=us-east-1", **env)
        own = runtime.registry.store
        assert isinstance(own, DynamoDBStore)
        return runtime, own, Calls(own.client)

    return make


def test_auto_mode_looks_up_above_the_threshold_without_reading_the_rules(
    dynamodb_runtime: Callable[..., tuple[Runtime, DynamoDBStore, Calls]],
    factory: TokenFactory,
) -> None:
    """At the threshold a container holds a replica; one rule more and the next cold start
    looks up: its choice is one BatchGetItem, never a Query of the rules or a Scan."""
    runtime, store, _ = dynamodb_runtime(REVOKER_LOOKUP_ABOVE="3")
    for value in ("a", "b", "c"):
        store.add(rule("session", value))
    runtime.sync()
    assert runtime.registry_mode == "replica"

    store.add(rule("session", "d"))
    cold, _, calls = dynamodb_runtime(REVOKER_LOOKUP_ABOVE="3")
    cold.sync()
    assert cold.registry_mode == "lookup"
    assert calls.counts["BatchGetItem"] == 1
    rule_reads = [pk for pk in calls.query_partitions if pk.partition("#")[0] == "rule"]
    assert (calls.counts["Scan"], rule_reads) == (0, [])
    assert authorize(cold, with_token(V2_EVENT, f"Bearer {factory.access_token()}"))


def test_a_lookup_cold_start_and_invocations_never_read_the_rule_partition(
    dynamodb_runtime: Callable[..., tuple[Runtime, DynamoDBStore, Calls]],
    factory: TokenFactory,
) -> None:
    """REVOKER_REGISTRY_MODE=lookup: a revoked token is refused and another allowed, with
    one BatchGetItem each (plus the cold start's one), and no Query, no Scan."""
    runtime, store, calls = dynamodb_runtime(REVOKER_REGISTRY_MODE="lookup")
    store.add(rule("family", "fam-revoked"))
    calls.reset()  # the write read the table's layout; what is counted is the container's
    bad = factory.access_token(origin_jti="fam-revoked")
    good = factory.access_token()
    with pytest.raises(Unauthorized):
        authorize(runtime, with_token(V2_EVENT, f"Bearer {bad}"))
    allowed = authorize(runtime, with_token(V2_EVENT, f"Bearer {good}"))
    assert runtime.registry_mode == "lookup"
    assert allowed["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert calls.counts["BatchGetItem"] == 3
    assert (calls.counts["Query"], calls.counts["Scan"]) == (0, 0)


def test_an_unmigrated_table_keeps_the_replica(
    client: Any, dynamodb_runtime: Callable[..., tuple[Runtime, DynamoDBStore, Calls]]
) -> None:
    """Rules stored before lookup items would be missed: without migrate's mark, a container
    holds a replica even when told to look up."""
    runtime, store, _ = dynamodb_runtime(REVOKER_REGISTRY_MODE="lookup")
    store.add(rule("family", "fam-1"))  # the table's first write marks it ready: unmark it
    client.delete_item(
        TableName=store.table, Key={"pk": {"S": "setting"}, "sk": {"S": LOOKUP_READY_SETTING}}
    )
    runtime.sync()
    assert runtime.registry_mode == "replica"


def test_the_cache_keeps_at_most_its_size_in_keys(client: Any) -> None:
    """The per-container cache forgets the least recently used answers past its size."""
    store = new_table(client)
    lookup = lookup_on(store, FrozenClock(T0), cache_keys=4)
    calls = Calls(client)
    first = {"iss": ISSUERS[0], "jti": "j-1", "iat": T0}  # 4 keys: jti and iss, both scopes
    lookup.match(first, {}, "raw")
    lookup.match({"iss": ISSUERS[0], "jti": "j-2", "iat": T0}, {}, "raw")  # 2 new keys
    calls.reset()
    lookup.match(first, {}, "raw")  # its jti keys went first: fetched again
    assert calls.counts == Counter({"BatchGetItem": 1})


def test_revoker_migrate_files_a_dynamodb_tables_rules(client: Any) -> None:
    """``revoker migrate`` on a dynamodb:// store runs the store's migrate."""
    from revoker.core.registry.migrations import migrate  # noqa: PLC0415

    store = new_table(client)
    store.add(rule("subject", "user-1"))
    assert migrate(f"dynamodb://{store.table}?region=us-east-1") == (
        "the dynamodb store files its 1 rule(s) for lookups"
    )
    assert store.lookup_status() == (True, 1)
