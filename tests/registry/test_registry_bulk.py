"""The bulk and compact paths: add_many, snapshot_rows, trusted rows, entries and expiry buckets."""

from __future__ import annotations

import gc
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from backend_redis import open_store as open_redis

from revoker.core.clock import FrozenClock
from revoker.core.errors import StoreError
from revoker.core.registry import InvalidRule, RegistryLimits, Rule, RuleKind, RuleStore
from revoker.core.registry.index import Expiries, RuleIndex, entry_of, rule_of
from revoker.core.registry.replica import Replica
from revoker.core.registry.rules import new_rule, stored_rule
from revoker.core.registry.stores import _redis_bulk
from revoker.core.registry.stores import redis as redis_module
from revoker.core.registry.stores.redis import RedisStore
from revoker.core.registry.stores.sqlite import SqliteStore

T0 = 1_700_000_000.0
LIMITS = RegistryLimits()
ISS = "https://issuer.example"


def mixed_rules(count: int, now: float = T0) -> list[Rule]:
    """``count`` validated rules cycling through every kind."""
    kinds = list(RuleKind)
    rules = []
    for n in range(count):
        kind = kinds[n % len(kinds)]
        issuer = None if kind is RuleKind.ISSUER else ISS
        value = f"https://iss-{n}.example" if kind is RuleKind.ISSUER else f"value-{n}"
        rules.append(new_rule(kind, value, now=now, limits=LIMITS, issuer=issuer, reason="r"))
    return rules


def bulk(store: RuleStore) -> object:
    add_many = getattr(store, "add_many", None)
    if add_many is None:
        pytest.skip("this store has no add_many")
    return add_many


def test_add_many_stores_each_rule_with_its_own_change_and_audit(store: RuleStore) -> None:
    """add_many numbers one change and one audit entry per rule, in order, like add."""
    add_many = bulk(store)
    first = store.add(mixed_rules(1)[0])
    rules = mixed_rules(12)[1:]
    last = add_many(rules)  # type: ignore[operator]
    assert last == first + len(rules)
    changes = store.changes_since(first)
    assert changes is not None
    assert [(c.seq, c.op, c.rule) for c in changes] == [
        (first + n + 1, "add", rule) for n, rule in enumerate(rules)
    ]
    audit = store.audit_log(since_seq=first)
    assert [(a.seq, a.rule_id, a.action) for a in audit] == [
        (first + n + 1, rule.id, "revoke") for n, rule in enumerate(rules)
    ]
    assert store.snapshot(T0)[0] == last


@pytest.mark.parametrize("clash", ["stored", "repeated"], ids=["stored-id", "repeated-id"])
def test_add_many_refuses_a_duplicate_id_and_writes_nothing(store: RuleStore, clash: str) -> None:
    """An id already stored, or twice in the batch, raises InvalidRule and adds no rule."""
    add_many = bulk(store)
    kept = mixed_rules(1)[0]
    head = store.add(kept)
    fresh = mixed_rules(4)[1:]
    twin = kept if clash == "stored" else fresh[0]
    with pytest.raises(InvalidRule):
        add_many([*fresh, twin])  # type: ignore[operator]
    assert store.snapshot(T0) == (head, [kept])


def test_add_many_of_nothing_returns_the_current_seq(store: RuleStore) -> None:
    """An empty batch writes nothing and answers the seq the store is at."""
    add_many = bulk(store)
    head = store.add(mixed_rules(1)[0])
    assert add_many([]) == head  # type: ignore[operator]


def test_snapshot_rows_are_the_snapshot_in_rule_field_order(store: RuleStore) -> None:
    """snapshot_rows gives the active rules as rows that rebuild equal rules, expired left out."""
    rows_of = getattr(store, "snapshot_rows", None)
    if rows_of is None:
        pytest.skip("this store has no snapshot_rows")
    rules = mixed_rules(7)
    for rule in rules:
        store.add(rule)
    short = new_rule("token", "short", now=T0, limits=LIMITS, expires_at=T0 + 10)
    store.add(short)
    seq, rows = rows_of(T0 + 20)
    assert seq == store.snapshot(T0 + 20)[0]
    assert [stored_rule(*row) for row in rows] == rules
    assert store.snapshot(T0 + 20)[1] == rules


@pytest.mark.parametrize("rule", mixed_rules(len(RuleKind)), ids=[kind.value for kind in RuleKind])
def test_a_trusted_rule_and_an_entry_rebuild_an_equal_rule(rule: Rule) -> None:
    """stored_rule and the compact entry both give back a rule equal to the validated one."""
    row = (rule.id, rule.kind.value, rule.value, rule.issuer, rule.cutoff, rule.expires_at,
           rule.reason, rule.actor, rule.created_at)  # fmt: skip
    assert stored_rule(*row) == rule
    assert rule_of(entry_of(row)) == rule
    assert rule_of(entry_of(rule)) == rule


def test_a_trusted_row_with_an_unknown_kind_is_refused() -> None:
    """Even a trusted row must name a known kind."""
    with pytest.raises(InvalidRule, match="unknown rule kind"):
        stored_rule("id-1", "everything", "v", None, None, None, "", "system", T0)


def test_entries_are_left_untracked_by_the_garbage_collector() -> None:
    """A loaded entry holds only atoms, so a collection stops tracking it."""
    index = RuleIndex()
    index.load(map(entry_of, mixed_rules(7)), T0)
    gc.collect()
    assert not any(gc.is_tracked(entry) for entry in index.by_id.values())


@pytest.mark.parametrize(
    ("offsets", "now", "due"),
    [
        ((10.0, 20.0, 30.0), 20.0, [10.0, 20.0]),
        ((10.0, 20.0, 30.0), 19.999, [10.0]),
        ((10.0, 70.0, 200.0), 150.0, [10.0, 70.0]),
        ((59.0, 61.0), 60.5, [59.0]),
        ((10.0,), 5.0, []),
    ],
    ids=["at-expiry", "just-before", "across-buckets", "bucket-edge", "nothing-due"],
)
def test_expiries_give_exactly_the_entries_due(
    offsets: tuple[float, ...], now: float, due: list[float]
) -> None:
    """An entry is due when its expires_at is at or before now, never earlier; the rest stay."""
    expiries = Expiries()
    base = 1_700_000_040.0  # a whole minute: buckets start here
    for n, offset in enumerate(offsets):
        expiries.add((f"id-{n}", "token", f"v{n}", None, None, base + offset, "", "a", T0))
    taken = [entry[5] for entry in expiries.pop_due(base + now)]
    assert taken == [base + offset for offset in due]
    rest = [entry[5] for entry in expiries.pop_due(base + 10_000)]
    assert rest == [base + offset for offset in offsets if offset not in due]


@pytest.fixture
def replica_on(store: RuleStore) -> tuple[RuleStore, Replica, FrozenClock]:
    clock = FrozenClock(T0)
    return store, Replica(store, clock=clock), clock


def test_a_replica_sweeps_rules_as_their_expiry_passes(
    replica_on: tuple[RuleStore, Replica, FrozenClock],
) -> None:
    """Rules leave the replica at their own expires_at, a lifted one is not swept twice."""
    store, replica, clock = replica_on
    soon = new_rule("token", "soon", now=T0, limits=LIMITS, expires_at=T0 + 30)
    later = new_rule("token", "later", now=T0, limits=LIMITS, expires_at=T0 + 90)
    lifted = new_rule("token", "lifted", now=T0, limits=LIMITS, expires_at=T0 + 30)
    for rule in (soon, later, lifted):
        store.add(rule)
    replica.sync()
    store.lift(lifted.id, actor="a", reason="", now=T0)
    replica.sync()
    assert replica.counts_by_kind()[RuleKind.TOKEN] == 2
    clock.advance(30)
    replica.sync()
    assert replica.match({"jti": "soon"}, {}, "") is None
    assert replica.match({"jti": "later"}, {}, "") == later
    assert replica.rule_count == 1
    clock.advance(60)
    replica.sync()
    assert (replica.rule_count, replica.counts_by_kind()[RuleKind.TOKEN]) == (0, 0)


def test_several_rules_on_one_value_leave_one_by_one(
    replica_on: tuple[RuleStore, Replica, FrozenClock],
) -> None:
    """Three rules sharing a value: lifting each in turn leaves the others matching."""
    store, replica, _ = replica_on
    rules = [
        new_rule("session", "s-1", now=T0, limits=LIMITS, issuer=f"https://i{n}.example")
        for n in range(3)
    ]
    for rule in rules:
        store.add(rule)
    replica.sync()
    for n, rule in enumerate(rules):
        assert replica.match({"sid": "s-1", "iss": rule.issuer}, {}, "") == rule
        store.lift(rule.id, actor="a", reason="", now=T0)
        replica.sync()
        assert replica.match({"sid": "s-1", "iss": rule.issuer}, {}, "") is None
        assert replica.rule_count == len(rules) - n - 1


def test_snapshot_rows_cross_page_boundaries(
    store: RuleStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A snapshot read in pages of 3 returns every active rule once, in add order."""
    rows_of = getattr(store, "snapshot_rows", None)
    if rows_of is None:
        pytest.skip("this store has no snapshot_rows")
    module = sys.modules[type(store).__module__]
    if hasattr(module, "_PAGE"):
        monkeypatch.setattr(module, "_PAGE", 3)
    rules = mixed_rules(10)
    for n, rule in enumerate(rules):
        store.add(rule)
        if n == 4:  # a lifted rule in the middle of a page leaves no gap
            store.lift(rule.id, actor="a", reason="", now=T0)
    _, rows = rows_of(T0)
    assert [stored_rule(*row) for row in rows] == rules[:4] + rules[5:]


@pytest.fixture
def redis_store(tmp_path: Path) -> Iterator[RedisStore]:
    opened = open_redis(tmp_path)
    yield opened
    opened.close()


def test_add_many_writes_in_batches_and_a_retried_batch_answers_the_same(
    redis_store: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis: rules go in scripts of _BULK; a batch resent with its nonce is not written twice."""
    store = redis_store
    monkeypatch.setattr(redis_module, "_BULK", 3)
    rules = mixed_rules(8)
    assert store.add_many(rules) == 8
    assert [c.rule for c in store.changes_since(0) or []] == rules
    batch = mixed_rules(10)[8:]
    args = _redis_bulk.batch_args(batch, store.channel, (100_000, 100_000))
    keys = [
        *store._shared_keys,
        *(store._rule_key(rule.id) for rule in batch),
        *(store._bucket_key(rule.id) for rule in batch),
    ]
    first = store._add_many(keys=keys, args=args)  # what a retry by redis-py would resend
    again = store._add_many(keys=keys, args=args)
    assert (first, again) == (10, 10)
    assert store.snapshot(T0)[1] == rules + batch


def test_a_snapshot_row_of_an_unknown_kind_fails_the_sync_and_keeps_the_replica(
    tmp_path: Path,
) -> None:
    """A row edited by hand to an unknown kind: StoreError, and the replica keeps what it had."""
    store = SqliteStore(tmp_path / "rules.db", change_retention_seconds=60)
    kept = mixed_rules(1)[0]
    store.add(kept)
    replica = Replica(store, clock=FrozenClock(T0))
    replica.sync()
    with sqlite3.connect(tmp_path / "rules.db") as db:
        db.execute("UPDATE rules SET kind = 'everything'")
    store.add(mixed_rules(2)[1])
    store.prune(T0 + 3600)  # the log is trimmed: the next sync reloads a snapshot
    with pytest.raises(StoreError, match="malformed"):
        replica.sync()
    assert replica.match({"jti": kept.value, "iss": ISS}, {}, "") == kept
    store.close()


def test_expiries_added_out_of_order_into_the_current_minute_leave_in_order() -> None:
    """Entries added in any order, also into a minute already under way, leave when due."""
    expiries = Expiries()
    base = 1_700_000_040.0

    def entry(offset: float) -> tuple[str, str, str, None, None, float, str, str, float]:
        return (f"id-{offset}", "token", "v", None, None, base + offset, "", "a", T0)

    for offset in (50.0, 10.0, 30.0):
        expiries.add(entry(offset))
    assert [e[5] - base for e in expiries.pop_due(base + 20)] == [10.0]
    for offset in (25.0, 40.0, 15.0):  # the minute is under way: kept in order as they come
        expiries.add(entry(offset))
    assert [e[5] - base for e in expiries.pop_due(base + 30)] == [15.0, 25.0, 30.0]
    assert [e[5] - base for e in expiries.pop_due(base + 60)] == [40.0, 50.0]
    assert expiries.pop_due(base + 10_000) == []
