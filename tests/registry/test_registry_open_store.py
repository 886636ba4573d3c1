"""open_store: picking a backend by URL, SQLAlchemy-style SQLite paths, clear errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from revoker.core.errors import ConfigurationError, StoreError
from revoker.core.registry import Registry, RegistryLimits, open_store
from revoker.core.registry.rules import new_rule
from revoker.core.registry.stores.memory import MemoryStore
from revoker.core.registry.stores.sqlite import SqliteStore

T0 = 1_700_000_000.0


def test_memory_url_opens_a_fresh_store_each_time() -> None:
    """memory:// gives a new, empty, unshared store per call."""
    first, second = open_store("memory://"), open_store("memory://")
    assert isinstance(first, MemoryStore)
    first.add(new_rule("token", "j-1", now=T0, limits=RegistryLimits()))
    assert second.snapshot(T0) == (0, [])


def test_sqlite_absolute_path_takes_four_slashes(tmp_path: Path) -> None:
    """sqlite:////abs/path opens (and creates) the file at that absolute path."""
    store = open_store(f"sqlite:///{tmp_path / 'abs.db'}")
    try:
        assert isinstance(store, SqliteStore)
        assert store.path == tmp_path / "abs.db"
        assert (tmp_path / "abs.db").is_file()
    finally:
        store.close()


def test_sqlite_relative_path_takes_three_slashes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sqlite:///rel/path is relative to the working directory."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    store = open_store("sqlite:///data/rel.db")
    store.close()
    assert (tmp_path / "data" / "rel.db").is_file()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        pytest.param("mysql://user:s3cret@db/x", "'mysql'", id="unknown-scheme"),
        pytest.param("revoker.db", "(none)", id="no-scheme"),
        pytest.param("sqlite://", "sqlite:///relative/path", id="sqlite-no-path"),
        pytest.param("sqlite://host/x.db", "sqlite:///relative/path", id="sqlite-host"),
        pytest.param("sqlite:///:memory:", "memory://", id="sqlite-memory"),
        pytest.param("sqlite:///x.db?mode=ro", "file path only", id="sqlite-query"),
        pytest.param("sqlite:////no/such/dir/x.db", "does not exist", id="missing-dir"),
        pytest.param("memory://shared", "no path", id="memory-path"),
    ],
)
def test_bad_urls_are_configuration_errors(url: str, message: str) -> None:
    """A URL no backend takes is a one-line ConfigurationError (exit 2) that shows no secret."""
    with pytest.raises(ConfigurationError) as caught:
        open_store(url)
    text = str(caught.value)
    assert message in text
    assert "\n" not in text
    assert "s3cret" not in text
    assert caught.value.exit_code == 2


def test_unknown_scheme_names_the_supported_ones() -> None:
    """The error lists every scheme that works today."""
    with pytest.raises(ConfigurationError, match=r"memory://.*sqlite:///"):
        open_store("redis-cluster://x")


def test_unusable_sqlite_file_is_a_store_error(tmp_path: Path) -> None:
    """A path SQLite cannot open as a database raises StoreError, not sqlite3.Error."""
    (tmp_path / "not-a-db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="SQLite"):
        open_store(f"sqlite:///{tmp_path / 'not-a-db'}")


def test_registry_open_uses_the_url(tmp_path: Path) -> None:
    """Registry.open builds the store from a URL and closes it with the registry."""
    url = f"sqlite:///{tmp_path / 'r.db'}"
    with Registry.open(url) as registry:
        rule = registry.revoke("key", "kid-1")
    with Registry.open(url) as again:
        assert again.get(rule.id) == rule


def test_lock_held_past_the_busy_timeout_is_a_store_error(tmp_path: Path) -> None:
    """A write blocked by another writer beyond the busy timeout raises a one-line StoreError."""
    path = tmp_path / "locked.db"
    store = SqliteStore(path, busy_timeout_seconds=0.05)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreError, match="locked") as caught:
            store.add(new_rule("token", "j-1", now=T0, limits=RegistryLimits()))
        assert "\n" not in str(caught.value)
        assert isinstance(caught.value.__cause__, sqlite3.Error)
        other.execute("ROLLBACK")
        assert store.add(new_rule("token", "j-2", now=T0, limits=RegistryLimits())) == 1
    finally:
        other.close()
        store.close()
