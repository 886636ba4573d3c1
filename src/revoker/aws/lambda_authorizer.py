"""The API Gateway Lambda authorizer: ``revoker.aws.lambda_authorizer.handler``.

Per invocation: read the event (REST TOKEN/REQUEST, HTTP API 1.0/2.0), sync
the replica if it is older than the bound, check the token (verify, cached
until ``exp``, then the revocation rules), and answer:

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

The import of this module loads no web framework, no HTTP client and no
boto3 (a test guards it): the core is imported on the first invocation, and
boto3 only by the DynamoDB store.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from revoker.aws.authorizer_event import AuthorizerRequest, parse_authorizer_event
from revoker.aws.policy import (
    Unauthorized,
    allow_policy,
    authorizer_context,
    policy_resource,
    simple_response,
)
from revoker.aws.runtime import current_runtime
from revoker.core.errors import CANNOT_DECIDE, RevokerError

if TYPE_CHECKING:
    from revoker.aws.runtime import Runtime

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
        request = parse_authorizer_event(event, header=config.auth_header.lower())
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
        fingerprint = _fingerprint(request.token)
        if decision.reason in CANNOT_DECIDE:
            log.warning("cannot decide reason=%s token=%s", decision.reason, fingerprint)
            raise AuthorizerUnavailable(decision.reason)
        rule = decision.rule.id if decision.rule is not None else "-"
        log.info("deny reason=%s token=%s rule=%s", decision.reason, fingerprint, rule)
        return _deny(request, simple=config.simple_responses)
    claims = decision.claims or {}
    context = authorizer_context(claims, decision.token.kind if decision.token else None)
    if request.kind == "http-2.0" and config.simple_responses:
        return simple_response(True, context)
    resource = policy_resource(request.resource_arn, config.policy_resource)
    return allow_policy(str(claims.get("sub", "")), resource, context)


def _deny(request: AuthorizerRequest, *, simple: bool) -> dict[str, Any]:
    if request.kind == "http-2.0" and simple:
        return simple_response(False, {})
    raise Unauthorized


def _fingerprint(token: str) -> str:
    from revoker.core.tokens import token_fingerprint  # noqa: PLC0415 - loaded by the check already

    return token_fingerprint(token)
