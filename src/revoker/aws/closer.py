"""Closing the WebSocket connections a new rule matches: the Management API's DeleteConnection.

``ConnectionCloser`` is a ``RuleHook`` (installed by ``revoker.aws.realtime``) and
what the DynamoDB stream function calls for every new rule. For one rule it
reads the records that might match (``ConnectionStore.candidates``), keeps those
the rule matches **as the replica would match their token** (the rule is put in
a one-rule ``Replica`` and each record's claims are matched against it: issuer
scope, inclusive cut-offs on ``iat``, the token-rule value), and calls
``DeleteConnection`` on each at its stage's endpoint, a few at a time.

Closing is idempotent: a connection already gone answers 410 ``GoneException``,
counted as ``gone``, not as a failure; the ``$disconnect`` route (which API
Gateway runs after a ``DeleteConnection`` too) removes the record, and a record
whose disconnect was lost expires by TTL. Throttling (``LimitExceededException``)
is retried by botocore; anything else is a failure, logged with its AWS error
code, and reported so the stream function's batch can be retried.

Why no wait before closing: the ``$connect`` authorizer writes the record first
and checks the rules again after a fresh sync (``lambda_authorizer``), so any
connection allowed by a replica that had not yet seen this rule is recorded
before the rule was stored, and the strongly consistent read here finds it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from revoker.aws.clients import AwsClients, aws_error_code, aws_errors
from revoker.core.errors import StoreError
from revoker.core.registry.replica import Replica
from revoker.core.registry.stores.memory import MemoryStore

if TYPE_CHECKING:
    from revoker.app.operations import RuleEvent
    from revoker.aws.connections import Connection, ConnectionStore
    from revoker.core.clock import Clock
    from revoker.core.registry.rules import Rule

__all__ = ["CloseReport", "ConnectionCloser", "RuleMatcher"]

log = logging.getLogger("revoker.aws")

Outcome = Literal["closed", "gone", "failed"]


@dataclass(frozen=True, slots=True)
class CloseReport:
    """What closing for one rule did, by connection id."""

    rule_id: str
    closed: tuple[str, ...] = ()
    gone: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    error: str | None = None  # the records could not be read: none was closed

    @property
    def ok(self) -> bool:
        """Every matching connection is closed now (or was already)."""
        return not self.failed and self.error is None


class RuleMatcher:
    """Does one rule match a connection's token? The replica's own matching decides."""

    def __init__(self, rule: Rule, clock: Clock) -> None:
        self._replica = Replica(MemoryStore(), clock=clock)
        self._replica.add_rule(rule)  # an already expired rule is not added: it matches nothing

    def matches(self, connection: Connection) -> bool:
        found = self._replica.match(connection.claims(), connection.header(), "")
        return found is not None


def endpoint_region(endpoint: str) -> str | None:
    """``us-east-1`` of ``https://abc123.execute-api.us-east-1.amazonaws.com/prod``."""
    host = urlsplit(endpoint).hostname or ""
    parts = host.split(".")
    return parts[2] if len(parts) > 3 and parts[1] == "execute-api" else None


class ConnectionCloser:
    """Closes the recorded connections a rule matches (``DeleteConnection``)."""

    def __init__(
        self,
        store: ConnectionStore,
        *,
        clients: AwsClients,
        clock: Clock,
        max_workers: int = 8,
    ) -> None:
        self.store = store
        self._clients = clients
        self._clock = clock
        self._max_workers = max(1, max_workers)

    def __call__(self, rule: Rule, event: RuleEvent) -> CloseReport:
        """As a ``RuleHook``: close what ``rule`` matches."""
        return self.close_matching(rule)

    def close_matching(self, rule: Rule) -> CloseReport:
        """Close every recorded, unexpired connection ``rule`` matches."""
        now = self._clock()
        matcher = RuleMatcher(rule, self._clock)
        try:
            chosen = [
                connection
                for connection in self.store.candidates(rule)
                if connection.expires_at > now and matcher.matches(connection)
            ]
        except StoreError as exc:
            log.warning("rule %s: cannot read the connection records: %s", rule.id, exc)
            return CloseReport(rule.id, error=exc.reason)
        outcomes = self._close_all(chosen)
        report = CloseReport(
            rule.id,
            closed=tuple(c.connection_id for c, o in outcomes if o == "closed"),
            gone=tuple(c.connection_id for c, o in outcomes if o == "gone"),
            failed=tuple(c.connection_id for c, o in outcomes if o == "failed"),
        )
        if chosen:
            log.info(
                "rule %s: closed %d WebSocket connections (%d already gone, %d failed)",
                rule.id,
                len(report.closed),
                len(report.gone),
                len(report.failed),
            )
        return report

    def _close_all(self, chosen: list[Connection]) -> Iterable[tuple[Connection, Outcome]]:
        if len(chosen) <= 1:
            return [(connection, self.close(connection)) for connection in chosen]
        with ThreadPoolExecutor(max_workers=min(self._max_workers, len(chosen))) as pool:
            return list(zip(chosen, pool.map(self.close, chosen), strict=True))

    def close(self, connection: Connection) -> Outcome:
        """``DeleteConnection`` for one connection: closed, already gone, or failed."""
        client = self._clients.get(
            "apigatewaymanagementapi",
            endpoint_url=connection.endpoint,
            region=endpoint_region(connection.endpoint),
        )
        try:
            client.delete_connection(ConnectionId=connection.connection_id)
        except aws_errors() as exc:
            code = aws_error_code(exc)
            if code == "GoneException":
                return "gone"
            log.warning(
                "DeleteConnection %s at %s failed: %s",
                connection.connection_id,
                connection.endpoint,
                code,
            )
            return "failed"
        return "closed"
