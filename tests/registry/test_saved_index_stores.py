"""The saved-index methods every store that keeps one has (``store.py``): memory, SQLite,
Redis (one server and a cluster) and PostgreSQL.

``save_index(seq, data, written_at=)`` keeps the bytes whole, split into parts of at
most ``INDEX_PART_BYTES``; ``saved_index()`` gives back the newest one (its seq, time and
exact bytes) or None; ``saved_index_info()`` its seq and time alone. Saving again
replaces the older one (whose parts are deleted), a save that dies midway leaves the
older one readable, and a reader gets one saved index whole, never parts of two.
"""

# ruff: noqa: S608 -- the SQL here names test schemas backend_postgres generated

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import backend_postgres
import backend_redis
import backend_redis_cluster
import psycopg
import pytest
import redis

import revoker.core.registry.store as store_module
from redis_cluster_support import shared_cluster
from revoker.core.errors import StoreError
from revoker.core.registry.store import SavedIndex, split_parts
from revoker.core.registry.stores.memory import MemoryStore
from revoker.core.registry.stores.sqlite import SqliteStore

T0 = 1_700_000_000.0
PART = 1000  # INDEX_PART_BYTES in these tests: a few kB make several parts

# generation -> its part numbers, as the backend keeps them (what "replaced" means there)
Parts = dict[str, list[int]]


def _sqlite_parts(path: Path) -> Parts:
    import sqlite3  # noqa: PLC0415 -- only the SQLite backend's inspection needs it

    with sqlite3.connect(path / "rules.db") as db:
        rows = db.execute("SELECT generation, part FROM saved_index_parts ORDER BY 1, 2")
        found: Parts = {}
        for generation, part in rows:
            found.setdefault(str(generation), []).append(part)
        heads = db.execute("SELECT generation FROM saved_indexes").fetchall()
    return found | {f"head {generation}": [] for (generation,) in heads}


def _postgres_parts(path: Path) -> Parts:
    schema = backend_postgres.new_schema(str(path))
    with psycopg.connect(backend_postgres.URL, autocommit=True, connect_timeout=2) as conn:
        rows = conn.execute(
            f'SELECT generation, part FROM "{schema}".saved_index_parts ORDER BY 1, 2'
        ).fetchall()
        heads = conn.execute(f'SELECT generation FROM "{schema}".saved_indexes').fetchall()
    found: Parts = {}
    for generation, part in rows:
        found.setdefault(str(generation), []).append(part)
    return found | {f"head {generation}": [] for (generation,) in heads}


def _redis_keys(client: Any, prefix: str) -> Parts:
    found: Parts = {}
    for key in client.scan_iter(match="{" + prefix + "}:index:*", count=1000):
        _, _, generation, part = key.decode().split(":")
        found.setdefault(generation, []).append(int(part))
    return {generation: sorted(parts) for generation, parts in found.items()}


def _redis_parts(path: Path) -> Parts:
    client = redis.Redis.from_url(backend_redis.URL, socket_connect_timeout=2.0)
    try:
        return _redis_keys(client, backend_redis.new_prefix(str(path)))
    finally:
        client.close()


def _redis_cluster_parts(path: Path) -> Parts:
    prefix = "revoker-cluster-" + hashlib.sha256(str(path).encode()).hexdigest()[:16]
    client = redis.RedisCluster.from_url(shared_cluster().url)
    try:
        return _redis_keys(client, prefix)
    finally:
        client.close()


@dataclass(frozen=True)
class Saving:
    """A store that keeps saved indexes: how to open it, and what it holds of them."""

    name: str
    open: Callable[[Path], Any]  # a RuleStore with the optional saved-index methods
    durable: bool
    parts: Callable[[Path], Parts] | None  # None: nothing to look at (memory)


SAVING = [
    pytest.param(Saving("memory", lambda _: MemoryStore(), False, None), id="memory"),
    pytest.param(
        Saving("sqlite", lambda path: SqliteStore(path / "rules.db"), True, _sqlite_parts),
        id="sqlite",
    ),
    pytest.param(Saving("redis", backend_redis.open_store, True, _redis_parts), id="redis"),
    pytest.param(
        Saving("redis-cluster", backend_redis_cluster.open_store, True, _redis_cluster_parts),
        id="redis-cluster",
    ),
    pytest.param(
        Saving("postgresql", backend_postgres.open_store, True, _postgres_parts), id="postgresql"
    ),
]
SPLITTING = SAVING[1:]  # the stores that keep parts (memory keeps the bytes as they are)


@pytest.fixture(params=SAVING)
def saving(request: pytest.FixtureRequest) -> Saving:
    backend: Saving = request.param
    return backend


@pytest.fixture
def store(saving: Saving, tmp_path: Path) -> Iterator[Any]:
    opened = saving.open(tmp_path)
    yield opened
    opened.close()


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> int:
    """Parts of ``PART`` bytes (``split_parts`` reads ``INDEX_PART_BYTES`` at each call)."""
    monkeypatch.setattr(store_module, "INDEX_PART_BYTES", PART)
    return PART


def blob(seq: int, size: int) -> bytes:
    """Bytes of ``size`` that say which save wrote them, every byte value among them."""
    unit = bytes(range(256)) + seq.to_bytes(8, "big")
    return (unit * (size // len(unit) + 1))[:size]


def newest(parts: Parts) -> Parts:
    """The generations that hold parts (the heads' rows left out)."""
    return {generation: p for generation, p in parts.items() if not generation.startswith("head")}


# -- nothing, one, another ---------------------------------------------------------------


def test_a_store_with_nothing_saved_has_no_saved_index(store: Any) -> None:
    """Before any save: saved_index() and saved_index_info() are None."""
    assert store.saved_index() is None
    assert store.saved_index_info() is None


def test_a_saved_index_reads_back_exactly(store: Any) -> None:
    """The bytes (every value, NULs too), the seq (past 32 bits) and the time come back."""
    data = blob(7, 5000)
    seq, written_at = 2**40 + 3, T0 + 0.123456789
    store.save_index(seq, data, written_at=written_at)
    saved = store.saved_index()
    assert saved == SavedIndex(seq, written_at, data)
    assert type(saved.data) is bytes
    assert store.saved_index_info() == (seq, written_at)


def test_saving_again_replaces_the_older_index(saving: Saving, store: Any, tmp_path: Path) -> None:
    """The newest save is what every read returns; the older one is gone."""
    store.save_index(10, blob(10, 3000), written_at=T0)
    store.save_index(20, blob(20, 2000), written_at=T0 + 60)
    assert store.saved_index() == SavedIndex(20, T0 + 60, blob(20, 2000))
    assert store.saved_index_info() == (20, T0 + 60)
    if saving.parts is not None:
        kept = saving.parts(tmp_path)
        assert len(newest(kept)) == 1  # one generation's parts, the older one's deleted
        assert len(kept) - len(newest(kept)) in (0, 1)  # SQL stores: one head row


@pytest.mark.parametrize("saving", SPLITTING)
def test_the_older_indexs_parts_are_deleted(
    saving: Saving, store: Any, tmp_path: Path, small_parts: int
) -> None:
    """Saving a second index deletes every part of the first (SQL rows, Redis keys)."""
    assert saving.parts is not None
    store.save_index(1, blob(1, 5 * small_parts), written_at=T0)
    first = newest(saving.parts(tmp_path))
    assert list(first.values()) == [[0, 1, 2, 3, 4]]
    store.save_index(2, blob(2, 2 * small_parts + 1), written_at=T0 + 1)
    second = newest(saving.parts(tmp_path))
    assert list(second.values()) == [[0, 1, 2]]
    assert set(second).isdisjoint(first)  # a new generation, the old one's parts all gone
    assert store.saved_index() == SavedIndex(2, T0 + 1, blob(2, 2 * small_parts + 1))


# -- parts -------------------------------------------------------------------------------


def test_split_parts_reads_the_part_size_at_each_call(small_parts: int) -> None:
    """At most INDEX_PART_BYTES a part, at least one part, and together the whole."""
    data = blob(0, 3 * small_parts + 5)
    parts = split_parts(data)
    assert [len(part) for part in parts] == [small_parts] * 3 + [5]
    assert b"".join(parts) == data
    assert [len(part) for part in split_parts(blob(0, 2 * small_parts))] == [small_parts] * 2
    assert [bytes(part) for part in split_parts(b"")] == [b""]


@pytest.mark.parametrize("size", [PART - 1, PART, PART + 1, 4 * PART + 17])
def test_an_index_larger_than_a_part_reads_back_whole(
    saving: Saving, store: Any, tmp_path: Path, small_parts: int, size: int
) -> None:
    """Data past INDEX_PART_BYTES is kept in parts and read back as the one bytes saved."""
    data = blob(size, size)
    store.save_index(3, data, written_at=T0)
    assert store.saved_index() == SavedIndex(3, T0, data)
    if saving.parts is not None:
        assert list(newest(saving.parts(tmp_path)).values()) == [
            list(range(-(-size // small_parts)))
        ]


def test_empty_data_round_trips(store: Any) -> None:
    """An empty index (no bytes) is saved and read back as empty bytes, not as None."""
    store.save_index(0, b"", written_at=T0)
    assert store.saved_index() == SavedIndex(0, T0, b"")
    assert store.saved_index_info() == (0, T0)


def test_a_saved_index_outlives_the_store_object(saving: Saving, tmp_path: Path) -> None:
    """A durable store reopened (another process's view) finds the index saved."""
    first = saving.open(tmp_path)
    first.save_index(5, blob(5, 4000), written_at=T0)
    first.close()
    again = saving.open(tmp_path)
    try:
        expected = SavedIndex(5, T0, blob(5, 4000)) if saving.durable else None
        assert again.saved_index() == expected
    finally:
        again.close()


class WriterDied(Exception):
    """A saving process that stopped between two parts."""


class _DiesAfterFirstPart(list[memoryview]):
    def __iter__(self) -> Iterator[memoryview]:
        yield self[0]
        raise WriterDied


@pytest.mark.parametrize("saving", SPLITTING)
def test_a_save_that_dies_midway_leaves_the_older_index(
    saving: Saving,
    store: Any,
    tmp_path: Path,
    small_parts: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A writer gone after one part of three: readers still get the older index whole,
    and the next save that completes replaces both."""
    store.save_index(1, blob(1, 2500), written_at=T0)
    module = __import__(type(store).__module__, fromlist=["split_parts"])
    monkeypatch.setattr(module, "split_parts", lambda data: _DiesAfterFirstPart(split_parts(data)))
    with pytest.raises((WriterDied, StoreError)):
        store.save_index(2, blob(2, 2500), written_at=T0 + 1)
    assert store.saved_index() == SavedIndex(1, T0, blob(1, 2500))
    assert store.saved_index_info() == (1, T0)
    monkeypatch.undo()
    monkeypatch.setattr(store_module, "INDEX_PART_BYTES", small_parts)
    store.save_index(3, blob(3, 1500), written_at=T0 + 2)
    assert store.saved_index() == SavedIndex(3, T0 + 2, blob(3, 1500))
    if saving.name in ("sqlite", "postgresql"):  # Redis lets a dead save's parts expire
        assert saving.parts is not None
        assert list(newest(saving.parts(tmp_path)).values()) == [[0, 1]]


@pytest.mark.parametrize("saving", SPLITTING)
def test_a_reader_gets_one_saved_index_whole_never_a_mix(
    saving: Saving, store: Any, tmp_path: Path, small_parts: int
) -> None:
    """While another connection saves index after index (several parts each), every read
    is None or one index whole: the bytes of the seq it reports."""
    sizes = {seq: (seq % 4 + 2) * small_parts + seq for seq in range(1, 31)}
    done = threading.Event()
    failures: list[BaseException] = []

    def writer() -> None:
        writing = saving.open(tmp_path)
        try:
            for seq, size in sizes.items():
                writing.save_index(seq, blob(seq, size), written_at=T0 + seq)
        except BaseException as exc:  # noqa: BLE001 -- reported below
            failures.append(exc)
        finally:
            writing.close()
            done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    reads: list[SavedIndex | None] = []
    while not done.is_set() or not reads:
        reads.append(store.saved_index())
    thread.join(30)
    reads.append(store.saved_index())
    assert failures == []
    seen = [saved for saved in reads if saved is not None]
    for saved in seen:
        assert saved.written_at == T0 + saved.seq
        assert saved.data == blob(saved.seq, sizes[saved.seq])
    assert [saved.seq for saved in seen] == sorted(saved.seq for saved in seen)
    assert reads[-1] == SavedIndex(30, T0 + 30, blob(30, sizes[30]))
