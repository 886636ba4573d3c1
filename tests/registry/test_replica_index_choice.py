"""A replica keeps few rules in dictionaries (the fastest match) and many in the compact index
(about 60 B a rule); it moves from one to the other as the rules grow, and answers the same."""

from __future__ import annotations

import pytest

from revoker.core.clock import FrozenClock
from revoker.core.registry import Registry, RegistryLimits, RuleKind
from revoker.core.registry.compact import Segment
from revoker.core.registry.index import DictIndex
from revoker.core.registry.replica import Replica
from revoker.core.registry.rules import new_rule
from revoker.core.registry.stores.memory import MemoryStore
from revoker.core.registry.stores.sqlite import SqliteStore

T0 = 1_700_000_000.0


def claims(sub: str) -> dict[str, object]:
    return {"sub": sub, "iss": "https://i.example", "iat": T0 - 10}


def test_a_small_snapshot_loads_into_dictionaries_and_a_large_one_into_the_compact_index(
    tmp_path: object,
) -> None:
    """Below the bound: DictIndex; at or above it: the compact index; the same denials."""
    store = SqliteStore(f"{tmp_path}/rules.db")
    limits = RegistryLimits()
    for n in range(30):
        store.add(new_rule(RuleKind.SUBJECT, f"user-{n}", now=T0, limits=limits))
    small = Replica(store, clock=FrozenClock(T0), compact_above=100)
    large = Replica(store, clock=FrozenClock(T0), compact_above=20)
    small.sync()
    large.sync()
    assert isinstance(small._rules, DictIndex)
    assert type(large._rules).__name__ == "CompactIndex"
    for n in (0, 29):
        for replica in (small, large):
            rule = replica.match(claims(f"user-{n}"), {}, "a.b.c")
            assert rule is not None
            assert rule.value == f"user-{n}"
        assert small.match(claims("someone-else"), {}, "a.b.c") is None
        assert large.match(claims("someone-else"), {}, "a.b.c") is None
    store.close()


def test_rules_added_past_the_bound_move_the_replica_to_the_compact_index() -> None:
    """Writes that grow a dictionary replica past the bound rebuild it compact, nothing lost."""
    clock = FrozenClock(T0)
    registry = Registry(MemoryStore(), clock=clock)
    registry.replica._compact_above = 10
    for n in range(25):
        registry.revoke(RuleKind.SUBJECT, f"user-{n}")
    assert type(registry.replica._rules).__name__ == "CompactIndex"
    assert registry.replica.rule_count == 25
    assert all(registry.match(claims(f"user-{n}"), {}, "a.b.c") for n in range(25))
    assert registry.match(claims("user-99"), {}, "a.b.c") is None


def test_a_lift_here_drops_a_compact_rule_by_its_value_not_by_scanning_every_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Registry.lift hands the replica the lifted rule: one look-up, never a scan of the ids."""
    clock = FrozenClock(T0)
    store = MemoryStore()
    for n in range(30):
        store.add(new_rule(RuleKind.SUBJECT, f"user-{n}", now=T0, limits=RegistryLimits()))
    registry = Registry(store, clock=clock)
    registry.replica._compact_above = 10
    registry.sync()
    assert type(registry.replica._rules).__name__ == "CompactIndex"
    scans: list[str] = []
    original = Segment.scan_id

    def counted(self: Segment, rule_id: str) -> int | None:
        scans.append(rule_id)
        return original(self, rule_id)

    monkeypatch.setattr(Segment, "scan_id", counted)
    lifted = registry.replica.match(claims("user-7"), {}, "a.b.c")
    assert lifted is not None
    registry.lift(lifted.id, actor="admin")
    assert registry.replica.match(claims("user-7"), {}, "a.b.c") is None
    assert registry.replica.match(claims("user-8"), {}, "a.b.c") is not None
    assert scans == []
