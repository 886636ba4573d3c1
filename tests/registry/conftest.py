"""Fixtures for the registry tests: a frozen clock, registries, and every store backend.

A new backend joins the store contract by adding one ``StoreBackend`` to
``STORE_BACKENDS``, or, for a backend with its own server, by a file
``backend_<name>.py`` beside this one that defines ``BACKENDS``: a list of
``(name, open(tmp_path) -> RuleStore, durable)``. ``open`` skips (or, under
REVOKER_REQUIRE_SERVICES=1, fails) when the server is absent.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from revoker.core.clock import FrozenClock
from revoker.core.registry import Registry, RuleStore
from revoker.core.registry.stores.memory import MemoryStore
from revoker.core.registry.stores.sqlite import SqliteStore

T0 = 1_700_000_000.0


@dataclass(frozen=True)
class StoreBackend:
    """How to open one backend; ``durable`` ones reopen the same data from the same place."""

    name: str
    open: Callable[[Path], RuleStore]
    durable: bool


STORE_BACKENDS = [
    pytest.param(StoreBackend("memory", lambda _: MemoryStore(), durable=False), id="memory"),
    pytest.param(
        StoreBackend("sqlite", lambda path: SqliteStore(path / "rules.db"), durable=True),
        id="sqlite",
    ),
]


def _load_backend_files() -> list[object]:
    params: list[object] = []
    for path in sorted(Path(__file__).parent.glob("backend_*.py")):
        spec = importlib.util.spec_from_file_location(f"revoker_test_{path.stem}", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for name, opener, durable in module.BACKENDS:
            params.append(pytest.param(StoreBackend(name, opener, durable=durable), id=name))
    return params


STORE_BACKENDS.extend(_load_backend_files())

#: Backends whose seqs are ids a reader passes back, not one order of every write.
PER_READER_SEQS = frozenset({"dynamodb-sharded"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test marked ``global_order`` holds for stores that put every write in one sequence:
    a store whose seqs are per reader is not run through it (deselected, not skipped)."""
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("store_backend") if callspec is not None else None
        per_reader = isinstance(backend, StoreBackend) and backend.name in PER_READER_SEQS
        (dropped if per_reader and item.get_closest_marker("global_order") else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(params=STORE_BACKENDS)
def store_backend(request: pytest.FixtureRequest) -> StoreBackend:
    backend: StoreBackend = request.param
    return backend


@pytest.fixture
def store(store_backend: StoreBackend, tmp_path: Path) -> Iterator[RuleStore]:
    opened = store_backend.open(tmp_path)
    yield opened
    opened.close()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def registry(clock: FrozenClock) -> Iterator[Registry]:
    """A synced registry on a memory store with a frozen clock."""
    with Registry(MemoryStore(), clock=clock) as reg:
        reg.replica.sync()
        yield reg
