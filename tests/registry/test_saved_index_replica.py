"""A replica saves its compact index to its store, and a replica's first sync loads it.

The first sync of a replica whose store holds a saved index loads that index instead
of the rules, then follows the change log from the seq it was saved at: it answers as
a replica that loaded the rules. A saved index that does not read back, or that the
log no longer reaches, is ignored (the rules are loaded). With
``index_snapshot_seconds`` the poll thread saves the index once the newest saved one
is that old; a replica holding the dictionary index saves nothing. What the log brings
after a saved index is catch-up, not propagation: observers hear none of it.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import backend_postgres
import backend_redis
import numpy as np
import pytest

from revoker.core.clock import FrozenClock
from revoker.core.errors import StoreError
from revoker.core.registry import RegistryLimits, Rule, RuleStore
from revoker.core.registry.index_snapshot import load_index
from revoker.core.registry.replica import PropagationPath, Replica
from revoker.core.registry.rules import new_rule
from revoker.core.registry.stores.memory import MemoryStore
from revoker.core.registry.stores.sqlite import SqliteStore

T0 = 1_700_000_000.0
ISS = "https://issuer.example"
SNAPSHOTS = ("snapshot", "snapshot_rows", "snapshot_columns", "rule_count_hint")
LOGGER = "revoker.registry"

STORES = [
    pytest.param(lambda _: MemoryStore(), id="memory"),
    pytest.param(lambda path: SqliteStore(path / "rules.db"), id="sqlite"),
    pytest.param(backend_redis.open_store, id="redis"),
    pytest.param(backend_postgres.open_store, id="postgresql"),
]


def make(kind: str, value: str, *, now: float = T0) -> Rule:
    return new_rule(kind, value, now=now, limits=RegistryLimits())


class WithoutSavedIndexes:
    """A store seen through a proxy that keeps no saved indexes (the reference)."""

    _HIDDEN = frozenset({"save_index", "saved_index", "saved_index_info"})

    def __init__(self, store: RuleStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        if name in self._HIDDEN:
            raise AttributeError(name)
        return getattr(self._store, name)


class LogAlwaysTrimmed(WithoutSavedIndexes):
    """A store (saved indexes kept) whose change log never reaches back: always reload."""

    _HIDDEN = frozenset()

    def changes_since(self, seq: int, *, limit: int = 10_000) -> None:
        return None


def replica_of(store: Any, clock: FrozenClock, **options: Any) -> Replica:
    options.setdefault("compact_above", 1)  # the compact index, whatever the rule count
    return Replica(cast("RuleStore", store), clock=clock, **options)


def spy_snapshots(store: Any, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Count the calls of the store's snapshot methods (the ones a load from rules makes)."""
    calls: Counter[str] = Counter()
    for name in SNAPSHOTS:
        method = getattr(store, name, None)
        if method is None:
            continue

        def counted(*args: Any, _name: str = name, _method: Any = method, **kw: Any) -> Any:
            calls[_name] += 1
            return _method(*args, **kw)

        monkeypatch.setattr(store, name, counted)
    return calls


QUERIES = (
    [{"sub": f"user-{n}", "iss": ISS, "iat": T0 - 10} for n in range(45)]
    + [{"jti": f"jti-{n}", "iss": ISS} for n in range(12)]
    + [{"sid": f"sid-{n}"} for n in range(6)]
    + [{"sub": "nobody", "jti": "none", "sid": "none", "iat": T0 - 10}]
)


def decisions(replica: Replica) -> list[str | None]:
    """For every query, the rule that revokes it (its kind and value), or None."""
    answers: list[str | None] = []
    for claims in QUERIES:
        rule = replica.match(claims, {"alg": "RS256"}, "h.p.s")
        answers.append(None if rule is None else f"{rule.kind}:{rule.value}")
    return answers


@pytest.fixture(params=STORES)
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RuleStore]:
    opener: Callable[[Path], RuleStore] = request.param
    opened = opener(tmp_path)
    yield opened
    opened.close()


def saved_then_changed(store: RuleStore, clock: FrozenClock) -> tuple[int, dict[str, Rule]]:
    """40 subject rules and 4 session rules saved as an index; then, after the save, 10
    token rules and 2 session rules added and 5 rules lifted (2 of them added after).
    The seq saved at, and the rules by name."""
    rules = {f"user-{n}": make("subject", f"user-{n}") for n in range(40)}
    rules |= {f"sid-{n}": make("session", f"sid-{n}") for n in range(4)}
    for rule in rules.values():
        store.add(rule)
    writer = replica_of(store, clock)
    writer.sync()
    seq = writer.save_index()
    assert seq is not None
    assert seq == writer.seq
    later = {f"jti-{n}": make("token", f"jti-{n}", now=T0 + 1) for n in range(10)}
    later |= {f"sid-{n}": make("session", f"sid-{n}", now=T0 + 1) for n in (4, 5)}
    for rule in later.values():
        store.add(rule)
    rules |= later
    for name in ("user-0", "user-7", "sid-1", "jti-3", "sid-5"):
        store.lift(rules[name].id, actor="test", reason="undo", now=T0 + 2)
    return seq, rules


# -- loading a saved index ----------------------------------------------------------


def test_a_first_sync_loads_the_saved_index_and_catches_up_from_its_seq(
    any_store: RuleStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No snapshot is read: the saved index, then the changes after its seq; the answers
    are those of a replica that loaded the rules."""
    clock = FrozenClock(T0 + 3)
    saved_seq, _ = saved_then_changed(any_store, clock)
    head, _ = any_store.snapshot(clock())
    assert head > saved_seq
    calls = spy_snapshots(any_store, monkeypatch)
    reader = replica_of(any_store, clock)
    reader.sync()
    assert calls == Counter()
    assert reader.seq == head
    reference = replica_of(WithoutSavedIndexes(any_store), clock)
    reference.sync()
    assert calls["snapshot"] + calls["snapshot_rows"] + calls["snapshot_columns"] > 0
    assert decisions(reader) == decisions(reference)
    assert reader.counts_by_kind() == reference.counts_by_kind()
    assert reader.rule_count == 40 + 6 + 10 - 5
    answers = dict(zip(map(json.dumps, QUERIES), decisions(reader), strict=True))

    def answer(claims: dict[str, Any]) -> str | None:
        return answers[json.dumps(claims)]

    assert answer({"sub": "user-1", "iss": ISS, "iat": T0 - 10}) == "subject:user-1"
    assert answer({"sub": "user-0", "iss": ISS, "iat": T0 - 10}) is None  # lifted after
    assert answer({"jti": "jti-2", "iss": ISS}) == "token:jti-2"  # added after
    assert answer({"jti": "jti-3", "iss": ISS}) is None  # added and lifted after
    assert answer({"sid": "sid-4"}) == "session:sid-4"
    assert answer({"sid": "sid-1"}) is None


def test_later_syncs_follow_the_log_as_usual(monkeypatch: pytest.MonkeyPatch) -> None:
    """After a replica loaded a saved index, new rules and lifts reach it by the log."""
    store, clock = MemoryStore(), FrozenClock(T0 + 3)
    _, rules = saved_then_changed(store, clock)
    reader = replica_of(store, clock)
    reader.sync()
    calls = spy_snapshots(store, monkeypatch)
    store.add(make("token", "jti-11", now=T0 + 3))
    store.lift(rules["user-1"].id, actor="test", reason="", now=T0 + 3)
    reader.sync()
    assert calls == Counter()
    assert reader.match({"jti": "jti-11"}, {}, "h.p.s") is not None
    assert reader.match({"sub": "user-1", "iat": T0 - 10}, {}, "h.p.s") is None
    assert reader.seq == store.snapshot(clock())[0]


def test_rules_expired_since_the_save_are_not_loaded() -> None:
    """A saved index loaded later than it was saved holds none of the rules expired since."""
    store, clock = MemoryStore(), FrozenClock(T0)
    lasting = make("token", "jti-lasting")
    brief = new_rule("token", "jti-brief", now=T0, limits=RegistryLimits(), expires_at=T0 + 60)
    for rule in (lasting, brief):
        store.add(rule)
    writer = replica_of(store, clock)
    writer.sync()
    assert writer.save_index() is not None
    clock.advance(60)
    reader = replica_of(store, clock)
    reader.sync()
    assert reader.match({"jti": "jti-brief"}, {}, "h.p.s") is None
    assert reader.match({"jti": "jti-lasting"}, {}, "h.p.s") == lasting
    assert reader.rule_count == 1


# -- saved indexes that are ignored --------------------------------------------------


def _random(data: bytes) -> bytes:
    return hashlib.shake_256(b"noise").digest(len(data))


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _another_format(data: bytes) -> bytes:
    with np.load(io.BytesIO(data), allow_pickle=False) as saved:
        arrays = {name: saved[name] for name in saved.files}
    header = json.loads(arrays["header"].tobytes())
    header["format"] = "revoker-compact-index/0 python-hash"
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def _crc_broken(data: bytes) -> bytes:
    changed = bytearray(data)
    changed[len(data) // 3] ^= 0xFF  # inside a member: its CRC-32 no longer holds
    return bytes(changed)


def _central_directory_flag(data: bytes) -> bytes:
    changed = bytearray(data)
    changed[data.find(b"PK\x01\x02") + 8] ^= 0x01  # one bit the CRCs do not cover
    return bytes(changed)


def _header_not_an_object(data: bytes) -> bytes:
    with np.load(io.BytesIO(data), allow_pickle=False) as saved:
        arrays = {name: saved[name] for name in saved.files}
    arrays["header"] = np.frombuffer(b"[1, 2]", np.uint8)
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(_random, id="random bytes"),
        pytest.param(_truncated, id="truncated"),
        pytest.param(lambda _: b"", id="empty"),
        pytest.param(_another_format, id="another format"),
        pytest.param(_crc_broken, id="a member's CRC broken"),
        pytest.param(_central_directory_flag, id="a central directory bit flipped"),
        pytest.param(_header_not_an_object, id="a header that is a JSON list"),
    ],
)
def test_a_saved_index_that_does_not_read_back_is_ignored_with_a_warning(
    damage: Callable[[bytes], bytes],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The replica logs a warning and loads the rules, with the answers they give."""
    store, clock = MemoryStore(), FrozenClock(T0 + 3)
    saved_then_changed(store, clock)
    saved = store.saved_index()
    assert saved is not None
    store.save_index(saved.seq, damage(saved.data), written_at=saved.written_at)
    calls = spy_snapshots(store, monkeypatch)
    reader = replica_of(store, clock)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        reader.sync()
    warnings = [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]
    assert [r.getMessage().split(":")[0] for r in warnings] == [
        "revocation registry ignores its saved index"
    ]
    assert calls["snapshot"] == 1
    reference = replica_of(WithoutSavedIndexes(store), clock)
    reference.sync()
    assert decisions(reader) == decisions(reference)
    assert reader.seq == reference.seq


def test_a_saved_index_the_store_cannot_read_is_ignored_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A StoreError reading the saved index costs the start time only: the rules load."""
    store, clock = MemoryStore(), FrozenClock(T0 + 3)
    saved_then_changed(store, clock)

    def unreadable() -> None:
        raise StoreError("the saved index cannot be read")

    monkeypatch.setattr(store, "saved_index", unreadable)
    reader = replica_of(store, clock)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        reader.sync()
    assert any("cannot be read" in r.getMessage() for r in caplog.records if r.name == LOGGER)
    reference = replica_of(WithoutSavedIndexes(store), clock)
    reference.sync()
    assert decisions(reader) == decisions(reference)


def test_a_saved_index_the_trimmed_log_no_longer_reaches_leads_to_a_full_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Saved at a seq the pruned change log no longer holds: the replica loads the rules,
    so the adds and lifts after the save (no longer in the log) are all in it."""
    store, clock = MemoryStore(change_retention_seconds=10), FrozenClock(T0 + 3)
    saved_seq, _ = saved_then_changed(store, clock)
    store.prune(T0 + 100)
    assert store.changes_since(saved_seq) is None
    clock.now = T0 + 100
    calls = spy_snapshots(store, monkeypatch)
    reader = replica_of(store, clock)
    reader.sync()
    assert calls["snapshot"] == 1
    reference = replica_of(WithoutSavedIndexes(store), clock)
    reference.sync()
    assert decisions(reader) == decisions(reference)
    assert reader.seq == reference.seq == store.snapshot(clock())[0]
    assert reader.match({"jti": "jti-2"}, {}, "h.p.s") is not None
    assert reader.match({"sub": "user-0", "iat": T0 - 10}, {}, "h.p.s") is None


def test_a_store_whose_log_never_reaches_the_saved_seq_leads_to_a_full_load() -> None:
    """changes_since(saved seq) is None: the saved index is replaced by the rules."""
    store, clock = MemoryStore(), FrozenClock(T0 + 3)
    saved_then_changed(store, clock)
    reader = replica_of(LogAlwaysTrimmed(store), clock)
    reader.sync()
    reference = replica_of(WithoutSavedIndexes(store), clock)
    reference.sync()
    assert decisions(reader) == decisions(reference)
    assert reader.rule_count == reference.rule_count == 51


def test_a_saved_index_ahead_of_its_store_leads_to_a_full_load() -> None:
    """An index saved at a seq the store has not reached (the store was replaced since)
    is not trusted: the replica loads the store's own rules."""
    old, clock = MemoryStore(), FrozenClock(T0 + 3)
    saved_then_changed(old, clock)
    saved = old.saved_index()
    assert saved is not None
    fresh = MemoryStore()
    own = make("subject", "user-other")
    fresh.add(own)
    fresh.save_index(saved.seq, saved.data, written_at=saved.written_at)
    reader = replica_of(fresh, clock)
    reader.sync()
    assert reader.rule_count == 1
    assert reader.match({"sub": "user-other", "iat": T0 - 10}, {}, "h.p.s") == own
    assert reader.match({"sub": "user-1", "iat": T0 - 10}, {}, "h.p.s") is None


# -- saving --------------------------------------------------------------------------


def wait_for(predicate: Callable[[], bool], timeout_seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.005)
    return predicate()


def tick(clock: FrozenClock, seconds: int) -> None:
    """Let ``seconds`` pass on the replica's clock, a second every 10 ms (several polls)."""
    for _ in range(seconds):
        clock.advance(1.0)
        time.sleep(0.01)


def tick_until(
    clock: FrozenClock, predicate: Callable[[], bool], timeout_seconds: float = 5.0
) -> bool:
    """Let seconds pass on the replica's clock, one every 10 ms, until ``predicate`` holds."""
    deadline = time.monotonic() + timeout_seconds
    while not predicate() and time.monotonic() < deadline:
        tick(clock, 1)
    return predicate()


def test_save_index_writes_what_a_replica_then_loads() -> None:
    """save_index returns the seq it saved at; the bytes load into the same rules."""
    store, clock = MemoryStore(), FrozenClock(T0)
    for n in range(30):
        store.add(make("subject", f"user-{n}"))
    replica = replica_of(store, clock)
    replica.sync()
    replica.add_rule(make("token", "jti-local"))  # in the delta, saved with it
    assert replica.save_index() == replica.seq
    saved = store.saved_index()
    assert saved is not None
    assert (saved.seq, saved.written_at) == (replica.seq, T0)
    seq, index = load_index(saved.data, T0)
    assert seq == replica.seq
    assert index.counts_by_kind() == replica.counts_by_kind()
    assert index.match({"jti": "jti-local"}, {}, "h.p.s") is not None


def test_the_poll_thread_saves_the_index_when_none_is_saved() -> None:
    """With index_snapshot_seconds and a compact index, a started replica saves its index
    (its seq and rules) once the first look comes (within a tenth of the interval)."""
    store, clock = MemoryStore(), FrozenClock(T0)
    for n in range(30):
        store.add(make("subject", f"user-{n}"))
    replica = replica_of(store, clock, poll_interval_seconds=0.005, index_snapshot_seconds=60)
    replica.start()
    try:
        assert tick_until(clock, lambda: store.saved_index_info() is not None)
    finally:
        replica.stop()
    info = store.saved_index_info()
    assert info is not None
    assert info[0] == replica.seq
    assert T0 <= info[1] <= clock()
    saved = store.saved_index()
    assert saved is not None
    _, index = load_index(saved.data, clock())
    assert index.rule_count == 30


def test_the_poll_thread_saves_again_only_when_the_saved_one_is_old_and_behind() -> None:
    """No second save while the newest holds every change (however old), nor while it is
    younger than index_snapshot_seconds; once both old and behind, one at the replica's seq."""
    store, clock = MemoryStore(), FrozenClock(T0)
    for n in range(30):
        store.add(make("subject", f"user-{n}"))
    replica = replica_of(store, clock, poll_interval_seconds=0.005, index_snapshot_seconds=60)
    replica.start()
    try:
        assert tick_until(clock, lambda: store.saved_index_info() is not None)
        first = store.saved_index_info()
        assert first is not None

        clock.advance(120)  # old, but holding every change: nothing to save
        tick(clock, 20)
        assert store.saved_index_info() == first

        store.add(make("token", "jti-new", now=clock()))  # behind, and old: a new one
        assert tick_until(clock, lambda: store.saved_index_info() != first)
        second = store.saved_index_info()
        assert second is not None
        assert second[0] == first[0] + 1 == replica.seq
        assert second[1] - first[1] >= 60

        store.add(make("token", "jti-newer", now=clock()))  # behind, but young: not yet
        assert wait_for(lambda: replica.seq == second[0] + 1)
        tick(clock, 40)
        assert store.saved_index_info() == second
        assert tick_until(clock, lambda: store.saved_index_info() != second)
        third = store.saved_index_info()
        assert third is not None
        assert third[0] == second[0] + 1
        assert third[1] - second[1] >= 60
    finally:
        replica.stop()


def test_a_replica_holding_the_dictionary_index_saves_nothing() -> None:
    """Below compact_above: save_index() is None and the poll thread saves no index."""
    store, clock = MemoryStore(), FrozenClock(T0)
    for n in range(30):
        store.add(make("subject", f"user-{n}"))
    replica = replica_of(
        store, clock, compact_above=1000, poll_interval_seconds=0.005, index_snapshot_seconds=60
    )
    replica.start()
    try:
        assert replica.rule_count == 30
        assert replica.save_index() is None
        tick(clock, 30)  # past the first look's jitter (a tenth of the interval)
    finally:
        replica.stop()
    assert store.saved_index_info() is None


def test_nothing_is_saved_before_the_first_sync_or_to_a_store_without_saved_indexes() -> None:
    """save_index() is None with no rules yet, and on a store that keeps no saved index."""
    store, clock = MemoryStore(), FrozenClock(T0)
    store.add(make("subject", "user-1"))
    assert replica_of(store, clock).save_index() is None
    hidden = replica_of(WithoutSavedIndexes(store), clock)
    hidden.sync()
    assert type(hidden._rules).__name__ == "CompactIndex"
    assert hidden.save_index() is None
    assert store.saved_index_info() is None


def test_a_save_that_fails_on_the_poll_thread_is_logged_and_the_replica_keeps_syncing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A store that cannot save costs the next start time only: a warning, syncs go on."""
    store, clock = MemoryStore(), FrozenClock(T0)
    store.add(make("subject", "user-1"))
    tried = threading.Event()

    def cannot_save(seq: int, data: bytes, *, written_at: float) -> None:
        tried.set()
        raise StoreError("the store is read-only")

    monkeypatch.setattr(store, "save_index", cannot_save)
    replica = replica_of(store, clock, poll_interval_seconds=0.005, index_snapshot_seconds=60)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        replica.start()
        try:
            assert tick_until(clock, tried.is_set)
            assert wait_for(
                lambda: any("cannot save its index" in r.getMessage() for r in caplog.records)
            )
            store.add(make("token", "jti-after"))
            assert wait_for(lambda: replica.match({"jti": "jti-after"}, {}, "h.p.s") is not None)
        finally:
            replica.stop()


def test_the_poll_thread_outlives_a_saved_index_info_that_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The look for a save runs on the poll thread, which must outlive any store failure:
    a saved_index_info that raises (Redis parses the pointer's fields with int() and
    float()) must not stop the replica following the store."""
    store, clock = MemoryStore(), FrozenClock(T0)
    store.add(make("subject", "user-1"))

    def malformed() -> None:
        raise ValueError("invalid literal for int() with base 10: b'x'")

    monkeypatch.setattr(store, "saved_index_info", malformed)
    replica = replica_of(store, clock, poll_interval_seconds=0.005, index_snapshot_seconds=60)
    replica.start()
    try:
        tick(clock, 20)  # past the first look
        store.add(make("token", "jti-after", now=clock()))
        assert wait_for(lambda: replica.match({"jti": "jti-after"}, {}, "h.p.s") is not None)
    finally:
        replica.stop()


# -- observers -----------------------------------------------------------------------


class Heard:
    def __init__(self) -> None:
        self.calls: list[tuple[PropagationPath, list[float]]] = []

    def __call__(self, path: PropagationPath, delays: Sequence[float]) -> None:
        self.calls.append((path, list(delays)))


def test_observers_hear_no_catch_up_after_a_saved_index_then_hear_new_rules() -> None:
    """The changes a first sync replays after loading a saved index did not propagate
    now: observers hear nothing of them; a rule added later is timed as usual."""
    store, clock = MemoryStore(), FrozenClock(T0 + 3)
    saved_then_changed(store, clock)  # 12 rules added after the save: catch-up
    heard = Heard()
    reader = replica_of(store, clock)
    reader.add_propagation_observer(heard)
    reader.sync()
    assert reader.match({"jti": "jti-0"}, {}, "h.p.s") is not None  # the catch-up happened
    assert heard.calls == []
    store.add(make("token", "jti-later", now=T0 + 4))
    clock.now = T0 + 6.5
    reader.sync()
    assert heard.calls == [("poll", [2.5])]


def test_observers_hear_the_changes_of_an_ordinary_first_catch_up() -> None:
    """The control: a replica synced from the rules, then brought the same kind of changes
    by the log, times each new rule."""
    store, clock = MemoryStore(), FrozenClock(T0 + 3)
    for n in range(5):
        store.add(make("subject", f"user-{n}"))
    heard = Heard()
    reader = replica_of(store, clock)
    reader.add_propagation_observer(heard)
    reader.sync()
    assert heard.calls == []  # a snapshot did not propagate either
    for n in range(3):
        store.add(make("token", f"jti-{n}", now=T0 + 1))
    reader.sync()
    assert heard.calls == [("poll", [2.0, 2.0, 2.0])]
