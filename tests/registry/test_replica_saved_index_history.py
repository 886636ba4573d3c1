"""A saved index is loaded only into the history it was taken from: the store's change at its
seq must be the one it was saved after (a Redis failover can give that seq to another rule)."""

from __future__ import annotations

import logging

import pytest

from revoker.core.clock import FrozenClock
from revoker.core.registry import RegistryLimits, RuleKind
from revoker.core.registry.replica import Replica
from revoker.core.registry.rules import new_rule
from revoker.core.registry.stores.memory import MemoryStore

T0 = 1_700_000_000.0
LIMITS = RegistryLimits()


def claims(sub: str) -> dict[str, object]:
    return {"sub": sub, "iss": "https://i.example", "iat": T0 - 10}


def store_with(subjects: list[str]) -> MemoryStore:
    store = MemoryStore()
    for sub in subjects:
        store.add(new_rule(RuleKind.SUBJECT, sub, now=T0, limits=LIMITS))
    return store


def saved_from(store: MemoryStore) -> bytes:
    """What a compact replica of ``store`` saves."""
    replica = Replica(store, clock=FrozenClock(T0), compact_above=1)
    replica.sync()
    assert replica.save_index() is not None
    saved = store.saved_index()
    assert saved is not None
    return saved.data


def test_a_saved_index_of_the_same_history_is_loaded_not_rebuilt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The change at the saved seq is the one it was taken after: the index is loaded."""
    store = store_with([f"user-{n}" for n in range(20)])
    saved_from(store)
    store.add(new_rule(RuleKind.SUBJECT, "user-after", now=T0, limits=LIMITS))

    def no_snapshot(now: float) -> object:
        raise AssertionError("the replica read the rules instead of the saved index")

    monkeypatch.setattr(store, "snapshot", no_snapshot)
    replica = Replica(store, clock=FrozenClock(T0), compact_above=1)
    replica.sync()
    assert replica.rule_count == 21
    assert replica.match(claims("user-after"), {}, "a.b.c") is not None


def test_a_saved_index_whose_seq_now_names_another_change_is_ignored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Same seqs, another history (the failover case): the saved index's rules must not be
    served and the store's own rule at that seq must not be missed; the replica reads the
    rules instead, and says why."""
    lost = store_with([f"user-{n}" for n in range(20)])
    data = saved_from(lost)
    kept = store_with([f"user-{n}" for n in range(19)] + ["user-kept"])
    kept.save_index(20, data, written_at=T0)
    replica = Replica(kept, clock=FrozenClock(T0), compact_above=1)
    with caplog.at_level(logging.WARNING, logger="revoker.registry"):
        replica.sync()
    assert replica.seq == 20
    assert replica.match(claims("user-kept"), {}, "a.b.c") is not None
    assert replica.match(claims("user-19"), {}, "a.b.c") is None
    assert "is not the one it was saved after" in caplog.text
