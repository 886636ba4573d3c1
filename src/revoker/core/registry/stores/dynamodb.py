"""The ``dynamodb://TABLE`` store: rules, change log and audit trail in one DynamoDB table.

Table schema (``create_table`` below; ``deploy/aws/template.yaml`` declares the same)::

    key: pk (S, HASH) + sk (S, RANGE); TTL attribute "ttl" (N, epoch seconds)

    item     pk          sk                   other attributes
    head     "head"#S    "head"               seq (N): the shard's last seq handed out
    rule     "rule"#S    the rule id          seq (its change's id), kind, value, issuer?,
                                              cutoff?, expires_at?, reason, actor,
                                              created_at, ttl (= ceil(expires_at))
    change   "change"#S  seq, 20 digits       op, at, rule (S: the rule as JSON),
                                              ttl (= at + change retention)
    audit    "audit"#S   seq, 20 digits       at, actor, action, rule_id, kind, value, reason
    setting  "setting"   its name             value (N): what every process must agree on
    lookup   "L#" + 32 hex  "L"                   "r:" + rule id (S: the rule as JSON), one per
             (sha256 of kind, scope, value)       rule of that (kind, issuer scope, value);
                                                  ttl (N): the latest of their expiries
    count    "count#NN"  "count"                  n (N): rules added less rules removed, one
             (NN: 00..15)                         shard of the approximate rule count

``#S`` is the log shard, ``#01`` to ``#63``, and nothing for shard 0: a rule's
writes go to the shard its id hashes to, each shard with a head of its own, so
writes spread over ``log_shards`` head items (the setting ``log_shards``, 16 for a
new table, 1 for a table written before shards; ``_dynamodb_shards.py`` has the
ids and the readers' cursors).

The lookup items let a container fetch the rules that could match one token by
key, with one ``BatchGetItem`` (``lookup``), instead of holding a replica of
every rule (``_dynamodb_lookup.py``). Their partition keys are hashes, so they
spread over the table's partitions. A lookup item's ``ttl`` only ever rises (a
conditional update before the write), so DynamoDB's TTL never deletes an item
while a rule in it is active; ``prune`` removes expired rules from them.
The count shards are bumped after each write (outside the transaction, one
shard at random): an approximate count for deciding the lookup mode without
reading the rules. ``prune`` and ``migrate`` set it exact again. ``migrate``
also writes the lookup items of rules stored before they existed, then records
the setting ``lookup_items``; until that is recorded (the first write to a new
table records it too) no container uses the lookup mode. ``lookup_status`` reads
both with one ``BatchGetItem``.

Why a replica fed by a sequence for a small table, not a ``BatchGetItem`` per
check: a check reads an in-memory replica (no network round trip, nothing
billed per request), and a Lambda container syncs it at most once per second
with one strongly consistent ``GetItem`` of the head (plus one ``Query`` of the
new changes when the head moved). A ``BatchGetItem`` of the token's candidate
keys adds a round trip and about sixteen read units to every new token, so cost
grows with traffic instead of with the number of containers; but a replica's
cold start grows with the table, so above ``REVOKER_LOOKUP_ABOVE`` rules a
Lambda looks up instead (``aws.registry_mode``). The price of either is up to
``REVOKER_SYNC_MAX_AGE`` of staleness per container, which the authorizer
cache flush waits out.

Every write is one ``TransactWriteItems``: the shard's head moves from n to n+1
only if it still says n (so a shard's seqs never repeat or skip, across
processes), together with the rule put or delete, its lookup item's update and
the change and audit items of seq n+1. A reader therefore finds every seq of a
shard up to the head it read; a missing one was trimmed
(by ``prune`` or by DynamoDB's TTL, which deletes in no particular order), and
``changes_since`` answers None so the replica takes a snapshot.

Throttling (ProvisionedThroughputExceeded, ThrottlingException, transaction
conflicts) is retried by botocore's "standard" retry mode and then, for
writes, by our own bounded exponential backoff with jitter.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal
from urllib.parse import parse_qsl

from revoker.core.errors import ConfigurationError, StoreError
from revoker.core.registry.rules import DuplicateRule, Rule, RuleKind
from revoker.core.registry.store import (
    DEFAULT_CHANGE_RETENTION_SECONDS,
    AuditEntry,
    Change,
    RuleFilter,
)
from revoker.core.registry.stores._dynamodb_keys import (
    COUNT_SHARDS,
    LookupKey,
    count_key,
    lookup_key_of,
    lookup_pk,
)
from revoker.core.registry.stores._dynamodb_shards import (
    DEFAULT_LOG_SHARDS,
    LOG_SHARDS_SETTING,
    MAX_LOG_SHARDS,
    ShardCursors,
    change_id,
    partition,
    shard_of,
)

__all__ = [
    "LOOKUP_READY_SETTING",
    "DynamoDBReader",
    "DynamoDBStore",
    "create_table",
    "dynamodb_client",
    "open_dynamodb_store",
]

logger = logging.getLogger("revoker.registry")

#: The setting recorded once every rule has its lookup item (``migrate``, a table's first write).
LOOKUP_READY_SETTING = "lookup_items"
_READY = {"pk": {"S": "setting"}, "sk": {"S": LOOKUP_READY_SETTING}, "value": {"N": "1"}}
# A lookup item holding a rule that never expires: a ttl DynamoDB never reaches (year 3000).
_NEVER = 32_503_680_000
_BATCH_GET_KEYS = 100  # BatchGetItem's limit per request
_RETRYABLE = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TransactionConflictException",
        "InternalServerError",
    }
)
_RETRYABLE_REASONS = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
)
_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")
_OPTIONS = frozenset({"region", "endpoint_url", "log_shards"})


class _ItemConditionFailed(Exception):
    """The condition on a transaction item other than the head failed."""


class DynamoDBStore:
    """A ``RuleStore`` in one DynamoDB table, through a low-level boto3 client."""

    def __init__(
        self,
        client: Any,
        table: str,
        *,
        change_retention_seconds: float = DEFAULT_CHANGE_RETENTION_SECONDS,
        max_write_attempts: int = 8,
        sleep: Callable[[float], None] = time.sleep,
        owns_client: bool = False,
        log_shards: int = DEFAULT_LOG_SHARDS,
    ) -> None:
        if not 1 <= log_shards <= MAX_LOG_SHARDS:
            why = f"log_shards is between 1 and {MAX_LOG_SHARDS}, not {log_shards}"
            raise ConfigurationError(f"a DynamoDB store's {why}")
        self.table = table
        self._shards_wanted = log_shards  # for a new table; a table keeps the count it has
        self._cursors: ShardCursors | None = None
        self._layout_lock = threading.Lock()
        self._client = client
        self._owns_client = owns_client
        self._retention_seconds = change_retention_seconds
        self._max_write_attempts = max(1, max_write_attempts)
        self._sleep = sleep
        # Writes to one shard in one process take turns: fewer conflicts, a fresh head read.
        self._shard_locks = [threading.RLock() for _ in range(MAX_LOG_SHARDS)]
        self._closed = False
        exceptions = importlib.import_module("botocore.exceptions")
        self._client_error: type[Exception] = exceptions.ClientError
        self._boto_error: type[Exception] = exceptions.BotoCoreError

    @property
    def client(self) -> Any:
        """The boto3 client (a benchmark or a test counts its calls through its events)."""
        return self._client

    # -- writes ---------------------------------------------------------------

    def add(self, rule: Rule) -> int:
        shard = shard_of(rule.id, self._layout().shards)

        def items(seq: int) -> list[dict[str, Any]]:
            stored = self._change_id(shard, seq)
            put = {
                "Item": _rule_item(rule, stored, shard),
                "ConditionExpression": "attribute_not_exists(sk)",
            }
            log = self._log_items(
                shard, seq, "add", rule, at=rule.created_at, actor=rule.actor, why=rule.reason
            )
            return [self._op("Put", put), self._op("Update", _file_rule(rule)), *log]

        # First raise the lookup item's ttl (it only rises): were the write lost after
        # this, the item only lives longer; the other way round, TTL could delete it early.
        with self._shard_locks[shard]:
            self._raise_lookup_ttl(rule)
            try:
                seq = self._write("add a rule", shard, items)
            except _ItemConditionFailed:
                raise DuplicateRule(f"a rule with id {rule.id!r} already exists") from None
            self._count(+1)
        return seq

    def lift(self, rule_id: str, *, actor: str, reason: str, now: float) -> Rule | None:
        shard = shard_of(rule_id, self._layout().shards)
        for _ in range(self._max_write_attempts):
            item = self._call(
                "read a rule", "get_item", Key=_rule_key(rule_id, shard), ConsistentRead=True
            )
            found = item.get("Item")
            if found is None:
                return None
            rule = _decode_rule(found)
            if rule.expires_at is not None and rule.expires_at <= now:
                return None
            stored_seq = found["seq"]

            def items(
                seq: int, rule: Rule = rule, stored_seq: dict[str, str] = stored_seq
            ) -> list[dict[str, Any]]:
                delete = {
                    "Key": _rule_key(rule.id, shard),
                    "ConditionExpression": "#seq = :stored",
                    "ExpressionAttributeNames": {"#seq": "seq"},
                    "ExpressionAttributeValues": {":stored": stored_seq},
                }
                log = self._log_items(shard, seq, "lift", rule, at=now, actor=actor, why=reason)
                unfile = self._op("Update", _unfile_rule(rule, now))
                return [self._op("Delete", delete), unfile, *log]

            with self._shard_locks[shard]:
                try:
                    self._write("lift a rule", shard, items)
                except _ItemConditionFailed:
                    continue  # lifted (or pruned) meanwhile: read again
                self._count(-1)
            return rule
        return None

    def prune(self, now: float) -> int:
        self._check_open()
        shards = self._layout().shards
        stored = self._all_rule_items("prune", shards)
        expired = [
            item
            for item in stored
            if "expires_at" in item and float(item["expires_at"]["N"]) <= now
        ]
        # Out of their lookup items first: were the prune cut short, the rule is still
        # listed, and the next prune finds it again.
        for item in expired:
            self._call("prune", "update_item", **_unfile_rule(_decode_rule(item), now))
        self._delete_all("prune", [{"pk": item["pk"], "sk": item["sk"]} for item in expired])
        self._set_count("prune", len(stored) - len(expired))
        # Trim a prefix of each shard's log only; readers detect any gap by seq.
        horizon = now - self._retention_seconds
        old: list[dict[str, Any]] = []
        for shard in range(shards):
            for item in self._query("prune", partition("change", shard)):
                if float(item["at"]["N"]) >= horizon:
                    break
                old.append({"pk": item["pk"], "sk": item["sk"]})
        self._delete_all("prune", old)
        return len(expired)

    # -- reads ----------------------------------------------------------------

    def changes_since(self, seq: int, *, limit: int = 10_000) -> list[Change] | None:
        return self.changes_for(self._layout(), seq, limit=limit)

    def reader(self) -> DynamoDBReader:
        """A reader of the change log with cursors of its own (``_dynamodb_shards``): what a
        replica follows the log through."""
        return DynamoDBReader(self)

    @property
    def log_shards(self) -> int:
        """The table's shard count (read once, recorded for a new table)."""
        return self._layout().shards

    def changes_for(
        self, cursors: ShardCursors, seq: int, *, limit: int = 10_000
    ) -> list[Change] | None:
        """``changes_since`` for the reader whose cursors these are."""
        cursor = cursors.cursor(seq)
        if cursor is None:
            return None  # not a place this reader has been: take a snapshot
        heads = self._heads("read the change log", cursors.shards)
        if any(at > head for at, head in zip(cursor, heads, strict=True)):
            cursors.forget(seq)
            return None  # ahead of the store: it was replaced
        limit = max(limit, 1)
        changes: list[Change] = []
        reached = list(cursor)
        for shard, (at, head) in enumerate(zip(cursor, heads, strict=True)):
            if at == head:
                continue
            if len(changes) >= limit:
                break
            found = self._shard_changes(shard, at, head, limit - len(changes))
            if found is None:
                cursors.forget(seq)  # the snapshot this leads to gives the cursor that stands
                return None
            changes += found
            reached[shard] = at + len(found)
        if not changes:
            return changes
        # By id: each shard's stay in order, and the page ends on its highest id, so the seq a
        # replica shows grows as it reads (but for a shard that fell behind).
        changes.sort(key=lambda change: change.seq)
        cursors.remember(changes[-1].seq, tuple(reached))
        return changes

    def _shard_changes(self, shard: int, at: int, head: int, limit: int) -> list[Change] | None:
        """Shard ``shard``'s changes after its seq ``at``, up to ``limit`` of them; None when
        one its head vouches for is gone (the log was trimmed)."""
        shards = self._layout().shards
        changes: list[Change] = []
        what = "read the change log"
        for item in self._query(what, partition("change", shard), after=at, limit=limit):
            item_seq = int(item["sk"]["S"])
            if item_seq != at + len(changes) + 1:
                if item_seq <= head:
                    return None
                break  # a newer write whose predecessor is not visible yet
            stored = change_id(shard, item_seq, shards)
            changes.append(Change(seq=stored, op=_op_name(item), rule=_rule_from_json(item)))
        if len(changes) < limit and at + len(changes) < head:
            return None
        return changes

    def snapshot(self, now: float) -> tuple[int, list[Rule]]:
        return self.snapshot_for(self._layout(), now)

    def snapshot_for(self, cursors: ShardCursors, now: float) -> tuple[int, list[Rule]]:
        """``snapshot`` for the reader whose cursors these are."""
        # The heads first: a rule written after them is replayed later, which is harmless.
        heads = self._heads("read a snapshot", cursors.shards)
        items = self._all_rule_items("read a snapshot", cursors.shards)
        rules = [rule for rule in map(_decode_rule, items) if _active(rule, now)]
        return cursors.position(heads), rules

    def get(self, rule_id: str) -> Rule | None:
        key = _rule_key(rule_id, shard_of(rule_id, self._layout().shards))
        found = self._call("read a rule", "get_item", Key=key, ConsistentRead=True)
        item = found.get("Item")
        return None if item is None else _decode_rule(item)

    def list_rules(self, rule_filter: RuleFilter, *, now: float) -> list[Rule]:
        # Active rules are few (they prune themselves), so a read of each shard and a sort.
        f = rule_filter
        items = self._all_rule_items("list rules", self._layout().shards)
        chosen = [
            rule
            for rule in map(_decode_rule, items)
            if (f.kind is None or rule.kind is f.kind)
            and (f.value is None or rule.value == f.value)
            and (f.issuer is None or rule.issuer == f.issuer)
            and (f.include_expired or _active(rule, now))
        ]
        return chosen[f.offset : f.offset + f.limit]

    def audit_log(self, *, limit: int = 100, since_seq: int = 0) -> list[AuditEntry]:
        """Entries by id (the change's): on a table of several shards, roughly by time, and an
        entry of a shard that fell behind may take an id below one already listed."""
        limit = max(limit, 1)
        shards = self._layout().shards
        entries: list[AuditEntry] = []
        for shard in range(shards):
            # Ids above since_seq: seqs above (since_seq - shard) / shards.
            after = max(0, (since_seq - shard) // shards)
            items = self._query("read the audit log", partition("audit", shard), after=after,
                                limit=limit)  # fmt: skip
            entries += (_decode_audit(item, shard, shards) for item in items)
        entries.sort(key=lambda entry: entry.seq)
        return entries[:limit]

    def claim_setting(self, name: str, value: float) -> float:
        # One round trip, atomic: the first value written stays.
        found = self._call(
            "record a setting",
            "update_item",
            Key={"pk": {"S": "setting"}, "sk": {"S": name}},
            UpdateExpression="SET #v = if_not_exists(#v, :v)",
            ExpressionAttributeNames={"#v": "value"},
            ExpressionAttributeValues={":v": _number(value)},
            ReturnValues="ALL_NEW",
        )
        return float(found["Attributes"]["value"]["N"])

    def record_setting(self, name: str, value: float) -> None:
        item = {"pk": {"S": "setting"}, "sk": {"S": name}, "value": _number(value)}
        self._call("record a setting", "put_item", Item=item)

    # -- the lookup mode (see the module docstring and _dynamodb_lookup.py) ------

    def lookup(self, keys: list[LookupKey]) -> dict[LookupKey, list[Rule]]:
        """The rules filed under each key (expired ones too), strongly consistent: one
        ``BatchGetItem`` per 100 keys, plus retries of keys DynamoDB left unprocessed."""
        found: dict[LookupKey, list[Rule]] = {key: [] for key in keys}
        by_pk = {lookup_pk(key): key for key in keys}
        pks = list(by_pk)
        for first in range(0, len(pks), _BATCH_GET_KEYS):
            chunk = pks[first : first + _BATCH_GET_KEYS]
            request = {"Keys": [{"pk": {"S": pk}, "sk": {"S": "L"}} for pk in chunk]}
            for item in self._batch_get("look up rules", {**request, "ConsistentRead": True}):
                key = by_pk.get(item.get("pk", {}).get("S", ""))
                if key is not None:
                    found[key] = _filed_rules(item)
        return found

    def lookup_status(self) -> tuple[bool, int]:
        """Whether every stored rule has its lookup item (``migrate`` recorded it), and the
        approximate rule count (active, or expired and not yet pruned; give or take the
        writes racing a prune): the setting and the count shards, one ``BatchGetItem``
        whatever the number of rules."""
        ready = {"pk": {"S": "setting"}, "sk": {"S": LOOKUP_READY_SETTING}}
        keys = [ready, *(count_key(shard) for shard in range(COUNT_SHARDS))]
        items = self._batch_get("read the rule count", {"Keys": keys})
        found_ready = any(item.get("pk") == ready["pk"] for item in items)
        shards = (item for item in items if item.get("pk", {}).get("S", "").startswith("count#"))
        return found_ready, max(0, sum(int(item.get("n", {}).get("N", "0")) for item in shards))

    def migrate(self) -> str:
        """File every stored rule under its lookup item, set the count exact, and record
        that lookups can be trusted (``revoker migrate``; safe to run again)."""
        stored = [_decode_rule(i) for i in self._all_rule_items("migrate", self._layout().shards)]
        for rule in stored:
            self._raise_lookup_ttl(rule)
            self._call("migrate", "update_item", **_file_rule(rule))
        self._set_count("migrate", len(stored))
        self.record_setting(LOOKUP_READY_SETTING, 1)
        return f"the dynamodb store files its {len(stored)} rule(s) for lookups"

    def close(self) -> None:
        if not self._closed and self._owns_client:
            self._client.close()  # its HTTP connection pool
        self._closed = True

    # -- internals ------------------------------------------------------------

    def _op(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        return {kind: {"TableName": self.table, **body}}

    def _log_items(
        self,
        shard: int,
        seq: int,
        op: Literal["add", "lift"],
        rule: Rule,
        *,
        at: float,
        actor: str,
        why: str,
    ) -> list[dict[str, Any]]:
        """The change and audit items of ``seq`` in ``shard``."""
        sk = {"S": f"{seq:020d}"}
        change = {
            "pk": {"S": partition("change", shard)},
            "sk": sk,
            "op": {"S": op},
            "at": _number(at),
            "rule": {"S": json.dumps(rule.to_dict(), separators=(",", ":"))},
            "ttl": {"N": str(math.ceil(at + self._retention_seconds))},
        }
        audit = {
            "pk": {"S": partition("audit", shard)},
            "sk": sk,
            "at": _number(at),
            "actor": {"S": actor},
            "action": {"S": "revoke" if op == "add" else "lift"},
            "rule_id": {"S": rule.id},
            "kind": {"S": str(rule.kind)},
            "value": {"S": rule.value},
            "reason": {"S": why},
        }
        return [self._op("Put", {"Item": change}), self._op("Put", {"Item": audit})]

    def _write(self, what: str, shard: int, items: Callable[[int], list[dict[str, Any]]]) -> int:
        """Run one transaction that moves the shard's head to its next seq; the change's id."""
        with self._shard_locks[shard]:
            for attempt in range(self._max_write_attempts):
                head = self._head(what, shard)
                seq = head + 1
                condition = "attribute_not_exists(#seq)" if head == 0 else "#seq = :head"
                values = {":next": {"N": str(seq)}}
                if head:
                    values[":head"] = {"N": str(head)}
                move = {
                    "Key": _head_key(shard),
                    "UpdateExpression": "SET #seq = :next",
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": {"#seq": "seq"},
                    "ExpressionAttributeValues": values,
                }
                transaction = [self._op("Update", move), *items(seq)]
                if head == 0:  # a shard's first write: no rule of this table lacks its lookup item
                    transaction.append(self._op("Put", {"Item": _READY}))
                try:
                    # A token per attempt: botocore's own retry of an attempt whose answer was
                    # lost sends the same token, and DynamoDB does not apply it twice (which
                    # would read as a duplicate rule, or a lift of nothing, for a write that
                    # took); our next attempt is another transaction, with another token.
                    self._client.transact_write_items(
                        TransactItems=transaction, ClientRequestToken=uuid.uuid4().hex
                    )
                except self._client_error as exc:
                    if not self._retry_write(exc, attempt):
                        raise _store_error(what, exc) from exc
                    continue
                except self._boto_error as exc:
                    raise _store_error(what, exc) from exc
                return self._change_id(shard, seq)
        raise StoreError(f"the DynamoDB store could not {what}: still throttled after retries")

    def _change_id(self, shard: int, seq: int) -> int:
        return change_id(shard, seq, self._layout().shards)

    def _layout(self) -> ShardCursors:
        """The table's shards (and this reader's cursors); read once, and recorded for a new
        table: the count asked for, or one for a table written before shards existed."""
        cursors = self._cursors
        if cursors is None:
            with self._layout_lock:
                if self._cursors is None:
                    self._cursors = ShardCursors(self._read_layout(), shared=True)
                cursors = self._cursors
        return cursors

    def _read_layout(self) -> int:
        setting = {"pk": {"S": "setting"}, "sk": {"S": LOG_SHARDS_SETTING}}
        request = {"Keys": [setting, _head_key(0)], "ConsistentRead": True}
        recorded: float | None = None
        written = False
        for item in self._batch_get("read the table's layout", request):
            if item.get("pk") == setting["pk"]:
                recorded = float(item.get("value", {}).get("N", "nan"))
            else:
                written = "seq" in item
        if recorded is None:
            recorded = self.claim_setting(LOG_SHARDS_SETTING, 1 if written else self._shards_wanted)
        if not (recorded.is_integer() and 1 <= recorded <= MAX_LOG_SHARDS):
            raise StoreError(f"the DynamoDB table records {LOG_SHARDS_SETTING}={recorded!r}")
        return int(recorded)

    def _all_rule_items(self, what: str, shards: int) -> list[dict[str, Any]]:
        """Every rule item, oldest first (by seq on one shard, by creation time on several)."""
        if shards == 1:
            return sorted(self._query(what, "rule"), key=lambda item: int(item["seq"]["N"]))

        # A Query per shard, eight at a time: a cold replica waits for one round trip of its
        # slowest shard, not for sixteen in a row (boto3 clients are thread-safe).
        def read(shard: int) -> list[dict[str, Any]]:
            return list(self._query(what, partition("rule", shard)))

        with ThreadPoolExecutor(min(8, shards), thread_name_prefix="revoker-dynamodb") as pool:
            items = [item for found in pool.map(read, range(shards)) for item in found]
        return sorted(
            items, key=lambda item: (float(item["created_at"]["N"]), int(item["seq"]["N"]))
        )

    def _retry_write(self, exc: Exception, attempt: int) -> bool:
        """Whether to try again (after a backoff); raises ``_ItemConditionFailed``."""
        response = getattr(exc, "response", {})
        code = response.get("Error", {}).get("Code", "")
        if code == "TransactionCanceledException":
            reasons = [r.get("Code") for r in response.get("CancellationReasons", [])]
            if any(r == "ConditionalCheckFailed" for r in reasons[1:]):
                raise _ItemConditionFailed
            if reasons[:1] == ["ConditionalCheckFailed"]:
                return True  # another writer moved the head: read it again at once
            if not _RETRYABLE_REASONS.intersection(reasons):
                return False
        elif code not in _RETRYABLE:
            return False
        if attempt + 1 < self._max_write_attempts:
            # Full jitter, so writers that collided do not collide again in step.
            self._sleep(random.uniform(0, min(2.0, 0.05 * 2**attempt)))  # noqa: S311 - jitter, not a secret
        return True

    def _raise_lookup_ttl(self, rule: Rule) -> None:
        ttl = _NEVER if rule.expires_at is None else math.ceil(rule.expires_at)
        try:
            self._client.update_item(
                TableName=self.table,
                Key=_lookup_item_key(lookup_key_of(rule)),
                UpdateExpression="SET #ttl = :ttl",
                ConditionExpression="attribute_not_exists(#ttl) OR #ttl < :ttl",
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues={":ttl": {"N": str(ttl)}},
            )
        except self._client_error as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code != "ConditionalCheckFailedException":  # already late enough: fine
                raise _store_error("add a rule", exc) from exc
        except self._boto_error as exc:
            raise _store_error("add a rule", exc) from exc

    def _count(self, delta: int) -> None:
        """Bump one count shard; approximate by design, so a failure is only logged."""
        shard = random.randrange(COUNT_SHARDS)  # noqa: S311 - spreading load, not a secret
        try:
            self._client.update_item(
                TableName=self.table,
                Key=count_key(shard),
                UpdateExpression="ADD #n :delta",
                ExpressionAttributeNames={"#n": "n"},
                ExpressionAttributeValues={":delta": {"N": str(delta)}},
            )
        except (self._client_error, self._boto_error) as exc:
            logger.warning("the approximate rule count was not updated: %s", _store_error("", exc))

    def _set_count(self, what: str, count: int) -> None:
        """Make the count exact: all of it in shard 0 (writes racing this are lost)."""
        for shard in range(COUNT_SHARDS):
            item = {**count_key(shard), "n": {"N": str(count if shard == 0 else 0)}}
            self._call(what, "put_item", Item=item)

    def _batch_get(self, what: str, request: dict[str, Any]) -> list[dict[str, Any]]:
        """The items of one ``BatchGetItem``, unprocessed keys retried a bounded number of times."""
        pending: dict[str, Any] = {self.table: request}
        items: list[dict[str, Any]] = []
        for attempt in range(self._max_write_attempts):
            result = self._call(what, "batch_get_item", RequestItems=pending)
            items += result.get("Responses", {}).get(self.table, [])
            pending = result.get("UnprocessedKeys") or {}
            if not pending:
                return items
            self._sleep(random.uniform(0, min(2.0, 0.05 * 2**attempt)))  # noqa: S311 - jitter
        raise StoreError(f"the DynamoDB store could not {what}: keys left unprocessed")

    def _head(self, what: str, shard: int) -> int:
        found = self._call(what, "get_item", Key=_head_key(shard), ConsistentRead=True)
        item = found.get("Item")
        return int(item["seq"]["N"]) if item and "seq" in item else 0

    def _heads(self, what: str, shards: int) -> list[int]:
        """Every shard's head seq: one strongly consistent read, whatever the shard count."""
        if shards == 1:
            return [self._head(what, 0)]
        keys = [_head_key(shard) for shard in range(shards)]
        found = {
            item["pk"]["S"]: int(item["seq"]["N"])
            for item in self._batch_get(what, {"Keys": keys, "ConsistentRead": True})
            if "seq" in item
        }
        return [found.get(partition("head", shard), 0) for shard in range(shards)]

    def _query(
        self, what: str, pk: str, *, after: int | None = None, limit: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Items of one partition in ``sk`` order (after the seq ``after``), page by page."""
        request: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ConsistentRead": True,
        }
        if after is not None:
            request["KeyConditionExpression"] += " AND sk > :after"
            request["ExpressionAttributeValues"][":after"] = {"S": f"{max(after, 0):020d}"}
        remaining = limit
        while True:
            if remaining is not None:
                request["Limit"] = remaining
            page = self._call(what, "query", TableName=self.table, **request)
            items = page.get("Items", [])
            yield from items
            if remaining is not None:
                remaining -= len(items)
            start = page.get("LastEvaluatedKey")
            if not start or (remaining is not None and remaining <= 0):
                return
            request["ExclusiveStartKey"] = start

    def _delete_all(self, what: str, keys: list[dict[str, Any]]) -> None:
        for first in range(0, len(keys), 25):  # BatchWriteItem takes 25 requests at most
            pending = {
                self.table: [{"DeleteRequest": {"Key": k}} for k in keys[first : first + 25]]
            }
            for attempt in range(self._max_write_attempts):
                result = self._call(what, "batch_write_item", RequestItems=pending)
                pending = result.get("UnprocessedItems") or {}
                if not pending:
                    break
                self._sleep(random.uniform(0, min(2.0, 0.05 * 2**attempt)))  # noqa: S311 - jitter
            else:
                raise StoreError(f"the DynamoDB store could not {what}: items left unprocessed")

    def _call(self, what: str, operation: str, **request: Any) -> dict[str, Any]:
        self._check_open()
        if "TableName" not in request and operation not in ("batch_write_item", "batch_get_item"):
            request["TableName"] = self.table
        try:
            result: dict[str, Any] = getattr(self._client, operation)(**request)
        except (self._client_error, self._boto_error) as exc:
            raise _store_error(what, exc) from exc
        return result

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"the DynamoDB store {self.table} is closed")


class DynamoDBReader:
    """One reader of a store's change log, with cursors of its own: ``changes_since`` and
    ``snapshot`` as the store's, for the seqs this reader was given."""

    def __init__(self, store: DynamoDBStore) -> None:
        self._store = store
        self._cursors: ShardCursors | None = None

    def _own(self) -> ShardCursors:
        if self._cursors is None:  # on first use: opening a reader makes no call
            self._cursors = ShardCursors(self._store.log_shards)
        return self._cursors

    def changes_since(self, seq: int, *, limit: int = 10_000) -> list[Change] | None:
        return self._store.changes_for(self._own(), seq, limit=limit)

    def snapshot(self, now: float) -> tuple[int, list[Rule]]:
        return self._store.snapshot_for(self._own(), now)


def _store_error(what: str, exc: Exception) -> StoreError:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code") or type(exc).__name__
    return StoreError(f"the DynamoDB store could not {what}: {code}")


def _number(value: float) -> dict[str, str]:
    return {"N": repr(float(value))}  # repr round-trips a float exactly


def _rule_key(rule_id: str, shard: int) -> dict[str, Any]:
    return {"pk": {"S": partition("rule", shard)}, "sk": {"S": rule_id}}


def _head_key(shard: int) -> dict[str, Any]:
    name = {"S": partition("head", shard)}
    return {"pk": name, "sk": {"S": "head"}}


def _lookup_item_key(key: LookupKey) -> dict[str, Any]:
    return {"pk": {"S": lookup_pk(key)}, "sk": {"S": "L"}}


def _file_rule(rule: Rule) -> dict[str, Any]:
    """The update that files ``rule`` in its lookup item (an attribute of its own)."""
    return {
        "Key": _lookup_item_key(lookup_key_of(rule)),
        "UpdateExpression": "SET #rule = :rule",
        "ExpressionAttributeNames": {"#rule": "r:" + rule.id},
        "ExpressionAttributeValues": {
            ":rule": {"S": json.dumps(rule.to_dict(), separators=(",", ":"))}
        },
    }


def _unfile_rule(rule: Rule, now: float) -> dict[str, Any]:
    # An update makes the item when it is missing (a rule stored before lookup items):
    # such an item gets a ttl of now, so TTL deletes it; an existing ttl stays.
    return {
        "Key": _lookup_item_key(lookup_key_of(rule)),
        "UpdateExpression": "REMOVE #rule SET #ttl = if_not_exists(#ttl, :now)",
        "ExpressionAttributeNames": {"#rule": "r:" + rule.id, "#ttl": "ttl"},
        "ExpressionAttributeValues": {":now": {"N": str(math.floor(now))}},
    }


def _filed_rules(item: dict[str, Any]) -> list[Rule]:
    rules = []
    for name, value in item.items():
        if name.startswith("r:"):
            try:
                rules.append(Rule.from_dict(json.loads(value["S"])))
            except (KeyError, TypeError, ValueError) as exc:
                why = f"the DynamoDB store holds a malformed lookup item: {exc}"
                raise StoreError(why) from exc
    return rules


def _rule_item(rule: Rule, seq: int, shard: int) -> dict[str, Any]:
    item: dict[str, Any] = {
        **_rule_key(rule.id, shard),
        "seq": {"N": str(seq)},
        "kind": {"S": str(rule.kind)},
        "value": {"S": rule.value},
        "reason": {"S": rule.reason},
        "actor": {"S": rule.actor},
        "created_at": _number(rule.created_at),
    }
    if rule.issuer is not None:
        item["issuer"] = {"S": rule.issuer}
    if rule.cutoff is not None:
        item["cutoff"] = _number(rule.cutoff)
    if rule.expires_at is not None:
        item["expires_at"] = _number(rule.expires_at)
        item["ttl"] = {"N": str(math.ceil(rule.expires_at))}
    return item


def _decode_rule(item: dict[str, Any]) -> Rule:
    def number(name: str) -> float | None:
        return float(item[name]["N"]) if name in item else None

    try:
        return Rule(
            id=item["sk"]["S"],
            kind=RuleKind(item["kind"]["S"]),
            value=item["value"]["S"],
            issuer=item["issuer"]["S"] if "issuer" in item else None,
            cutoff=number("cutoff"),
            expires_at=number("expires_at"),
            reason=item.get("reason", {}).get("S", ""),
            actor=item["actor"]["S"],
            created_at=float(item["created_at"]["N"]),
        )
    except (KeyError, TypeError, ValueError) as exc:  # InvalidRule is a ValueError
        raise StoreError(f"the DynamoDB store holds a malformed rule: {exc}") from exc


def _rule_from_json(item: dict[str, Any]) -> Rule:
    try:
        return Rule.from_dict(json.loads(item["rule"]["S"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"the DynamoDB store holds a malformed change: {exc}") from exc


def _op_name(item: dict[str, Any]) -> Literal["add", "lift"]:
    return "lift" if item.get("op", {}).get("S") == "lift" else "add"


def _decode_audit(item: dict[str, Any], shard: int, shards: int) -> AuditEntry:
    try:
        action: Literal["revoke", "lift"] = "lift" if item["action"]["S"] == "lift" else "revoke"
        return AuditEntry(
            seq=change_id(shard, int(item["sk"]["S"]), shards),
            at=float(item["at"]["N"]),
            actor=item["actor"]["S"],
            action=action,
            rule_id=item["rule_id"]["S"],
            kind=item["kind"]["S"],
            value=item["value"]["S"],
            reason=item.get("reason", {}).get("S", ""),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"the DynamoDB store holds a malformed audit entry: {exc}") from exc


def _active(rule: Rule, now: float) -> bool:
    return rule.expires_at is None or rule.expires_at > now


def dynamodb_client(*, region: str | None = None, endpoint_url: str | None = None) -> Any:
    """A low-level DynamoDB client with short timeouts and botocore's standard retries."""
    boto3 = importlib.import_module("boto3")
    config = importlib.import_module("botocore.config").Config(
        retries={"mode": "standard", "max_attempts": 5},
        connect_timeout=2,
        read_timeout=5,
    )
    # A session of its own: boto3's default session is not safe to share between threads.
    session = boto3.session.Session()
    return session.client("dynamodb", region_name=region, endpoint_url=endpoint_url, config=config)


def create_table(client: Any, table: str) -> None:
    """Create the table (on demand, with TTL on ``ttl``) unless it exists; for tests and dev."""
    try:
        client.create_table(
            TableName=table,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
    except client.exceptions.ResourceInUseException:
        return
    waiter = client.get_waiter("table_exists")
    waiter.wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    client.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"}
    )


def open_dynamodb_store(url: str) -> DynamoDBStore:
    """``dynamodb://TABLE?region=REGION&endpoint_url=URL&log_shards=N`` (options optional;
    ``log_shards`` only counts for a table not yet used, see ``_dynamodb_shards``)."""
    rest = url.partition("://")[2]
    table, _, query = rest.partition("?")
    if not _TABLE_NAME.fullmatch(table):
        raise ConfigurationError("a DynamoDB store URL is dynamodb://TABLE?region=REGION")
    options = dict(parse_qsl(query, keep_blank_values=True))
    unknown = sorted(set(options) - _OPTIONS)
    if unknown:
        raise ConfigurationError(f"unknown DynamoDB store option {unknown[0][:32]!r}")
    shards = options.get("log_shards") or str(DEFAULT_LOG_SHARDS)
    if not (shards.isascii() and shards.isdigit()) or not 1 <= int(shards) <= MAX_LOG_SHARDS:
        why = f"log_shards is a number of shards from 1 to {MAX_LOG_SHARDS}"
        raise ConfigurationError(f"a DynamoDB store URL's {why}, not {shards[:16]!r}")
    botocore_error = importlib.import_module("botocore.exceptions").BotoCoreError
    try:
        client = dynamodb_client(
            region=options.get("region") or None, endpoint_url=options.get("endpoint_url") or None
        )
    except (ValueError, botocore_error) as exc:  # no or a bad region, a bad endpoint URL
        raise ConfigurationError(f"cannot open the DynamoDB store: {exc}") from None
    return DynamoDBStore(client, table, owns_client=True, log_shards=int(shards))
