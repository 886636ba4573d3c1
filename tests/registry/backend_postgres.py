"""The PostgreSQL store in the contract suite, and the schemas the PostgreSQL tests share.

Each test gets its own schema (derived from its tmp_path, so a reopen finds the
same tables); every schema made here is dropped when the test process exits.
Without a server at REVOKER_TEST_POSTGRES_URL (default 127.0.0.1:5432, database
``test``) the tests skip, or fail under REVOKER_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import uuid
from pathlib import Path

import psycopg
import pytest

from revoker.core.registry.stores.postgres import PostgresStore, open_postgres_store

URL = os.environ.get("REVOKER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
_SCHEMAS: set[str] = set()


def require_postgres() -> None:
    """Skip the test without PostgreSQL (fail under REVOKER_REQUIRE_SERVICES=1)."""
    try:
        psycopg.connect(URL, connect_timeout=2).close()
    except psycopg.Error:
        what = f"PostgreSQL at {URL}"
        if os.environ.get("REVOKER_REQUIRE_SERVICES", "") in ("1", "true", "yes"):
            pytest.fail(f"{what} is required (REVOKER_REQUIRE_SERVICES=1) but unreachable")
        pytest.skip(f"{what} is not running here")


def new_schema(seed: str | None = None) -> str:
    """A schema name of its own (the same one for the same seed), dropped at exit."""
    text = seed if seed is not None else uuid.uuid4().hex
    schema = f"revoker_test_{hashlib.sha256(text.encode()).hexdigest()[:16]}"
    if not _SCHEMAS:
        atexit.register(_drop_all)
    _SCHEMAS.add(schema)
    return schema


def sep(url: str) -> str:
    return "&" if "?" in url else "?"


def drop(schema: str) -> None:
    """Drop ``schema`` and everything in it."""
    with psycopg.connect(URL, autocommit=True, connect_timeout=2) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _drop_all() -> None:
    for schema in sorted(_SCHEMAS):
        try:
            drop(schema)
        except psycopg.Error:
            return  # the server went away: nothing left to clean here


def open_store(path: Path) -> PostgresStore:
    require_postgres()
    return open_postgres_store(f"{URL}{sep(URL)}schema={new_schema(str(path))}")


BACKENDS = [("postgresql", open_store, True)]
