"""The WebSocket routes ``$connect`` and ``$disconnect``: ``revoker.aws.websocket_handler.handler``.

- ``$connect`` (its integration, which runs after the authorizer allowed the
  connection): answers 200 and, when the token came in ``Sec-WebSocket-Protocol``
  (``REVOKER_WEBSOCKET_TOKEN_SOURCES`` has ``protocol:MARKER`` and the client
  offered ``MARKER``), selects ``MARKER`` as the subprotocol: a browser that
  offered subprotocols fails a handshake that selects none. The token itself is
  never echoed.
- ``$disconnect``: removes the connection's record (``REVOKER_CONNECTIONS``).
  API Gateway sends it on a best-effort basis (after a ``DeleteConnection`` too);
  a record whose disconnect never came expires by TTL.

Anything else is answered 400 (route only ``$connect`` and ``$disconnect`` here).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from revoker.aws.authorizer_event import subprotocols
from revoker.aws.runtime import current_runtime
from revoker.core.errors import StoreError

if TYPE_CHECKING:
    from revoker.aws.runtime import Runtime

__all__ = ["handle", "handler"]

log = logging.getLogger("revoker.aws")


def handler(event: Any, context: Any) -> dict[str, Any]:
    """The Lambda entry point (configure ``revoker.aws.websocket_handler.handler``)."""
    return handle(current_runtime(), event)


def handle(runtime: Runtime, event: Any) -> dict[str, Any]:
    """Answer one WebSocket route event with ``runtime``."""
    context = event.get("requestContext") if isinstance(event, Mapping) else None
    if not isinstance(context, Mapping):
        return {"statusCode": 400}
    kind = context.get("eventType")
    if kind == "CONNECT":
        return _connect(runtime, event)
    if kind == "DISCONNECT":
        return _disconnect(runtime, context.get("connectionId"))
    log.warning("websocket_handler serves $connect and $disconnect only, not %s", str(kind)[:32])
    return {"statusCode": 400}


def _connect(runtime: Runtime, event: Mapping[str, Any]) -> dict[str, Any]:
    offered = subprotocols(event.get("headers"))
    for source in runtime.token_sources:
        if source.kind == "protocol" and source.name in offered:
            return {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": source.name}}
    return {"statusCode": 200}


def _disconnect(runtime: Runtime, connection_id: Any) -> dict[str, Any]:
    connections = runtime.connections
    if connections is None or not isinstance(connection_id, str) or not connection_id:
        return {"statusCode": 200}
    try:
        connections.remove(connection_id)
    except StoreError as exc:
        log.warning("cannot remove connection record %s: %s", connection_id[:128], exc)
        return {"statusCode": 500}
    return {"statusCode": 200}
