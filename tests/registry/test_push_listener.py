"""Push, store-independent: the backoff, the reconnecting listener, and how a replica uses push."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence

import pytest

from revoker.core.clock import FrozenClock, SystemClock
from revoker.core.errors import RegistryStale, StoreError
from revoker.core.registry import Change, RegistryLimits, Rule
from revoker.core.registry.push import Backoff, PushListener
from revoker.core.registry.replica import Replica
from revoker.core.registry.rules import new_rule
from revoker.core.registry.stores.memory import MemoryStore

T0 = 1_700_000_000.0
FAST = Backoff(initial_seconds=0.01, max_seconds=0.02)


def wait_for(predicate: Callable[[], bool], timeout_seconds: float = 5.0) -> bool:
    """Poll a condition for a bounded time (these tests watch threads, not time logic)."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


def subject(value: str, now: float = T0) -> Rule:
    return new_rule("subject", value, now=now, limits=RegistryLimits())


# -- Backoff ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "ceiling"),
    [
        pytest.param(0, 0.05, id="first"),
        pytest.param(1, 0.1, id="doubles"),
        pytest.param(4, 0.8, id="grows"),
        pytest.param(7, 5.0, id="capped"),
        pytest.param(10**6, 5.0, id="huge-attempt"),
    ],
)
def test_backoff_doubles_up_to_the_cap_with_jitter(attempt: int, ceiling: float) -> None:
    """The delay lies in [ceiling/2, ceiling], the ceiling doubling per attempt up to the cap."""
    backoff = Backoff()
    assert backoff.delay(attempt, rand=lambda: 1.0) == pytest.approx(ceiling)
    assert backoff.delay(attempt, rand=lambda: 0.0) == pytest.approx(ceiling / 2)


# -- PushListener -----------------------------------------------------------


class FakeChannel:
    """A push link the test drives: ``push`` one message, or ``drop`` the link."""

    def __init__(self) -> None:
        self.events: queue.Queue[str] = queue.Queue()
        self.closed = False

    def wait(self, timeout_seconds: float) -> int:
        try:
            event = self.events.get(timeout=timeout_seconds)
        except queue.Empty:
            return 0
        if event == "drop":
            raise ConnectionError("link dropped (test)")
        return 1

    def close(self) -> None:
        self.closed = True


class FakeServer:
    """Hands out channels, or refuses while ``down``; counts connection attempts."""

    def __init__(self) -> None:
        self.down = False
        self.attempts = 0
        self.channels: list[FakeChannel] = []

    def connect(self) -> FakeChannel:
        self.attempts += 1
        if self.down:
            raise ConnectionError("refused (test)")
        channel = FakeChannel()
        self.channels.append(channel)
        return channel


class Counter:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


@pytest.fixture
def counter() -> Counter:
    return Counter()


@pytest.fixture
def listener(server: FakeServer, counter: Counter) -> Iterator[PushListener]:
    running = PushListener(server.connect, counter, name="fake", backoff=FAST, wait_seconds=0.02)
    running.start()
    yield running
    running.close()


def test_listener_catches_up_once_subscribed(listener: PushListener, counter: Counter) -> None:
    """Once connected it is healthy and calls on_change once, for what it may have missed."""
    assert wait_for(lambda: listener.healthy)
    assert wait_for(lambda: counter.calls == 1)


def test_listener_calls_on_change_per_message(
    listener: PushListener, server: FakeServer, counter: Counter
) -> None:
    """Each message received calls on_change."""
    assert wait_for(lambda: counter.calls == 1)
    for _ in range(3):
        server.channels[-1].events.put("message")
    assert wait_for(lambda: counter.calls == 4)


def test_listener_reconnects_after_a_lost_link(
    listener: PushListener, server: FakeServer, counter: Counter
) -> None:
    """A dropped link is closed, reported (on_change), reconnected and caught up again."""
    assert wait_for(lambda: counter.calls == 1)
    first = server.channels[0]
    first.events.put("drop")
    assert wait_for(lambda: len(server.channels) == 2 and listener.healthy)
    assert first.closed
    assert wait_for(lambda: counter.calls == 3)  # the loss, then the catch-up after reconnect
    assert listener.connects == 2


def test_listener_backs_off_while_the_server_is_down(server: FakeServer, counter: Counter) -> None:
    """While connecting fails it stays unhealthy and retries at the backoff's pace (no spin)."""
    server.down = True
    backoff = Backoff(initial_seconds=0.05, max_seconds=0.1)
    running = PushListener(server.connect, counter, name="fake", backoff=backoff).start()
    try:
        time.sleep(0.5)
        assert not running.healthy
        assert 2 <= server.attempts <= 16  # a spin would make thousands of attempts
        assert counter.calls == 0
        server.down = False
        assert wait_for(lambda: running.healthy)
        assert wait_for(lambda: counter.calls == 1)
    finally:
        running.close()


def test_close_stops_the_thread_within_its_wait(server: FakeServer, counter: Counter) -> None:
    """close() returns promptly, the thread is gone and the channel closed."""
    before = set(threading.enumerate())
    running = PushListener(server.connect, counter, name="fake", wait_seconds=0.05).start()
    assert wait_for(lambda: running.healthy)
    started = [t for t in threading.enumerate() if t not in before]
    begun = time.monotonic()
    running.close()
    assert time.monotonic() - begun < 1.0
    assert [t.is_alive() for t in started] == [False]
    assert server.channels[0].closed
    assert not running.healthy


# -- a replica with push ----------------------------------------------------


class FakeSubscription:
    """What a pushing store returns; the test sets ``healthy`` and calls ``push``."""

    def __init__(self, on_change: Callable[[], None]) -> None:
        self.push = on_change
        self.healthy = True
        self.closed = False

    def close(self) -> None:
        self.closed = True


class PushingStore(MemoryStore):
    """A memory store that pushes (by hand) and counts catch-up reads; ``failing`` breaks reads."""

    def __init__(self) -> None:
        super().__init__(change_retention_seconds=60)
        self.subscriptions: list[FakeSubscription] = []
        self.reads = 0
        self.failing = False

    def subscribe(self, on_change: Callable[[], None]) -> FakeSubscription:
        subscription = FakeSubscription(on_change)
        self.subscriptions.append(subscription)
        return subscription

    def changes_since(self, seq: int, *, limit: int = 10_000) -> list[Change] | None:
        self.reads += 1
        if self.failing:
            raise StoreError("down (test)")
        return super().changes_since(seq, limit=limit)


@pytest.fixture
def store() -> PushingStore:
    return PushingStore()


@pytest.fixture
def replica(store: PushingStore) -> Iterator[Replica]:
    """A started replica whose fast poll (20 ms) yields to a 60 s poll while push is healthy."""
    running = Replica(
        store, clock=SystemClock(), poll_interval_seconds=0.02, push_poll_interval_seconds=60
    )
    running.start()
    yield running
    running.stop()


def test_start_subscribes_and_a_push_syncs_at_once(replica: Replica, store: PushingStore) -> None:
    """start() subscribes; a push makes the replica catch up without waiting for a poll."""
    assert len(store.subscriptions) == 1
    assert replica.push_healthy
    rule = store.add(subject("user-1"))
    store.subscriptions[0].push()
    assert wait_for(lambda: replica.seq == rule)


def test_a_healthy_push_slows_the_poll_and_a_lost_one_speeds_it_up(
    replica: Replica, store: PushingStore
) -> None:
    """With push healthy the replica does not poll every 20 ms; once push is lost, it does."""
    reads = store.reads
    time.sleep(0.3)
    assert store.reads - reads <= 1
    subscription = store.subscriptions[0]
    subscription.healthy = False
    subscription.push()  # the listener calls on_change when it loses the link
    reads = store.reads
    time.sleep(0.3)
    assert store.reads - reads >= 5
    assert not replica.push_healthy


def test_stop_closes_the_subscription(replica: Replica, store: PushingStore) -> None:
    """stop() closes the push subscription it opened."""
    replica.stop()
    assert store.subscriptions[0].closed
    assert not replica.push_healthy


def test_push_can_be_turned_off(store: PushingStore) -> None:
    """With push=False a pushing store is only polled."""
    replica = Replica(store, clock=SystemClock(), push=False, poll_interval_seconds=60)
    replica.start()
    try:
        assert store.subscriptions == []
    finally:
        replica.stop()


def test_a_healthy_push_never_makes_a_stale_replica_fresh(store: PushingStore) -> None:
    """Freshness is the last good sync only: push up, reads failing, past max_staleness -> stale."""
    clock = FrozenClock(T0)
    replica = Replica(store, clock=clock, max_staleness_seconds=30, poll_interval_seconds=60)
    replica.start()
    try:
        store.failing = True
        clock.advance(31)
        store.subscriptions[0].push()
        assert wait_for(lambda: store.reads >= 1)  # the push's catch-up ran, and failed
        assert store.subscriptions[0].healthy
        with pytest.raises(RegistryStale):
            replica.check_fresh()
    finally:
        replica.stop()


# -- change listeners -------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.batches: list[list[tuple[str, str]]] = []

    def __call__(self, changes: Sequence[Change]) -> None:
        self.batches.append([(change.op, change.rule.value) for change in changes])


def test_change_listeners_hear_each_applied_change(store: PushingStore) -> None:
    """A listener gets the changes each sync applied, and nothing when none were."""
    replica = Replica(store, clock=FrozenClock(T0))
    replica.sync()
    recorder = Recorder()
    replica.add_change_listener(recorder)
    rule = subject("user-1")
    store.add(rule)
    replica.sync()
    replica.sync()
    store.lift(rule.id, actor="a", reason="", now=T0)
    replica.sync()
    assert recorder.batches == [[("add", "user-1")], [("lift", "user-1")]]


def test_a_reload_is_reported_as_its_difference(store: PushingStore) -> None:
    """After a trimmed log forces a snapshot, listeners hear what appeared and what went."""
    clock = FrozenClock(T0)
    gone = subject("user-gone")
    store.add(gone)
    replica = Replica(store, clock=clock)
    replica.sync()
    recorder = Recorder()
    replica.add_change_listener(recorder)
    store.add(subject("user-new", now=T0))
    store.lift(gone.id, actor="a", reason="", now=T0)
    clock.advance(120)
    store.prune(clock())  # past the 60 s retention: the replica must reload
    replica.sync()
    assert recorder.batches == [[("add", "user-new"), ("lift", "user-gone")]]


def test_a_failing_listener_neither_breaks_sync_nor_others(store: PushingStore) -> None:
    """A listener that raises is logged; the sync completes and later listeners still run."""

    def broken(changes: Sequence[Change]) -> None:
        raise RuntimeError("listener bug (test)")

    replica = Replica(store, clock=FrozenClock(T0))
    replica.sync()
    recorder = Recorder()
    replica.add_change_listener(broken)
    replica.add_change_listener(recorder)
    seq = store.add(subject("user-1"))
    replica.sync()
    assert replica.seq == seq
    assert recorder.batches == [[("add", "user-1")]]
    replica.remove_change_listener(recorder)
    store.add(subject("user-2"))
    replica.sync()
    assert len(recorder.batches) == 1
