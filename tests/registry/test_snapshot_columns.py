"""Columnar snapshots: every store that has one hands out exactly its active rules, in add order."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from backend_redis import open_store as open_redis

from revoker.core.clock import FrozenClock
from revoker.core.registry import RegistryLimits, Rule, RuleKind, RuleStore
from revoker.core.registry.columns import Columns
from revoker.core.registry.index import row_of
from revoker.core.registry.replica import Replica
from revoker.core.registry.rules import new_rule

T0 = 1_700_000_000.0
LIMITS = RegistryLimits()


def odd_rules() -> list[Rule]:
    """Rules of every kind, with the texts and times a columnar path must not get wrong."""
    return [
        new_rule("token", "0b8e1c1e-3a51-4d6c-9a0e-6f1f2d4b5c6d", now=T0, limits=LIMITS),
        new_rule("family", "c3a2b1d0e9f8a7b6c5d4e3f2a1b0c9d8", now=T0 + 0.1, limits=LIMITS),
        new_rule("session", "naïve\x1fsid", now=T0, limits=LIMITS, reason="a\x1eb"),
        new_rule("subject", "user-1", now=T0, limits=LIMITS, cutoff=T0 - 1 / 3, actor="x\x1fy"),
        new_rule("client", "app", now=T0, limits=LIMITS, issuer="https://a.example"),
        new_rule("key", "kid-1", now=T0, limits=LIMITS, reason=""),
        new_rule("issuer", "https://b.example", now=T0, limits=LIMITS, cutoff=T0 - 5),
        new_rule("token", "lifted", now=T0, limits=LIMITS),
        new_rule("token", "gone", now=T0 - 90_000, limits=LIMITS, expires_at=T0 - 1),
    ]


def same(columns: Columns, rules: list[Rule]) -> None:
    expected = Columns.from_rows(map(row_of, rules))
    assert list(columns.ids) == list(expected.ids)
    assert list(columns.values) == list(expected.values)
    assert columns.kinds.tolist() == expected.kinds.tolist()
    got = [columns.triples[i] for i in columns.scopes.tolist()]
    assert got == [expected.triples[i] for i in expected.scopes.tolist()]
    for name in ("cutoff", "expires", "created"):
        assert np.array_equal(getattr(columns, name), getattr(expected, name), equal_nan=True)


@pytest.mark.parametrize("page", [2, 1000], ids=["small-pages", "one-page"])
def test_a_columnar_snapshot_holds_the_active_rules_in_add_order(
    store: RuleStore, page: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Separators in texts, times that are not whole 2**-22 s, lifts, expiries, small pages."""
    snapshot_columns = getattr(store, "snapshot_columns", None)
    if snapshot_columns is None:
        pytest.skip("this store has no columnar snapshot")
    module = sys.modules[type(store).__module__]
    if hasattr(module, "_COLUMN_PAGE"):  # the SQL stores read in ranges of seq
        monkeypatch.setattr(module, "_COLUMN_PAGE", page)
    rules = odd_rules()
    for rule in rules:
        store.add(rule)
    store.lift(rules[7].id, actor="a", reason="", now=T0)
    seq, columns = snapshot_columns(T0)
    assert seq == len(rules) + 1
    same(columns, rules[:7])


def test_a_columnar_snapshot_of_an_empty_store_is_empty(store: RuleStore) -> None:
    """No rules: no columns, and the seq as it is."""
    snapshot_columns = getattr(store, "snapshot_columns", None)
    if snapshot_columns is None:
        pytest.skip("this store has no columnar snapshot")
    seq, columns = snapshot_columns(T0)
    assert (seq, len(columns)) == (0, 0)


def test_the_kinds_are_coded_in_match_order() -> None:
    """A kind's code is its place in the order match checks the kinds."""
    rules = [new_rule(kind, "v", now=T0, limits=LIMITS) for kind in RuleKind]
    codes = Columns.from_rows(map(row_of, rules)).kinds.tolist()
    order = ["key", "token", "family", "session", "subject", "client", "issuer", "email"]
    assert codes == [order.index(kind.value) for kind in RuleKind]


def test_redis_rules_written_before_the_buckets_still_load(tmp_path: Path) -> None:
    """Redis: a rule without a bucket record (an older revoker wrote it) still loads."""
    store = open_redis(tmp_path)
    try:
        rules = odd_rules()[:3]
        for rule in rules:
            store.add(rule)
        store._client.hdel(store._bucket_key(rules[1].id), rules[1].id)
        _, columns = store.snapshot_columns(T0)
        same(columns, rules)
    finally:
        store.close()


class _Recording:
    """A store that notes which snapshot a replica asked it for, and is otherwise itself."""

    def __init__(self, store: RuleStore) -> None:
        self._store = store
        self.asked: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if not name.startswith("snapshot"):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            self.asked.append(name)
            return attribute(*args, **kwargs)

        return call


@pytest.mark.parametrize(("bound", "shape"), [(5, "columns"), (50, "rows")])
def test_a_replicas_first_load_reads_columns_from_a_large_store_and_rows_from_a_small(
    store: RuleStore, bound: int, shape: str
) -> None:
    """The store's count decides the first load (columns build the compact index about
    twice as fast); a small store still loads into dictionaries, by rows."""
    hint = getattr(store, "rule_count_hint", None)
    if hint is None or getattr(store, "snapshot_columns", None) is None:
        pytest.skip("this store has no columnar snapshot")
    for n in range(10):
        store.add(new_rule(RuleKind.SUBJECT, f"user-{n}", now=T0, limits=LIMITS))
    assert hint() == 10
    recording = _Recording(store)
    replica = Replica(cast("RuleStore", recording), clock=FrozenClock(T0), compact_above=bound)
    replica.sync()
    assert recording.asked == [f"snapshot_{shape}"]
    assert replica.rule_count == 10
    assert replica.match({"sub": "user-9", "iss": "i", "iat": T0 - 1}, {}, "a.b.c") is not None
