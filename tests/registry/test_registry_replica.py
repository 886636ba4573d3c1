"""The replica: catching up by seq, snapshots, staleness, fail-open, recovery, the poll thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from revoker.core.clock import FrozenClock, SystemClock
from revoker.core.errors import RegistryStale, StoreError
from revoker.core.registry import AuditEntry, Change, Registry, RegistryLimits, Rule, RuleFilter
from revoker.core.registry.replica import Replica
from revoker.core.registry.rules import new_rule
from revoker.core.registry.stores.memory import MemoryStore

T0 = 1_700_000_000.0
LIMITS = RegistryLimits()
SUBJECT_TOKEN = ({"iss": "https://iss", "sub": "user-1", "iat": int(T0) - 10}, {}, "a.b.c")


class FlakyStore:
    """Wraps a store; while ``failing`` is set every read raises StoreError. Counts calls."""

    def __init__(self, inner: MemoryStore) -> None:
        self.inner = inner
        self.failing = False
        self.calls: list[tuple[str, int | float]] = []

    def _check(self) -> None:
        if self.failing:
            raise StoreError("the store is down (test)")

    def add(self, rule: Rule) -> int:
        return self.inner.add(rule)

    def lift(self, rule_id: str, *, actor: str, reason: str, now: float) -> Rule | None:
        return self.inner.lift(rule_id, actor=actor, reason=reason, now=now)

    def changes_since(self, seq: int, *, limit: int = 10_000) -> list[Change] | None:
        self.calls.append(("changes_since", seq))
        self._check()
        return self.inner.changes_since(seq, limit=limit)

    def snapshot(self, now: float) -> tuple[int, list[Rule]]:
        self.calls.append(("snapshot", now))
        self._check()
        return self.inner.snapshot(now)

    def get(self, rule_id: str) -> Rule | None:
        return self.inner.get(rule_id)

    def list_rules(self, rule_filter: RuleFilter, *, now: float) -> list[Rule]:
        return self.inner.list_rules(rule_filter, now=now)

    def audit_log(self, *, limit: int = 100, since_seq: int = 0) -> list[AuditEntry]:
        return self.inner.audit_log(limit=limit, since_seq=since_seq)

    def prune(self, now: float) -> int:
        return self.inner.prune(now)

    def claim_setting(self, name: str, value: float) -> float:
        self._check()
        return self.inner.claim_setting(name, value)

    def record_setting(self, name: str, value: float) -> None:
        self.inner.record_setting(name, value)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def flaky() -> FlakyStore:
    return FlakyStore(MemoryStore(change_retention_seconds=60))


def add_subject(store: FlakyStore | MemoryStore, value: str, now: float = T0) -> Rule:
    rule = new_rule("subject", value, now=now, limits=LIMITS)
    store.add(rule)
    return rule


def test_first_sync_takes_a_snapshot_then_follows_by_seq(flaky: FlakyStore) -> None:
    """The first sync loads a snapshot; later ones ask only for changes after the known seq."""
    add_subject(flaky, "user-0")
    replica = Replica(flaky, clock=FrozenClock(T0))
    replica.sync()
    assert (replica.seq, replica.rule_count) == (1, 1)
    rule = add_subject(flaky, "user-1")
    replica.sync()
    assert flaky.calls == [("snapshot", T0), ("changes_since", 1)]
    assert replica.seq == 2
    assert replica.match(*SUBJECT_TOKEN) == rule


def test_lift_from_another_writer_reaches_the_replica(flaky: FlakyStore) -> None:
    """A lift in the store removes the rule from a replica at its next sync."""
    rule = add_subject(flaky, "user-1")
    replica = Replica(flaky, clock=FrozenClock(T0))
    replica.sync()
    assert replica.match(*SUBJECT_TOKEN) == rule
    flaky.lift(rule.id, actor="bob", reason="", now=T0)
    replica.sync()
    assert replica.match(*SUBJECT_TOKEN) is None
    assert replica.rule_count == 0


def test_reloads_a_snapshot_when_the_log_was_trimmed(flaky: FlakyStore) -> None:
    """If the change log no longer reaches the replica's seq, it reloads from a snapshot."""
    clock = FrozenClock(T0)
    replica = Replica(flaky, clock=clock)
    replica.sync()
    rule = add_subject(flaky, "user-1")
    gone = add_subject(flaky, "user-2")
    flaky.lift(gone.id, actor="a", reason="", now=T0)
    clock.advance(120)  # past the store's 60 s change retention
    flaky.prune(clock())
    assert flaky.inner.changes_since(0) is None
    flaky.calls.clear()
    replica.sync()
    assert flaky.calls == [("changes_since", 0), ("snapshot", T0 + 120)]
    assert replica.seq == 3
    assert replica.match(*SUBJECT_TOKEN) == rule
    assert replica.rule_count == 1


def test_reloads_when_the_store_is_behind_the_replica(flaky: FlakyStore) -> None:
    """A replica pointed at a replaced, emptier store drops the rules it no longer holds."""
    add_subject(flaky, "user-1")
    add_subject(flaky, "user-2")
    replica = Replica(flaky, clock=FrozenClock(T0))
    replica.sync()
    flaky.inner = MemoryStore()
    replica.sync()
    assert (replica.seq, replica.rule_count) == (0, 0)


def test_registry_sync_makes_a_new_registry_fresh(flaky: FlakyStore) -> None:
    """A registry that never synced refuses to match; one sync() loads the rules."""
    rule = add_subject(flaky, "user-1")
    registry = Registry(flaky, clock=FrozenClock(T0))
    with pytest.raises(RegistryStale):
        registry.match(*SUBJECT_TOKEN)
    registry.sync()
    assert registry.match(*SUBJECT_TOKEN) == rule


def test_never_synced_replica_is_stale() -> None:
    """Before its first sync a replica cannot vouch for anything: RegistryStale."""
    replica = Replica(MemoryStore(), clock=FrozenClock(T0))
    assert not replica.is_fresh
    with pytest.raises(RegistryStale, match="not synced"):
        replica.check_fresh()


def test_becomes_stale_after_max_staleness_and_fails_closed(flaky: FlakyStore) -> None:
    """With the store down, the replica stays usable up to max_staleness, then refuses."""
    clock = FrozenClock(T0)
    registry = Registry(flaky, clock=clock, max_staleness_seconds=30)
    registry.replica.sync()
    flaky.failing = True
    clock.advance(30)
    with pytest.raises(StoreError):
        registry.replica.sync()
    assert registry.match(*SUBJECT_TOKEN) is None  # 30 s old: still fresh
    clock.advance(0.5)
    assert not registry.replica.is_fresh
    assert registry.replica.lag_seconds == 30.5
    with pytest.raises(RegistryStale) as caught:
        registry.match(*SUBJECT_TOKEN)
    assert caught.value.reason == "registry_stale"


def test_fail_open_keeps_answering_from_the_last_rules(flaky: FlakyStore) -> None:
    """With fail_open a stale replica still answers from the rules it last had."""
    clock = FrozenClock(T0)
    rule = add_subject(flaky, "user-1")
    registry = Registry(flaky, clock=clock, max_staleness_seconds=30, fail_open=True)
    registry.replica.sync()
    flaky.failing = True
    clock.advance(3600)
    assert not registry.replica.is_fresh
    assert registry.match(*SUBJECT_TOKEN) == rule


def test_recovers_when_the_store_comes_back(flaky: FlakyStore) -> None:
    """After an outage, one good sync catches up and makes the replica fresh again."""
    clock = FrozenClock(T0)
    registry = Registry(flaky, clock=clock, max_staleness_seconds=30)
    registry.replica.sync()
    flaky.failing = True
    clock.advance(60)
    rule = add_subject(flaky, "user-1", now=clock())
    with pytest.raises(RegistryStale):
        registry.match(*SUBJECT_TOKEN)
    flaky.failing = False
    registry.replica.sync()
    assert registry.replica.is_fresh
    assert registry.match(*SUBJECT_TOKEN) == rule


def test_revoke_applies_locally_even_when_the_sync_fails(flaky: FlakyStore) -> None:
    """A durable revoke denies in this process at once, even if the follow-up sync fails."""
    clock = FrozenClock(T0)
    registry = Registry(flaky, clock=clock)
    registry.replica.sync()
    flaky.failing = True
    rule = registry.revoke("subject", "user-1")
    assert registry.match(*SUBJECT_TOKEN) == rule
    flaky.failing = False
    registry.replica.sync()
    assert registry.replica.rule_count == 1  # the change log's copy is not added twice


def test_expired_rules_leave_the_replica(flaky: FlakyStore) -> None:
    """A sync after expires_at drops the rule from the index and the counts."""
    clock = FrozenClock(T0)
    replica = Replica(flaky, clock=clock)
    flaky.add(new_rule("token", "j-1", now=T0, limits=LIMITS, expires_at=T0 + 10))
    flaky.add(new_rule("key", "k-1", now=T0, limits=LIMITS))
    replica.sync()
    assert replica.counts_by_kind()["token"] == 1
    clock.advance(10)
    replica.sync()
    counts = replica.counts_by_kind()
    assert (counts["token"], counts["key"], replica.rule_count) == (0, 1, 1)


def test_sync_if_older_skips_a_recent_sync(flaky: FlakyStore) -> None:
    """sync_if_older syncs only when the last good sync is older than the bound."""
    clock = FrozenClock(T0)
    replica = Replica(flaky, clock=clock)
    assert replica.sync_if_older(5) is True
    clock.advance(5)
    assert replica.sync_if_older(5) is False
    clock.advance(0.1)
    assert replica.sync_if_older(5) is True
    assert len(flaky.calls) == 2


@pytest.fixture
def running(flaky: FlakyStore) -> Iterator[Replica]:
    """A replica on the wall clock whose poll thread is running, stopped at teardown."""
    replica = Replica(flaky, clock=SystemClock(), poll_interval_seconds=60)
    replica.start()
    yield replica
    replica.stop()


def wait_for(predicate: object, timeout_seconds: float = 5.0) -> bool:
    """Poll a condition for a bounded time (these tests measure threads, not time logic)."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return True
        time.sleep(0.01)
    return False


def test_notify_wakes_the_poll_thread(running: Replica, flaky: FlakyStore) -> None:
    """notify() makes the poll thread sync now rather than after its 60 s interval."""
    assert running.seq == 0
    add_subject(flaky, "user-1")
    running.notify()
    assert wait_for(lambda: running.seq == 1)
    calls = len(flaky.calls)
    time.sleep(0.2)  # one notify is one extra sync, not a busy loop
    assert len(flaky.calls) <= calls + 1


def test_poll_thread_survives_store_errors(running: Replica, flaky: FlakyStore) -> None:
    """A failing store does not kill the poll thread; it syncs again once the store is back."""
    flaky.failing = True
    calls = len(flaky.calls)
    running.notify()
    assert wait_for(lambda: len(flaky.calls) > calls)
    flaky.failing = False
    add_subject(flaky, "user-1")
    running.notify()
    assert wait_for(lambda: running.seq == 1)


def test_start_with_the_store_down_does_not_raise(flaky: FlakyStore) -> None:
    """Starting while the store is down leaves a stale replica (not ready), not a crash."""
    flaky.failing = True
    replica = Replica(flaky, clock=SystemClock(), poll_interval_seconds=60)
    try:
        replica.start()
        with pytest.raises(RegistryStale):
            replica.check_fresh()
    finally:
        replica.stop()


def test_stop_joins_the_poll_thread(flaky: FlakyStore) -> None:
    """stop() ends the poll thread promptly; calling it twice is harmless."""
    before = set(threading.enumerate())
    replica = Replica(flaky, clock=SystemClock(), poll_interval_seconds=60)
    replica.start()
    started = [t for t in threading.enumerate() if t not in before]
    assert [t.name for t in started] == ["revoker-replica"]
    replica.stop()
    replica.stop()
    assert not started[0].is_alive()
