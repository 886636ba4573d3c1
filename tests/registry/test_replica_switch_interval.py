"""A sync, and a push until the sync it wakes, run with the interpreter's switch interval cut
(so the replica's threads take the GIL from a busy event loop at once); afterwards the
interval the process had is back."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from revoker.core.clock import SystemClock
from revoker.core.registry import Change, RegistryLimits
from revoker.core.registry.replica import SYNC_SWITCH_INTERVAL_SECONDS, Replica
from revoker.core.registry.rules import new_rule
from revoker.core.registry.stores.memory import MemoryStore

PROCESS_INTERVAL = 0.004  # what this process "had": above the cut, below the default


class Subscription:
    """What a pushing store returns; ``push`` is the replica's callback."""

    def __init__(self, on_change: Callable[[], None]) -> None:
        self.push = on_change
        self.healthy = True

    def close(self) -> None:
        self.healthy = False


class IntervalRecordingStore(MemoryStore):
    """Records the switch interval each catch-up read runs under; pushes by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[float] = []
        self.subscriptions: list[Subscription] = []
        self.hold = threading.Event()  # set: reads wait for ``release``
        self.release = threading.Event()

    def subscribe(self, on_change: Callable[[], None]) -> Subscription:
        self.subscriptions.append(Subscription(on_change))
        return self.subscriptions[-1]

    def changes_since(self, seq: int, *, limit: int = 10_000) -> list[Change] | None:
        self.seen.append(sys.getswitchinterval())
        if self.hold.is_set():
            self.release.wait(5.0)
        return super().changes_since(seq, limit=limit)


@pytest.fixture(autouse=True)
def process_interval() -> Iterator[None]:
    saved = sys.getswitchinterval()
    sys.setswitchinterval(PROCESS_INTERVAL)
    yield
    sys.setswitchinterval(saved)


def wait_for(predicate: Callable[[], bool], timeout_seconds: float = 5.0) -> bool:
    """Poll a condition for a bounded time (this watches a thread, not time logic)."""
    deadline = time.monotonic() + timeout_seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.002)
    return predicate()


def test_a_sync_runs_with_the_interval_cut_and_restores_it() -> None:
    """Each catch-up read sees the cut interval; after the sync the process's is back."""
    store = IntervalRecordingStore()
    replica = Replica(store, clock=SystemClock())
    replica.sync()  # the first sync is a snapshot; the next reads the change log
    replica.sync()
    assert store.seen == [pytest.approx(SYNC_SWITCH_INTERVAL_SECONDS, rel=0.05)]
    assert sys.getswitchinterval() == pytest.approx(PROCESS_INTERVAL, rel=0.05)


def test_concurrent_syncs_restore_the_interval_only_when_the_last_ends() -> None:
    """Two replicas syncing at once share the cut: the first to finish does not undo it."""
    slow_store, quick_store = IntervalRecordingStore(), IntervalRecordingStore()
    slow, quick = (
        Replica(slow_store, clock=SystemClock()),
        Replica(quick_store, clock=SystemClock()),
    )
    slow.sync()
    quick.sync()
    slow_store.hold.set()
    thread = threading.Thread(target=slow.sync)
    thread.start()
    try:
        assert wait_for(lambda: len(slow_store.seen) == 1)
        quick.sync()
        assert sys.getswitchinterval() == pytest.approx(SYNC_SWITCH_INTERVAL_SECONDS, rel=0.05)
    finally:
        slow_store.release.set()
        thread.join(5.0)
    assert sys.getswitchinterval() == pytest.approx(PROCESS_INTERVAL, rel=0.05)


def test_a_push_cuts_the_interval_until_the_sync_it_woke_has_applied_the_change() -> None:
    """A push leaves the interval cut for the poll thread's wake-up and sync, then restores it."""
    store = IntervalRecordingStore()
    replica = Replica(store, clock=SystemClock(), poll_interval_seconds=60.0)
    replica.start()
    try:
        seq = store.add(new_rule("subject", "user-1", now=time.time(), limits=RegistryLimits()))
        store.hold.set()
        store.subscriptions[0].push()
        assert wait_for(lambda: len(store.seen) == 1)  # the woken sync is reading
        assert sys.getswitchinterval() == pytest.approx(SYNC_SWITCH_INTERVAL_SECONDS, rel=0.05)
        store.release.set()
        assert wait_for(lambda: replica.seq == seq)
        assert wait_for(
            lambda: sys.getswitchinterval() == pytest.approx(PROCESS_INTERVAL, rel=0.05)
        )
    finally:
        store.release.set()
        replica.stop()
    assert sys.getswitchinterval() == pytest.approx(PROCESS_INTERVAL, rel=0.05)


def test_an_interval_already_shorter_is_left_alone() -> None:
    """A process that runs with a shorter interval than the cut keeps it through a sync."""
    sys.setswitchinterval(SYNC_SWITCH_INTERVAL_SECONDS / 2)
    store = IntervalRecordingStore()
    replica = Replica(store, clock=SystemClock())
    replica.sync()
    replica.sync()
    assert store.seen == [pytest.approx(SYNC_SWITCH_INTERVAL_SECONDS / 2, rel=0.05)]
