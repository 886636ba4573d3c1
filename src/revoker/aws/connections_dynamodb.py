"""WebSocket connection records in a DynamoDB table of their own.

Why not the revocation table: the ``$connect`` authorizer must write these, and
the revocation table is the one thing it must never write (its IAM policy
allows ``GetItem`` and ``Query`` there, nothing else); connects and disconnects
would also flow through that table's stream, whose consumer reacts to new rules
only. The key schema is the same (``pk``/``sk`` strings, TTL on ``ttl``), so
``create_table`` of the rules store creates this one too.

Items (every item carries the whole record, so one ``Query`` answers a rule)::

    item      pk                               sk               other attributes
    record    "connection#" + connection id    "#"              the record's fields, ttl
    lookup    KIND "#" + SHA-256(value), for   connection id    the same fields, ttl
              KIND in token, family, session,
              subject

A connection is written with one ``TransactWriteItems`` (the record and its
lookups, or nothing), so a rule never finds it by one value and misses it by
another. A rule of a lookup kind reads one partition (``Query``, strongly
consistent); a client, key or issuer rule scans the records (``Scan`` filtered
to ``sk = "#"``, strongly consistent): those are rare, emergency revocations
that match most connections anyway. Values are hashed into the key, so a
value of any length (1024 characters, up to 4 KiB of UTF-8) fits DynamoDB's
2 KiB partition-key limit; the item keeps the value itself.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl

from revoker.aws.connections import LOOKUP_KINDS, Connection
from revoker.core.errors import ConfigurationError, StoreError
from revoker.core.registry.rules import Rule, RuleKind
from revoker.core.registry.stores.dynamodb import dynamodb_client

__all__ = ["DynamoDBConnectionStore", "lookup_key", "open_dynamodb_connection_store"]

log = logging.getLogger("revoker.aws")

_RECORD_SK = "#"  # never a connection id (API Gateway's are base64 without '#')
_OPTIONS = frozenset({"region", "endpoint_url"})
_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")


def lookup_key(kind: RuleKind, value: str) -> str:
    """The partition of the records a ``kind`` rule with ``value`` matches."""
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{kind}#{digest}"


def _record_key(connection_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"connection#{connection_id}"}, "sk": {"S": _RECORD_SK}}


class DynamoDBConnectionStore:
    """A ``ConnectionStore`` in one DynamoDB table, through a low-level boto3 client."""

    def __init__(
        self,
        client: Any,
        table: str,
        *,
        connect: Callable[[], Any] | None = None,
        max_attempts: int = 6,
        sleep: Callable[[float], None] = time.sleep,
        owns_client: bool = False,
    ) -> None:
        """``client``: a low-level DynamoDB client; or None and ``connect``, which makes one on
        first use (a REST call through an authorizer that also serves ``$connect`` never pays
        for it)."""
        if client is None and connect is None:
            raise ConfigurationError("a DynamoDB connections store needs a client")
        self.table = table
        self._client = client
        self._connect = connect
        self._lock = threading.Lock()
        self._owns_client = owns_client
        self._max_attempts = max(1, max_attempts)
        self._sleep = sleep
        exceptions = importlib.import_module("botocore.exceptions")
        self._errors: tuple[type[Exception], ...] = (
            exceptions.ClientError,
            exceptions.BotoCoreError,
        )

    @property
    def client(self) -> Any:
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    assert self._connect is not None  # noqa: S101 - set when no client was
                    try:
                        self._client = self._connect()
                    except ConfigurationError as exc:
                        raise StoreError(f"the connections table cannot be opened: {exc}") from exc
                client = self._client
        return client

    def put(self, connection: Connection) -> None:
        attributes = _attributes(connection)
        record = {**_record_key(connection.connection_id), **attributes}
        items = [{"Put": {"TableName": self.table, "Item": record}}]
        for kind, value in connection.lookups().items():
            key = {"pk": {"S": lookup_key(kind, value)}, "sk": {"S": connection.connection_id}}
            items.append({"Put": {"TableName": self.table, "Item": {**key, **attributes}}})
        self._call("record a connection", "transact_write_items", TransactItems=items)

    def get(self, connection_id: str) -> Connection | None:
        found = self._call(
            "read a connection",
            "get_item",
            TableName=self.table,
            Key=_record_key(connection_id),
            ConsistentRead=True,
        )
        item = found.get("Item")
        return None if item is None else _decode(item)

    def remove(self, connection_id: str) -> Connection | None:
        connection = self.get(connection_id)
        if connection is None:
            return None
        keys = [_record_key(connection_id)]
        keys += [
            {"pk": {"S": lookup_key(kind, value)}, "sk": {"S": connection_id}}
            for kind, value in connection.lookups().items()
        ]
        # Deletes are idempotent: a batch (no transaction conflicts), retried until done.
        pending = {self.table: [{"DeleteRequest": {"Key": key}} for key in keys]}
        for attempt in range(self._max_attempts):
            result = self._call("forget a connection", "batch_write_item", RequestItems=pending)
            pending = result.get("UnprocessedItems") or {}
            if not pending:
                return connection
            self._sleep(random.uniform(0, min(1.0, 0.05 * 2**attempt)))  # noqa: S311 - jitter
        raise StoreError("the connections table could not forget a connection: throttled")

    def candidates(self, rule: Rule) -> Iterator[Connection]:
        if rule.kind in LOOKUP_KINDS:
            request: dict[str, Any] = {
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": {":pk": {"S": lookup_key(rule.kind, rule.value)}},
            }
            return self._pages("find connections", "query", request)
        request = {
            "FilterExpression": "sk = :record",
            "ExpressionAttributeValues": {":record": {"S": _RECORD_SK}},
        }
        return self._pages("scan connections", "scan", request)

    def close(self) -> None:
        if self._owns_client and self._client is not None:
            self._client.close()

    def _pages(self, what: str, operation: str, request: dict[str, Any]) -> Iterator[Connection]:
        request = {"TableName": self.table, "ConsistentRead": True, **request}
        while True:
            page = self._call(what, operation, **request)
            for item in page.get("Items", []):
                try:
                    yield _decode(item)
                except StoreError as exc:  # one bad item must not keep the others open
                    log.warning("skipping a connection record: %s", exc)
            start = page.get("LastEvaluatedKey")
            if not start:
                return
            request["ExclusiveStartKey"] = start

    def _call(self, what: str, operation: str, **request: Any) -> dict[str, Any]:
        try:
            result: dict[str, Any] = getattr(self.client, operation)(**request)
        except self._errors as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code") or type(exc).__name__
            raise StoreError(f"the connections table could not {what}: {code}") from exc
        return result


def _attributes(connection: Connection) -> dict[str, Any]:
    item: dict[str, Any] = {
        "connection_id": {"S": connection.connection_id},
        "endpoint": {"S": connection.endpoint},
        "iss": {"S": connection.issuer},
        "iat": {"N": repr(float(connection.iat))},
        "exp": {"N": repr(float(connection.exp))},
        "jti": {"S": connection.jti},
        "connected_at": {"N": repr(float(connection.connected_at))},
        "expires_at": {"N": repr(float(connection.expires_at))},
        "ttl": {"N": str(connection.ttl)},
    }
    for name in ("sub", "origin_jti", "sid", "client_id", "kid", "email"):
        value = getattr(connection, name)
        if value is not None:
            item[name] = {"S": value}
    if connection.aud:
        item["aud"] = {"L": [{"S": member} for member in connection.aud]}
    return item


def _decode(item: dict[str, Any]) -> Connection:
    def text(name: str) -> str | None:
        return item[name]["S"] if name in item else None

    try:
        return Connection(
            connection_id=item["connection_id"]["S"],
            endpoint=item["endpoint"]["S"],
            issuer=item["iss"]["S"],
            sub=text("sub"),
            iat=float(item["iat"]["N"]),
            exp=float(item["exp"]["N"]),
            jti=item["jti"]["S"],
            origin_jti=text("origin_jti"),
            sid=text("sid"),
            client_id=text("client_id"),
            aud=tuple(member["S"] for member in item.get("aud", {}).get("L", [])),
            kid=text("kid"),
            email=text("email"),
            connected_at=float(item["connected_at"]["N"]),
            expires_at=float(item["expires_at"]["N"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"the connections table holds a malformed record: {exc!r}") from exc


def open_dynamodb_connection_store(url: str) -> DynamoDBConnectionStore:
    """``dynamodb://TABLE?region=REGION&endpoint_url=URL`` (both options optional)."""
    rest = url.partition("://")[2]
    table, _, query = rest.partition("?")
    if not _TABLE_NAME.fullmatch(table):
        raise ConfigurationError("a connections store URL is dynamodb://TABLE?region=REGION")
    options = dict(parse_qsl(query, keep_blank_values=True))
    unknown = sorted(set(options) - _OPTIONS)
    if unknown:
        raise ConfigurationError(f"unknown connections store option {unknown[0][:32]!r}")

    def connect() -> Any:
        botocore_error = importlib.import_module("botocore.exceptions").BotoCoreError
        try:
            return dynamodb_client(
                region=options.get("region") or None,
                endpoint_url=options.get("endpoint_url") or None,
            )
        except (ValueError, botocore_error) as exc:
            raise ConfigurationError(f"cannot open the connections table: {exc}") from None

    return DynamoDBConnectionStore(None, table, connect=connect, owns_client=True)
