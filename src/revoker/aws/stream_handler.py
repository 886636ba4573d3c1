"""The revocation table's stream function: ``revoker.aws.stream_handler.handler``.

A DynamoDB stream on the revocation table (``NEW_IMAGE``) delivers every item
written; the event source mapping's filter passes only the change-log items of
new rules (``pk = change``, ``op = add``: see ``deploy/aws/template.yaml``), and
this function checks the same itself. For each rule (``Rule.from_dict`` of the
change's ``rule``) it runs ``Realtime.apply``: close the recorded WebSocket
connections the rule matches, and send AppSync the invalidation mutation.

Why a stream and not only the rule hook: every writer appends to the change log,
whichever process it runs in and whatever it has configured (the revoke
function, the EventBridge function, a back-channel logout or SSF receiver,
``revoker revoke --store dynamodb://…`` on a laptop), so the stream sees every
rule, and one function holds the permissions to close connections.

A record whose closing or invalidation failed is reported in
``batchItemFailures`` (the mapping has ``ReportBatchItemFailures``), so Lambda
retries it and the records after it; closing is idempotent. A record that is not
a new rule, or cannot be read, is skipped with one log line (retrying it could
never succeed).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from revoker.aws.runtime import current_runtime
from revoker.core.errors import ConfigurationError
from revoker.core.registry.rules import InvalidRule, Rule

if TYPE_CHECKING:
    from revoker.aws.runtime import Runtime

__all__ = ["handle", "handler", "rule_of_record"]

log = logging.getLogger("revoker.aws")


def handler(event: Any, context: Any) -> dict[str, Any]:
    """The Lambda entry point (configure ``revoker.aws.stream_handler.handler``)."""
    return handle(current_runtime(), event)


def handle(runtime: Runtime, event: Any) -> dict[str, Any]:
    """Apply every new rule in one stream batch; the records to retry."""
    realtime = runtime.realtime
    if realtime is None:
        raise ConfigurationError(
            "the stream function needs REVOKER_CONNECTIONS or REVOKER_APPSYNC_INVALIDATION_URL"
        )
    records = event.get("Records") if isinstance(event, Mapping) else None
    failures: list[dict[str, str]] = []
    for record in records if isinstance(records, list) else []:
        rule = rule_of_record(record)
        if rule is None:
            continue
        outcome = realtime.apply(rule)
        if not outcome.ok:
            sequence = record.get("dynamodb", {}).get("SequenceNumber")
            log.warning("rule %s: closing or invalidating failed; the batch retries", rule.id)
            if isinstance(sequence, str):
                failures.append({"itemIdentifier": sequence})
                break  # Lambda retries from the first failure on: the rest come again
    return {"batchItemFailures": failures}


def rule_of_record(record: Any) -> Rule | None:
    """The rule a stream record adds, or None (another item, or unreadable)."""
    if not isinstance(record, Mapping) or record.get("eventName") != "INSERT":
        return None
    image = record.get("dynamodb", {}).get("NewImage")
    if not isinstance(image, Mapping):
        return None
    pk = image.get("pk", {}).get("S") if isinstance(image.get("pk"), Mapping) else None
    # Each log shard's change items: "change", "change#01", … (stores/_dynamodb_shards.py).
    if not _is_change_partition(pk) or image.get("op") != {"S": "add"}:
        return None
    try:
        return Rule.from_dict(json.loads(image["rule"]["S"]))
    except (KeyError, TypeError, ValueError) as exc:  # InvalidRule is a ValueError
        reason = exc if isinstance(exc, InvalidRule) else type(exc).__name__
        log.warning("skipping an unreadable change record: %s", reason)
        return None


def _is_change_partition(pk: object) -> bool:
    if not isinstance(pk, str):
        return False
    return pk == "change" or (pk.startswith("change#") and pk[7:].isdigit() and pk[7:].isascii())
