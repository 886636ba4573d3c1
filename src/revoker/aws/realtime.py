"""The effects of a new rule on the surfaces that authorize once: WebSocket APIs and AppSync.

``install(revoker)`` adds them as rule hooks of ``revoker``'s operations, like
``revoker.aws.passthrough``, when the settings ask for them, so a rule made
through any path of that process (the revoke function, the EventBridge
function, back-channel logout or SSF, ``revoker revoke --store dynamodb://…``)
has them:

- ``REVOKER_CONNECTIONS`` set: ``ConnectionCloser`` closes the recorded WebSocket
  connections the rule matches (``DeleteConnection``).
- ``REVOKER_APPSYNC_INVALIDATION_URL`` set: ``AppSyncInvalidator`` sends the
  ``revokerInvalidate`` mutation, so AppSync unsubscribes the matching subscriptions.

The SAM template runs both from one place instead: a function on the revocation
table's DynamoDB stream (``revoker.aws.stream_handler``), which sees every rule
whoever wrote it, even a process that has neither setting. ``Realtime.apply`` is
what it calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from revoker.aws.clients import AwsClients
from revoker.aws.connections import ConnectionStore, open_connection_store
from revoker.core.errors import ConfigurationError

if TYPE_CHECKING:
    from revoker.app.compose import Revoker
    from revoker.app.operations import RuleEvent
    from revoker.app.settings import Settings
    from revoker.aws.appsync_invalidate import AppSyncInvalidator
    from revoker.aws.closer import CloseReport, ConnectionCloser
    from revoker.core.registry.rules import Rule

__all__ = ["Realtime", "RealtimeOutcome", "install", "wanted"]


@dataclass(frozen=True, slots=True)
class RealtimeOutcome:
    """What one rule did to open connections and subscriptions."""

    connections: CloseReport | None
    appsync: bool | None  # None: not configured

    @property
    def ok(self) -> bool:
        return (self.connections is None or self.connections.ok) and self.appsync is not False


class Realtime:
    """The configured closer and invalidator, as one rule hook."""

    def __init__(
        self,
        *,
        connections: ConnectionStore | None,
        closer: ConnectionCloser | None,
        invalidator: AppSyncInvalidator | None,
    ) -> None:
        self.connections = connections
        self.closer = closer
        self.invalidator = invalidator

    def __call__(self, rule: Rule, event: RuleEvent) -> RealtimeOutcome:
        return self.apply(rule)

    def apply(self, rule: Rule) -> RealtimeOutcome:
        """Close what ``rule`` matches, then invalidate its subscriptions."""
        report = self.closer.close_matching(rule) if self.closer is not None else None
        appsync = self.invalidator.invalidate(rule) if self.invalidator is not None else None
        return RealtimeOutcome(report, appsync)

    def close(self) -> None:
        if self.connections is not None:
            self.connections.close()


def wanted(settings: Settings) -> bool:
    """Whether these settings ask for connection records or AppSync invalidation."""
    return bool(settings.connections_store_url or settings.appsync_invalidation_url)


def build(settings: Settings, *, clients: AwsClients, revoker: Revoker) -> Realtime:
    """The parts the settings ask for (opening the connections store, not calling it)."""
    from revoker.aws.appsync_invalidate import (  # noqa: PLC0415 - only when asked for
        AppSyncInvalidator,
        appsync_region,
    )
    from revoker.aws.closer import ConnectionCloser  # noqa: PLC0415

    connections = closer = invalidator = None
    if settings.connections_store_url:
        connections = open_connection_store(settings.connections_store_url)
        closer = ConnectionCloser(connections, clients=clients, clock=revoker.clock)
    url = settings.appsync_invalidation_url
    if url:
        region = appsync_region(url) or settings.region
        if region is None:
            raise ConfigurationError(
                "REVOKER_APPSYNC_INVALIDATION_URL is not an AppSync host name: set AWS_REGION"
            )
        invalidator = AppSyncInvalidator(url, region=region, clock=revoker.clock)
    return Realtime(connections=connections, closer=closer, invalidator=invalidator)


def install(revoker: Revoker, *, clients: AwsClients | None = None) -> Realtime:
    """Run the closer and the invalidator after every rule ``revoker``'s operations create."""
    settings = revoker.settings
    realtime = build(
        settings, clients=clients or AwsClients(region=settings.region), revoker=revoker
    )
    revoker.operations.add_rule_hook(realtime)
    return realtime
