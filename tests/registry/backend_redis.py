"""The Redis store in the contract suite, and the namespaces the Redis tests share.

Each test gets its own key prefix (derived from its tmp_path, so a reopen finds
the same keys); every prefix opened here is deleted when the test process exits.
Without a Redis at REVOKER_TEST_REDIS_URL (default 127.0.0.1:6379) the tests
skip, or fail under REVOKER_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import uuid
from pathlib import Path

import pytest
import redis

from revoker.core.registry.stores.redis import RedisStore, open_redis_store

URL = os.environ.get("REVOKER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
_PREFIXES: set[str] = set()


def require_redis() -> None:
    """Skip the test without Redis (fail under REVOKER_REQUIRE_SERVICES=1)."""
    client = redis.Redis.from_url(URL, socket_connect_timeout=1.0, socket_timeout=1.0)
    try:
        client.ping()
    except redis.RedisError:
        what = f"Redis at {URL}"
        if os.environ.get("REVOKER_REQUIRE_SERVICES", "") in ("1", "true", "yes"):
            pytest.fail(f"{what} is required (REVOKER_REQUIRE_SERVICES=1) but unreachable")
        pytest.skip(f"{what} is not running here")
    finally:
        client.close()


def new_prefix(seed: str | None = None) -> str:
    """A key prefix of its own (the same one for the same seed), deleted at exit."""
    text = seed if seed is not None else uuid.uuid4().hex
    prefix = f"revoker-test-{hashlib.sha256(text.encode()).hexdigest()[:16]}"
    if not _PREFIXES:
        atexit.register(_drop_all)
    _PREFIXES.add(prefix)
    return prefix


def drop(prefix: str) -> None:
    """Delete every key under ``prefix``."""
    client = redis.Redis.from_url(URL, socket_connect_timeout=1.0)
    try:
        keys = list(client.scan_iter(match="{" + prefix + "}:*", count=1000))
        for first in range(0, len(keys), 1000):
            client.delete(*keys[first : first + 1000])
    finally:
        client.close()


def _drop_all() -> None:
    for prefix in sorted(_PREFIXES):
        try:
            drop(prefix)
        except redis.RedisError:
            return  # the server went away: nothing left to clean here


def open_store(path: Path) -> RedisStore:
    require_redis()
    return open_redis_store(f"{URL}?prefix={new_prefix(str(path))}")


BACKENDS = [("redis", open_store, True)]
