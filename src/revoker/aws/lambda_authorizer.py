"""The API Gateway Lambda authorizer: ``revoker.aws.lambda_authorizer.handler``.

Per invocation: read the event (REST TOKEN/REQUEST, HTTP API 1.0/2.0, WebSocket
``$connect``), sync the replica if it is older than the bound, check the token
(verify, cached until ``exp``, then the revocation rules), and answer:

===========================  ===================================  ==========================
outcome                      answer                               client sees
===========================  ===================================  ==========================
allowed                      IAM policy (or, HTTP API 2.0 with    the backend, with the
                             simple responses, isAuthorized true) identity in its context
missing, invalid or revoked  ``raise Unauthorized()`` (message    401
token                        "Unauthorized"); simple responses:
                             ``{"isAuthorized": false}``          403
cannot decide (keys or       ``raise AuthorizerUnavailable``      500: an outage never looks
registry unreachable)                                             like a bad token
===========================  ===================================  ==========================

A WebSocket ``$connect`` is authorized once for the connection's whole life
(up to two hours), so with ``REVOKER_CONNECTIONS`` set an allowed connection is
also recorded, for a later rule to close it (``revoker.aws.closer``). The order
closes the race with a revoke: the record is written first, then the replica
syncs (whatever its age) and the token is checked again; a rule stored before
that sync denies the connection (and the record is removed), a rule stored after
it finds the record. A record that cannot be written, or a sync that fails
after it, is an outage (``AuthorizerUnavailable``), never an unrecorded allow.
A WebSocket event whose connection cannot be read is denied (``Unauthorized``).

The import of this module loads no web framework, no HTTP client and no
boto3 (a test guards it): the core is imported on the first invocation, and
boto3 only by the DynamoDB store.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from revoker.aws.authorizer_event import (
    AuthorizerRequest,
    MalformedEvent,
    parse_authorizer_event,
)
from revoker.aws.policy import (
    Unauthorized,
    allow_policy,
    authorizer_context,
    policy_resource,
    simple_response,
)
from revoker.aws.runtime import current_runtime
from revoker.core.errors import CANNOT_DECIDE, ConfigurationError, RevokerError, StoreError

if TYPE_CHECKING:
    from revoker.aws.runtime import Runtime
    from revoker.core.authorizer import Decision

__all__ = ["AuthorizerUnavailable", "Unauthorized", "authorize", "handler"]

log = logging.getLogger("revoker.aws")


class AuthorizerUnavailable(Exception):
    """Raised when no decision could be made; API Gateway answers 500, not 401."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"Authorizer unavailable: {reason}")
        self.reason = reason


def handler(event: Any, context: Any) -> dict[str, Any]:
    """The Lambda entry point (configure ``revoker.aws.lambda_authorizer.handler``)."""
    try:
        runtime = current_runtime()
    except RevokerError as exc:
        log.error("the authorizer is misconfigured: %s", exc)  # noqa: TRY400 - one line, no trace
        raise AuthorizerUnavailable(exc.reason) from None
    return authorize(runtime, event)


def authorize(runtime: Runtime, event: Any) -> dict[str, Any]:
    """Decide on one authorizer event with ``runtime``; raise to deny (see the table)."""
    config = runtime.settings
    try:
        request = parse_authorizer_event(
            event, header=config.auth_header.lower(), websocket=runtime.token_sources
        )
    except MalformedEvent as exc:
        log.info("deny reason=malformed_event: %s", exc.detail)
        raise Unauthorized from None
    except RevokerError as exc:
        log.error("not an authorizer event: %s", exc)  # noqa: TRY400 - one line, no trace
        raise AuthorizerUnavailable(exc.reason) from None
    if request.token is None:
        log.info("deny reason=missing_token kind=%s", request.kind)
        return _deny(request, simple=config.simple_responses)
    runtime.warm()
    runtime.sync()
    decision = runtime.authorizer.check(request.token)
    if not decision.allowed:
        _refuse(request.token, decision)
        return _deny(request, simple=config.simple_responses)
    if request.kind == "websocket":
        return _allow_connection(runtime, request, request.token, decision)
    claims = decision.claims or {}
    context = authorizer_context(claims, decision.token.kind if decision.token else None)
    if request.kind == "http-2.0" and config.simple_responses:
        return simple_response(True, context)
    resource = policy_resource(request.resource_arn, config.policy_resource)
    return allow_policy(str(claims.get("sub", "")), resource, context)


def _refuse(token: str, decision: Decision) -> None:
    """Log a denial; raise when it is an outage rather than a bad token."""
    fingerprint = _fingerprint(token)
    if decision.reason in CANNOT_DECIDE:
        log.warning("cannot decide reason=%s token=%s", decision.reason, fingerprint)
        raise AuthorizerUnavailable(decision.reason)
    rule = decision.rule.id if decision.rule is not None else "-"
    log.info("deny reason=%s token=%s rule=%s", decision.reason, fingerprint, rule)


def _allow_connection(
    runtime: Runtime, request: AuthorizerRequest, token: str, decision: Decision
) -> dict[str, Any]:
    """The policy for an allowed ``$connect`` (that route only), once it is recorded."""
    decision = _record_connection(runtime, request, token, decision)
    claims = decision.claims or {}
    kind = decision.token.kind if decision.token is not None else None
    return allow_policy(
        str(claims.get("sub", "")), request.resource_arn, authorizer_context(claims, kind)
    )


def _record_connection(
    runtime: Runtime, request: AuthorizerRequest, token: str, decision: Decision
) -> Decision:
    """Record an allowed ``$connect``, then decide again on a fresh replica (see above)."""
    connections, connect, verified = runtime.connections, request.connection, decision.token
    if connections is None or connect is None or verified is None:
        return decision  # connections are not followed here: the connection lives on its own
    from revoker.aws.connections import Connection  # noqa: PLC0415 - WebSocket only

    record = Connection.opened(
        verified,
        connect,
        now=runtime.clock(),
        max_connection_seconds=runtime.settings.websocket_max_connection_seconds,
    )
    try:
        connections.put(record)
    except StoreError as exc:
        log.warning("cannot record connection %s: %s", connect.connection_id, exc)
        raise AuthorizerUnavailable("connections_unavailable") from None
    try:
        runtime.registry.sync()  # whatever its age: rules stored before the record count
    except (StoreError, ConfigurationError) as exc:
        _forget(runtime, connect.connection_id)
        log.warning("cannot sync before allowing connection %s: %s", connect.connection_id, exc)
        raise AuthorizerUnavailable("registry_stale") from None
    again = runtime.authorizer.check(token)
    if not again.allowed:
        _forget(runtime, connect.connection_id)
        _refuse(token, again)
        raise Unauthorized
    log.info("connection %s recorded for token %s", connect.connection_id, _fingerprint(token))
    return again


def _forget(runtime: Runtime, connection_id: str) -> None:
    connections = runtime.connections
    if connections is None:
        return
    try:
        connections.remove(connection_id)
    except StoreError as exc:  # the record expires by TTL; a rule closing it finds it gone
        log.warning("cannot remove connection record %s: %s", connection_id, exc)


def _deny(request: AuthorizerRequest, *, simple: bool) -> dict[str, Any]:
    if request.kind == "http-2.0" and simple:
        return simple_response(False, {})
    raise Unauthorized


def _fingerprint(token: str) -> str:
    from revoker.core.tokens import token_fingerprint  # noqa: PLC0415 - loaded by the check already

    return token_fingerprint(token)
