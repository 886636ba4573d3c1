"""`revoker migrate` on Redis: rules stored before the snapshot buckets existed get their bucket
records, so replicas read the store as columns again; a rule gone meanwhile gets none."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from backend_redis import URL, drop, new_prefix, require_redis
from registry_support import make

from revoker.core.registry.migrations import migrate
from revoker.core.registry.stores import _redis_bulk
from revoker.core.registry.stores.redis import RedisStore, open_redis_store


@pytest.fixture
def prefix() -> Iterator[str]:
    require_redis()
    name = new_prefix()
    yield name
    drop(name)


@pytest.fixture
def admin() -> Iterator[Any]:
    client = redis.Redis.from_url(URL, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def store(prefix: str) -> Iterator[RedisStore]:
    opened = open_redis_store(f"{URL}?prefix={prefix}")
    yield opened
    opened.close()


def without_buckets(admin: Any, prefix: str) -> None:
    """The store as a version before the buckets left it: rules, no records."""
    for n in range(_redis_bulk.BUCKETS):
        admin.delete("{" + prefix + "}:bucket:" + str(n))


def ids_of(columns: Any) -> list[str]:
    return list(columns.ids)


def test_migrate_gives_old_rules_their_records_and_columns_read_them(
    store: RedisStore, prefix: str, admin: Any
) -> None:
    """Before: the buckets hold fewer rules than the order set, so snapshots fall back to the
    rule keys. After migrate: the same rules, in the same order, come from the buckets."""
    now = time.time()
    rules = [make("subject", f"user-{n}", now=now) for n in range(25)]
    for rule in rules:
        store.add(rule)
    expected_seq, expected = store.snapshot_columns(now)
    without_buckets(admin, prefix)
    fallbacks: list[float] = []
    rows = store.snapshot_rows

    def counted_rows(at: float) -> Any:
        fallbacks.append(at)
        return rows(at)

    store.snapshot_rows = counted_rows  # type: ignore[method-assign]
    store.snapshot_columns(now)
    assert len(fallbacks) == 1

    assert "25 of 25 rules" in store.migrate()
    seq, columns = store.snapshot_columns(now)
    assert len(fallbacks) == 1  # read from the buckets this time
    assert seq == expected_seq
    assert ids_of(columns) == ids_of(expected) == [rule.id for rule in rules]
    assert list(columns.values) == list(expected.values)
    assert (columns.cutoff == expected.cutoff).all()


def test_migrate_twice_writes_nothing_the_second_time(store: RedisStore) -> None:
    """Idempotent: records already there are kept, and counted as not written."""
    store.add(make("token", "j-1"))
    assert "0 of 1 rules" in store.migrate()


def test_a_rule_gone_before_its_record_is_written_gets_none(
    store: RedisStore, prefix: str, admin: Any
) -> None:
    """A rule whose key vanished (lifted, expired) is never given a record: a snapshot must
    not bring back a rule the store no longer holds."""
    now = time.time()
    kept, gone = make("token", "j-kept", now=now), make("token", "j-gone", now=now)
    store.add(kept)
    store.add(gone)
    without_buckets(admin, prefix)
    admin.delete("{" + prefix + "}:rule:" + gone.id)  # as Redis's own expiry would
    assert "1 of 2 rules" in store.migrate()
    _, columns = store.snapshot_columns(now)
    assert ids_of(columns) == [kept.id]


def test_revoker_migrate_runs_it_for_a_redis_url(store: RedisStore, prefix: str) -> None:
    """`revoker migrate --store redis://…` (``migrations.migrate``) is the same call."""
    store.add(make("token", "j-1"))
    assert "rules given a snapshot record" in migrate(f"{URL}?prefix={prefix}")


def test_the_script_files_no_record_for_a_rule_lifted_after_it_was_read(
    prefix: str, admin: Any
) -> None:
    """The race the script closes: the rule was read, then lifted, then its record written."""
    tag = "{" + prefix + "}"
    keys = [f"{tag}:rule:r-1", f"{tag}:bucket:7"]
    filed = admin.eval(_redis_bulk.FILE_RECORDS, len(keys), *keys, "r-1", "0000000000000001x")
    assert filed == 0
    assert admin.hlen(f"{tag}:bucket:7") == 0
    admin.set(f"{tag}:rule:r-1", "nonce\n{}")
    filed = admin.eval(_redis_bulk.FILE_RECORDS, len(keys), *keys, "r-1", "0000000000000001x")
    assert filed == 1
