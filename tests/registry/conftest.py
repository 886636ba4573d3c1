"""Fixtures for the registry tests: a frozen clock, registries, and every store backend.

A new backend joins the store contract by adding one ``StoreBackend`` to
``STORE_BACKENDS`` (with ``marks=`` to skip it where its server is absent).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from revoker.clock import FrozenClock
from revoker.registry import Registry, RuleStore
from revoker.registry.stores.memory import MemoryStore
from revoker.registry.stores.sqlite import SqliteStore

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
