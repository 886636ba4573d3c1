"""A saved index only ever saves time: whatever is wrong with it, or with saving one, the
replica still syncs, from the rules if need be, and a quiet store keeps using a good one."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import psycopg
import pytest
import redis
from backend_postgres import URL as POSTGRES_URL
from backend_postgres import drop as drop_schema
from backend_postgres import new_schema, require_postgres
from backend_redis import URL as REDIS_URL
from backend_redis import drop, new_prefix, require_redis

from revoker.core.clock import FrozenClock
from revoker.core.errors import StoreError
from revoker.core.registry import RegistryLimits, Rule
from revoker.core.registry import compact as compact_module
from revoker.core.registry.compact import KEYS
from revoker.core.registry.index_snapshot import load_index
from revoker.core.registry.replica import Replica
from revoker.core.registry.rules import new_rule
from revoker.core.registry.stores.memory import MemoryStore
from revoker.core.registry.stores.postgres import open_postgres_store
from revoker.core.registry.stores.redis import open_redis_store

T0 = 1_700_000_000.0


def make(kind: str, value: str, *, now: float = T0) -> Rule:
    return new_rule(kind, value, now=now, limits=RegistryLimits())


def sub(claim: str) -> dict[str, Any]:
    return {"sub": claim, "iat": T0 - 10}


def saved_by_a_replica(store: Any, clock: FrozenClock, count: int = 5) -> Replica:
    for n in range(count):
        store.add(make("subject", f"user-{n}", now=clock()))
    replica = Replica(store, clock=clock, compact_above=1)
    replica.sync()
    assert replica.save_index() is not None
    return replica


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    require_redis()
    name = new_prefix()
    yield name
    drop(name)


def test_a_malformed_redis_pointer_is_ignored_and_the_replica_syncs(
    redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A pointer missing a field is the store's error, which the replica logs and reads the
    rules past: it must not fail every sync (and, failing open, serve no rules at all)."""
    clock = FrozenClock(T0)
    store = open_redis_store(f"{REDIS_URL}?prefix={redis_prefix}")
    admin = redis.Redis.from_url(REDIS_URL)
    try:
        saved_by_a_replica(store, clock)
        admin.hdel("{" + redis_prefix + "}:index", "parts")
        with pytest.raises(StoreError, match="malformed"):
            store.saved_index()
        fresh = Replica(store, clock=clock, compact_above=1)
        with caplog.at_level(logging.WARNING, logger="revoker.registry"):
            fresh.sync()
        assert fresh.seq == 5
        assert fresh.match(sub("user-3"), {}, "a.b.c") is not None
        assert "ignores its saved index" in caplog.text
    finally:
        admin.close()
        store.close()


def test_a_second_redis_saver_is_refused_while_one_saves(redis_prefix: str) -> None:
    """One saver at a time: a second would write the whole index again beside it."""
    clock = FrozenClock(T0)
    store = open_redis_store(f"{REDIS_URL}?prefix={redis_prefix}")
    admin = redis.Redis.from_url(REDIS_URL)
    try:
        replica = saved_by_a_replica(store, clock)
        admin.set("{" + redis_prefix + "}:index:saving", "someone-else", px=60_000)
        with pytest.raises(StoreError, match="another process is saving"):
            replica.save_index()
        admin.delete("{" + redis_prefix + "}:index:saving")
        assert replica.save_index() == 5
    finally:
        admin.close()
        store.close()


def test_a_second_postgres_saver_is_refused_while_one_saves() -> None:
    """The same on PostgreSQL, by a session advisory lock another connection holds."""
    require_postgres()
    schema = new_schema()
    store = open_postgres_store(f"{POSTGRES_URL}?schema={schema}")
    try:
        replica = saved_by_a_replica(store, FrozenClock(T0))
        with psycopg.connect(POSTGRES_URL, autocommit=True) as other:
            lock = f"revoker-save-index:{schema}"
            other.execute("SELECT pg_advisory_lock(hashtext(%s))", (lock,))
            with pytest.raises(StoreError, match="another process is saving"):
                replica.save_index()
            other.execute("SELECT pg_advisory_unlock(hashtext(%s))", (lock,))
        assert replica.save_index() == 5
    finally:
        store.close()
        drop_schema(schema)


def test_a_quiet_store_whose_log_was_pruned_to_the_saved_seq_still_uses_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nothing changed since the save and prune trimmed the log through its seq: the change
    it was saved after is gone, but nothing is missing either, so the index is loaded."""
    clock = FrozenClock(T0)
    store = MemoryStore(change_retention_seconds=60)
    saved_by_a_replica(store, clock)
    clock.advance(3600)
    store.prune(clock())
    assert store.changes_since(4) is None  # the saved change itself is trimmed
    assert store.changes_since(5) == []

    def no_snapshot(now: float) -> object:
        raise AssertionError("the replica read the rules instead of the saved index")

    monkeypatch.setattr(store, "snapshot", no_snapshot)
    fresh = Replica(store, clock=clock, compact_above=1)
    fresh.sync()
    assert fresh.seq == 5
    assert fresh.match(sub("user-0"), {}, "a.b.c") is not None


def test_a_saved_index_that_loads_but_breaks_its_catch_up_is_forgotten(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A writer's bug the checks did not see: the first sync fails, and the next one reads
    the rules instead of loading the same index again."""
    clock = FrozenClock(T0)
    store = MemoryStore()
    saved_by_a_replica(store, clock)
    store.add(make("subject", "user-after", now=clock()))
    fresh = Replica(store, clock=clock, compact_above=1)
    broken = {"once": True}
    apply = Replica._apply

    def apply_breaking_once(self: Replica, changes: Any, now: float, delays: Any) -> None:
        if broken.pop("once", False):
            raise KeyError(0)
        apply(self, changes, now, delays)

    monkeypatch.setattr(Replica, "_apply", apply_breaking_once)
    with pytest.raises(KeyError):
        fresh.sync()
    assert fresh.seq == -1
    loads: list[str] = []
    monkeypatch.setattr(store, "saved_index", lambda: loads.append("saved") or store._saved_index)
    fresh.sync()
    assert loads == []
    assert fresh.seq == 6
    assert fresh.match(sub("user-after"), {}, "a.b.c") is not None


def test_escaped_texts_missing_from_a_saved_index_raise_value_error() -> None:
    """A row whose value is kept as a string beside the matrix must have it: without, the
    check would fail on that rule (KeyError), so the bytes are refused at load."""
    clock = FrozenClock(T0)
    store = MemoryStore()
    store.add(make("subject", "u" * 300, now=clock()))  # longer than the matrix keeps
    for n in range(3):
        store.add(make("subject", f"user-{n}", now=clock()))
    replica = Replica(store, clock=clock, compact_above=1)
    replica.sync()
    replica.save_index()
    saved = store.saved_index()
    assert saved is not None
    load_index(saved.data, T0)  # the control: it loads as saved
    with np.load(io.BytesIO(saved.data), allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    header = json.loads(arrays["header"].tobytes())
    emptied = [s for s in header["segments"] if s and s["esc_values"]]
    assert emptied
    for segment in emptied:
        segment["esc_values"] = {}
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    out = io.BytesIO()
    np.savez(out, allow_pickle=False, **arrays)
    with pytest.raises(ValueError, match="escaped"):
        load_index(out.getvalue(), T0)


def test_long_claim_values_are_not_kept_in_the_key_memo() -> None:
    """The memo's bound is on bytes too: a claim past a few hundred characters (a large
    sid or sub) has its key computed each time, never kept."""
    KEYS.clear()
    long_value = "x" * (compact_module._KEY_KEPT_CHARS + 1)
    short_value = "y" * compact_module._KEY_KEPT_CHARS
    assert KEYS[long_value] == compact_module.stable_key(long_value)
    assert KEYS[short_value] == compact_module.stable_key(short_value)
    assert long_value not in KEYS
    assert short_value in KEYS
