"""Each replica times the rules that reach it: commit -> applied here, by push or by poll.

Against real Redis and PostgreSQL: a rule written through one ``Registry`` is
applied by another's replica, whose propagation observer hears one delay per
rule, labelled with the path that brought it. No timing thresholds: the values
only have to be plausible (not negative, well under a minute).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import backend_postgres
import backend_redis
import pytest

from revoker.core.registry import Registry, RuleStore
from revoker.core.registry.replica import PropagationPath

# Each store's opener gives the same namespace for the same tmp_path: two processes' view.
SHARED_STORES = [
    pytest.param(backend_redis.open_store, id="redis"),
    pytest.param(backend_postgres.open_store, id="postgresql"),
]
PLAUSIBLE_SECONDS = 60.0


class Observed:
    """A propagation observer that keeps what it heard."""

    def __init__(self) -> None:
        self.heard: list[tuple[PropagationPath, float]] = []
        self._lock = threading.Lock()

    def __call__(self, path: PropagationPath, delays: Sequence[float]) -> None:
        with self._lock:
            self.heard.extend((path, seconds) for seconds in delays)

    def wait_for(self, count: int, timeout_seconds: float = 10.0) -> list[tuple[str, float]]:
        """What was heard once ``count`` delays arrived (or the bound passed)."""
        deadline = time.monotonic() + timeout_seconds
        while len(self.heard) < count and time.monotonic() < deadline:
            time.sleep(0.005)
        with self._lock:
            return list(self.heard)


@pytest.fixture(params=SHARED_STORES)
def open_shared(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[], RuleStore]]:
    """Opens another connection to one shared store namespace; closes them all after."""
    opener: Callable[[Path], RuleStore] = request.param
    opened: list[RuleStore] = []

    def open_one() -> RuleStore:
        opened.append(opener(tmp_path))
        return opened[-1]

    # Redis names its history (the epoch) at the first write, and a replica that saw none
    # reloads when one appears: write once, so the replicas below follow the change log.
    Registry(open_one()).revoke("token", "jti-seed", reason="test")
    yield open_one
    for store in opened:
        store.close()


def wait_until(predicate: Callable[[], bool], timeout_seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.005)
    return predicate()


def test_a_rule_pushed_to_another_replica_is_timed_as_push(
    open_shared: Callable[[], RuleStore],
) -> None:
    """A running replica that a push wakes records one non-negative delay, path "push"."""
    observed = Observed()
    # The poll far slower than the test: only a push can bring the rule in time.
    reader = Registry(open_shared(), poll_interval_seconds=60.0, max_staleness_seconds=300.0)
    reader.replica.add_propagation_observer(observed)
    reader.start()
    try:
        assert wait_until(lambda: reader.replica.push_healthy)
        writer = Registry(open_shared())
        writer.revoke("token", "jti-pushed", reason="test")
        heard = observed.wait_for(1)
        assert [path for path, _ in heard] == ["push"]
        assert 0.0 <= heard[0][1] < PLAUSIBLE_SECONDS
        assert reader.match({"jti": "jti-pushed"}, {}, "") is not None
    finally:
        reader.stop()


def test_a_rule_found_by_a_catch_up_is_timed_as_poll(
    open_shared: Callable[[], RuleStore],
) -> None:
    """A replica that catches up by ``sync`` records each rule it brought in, path "poll"."""
    observed = Observed()
    reader = Registry(open_shared())
    reader.sync()
    reader.replica.add_propagation_observer(observed)
    writer = Registry(open_shared())
    for n in range(3):
        writer.revoke("token", f"jti-{n}", reason="test")
    reader.sync()
    assert [path for path, _ in observed.heard] == ["poll"] * 3
    assert all(0.0 <= seconds < PLAUSIBLE_SECONDS for _, seconds in observed.heard)


def test_the_writing_replica_does_not_time_its_own_rules(
    open_shared: Callable[[], RuleStore],
) -> None:
    """A rule this process wrote was applied locally at once: its log entry is not timed."""
    observed = Observed()
    writer = Registry(open_shared())
    writer.sync()
    writer.replica.add_propagation_observer(observed)
    writer.revoke("token", "jti-own", reason="test")
    writer.sync()
    assert observed.heard == []
    Registry(open_shared()).revoke("token", "jti-other", reason="test")
    writer.sync()
    assert [path for path, _ in observed.heard] == ["poll"]


def test_rules_a_snapshot_loads_are_not_timed(open_shared: Callable[[], RuleStore]) -> None:
    """The first sync loads a snapshot: those rules did not propagate, nothing is recorded."""
    Registry(open_shared()).revoke("token", "jti-before", reason="test")
    observed = Observed()
    reader = Registry(open_shared())
    reader.replica.add_propagation_observer(observed)
    reader.sync()
    assert reader.match({"jti": "jti-before"}, {}, "") is not None
    assert observed.heard == []


def test_a_lift_is_not_timed_and_a_removed_observer_hears_nothing(
    open_shared: Callable[[], RuleStore],
) -> None:
    """Lifts carry no commit time here; an observer removed is called no more."""
    observed = Observed()
    reader = Registry(open_shared())
    reader.sync()
    reader.replica.add_propagation_observer(observed)
    writer = Registry(open_shared())
    rule = writer.revoke("token", "jti-lifted", reason="test")
    writer.lift(rule.id, actor="test")
    reader.sync()
    assert [path for path, _ in observed.heard] == ["poll"]  # the add; the lift is not timed
    reader.replica.remove_propagation_observer(observed)
    writer.revoke("token", "jti-unheard", reason="test")
    reader.sync()
    assert len(observed.heard) == 1
