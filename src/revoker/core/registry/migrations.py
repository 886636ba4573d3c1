"""``migrate(url)``: create or upgrade a store's schema ahead of time (``revoker migrate``).

Stores set themselves up on first use anyway; running this at deploy time
moves the DDL (and the privileges it needs) out of the serving path. A store
with a schema has a ``migrate() -> str`` method (PostgreSQL, DynamoDB; Redis
writes the snapshot records of rules stored before they existed); the others
(memory, SQLite) have nothing to migrate, and say so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from revoker.core.registry.store import open_store

__all__ = ["migrate"]


def migrate(url: str) -> str:
    """Bring the store ``url`` names to the current schema; one line saying what was done.

    Raises ``ConfigurationError`` for a URL no backend takes and ``StoreError``
    when the store cannot be reached or its schema is newer than this revoker.
    """
    scheme = url.partition("://")[0].lower()
    store = open_store(url)
    try:
        run = getattr(store, "migrate", None)
        if run is None:
            return f"the {scheme} store has no schema to migrate (it sets itself up when opened)"
        return cast("Callable[[], str]", run)()
    finally:
        store.close()
