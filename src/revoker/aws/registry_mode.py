"""Which way a Lambda container checks rules: a replica of every rule, or lookups by key.

``REVOKER_REGISTRY_MODE`` says ``replica``, ``lookup`` or ``auto`` (the default).
Auto looks up once the table holds more than ``REVOKER_LOOKUP_ABOVE`` rules
(10,000), by the store's approximate count: the count shards and the
``lookup_items`` setting, one ``BatchGetItem`` at cold start, whatever the
number of rules (never a Query of the rules, never a Scan). DescribeTable's
``ItemCount`` would cost the same call, but it is refreshed only about every
six hours and counts every item (change log, audit trail, lookup items), not
rules.

Both modes decide alike on the same table (a test holds them to it); they
differ in cost only, so when the choice cannot be made (the count cannot be
read, or the table's rules are not all filed for lookups yet: run ``revoker
migrate``) the container keeps today's replica, and says so in one log line.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

from revoker.core.errors import ConfigurationError, StoreError

if TYPE_CHECKING:
    from revoker.app.compose import Revoker

__all__ = ["Mode", "choose_mode", "install_mode"]

log = logging.getLogger("revoker.aws")

Mode = Literal["replica", "lookup"]


def choose_mode(revoker: Revoker) -> Mode:
    """The mode the settings and the table call for (see the module docstring)."""
    from revoker.core.registry.stores.dynamodb import DynamoDBStore  # noqa: PLC0415

    wanted = revoker.settings.registry_mode
    store = revoker.registry.store
    if wanted == "replica":
        return "replica"
    if not isinstance(store, DynamoDBStore):
        if wanted == "lookup":
            raise ConfigurationError("REVOKER_REGISTRY_MODE=lookup needs a dynamodb:// store")
        return "replica"
    try:
        ready, count = store.lookup_status()
    except StoreError as exc:
        log.warning("cannot read the rule count, holding a replica: %s", exc)
        return "replica"
    if not ready:
        log.log(
            logging.ERROR if wanted == "lookup" else logging.INFO,
            "the table's rules are not all filed for lookups (run revoker migrate): "
            "holding a replica",
        )
        return "replica"
    if wanted == "lookup" or count > revoker.settings.lookup_above:
        return "lookup"
    return "replica"


def install_mode(revoker: Revoker) -> Mode:
    """Choose the mode and, for ``lookup``, put a ``DynamoDBLookup`` in the replica's place."""
    mode = choose_mode(revoker)
    if mode == "lookup":
        from revoker.core.registry.stores._dynamodb_lookup import DynamoDBLookup  # noqa: PLC0415
        from revoker.core.registry.stores.dynamodb import DynamoDBStore  # noqa: PLC0415

        registry, settings = revoker.registry, revoker.settings
        store = registry.store
        assert isinstance(store, DynamoDBStore)  # noqa: S101 - choose_mode made sure

        def agree() -> None:
            registry.agree()

        registry.replica = DynamoDBLookup(
            store,
            clock=registry.clock,
            max_age_seconds=settings.sync_max_age_seconds,
            max_staleness_seconds=settings.max_staleness_seconds,
            fail_open=settings.fail_open,
            before_sync=agree,
        )
    log.info("revocation registry mode: %s", mode)
    return mode
