"""A DynamoDB table of several log shards: writes spread over head items, ids the same in
every process, and readers that miss nothing though shards have no common order.

What the store contract's ``global_order`` tests say for a one-shard table is said here
for sixteen shards (``stores/_dynamodb_shards.py``), on moto's in-process DynamoDB.
"""

from __future__ import annotations

import dataclasses
import json
import random
import threading
import zlib
from collections import Counter
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from moto import mock_aws

from moto_support import OneCallAtATime
from revoker.aws.stream_handler import rule_of_record
from revoker.core.clock import FrozenClock
from revoker.core.registry import Registry, RegistryLimits
from revoker.core.registry.rules import DuplicateRule, Rule, new_rule
from revoker.core.registry.store import Change
from revoker.core.registry.stores.dynamodb import (
    DynamoDBReader,
    DynamoDBStore,
    create_table,
    dynamodb_client,
)

T0 = 1_700_000_000.0
ISS = "https://issuer.example"
LIMITS = RegistryLimits()
_tables = iter(range(1_000_000))


def make(kind: str, value: str, *, rule_id: str | None = None, **options: Any) -> Rule:
    rule = new_rule(kind, value, now=T0, limits=LIMITS, actor="test", **options)
    return rule if rule_id is None else dataclasses.replace(rule, id=rule_id)


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        yield dynamodb_client(region="us-east-1")


def new_table(client: Any) -> str:
    table = f"revoker-shards-{next(_tables)}"
    create_table(client, table)
    return table


def store_on(client: Any, table: str, shards: int = 16) -> DynamoDBStore:
    return DynamoDBStore(client, table, sleep=lambda _seconds: None, log_shards=shards)


def heads(client: Any, table: str) -> dict[str, int]:
    """Every head item's seq, by partition key."""
    items = client.scan(TableName=table)["Items"]
    return {i["pk"]["S"]: int(i["seq"]["N"]) for i in items if i["sk"]["S"] == "head"}


def follow(
    store: DynamoDBStore | DynamoDBReader, *, page: int, since: int = 0
) -> tuple[int, list[Change]]:
    """Read the log from ``since`` in pages of ``page`` as a replica does; where it ended."""
    seen: list[Change] = []
    while True:
        changes = store.changes_since(since, limit=page)
        assert changes is not None
        if not changes:
            return since, seen
        seen += changes
        since = changes[-1].seq


def test_a_new_table_records_the_shards_asked_for_and_every_later_process_uses_them(
    client: Any,
) -> None:
    """The first process records log_shards; one asking for another count uses the table's."""
    table = new_table(client)
    store_on(client, table, shards=4).add(make("token", "first"))
    later = store_on(client, table, shards=16)
    for n in range(40):
        later.add(make("token", f"j-{n}"))
    setting = {"pk": {"S": "setting"}, "sk": {"S": "log_shards"}}
    assert client.get_item(TableName=table, Key=setting)["Item"]["value"] == {"N": "4.0"}
    assert sorted(heads(client, table)) == ["head", "head#01", "head#02", "head#03"]


def test_a_table_written_before_shards_keeps_its_one_sequence(client: Any) -> None:
    """A table whose head was written by a one-shard store stays one shard: the next write
    takes the next seq, whatever a new process asks for."""
    table = new_table(client)
    old = store_on(client, table, shards=1)
    for value in "abc":
        old.add(make("token", value))
    # A version before shards recorded no layout: the head alone says the table is in use.
    client.delete_item(TableName=table, Key={"pk": {"S": "setting"}, "sk": {"S": "log_shards"}})
    upgraded = store_on(client, table, shards=16)
    assert upgraded.add(make("token", "d")) == 4
    changes = upgraded.changes_since(0)
    assert changes is not None
    assert [(c.seq, c.rule.value) for c in changes] == [(1, "a"), (2, "b"), (3, "c"), (4, "d")]


def test_writes_spread_over_every_shard_by_rule_id(client: Any) -> None:
    """Each write moves the head of its rule's shard only (CRC-32 of the id), so no item
    takes every write: 48 rules spread over all sixteen heads."""
    table = new_table(client)
    store = store_on(client, table)
    ids = [f"rule-{n:03d}" for n in range(48)]
    for rule_id in ids:
        store.add(make("session", rule_id, rule_id=rule_id))
    expected = Counter(zlib.crc32(rule_id.encode()) % 16 for rule_id in ids)
    found = heads(client, table)
    assert len(found) == len(expected) == 16
    assert found == {("head" if s == 0 else f"head#{s:02d}"): n for s, n in expected.items()}
    assert max(found.values()) < 48 / 4


def test_a_change_has_one_id_in_every_process(client: Any) -> None:
    """add's answer is the seq another process reads for that change, and its audit entry's:
    the shard's seq times the shard count plus the shard."""
    table = new_table(client)
    writer, reader = store_on(client, table), store_on(client, table)
    rule = make("subject", "user-1", rule_id="rule-x")
    first = writer.add(rule)
    writer.lift(rule.id, actor="admin", reason="back", now=T0 + 1)
    shard = zlib.crc32(b"rule-x") % 16
    assert first == 1 * 16 + shard
    changes = reader.changes_since(0)
    assert changes is not None
    assert [(c.seq, c.op) for c in changes] == [(first, "add"), (first + 16, "lift")]
    assert [e.seq for e in reader.audit_log()] == [first, first + 16]


def test_a_reader_sees_every_change_once_and_each_rules_in_write_order(client: Any) -> None:
    """Two writers add 24 rules and lift 8; a reader paging 5 at a time sees each change
    once, a rule's lift after its add, and then nothing more."""
    table = new_table(client)
    writers = [store_on(client, table), store_on(client, table)]
    reader = store_on(client, table)
    rules = [make("session", f"s-{n}") for n in range(24)]
    for n, rule in enumerate(rules):
        writers[n % 2].add(rule)
        if n % 3 == 0:
            writers[(n + 1) % 2].lift(rule.id, actor="a", reason="", now=T0)
    end, seen = follow(reader, page=5)
    assert len(seen) == 32
    assert len({(c.op, c.rule.id) for c in seen}) == 32
    order = {(c.op, c.rule.id): i for i, c in enumerate(seen)}
    assert all(order["add", r.id] < order["lift", r.id] for r in rules[::3])
    assert reader.changes_since(end) == []
    writers[0].add(make("session", "late"))
    later = reader.changes_since(end)
    assert later is not None
    assert [c.rule.value for c in later] == ["late"]


def test_a_snapshot_then_the_log_brings_only_later_changes(client: Any) -> None:
    """snapshot's seq is where the reader is: the log from there holds what came after."""
    table = new_table(client)
    store = store_on(client, table)
    before = [make("token", f"b-{n}") for n in range(8)]
    for rule in before:
        store.add(rule)
    seq, rules = store.snapshot(T0)
    assert {r.id for r in rules} == {r.id for r in before}
    after = [make("token", f"a-{n}") for n in range(8)]
    for rule in after:
        store.add(rule)
    store.lift(before[0].id, actor="a", reason="", now=T0)
    _, seen = follow(store, page=1000, since=seq)
    assert [(c.op, c.rule.id) for c in seen if c.op == "lift"] == [("lift", before[0].id)]
    assert {c.rule.id for c in seen if c.op == "add"} == {r.id for r in after}


def test_an_id_this_reader_was_not_given_asks_for_a_snapshot(client: Any) -> None:
    """Only the reader knows where an id left it: any other id (an add's, another
    process's) answers None, so the replica reloads; 0 reads from the start."""
    table = new_table(client)
    writer, reader = store_on(client, table), store_on(client, table)
    seqs = [writer.add(make("token", f"j-{n}")) for n in range(5)]
    assert reader.changes_since(seqs[2]) is None
    end, seen = follow(reader, page=2)
    assert len(seen) == 5
    assert writer.changes_since(end) is None


def test_a_shard_missing_a_change_sends_readers_to_a_snapshot(client: Any) -> None:
    """TTL or prune took a change a shard's head vouches for: None, not a silent gap."""
    table = new_table(client)
    store = store_on(client, table)
    store.add(make("token", "j", rule_id="rule-gap"))
    shard = zlib.crc32(b"rule-gap") % 16
    pk = "change" if shard == 0 else f"change#{shard:02d}"
    client.delete_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"S": f"{1:020d}"}})
    assert store.changes_since(0) is None


def ids_in(shard: int, count: int, *, start: int = 0) -> list[str]:
    """``count`` rule ids whose writes go to ``shard`` of sixteen."""
    found = (f"rule-{n}" for n in range(start, start + 10_000))
    return [i for i in found if zlib.crc32(i.encode()) % 16 == shard][:count]


def add_in(store: DynamoDBStore, shard: int, count: int, *, start: int = 0) -> list[Rule]:
    rules = [make("token", i, rule_id=i) for i in ids_in(shard, count, start=start)]
    for rule in rules:
        store.add(rule)
    return rules


def test_two_readers_of_one_store_each_miss_nothing(client: Any) -> None:
    """Each replica reads through a reader of its own: one's snapshot landing on the id
    another reader sits at does not move that reader past a change it has not seen."""
    store = store_on(client, new_table(client))
    add_in(store, 5, 3)  # shard 5 at seq 3: id 53
    add_in(store, 3, 1)  # shard 3 at seq 1: id 19
    first, second = store.reader(), store.reader()
    end, seen = follow(first, page=100)
    assert (end, len(seen)) == (53, 4)
    [late] = add_in(store, 3, 1, start=5000)  # shard 3 at seq 2: id 35, below where it sits
    assert second.snapshot(T0)[0] == 53  # the other reader's position is the same id
    later = first.changes_since(end)
    assert later is not None
    assert [c.rule.id for c in later] == [late.id]


@pytest.mark.parametrize("own_reader", [True, False], ids=["a-reader", "the-store"])
def test_a_cursor_that_met_a_gap_is_forgotten_so_the_next_snapshot_stands(
    client: Any, own_reader: bool
) -> None:
    """A change gone from a shard below the reader's id (TTL trimmed it while the reader was
    away) sends it to a snapshot once; the snapshot's cursor then holds, not the stale one
    (the store's own cursors, shared, would otherwise keep the lower: a snapshot each sync)."""
    table = new_table(client)
    store = store_on(client, table)
    add_in(store, 5, 3)
    add_in(store, 3, 1)
    reader = store.reader() if own_reader else store
    end, _ = follow(reader, page=100)
    add_in(store, 3, 1, start=5000)
    gone = {"pk": {"S": "change#03"}, "sk": {"S": f"{2:020d}"}}
    client.delete_item(TableName=table, Key=gone)
    assert reader.changes_since(end) is None
    seq, rules = reader.snapshot(T0)
    assert (seq, len(rules)) == (end, 5)
    assert reader.changes_since(seq) == []


def test_a_store_behind_the_reader_asks_for_a_snapshot(client: Any) -> None:
    """Heads lower than the reader's cursor (the table was emptied and written again) answer
    None, so the replica reloads rather than waits for seqs it has already passed."""
    table = new_table(client)
    store = store_on(client, table)
    add_in(store, 2, 3)
    reader = store.reader()
    end, _ = follow(reader, page=100)
    client.delete_item(TableName=table, Key={"pk": {"S": "head#02"}, "sk": {"S": "head"}})
    assert reader.changes_since(end) is None


def test_a_duplicate_id_is_refused_and_logs_nothing(client: Any) -> None:
    """The rule put is conditional in its shard's transaction: a second add of one id
    raises DuplicateRule and moves no head."""
    store = store_on(client, new_table(client))
    rule = make("token", "j", rule_id="rule-dup")
    store.add(rule)
    with pytest.raises(DuplicateRule):
        store.add(rule)
    changes = store.changes_since(0)
    assert changes is not None
    assert [c.rule.id for c in changes] == [rule.id]


def test_prune_deletes_expired_rules_and_trims_every_shards_log(client: Any) -> None:
    """prune finds expired rules in every shard; past the change retention every shard's log
    is trimmed, so an old position asks for a snapshot, which holds what is active."""
    store = store_on(client, new_table(client))
    expiring = [make("token", f"e-{n}", expires_at=T0 + 10) for n in range(12)]
    kept = [make("subject", f"u-{n}") for n in range(4)]
    for rule in (*expiring, *kept):
        store.add(rule)
    assert len({zlib.crc32(r.id.encode()) % 16 for r in expiring}) > 1
    later = T0 + 2 * 3600  # past the tokens and the hour of change retention, not the subjects
    assert store.prune(later) == 12
    assert store.changes_since(0) is None
    seq, rules = store.snapshot(later)
    assert {r.id for r in rules} == {r.id for r in kept}
    assert store.changes_since(seq) == []


def test_audit_pages_list_every_entry_once(client: Any) -> None:
    """Paging the audit by the last entry's seq lists each of 24 entries once, by id."""
    table = new_table(client)
    store = store_on(client, table)
    rules = [make("session", f"s-{n}") for n in range(20)]
    for rule in rules:
        store.add(rule)
    for rule in rules[:4]:
        store.lift(rule.id, actor="b", reason="", now=T0)
    listed = []
    since = 0
    while page := store.audit_log(limit=7, since_seq=since):
        listed += page
        since = page[-1].seq
    assert len(listed) == 24
    assert [e.seq for e in listed] == sorted({e.seq for e in listed})
    assert Counter(e.action for e in listed) == {"revoke": 20, "lift": 4}


def test_writers_in_many_processes_lose_nothing(client: Any) -> None:
    """Eight stores (eight processes' worth of locks) adding at once: every add is in the
    log, with its own id."""
    table = new_table(client)
    serial = OneCallAtATime(client)
    stores = [store_on(serial, table) for _ in range(8)]
    ids: list[int] = []
    lock = threading.Lock()

    def write(n: int) -> None:
        for i in range(6):
            seq = stores[n].add(make("session", f"s-{n}-{i}"))
            with lock:
                ids.append(seq)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(set(ids)) == 48
    _, seen = follow(store_on(client, table), page=50)
    assert sorted(c.seq for c in seen) == sorted(ids)


@pytest.mark.parametrize("seed", [1, 2])
def test_a_replica_on_sixteen_shards_decides_as_on_one(client: Any, seed: int) -> None:
    """The same random adds and lifts on a one-shard and a sixteen-shard table: a replica
    syncing at random moments on each denies exactly the active values, every time, and
    follows the log after its first snapshot."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible test, not a secret
    clock = FrozenClock(T0)
    tables = {shards: new_table(client) for shards in (1, 16)}
    writers = {n: store_on(client, t, shards=n) for n, t in tables.items()}
    reading = {n: store_on(client, t, shards=n) for n, t in tables.items()}
    snapshots = {
        n: mock.patch.object(r, "snapshot_for", wraps=r.snapshot_for).start()
        for n, r in reading.items()
    }
    readers = {n: Registry(store, clock=clock) for n, store in reading.items()}
    values = [f"user-{n}" for n in range(12)]
    active: dict[str, Rule] = {}
    for step in range(60):
        value = rng.choice(values)
        if value in active:
            rule = active.pop(value)
            for store in writers.values():
                store.lift(rule.id, actor="a", reason="", now=T0)
        else:
            active[value] = make("subject", value, issuer=ISS)
            for store in writers.values():
                store.add(active[value])
        if rng.random() < 0.2 or step == 59:
            for registry in readers.values():
                registry.sync()
                denied = {
                    v
                    for v in values
                    if registry.replica.match({"iss": ISS, "sub": v, "iat": T0 - 1}, {}, "")
                }
                assert denied == set(active)
    assert [snapshots[n].call_count for n in (1, 16)] == [1, 1]


@pytest.mark.parametrize(
    ("pk", "read"),
    [("change", True), ("change#07", True), ("change#x", False), ("changes", False)],
)
def test_the_stream_function_reads_the_change_items_of_every_shard(pk: str, read: bool) -> None:
    """A new rule's change item comes from any shard's change partition, and only from one."""
    rule = make("family", "f")
    record = {
        "eventName": "INSERT",
        "dynamodb": {
            "NewImage": {
                "pk": {"S": pk},
                "op": {"S": "add"},
                "rule": {"S": json.dumps(rule.to_dict())},
            }
        },
    }
    assert (rule_of_record(record) == rule) is read
