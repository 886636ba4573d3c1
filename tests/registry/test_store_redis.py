"""The Redis store beyond the shared contract: key layout, expiry, caps, retries, errors."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from backend_redis import URL, drop, new_prefix, require_redis
from registry_support import T0, make

from revoker.core.errors import ConfigurationError, StoreError
from revoker.core.registry import InvalidRule, RuleFilter, open_store
from revoker.core.registry.migrations import migrate
from revoker.core.registry.stores import _redis_bulk, _redis_lua
from revoker.core.registry.stores import redis as redis_store
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


def test_open_store_takes_redis_urls(prefix: str) -> None:
    """open_store maps redis:// to the Redis store, with the prefix from the URL."""
    store = open_store(f"{URL}?prefix={prefix}&client_name=revoker-test")
    try:
        assert isinstance(store, RedisStore)
        assert store.channel == "{" + prefix + "}:push"
        assert store.client_name == "revoker-test"
    finally:
        store.close()


def test_every_key_shares_one_hash_tag(store: RedisStore, prefix: str, admin: Any) -> None:
    """All the keys a revoke, a lift and a prune touch start with {prefix}: (one Cluster slot)."""
    now = time.time()
    kept = store.add(make("key", "kid-1", now=now))
    rule = make("token", "j-1", now=now)
    store.add(rule)
    store.lift(rule.id, actor="a", reason="", now=now)
    store.prune(now + 86400 * 10)
    keys = admin.keys(f"*{prefix}*")
    assert kept == 1
    assert {key.split(":")[1] for key in keys} >= {"rule", "rules", "seq", "changes", "audit"}
    assert all(key.startswith("{" + prefix + "}:") for key in keys)


def test_rule_keys_expire_at_expires_at(store: RedisStore, prefix: str, admin: Any) -> None:
    """A rule key expires (PEXPIREAT) at its expires_at; a key rule never expires."""
    now = time.time()
    token = make("token", "j-1", now=now, expires_at=now + 3600.25)
    key = make("key", "kid-1", now=now)
    store.add(token)
    store.add(key)
    tag = "{" + prefix + "}"
    assert admin.pexpiretime(f"{tag}:rule:{token.id}") == math.ceil((now + 3600.25) * 1000)
    assert admin.pttl(f"{tag}:rule:{key.id}") == -1


def test_a_rule_already_past_on_the_server_waits_for_prune(
    store: RedisStore, prefix: str, admin: Any
) -> None:
    """A rule whose expires_at is past by Redis's clock is kept (no TTL) until prune removes it."""
    rule = make("token", "j-1", expires_at=T0 + 10)  # 2023: long past on the server
    store.add(rule)
    assert admin.pttl("{" + prefix + "}:rule:" + rule.id) == -1
    assert store.get(rule.id) == rule
    assert store.prune(T0 + 10) == 1
    assert store.get(rule.id) is None


def test_a_key_redis_expired_leaves_every_read(store: RedisStore, prefix: str, admin: Any) -> None:
    """Once Redis drops a rule key (its expiry), reads skip it and prune clears its index."""
    gone, kept = make("token", "j-1"), make("token", "j-2")
    store.add(gone)
    store.add(kept)
    admin.delete("{" + prefix + "}:rule:" + gone.id)  # what Redis does at PEXPIREAT
    assert store.get(gone.id) is None
    assert store.snapshot(T0)[1] == [kept]
    assert store.list_rules(RuleFilter(include_expired=True), now=T0) == [kept]
    store.prune(T0 + 10 * 86400)
    assert admin.zcard("{" + prefix + "}:rules") == 0


def test_snapshot_and_list_page_through_the_index(
    store: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reads page through the rules in add order, across page borders, skipping lifted ones."""
    monkeypatch.setattr(redis_store, "_PAGE", 3)
    rules = [make("session", f"s-{i}") for i in range(10)]
    for rule in rules:
        store.add(rule)
    store.lift(rules[4].id, actor="a", reason="", now=T0)
    expected = [rule for i, rule in enumerate(rules) if i != 4]
    assert store.snapshot(T0) == (11, expected)
    page = store.list_rules(RuleFilter(limit=4, offset=3), now=T0)
    assert page == expected[3:7]


def test_change_log_cap_trims_the_oldest_and_readers_reload(prefix: str) -> None:
    """Past max_changes the oldest changes go; a reader behind them is told to take a snapshot."""
    store = open_redis_store(f"{URL}?prefix={prefix}&max_changes=100")
    try:
        for i in range(150):
            store.add(make("session", f"s-{i}"))
        assert store.changes_since(49) is None
        kept = store.changes_since(50)
        assert kept is not None
        assert [c.seq for c in kept] == list(range(51, 151))
    finally:
        store.close()


def test_audit_trail_is_bounded(prefix: str) -> None:
    """The audit stream is capped near max_audit and keeps the newest entries."""
    store = open_redis_store(f"{URL}?prefix={prefix}&max_audit=100")
    try:
        for i in range(400):
            store.add(make("session", f"s-{i}"))
        entries = store.audit_log(limit=1000)
        assert 100 <= len(entries) < 400
        assert entries[-1].seq == 400
    finally:
        store.close()


def run_script(admin: Any, prefix: str, script: str, rule_id: str, args: list[Any]) -> Any:
    tag = "{" + prefix + "}"
    keys = [f"{tag}:rule:{rule_id}", f"{tag}:lifted:{rule_id}"]
    keys += [f"{tag}:{name}" for name in _redis_lua.SHARED_KEYS]
    keys.append(f"{tag}:bucket:{_redis_bulk.bucket_of(rule_id)}")
    return admin.eval(script, len(keys), *keys, *args)


def test_a_retried_write_answers_as_the_first_attempt(
    store: RedisStore, prefix: str, admin: Any
) -> None:
    """The same add or lift sent twice (a retry after a lost reply) applies once, answers alike."""
    rule = make("token", "j-1")
    nonce = uuid.uuid4().hex
    text = '{"id":"%s","kind":"token","value":"j-1","actor":"a","created_at":1}' % rule.id  # noqa: UP031 -- JSON braces
    add = [rule.id, nonce, "", "", text, "1", "a", "", "ch", 1000, 1000, "record"]
    assert run_script(admin, prefix, _redis_lua.ADD, rule.id, add) == [1, 0]
    assert run_script(admin, prefix, _redis_lua.ADD, rule.id, add) == [1, 1]
    other = [rule.id, uuid.uuid4().hex, *add[2:]]
    assert run_script(admin, prefix, _redis_lua.ADD, rule.id, other) == [-1, 0]
    lift = [rule.id, uuid.uuid4().hex, repr(T0), "a", "", "ch", 1000, 1000]
    assert run_script(admin, prefix, _redis_lua.LIFT, rule.id, lift) == text
    assert run_script(admin, prefix, _redis_lua.LIFT, rule.id, lift) == text
    changes = store.changes_since(0)
    assert changes is not None
    assert [(c.seq, c.op) for c in changes] == [(1, "add"), (2, "lift")]


def test_a_wiped_redis_makes_readers_reload(prefix: str) -> None:
    """A restart without persistence (keys gone, seq refilled past the reader) means a snapshot."""
    reader = open_redis_store(f"{URL}?prefix={prefix}")
    writer = open_redis_store(f"{URL}?prefix={prefix}")
    try:
        writer.add(make("token", "j-old"))
        seq, _ = reader.snapshot(T0)
        drop(prefix)
        for i in range(3):
            writer.add(make("token", f"j-new-{i}"))
        assert reader.changes_since(seq) is None
        assert [r.value for r in reader.snapshot(T0)[1]] == ["j-new-0", "j-new-1", "j-new-2"]
        assert reader.changes_since(3) == []
    finally:
        reader.close()
        writer.close()


def test_wait_replicas_unconfirmed_raises(prefix: str) -> None:
    """With wait_replicas set and no replica confirming, the revoke raises StoreError."""
    store = RedisStore(URL, prefix=prefix, wait_replicas=1, wait_timeout_seconds=0.05)
    try:
        with pytest.raises(StoreError, match="replicas"):
            store.add(make("token", "j-1"))
    finally:
        store.close()


def test_wait_aof_without_aof_raises(prefix: str) -> None:
    """wait_aof on a server without AOF (or before 7.2) never reports a revoke as durable."""
    store = open_redis_store(f"{URL}?prefix={prefix}&wait_aof=1")
    try:
        with pytest.raises(StoreError) as caught:
            store.add(make("token", "j-1"))
        assert "\n" not in str(caught.value)
    finally:
        store.close()


def test_duplicate_rule_id_is_invalid_rule(store: RedisStore) -> None:
    """A second add() of one rule is InvalidRule (its nonce differs from the first's)."""
    rule = make("token", "j-1")
    store.add(rule)
    with pytest.raises(InvalidRule):
        store.add(rule)


def test_unreachable_redis_is_a_one_line_store_error_without_the_password() -> None:
    """A refused connection raises StoreError naming host:port, never the URL's password."""
    store = open_redis_store("redis://:s3cret-pw@127.0.0.1:1/0?socket_connect_timeout=0.5")
    try:
        for call in (lambda: store.snapshot(T0), lambda: store.add(make("token", "j-1"))):
            with pytest.raises(StoreError) as caught:
                call()
            text = str(caught.value)
            assert "127.0.0.1:1" in text
            assert "s3cret-pw" not in text
            assert "\n" not in text
    finally:
        store.close()


def test_a_wrong_password_is_a_store_error_without_it() -> None:
    """Authentication failures are StoreErrors that do not echo the password."""
    require_redis()
    store = open_redis_store(URL.replace("redis://", "redis://nobody:s3cret-pw@") + "?prefix=x")
    try:
        with pytest.raises(StoreError) as caught:
            store.get("any")
        assert "s3cret-pw" not in str(caught.value)
    finally:
        store.close()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        pytest.param("prefix={bad}", "prefix", id="brace-in-prefix"),
        pytest.param("prefix=", "prefix", id="empty-prefix"),
        pytest.param("max_changes=ten", "max_changes", id="non-integer"),
        pytest.param("max_changes=5", "max_changes", id="too-small"),
        pytest.param("wait_aof=2", "wait_aof", id="wait-aof-not-a-flag"),
        pytest.param("wait_replicas=-1", "wait_replicas", id="negative-replicas"),
    ],
)
def test_bad_options_are_configuration_errors(query: str, message: str) -> None:
    """A bad store option is a ConfigurationError naming it, before any connection."""
    with pytest.raises(ConfigurationError, match=message):
        open_redis_store(f"redis://:s3cret-pw@127.0.0.1:1/0?{query}")


def test_a_malformed_url_is_a_configuration_error_without_the_password() -> None:
    """redis-py's URL errors surface as ConfigurationError and show no password."""
    with pytest.raises(ConfigurationError) as caught:
        open_redis_store("redis://:s3cret-pw@127.0.0.1:notaport/0")
    assert "s3cret-pw" not in str(caught.value)


# -- revoker migrate: snapshot records for rules stored before the buckets ------------


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
