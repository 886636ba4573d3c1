"""The PostgreSQL store beyond the shared contract: migrations, seq order, NOTIFY, errors."""

# ruff: noqa: S608 -- the SQL here names test schemas this module generated

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from backend_postgres import URL, drop, new_schema, require_postgres, sep
from registry_support import T0, make

from revoker.core.errors import ConfigurationError, StoreError
from revoker.core.registry import InvalidRule, open_store
from revoker.core.registry.migrations import migrate
from revoker.core.registry.stores.postgres import PostgresStore, open_postgres_store


@pytest.fixture
def schema() -> Iterator[str]:
    require_postgres()
    name = new_schema()
    yield name
    drop(name)


@pytest.fixture
def url(schema: str) -> str:
    return f"{URL}{sep(URL)}schema={schema}"


@pytest.fixture
def store(url: str) -> Iterator[PostgresStore]:
    opened = open_postgres_store(url)
    yield opened
    opened.close()


@pytest.fixture
def admin() -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(URL, autocommit=True) as conn:
        yield conn


def test_open_store_takes_postgres_urls(url: str) -> None:
    """open_store maps postgresql:// (and postgres://) to this store, schema from the URL."""
    for spelled in (url, url.replace("postgresql://", "postgres://", 1)):
        store = open_store(spelled)
        try:
            assert isinstance(store, PostgresStore)
            assert store.channel.endswith(url.rpartition("schema=")[2])
        finally:
            store.close()


def test_migrate_is_versioned_and_idempotent(
    url: str, schema: str, admin: psycopg.Connection[Any]
) -> None:
    """migrate(url) applies every version once; running it again changes nothing."""
    assert "applied 1, 2, 3" in migrate(url)
    assert "already up to date" in migrate(url)
    rows = admin.execute(f'SELECT version FROM "{schema}".schema_version').fetchall()
    assert rows == [(1,), (2,), (3,)]


def test_migrate_of_a_store_without_a_schema_says_so() -> None:
    """migrate() on a store with nothing to migrate says so instead of failing."""
    assert "no schema" in migrate("memory://")


def test_first_use_creates_the_schema(store: PostgresStore, schema: str) -> None:
    """Without a migrate, the first operation creates the tables."""
    rule = make("token", "j-1")
    assert store.add(rule) == 1
    assert store.get(rule.id) == rule
    assert "already up to date" in store.migrate()


def test_a_newer_schema_is_refused(url: str, schema: str, admin: psycopg.Connection[Any]) -> None:
    """A schema migrated by a newer revoker makes this one raise StoreError, not guess."""
    migrate(url)
    admin.execute(f'INSERT INTO "{schema}".schema_version (version) VALUES (99)')
    store = open_postgres_store(url)
    try:
        with pytest.raises(StoreError, match="newer"):
            store.get("any")
    finally:
        store.close()


def test_concurrent_first_use_creates_the_schema_once(url: str) -> None:
    """Several processes' first writes on an empty database all succeed (an advisory lock)."""
    stores = [open_postgres_store(url) for _ in range(4)]
    errors: list[BaseException] = []

    def first_write(store: PostgresStore, n: int) -> None:
        try:
            store.add(make("session", f"s-{n}"))
        except BaseException as exc:  # noqa: BLE001 -- collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=first_write, args=(s, n)) for n, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    try:
        assert errors == []
        assert stores[0].snapshot(T0)[0] == 4
    finally:
        for store in stores:
            store.close()


def test_a_writer_waits_for_the_one_before_it_and_leaves_no_gap(
    store: PostgresStore, schema: str, admin: psycopg.Connection[Any]
) -> None:
    """While one writer holds the next seq uncommitted, the next waits; a rollback leaves no gap.

    With a plain sequence the second writer would commit seq 2 first, and a
    replica reading 2 would never come back for 1.
    """
    store.add(make("token", "j-0"))
    blocker = psycopg.connect(URL)  # a writer mid-transaction, holding the head row
    done: list[int] = []
    try:
        blocker.execute(f"UPDATE \"{schema}\".meta SET value = value + 1 WHERE name = 'head'")
        writer = threading.Thread(target=lambda: done.append(store.add(make("token", "j-1"))))
        writer.start()
        writer.join(timeout=0.3)
        assert done == []  # waiting for the first writer
        assert store.changes_since(1) == []
        blocker.rollback()
        writer.join(timeout=10)
        assert done == [2]  # the rolled-back number is reused: no gap
    finally:
        blocker.close()


def test_concurrent_writers_are_seen_in_seq_order_without_gaps(url: str) -> None:
    """A reader following the log while 4 writers add never sees a gap or a seq out of order."""
    writers = [open_postgres_store(url) for _ in range(4)]
    reader = open_postgres_store(url)
    seen: list[int] = []

    def follow() -> None:
        deadline = time.monotonic() + 60
        while len(seen) < 120 and time.monotonic() < deadline:
            changes = reader.changes_since(seen[-1] if seen else 0)
            if changes is None:
                return  # the assertion below reports it
            seen.extend(c.seq for c in changes)

    def write(store: PostgresStore, n: int) -> None:
        for i in range(30):
            store.add(make("session", f"s-{n}-{i}"))

    follower = threading.Thread(target=follow)
    follower.start()
    threads = [threading.Thread(target=write, args=(s, n)) for n, s in enumerate(writers)]
    try:
        for thread in threads:
            thread.start()
        for thread in (*threads, follower):
            thread.join(timeout=60)
        assert seen == list(range(1, 121))
    finally:
        for store in (*writers, reader):
            store.close()


def test_notify_goes_out_at_commit_with_the_seq(
    store: PostgresStore, admin: psycopg.Connection[Any]
) -> None:
    """Each committed change notifies its seq; a refused write notifies nothing."""
    store.migrate()
    admin.execute(f'LISTEN "{store.channel}"')
    rule = make("token", "j-1")
    seq = store.add(rule)
    with pytest.raises(InvalidRule):
        store.add(rule)
    lifted = store.lift(rule.id, actor="a", reason="", now=T0)
    assert lifted == rule
    payloads = [n.payload for n in admin.notifies(timeout=1.0, stop_after=3)]
    assert payloads == [str(seq), str(seq + 1)]


def test_writes_commit_synchronously_whatever_the_server_default(schema: str) -> None:
    """Even a URL asking for synchronous_commit=off gets 'on' on the store's connections."""
    url = f"{URL}{sep(URL)}schema={schema}&options=-csynchronous_commit%3Doff"
    store = open_postgres_store(url)
    try:
        with store._pool.connection() as conn:  # the setting lives on the pool's connections
            assert conn.execute("SHOW synchronous_commit").fetchone() == ("on",)
    finally:
        store.close()


def test_a_recreated_schema_makes_readers_reload(url: str, schema: str) -> None:
    """A schema dropped and rebuilt (a new history, seq refilled) makes a reader take a snapshot."""
    reader, writer = open_postgres_store(url), open_postgres_store(url)
    try:
        writer.add(make("token", "j-old"))
        seq, _ = reader.snapshot(T0)
        drop(schema)
        writer.migrate()
        for i in range(3):
            writer.add(make("token", f"j-new-{i}"))
        assert reader.changes_since(seq) is None
        assert [r.value for r in reader.snapshot(T0)[1]] == ["j-new-0", "j-new-1", "j-new-2"]
        assert reader.changes_since(3) == []
    finally:
        reader.close()
        writer.close()


def test_snapshot_streams_more_rules_than_one_batch(
    store: PostgresStore, schema: str, admin: psycopg.Connection[Any]
) -> None:
    """A snapshot larger than the cursor's batch comes back whole and in seq order."""
    store.migrate()
    admin.execute(
        f"""INSERT INTO "{schema}".rules (seq, id, kind, value, reason, actor, created_at)
            SELECT n, 'r' || n, 'session', 's-' || n, '', 'bulk', {T0}
            FROM generate_series(1, 25000) AS n"""
    )
    admin.execute(f"UPDATE \"{schema}\".meta SET value = 25000 WHERE name = 'head'")
    seq, rules = store.snapshot(T0)
    assert seq == 25000
    assert len(rules) == 25000
    assert [rules[0].value, rules[-1].value] == ["s-1", "s-25000"]


def test_unreachable_postgres_is_a_one_line_store_error_without_the_password() -> None:
    """A refused connection raises StoreError (within pool_timeout), never the password."""
    store = open_postgres_store("postgresql://u:s3cret-pw@127.0.0.1:1/test?pool_timeout=1")
    try:
        started = time.monotonic()
        with pytest.raises(StoreError) as caught:
            store.snapshot(T0)
        assert time.monotonic() - started < 5
        text = str(caught.value)
        assert "127.0.0.1:1" in text
        assert "s3cret-pw" not in text
        assert "\n" not in text
    finally:
        store.close()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        pytest.param("schema=Bad-Name", "schema", id="schema-characters"),
        pytest.param("schema=" + "x" * 49, "schema", id="schema-too-long"),
        pytest.param("pool_max_size=0", "pool_max_size", id="empty-pool"),
        pytest.param("pool_timeout=soon", "pool_timeout", id="non-integer"),
        pytest.param("no_such_libpq_option=1", "PostgreSQL store URL", id="unknown-libpq-option"),
    ],
)
def test_bad_options_are_configuration_errors(query: str, message: str) -> None:
    """A bad option is a one-line ConfigurationError naming it, with no password in it."""
    with pytest.raises(ConfigurationError, match=message) as caught:
        open_postgres_store(f"postgresql://u:s3cret-pw@127.0.0.1:1/test?{query}")
    assert "s3cret-pw" not in str(caught.value)
