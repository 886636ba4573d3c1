"""The AppSync Lambda authorizer: ``revoker.aws.appsync_authorizer.handler``.

AppSync (``AWS_LAMBDA`` authorization) invokes it with ``authorizationToken``
(the ``Authorization`` header as the client sent it: a bare JWT or
``Bearer <jwt>``) and a ``requestContext`` (``apiId``, ``accountId``,
``requestId``, ``queryString``, ``operationName``, ``variables``). It answers
always the same four keys:

===========================  =================================================================
outcome                      answer
===========================  =================================================================
allowed                      ``{"isAuthorized": true, "resolverContext": {…}, "deniedFields":
                             [], "ttlOverride": N}``
missing, invalid or revoked  ``{"isAuthorized": false, "resolverContext": {}, "deniedFields":
token; a malformed event     [], "ttlOverride": 0}`` (AppSync: 401 UnauthorizedException)
cannot decide (keys or       ``raise AuthorizerUnavailable``: an outage never looks like a bad
registry unreachable)        token (AppSync answers an error, not a cached denial)
===========================  =================================================================

``resolverContext`` (``ctx.identity.resolverContext`` in resolvers) holds strings
only: the identity (``sub``, ``username``, ``groups`` comma-joined, ``scope``
space-joined, ``client_id``, ``token_use``: ``app.identity.Identity``) and
``invalidation_filter``, the JSON of the filter a subscription resolver sets with
``extensions.setSubscriptionInvalidationFilter`` so that a later rule can
unsubscribe it (``revoker.aws.appsync_filter``). A token holds at most 8 KiB, so
the context stays far below AppSync's 5 MB.

``ttlOverride`` is how long AppSync may cache this allow and serve it again
without asking: a cached allow outlives a revocation, exactly as API Gateway's
authorizer cache does, and AppSync has no call to flush it. So it is never longer
than ``REVOKER_APPSYNC_MAX_TTL`` (default 0: no caching) nor than the token's
remaining life, and always present (absent, AppSync would use the API's own TTL).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from revoker.aws.authorizer_event import bearer_token
from revoker.aws.lambda_authorizer import AuthorizerUnavailable
from revoker.aws.runtime import current_runtime
from revoker.core.errors import CANNOT_DECIDE, RevokerError

if TYPE_CHECKING:
    from revoker.aws.runtime import Runtime

__all__ = ["AuthorizerUnavailable", "authorize_appsync", "denied", "handler", "ttl_override"]

log = logging.getLogger("revoker.aws")


def denied() -> dict[str, Any]:
    """The one denial AppSync gets, whatever the reason (the log says which)."""
    return {"isAuthorized": False, "resolverContext": {}, "deniedFields": [], "ttlOverride": 0}


def handler(event: Any, context: Any) -> dict[str, Any]:
    """The Lambda entry point (configure ``revoker.aws.appsync_authorizer.handler``)."""
    try:
        runtime = current_runtime()
    except RevokerError as exc:
        log.error("the AppSync authorizer is misconfigured: %s", exc)  # noqa: TRY400 - one line
        raise AuthorizerUnavailable(exc.reason) from None
    return authorize_appsync(runtime, event)


def authorize_appsync(runtime: Runtime, event: Any) -> dict[str, Any]:
    """Decide on one AppSync authorizer event with ``runtime`` (see the table above)."""
    token, problem = _read(event)
    if token is None:
        log.info("deny reason=%s kind=appsync", problem)
        return denied()
    from revoker.aws.appsync_filter import NotInvalidatable, invalidation_filter  # noqa: PLC0415
    from revoker.core.tokens import token_fingerprint  # noqa: PLC0415

    runtime.warm()
    runtime.sync()
    decision = runtime.authorizer.check(token)
    fingerprint = token_fingerprint(token)
    if not decision.allowed:
        if decision.reason in CANNOT_DECIDE:
            log.warning("cannot decide reason=%s token=%s", decision.reason, fingerprint)
            raise AuthorizerUnavailable(decision.reason)
        rule = decision.rule.id if decision.rule is not None else "-"
        log.info("deny reason=%s token=%s rule=%s kind=appsync", decision.reason, fingerprint, rule)
        return denied()
    verified = decision.token
    assert verified is not None  # noqa: S101 - an allowed decision carries its token
    try:
        invalidation = invalidation_filter(verified)
    except NotInvalidatable as exc:
        # Its subscriptions could not be closed by a rule: refuse it (fail closed).
        log.info("deny reason=not_invalidatable token=%s: %s", fingerprint, exc)
        return denied()
    from revoker.app.identity import Identity  # noqa: PLC0415 - with the rest of the app

    context = Identity.from_claims(verified.claims, kind=verified.kind).context()
    context["invalidation_filter"] = json.dumps(invalidation, separators=(",", ":"))
    return {
        "isAuthorized": True,
        "resolverContext": context,
        "deniedFields": [],
        "ttlOverride": ttl_override(
            runtime.settings.appsync_max_ttl_seconds, verified.expires_at, runtime.clock()
        ),
    }


def ttl_override(bound_seconds: float, expires_at: float, now: float) -> int:
    """Whole seconds AppSync may cache an allow: the bound, cut at the token's ``exp``."""
    return max(0, min(math.floor(bound_seconds), math.floor(expires_at - now)))


def _read(event: Any) -> tuple[str | None, str]:
    """The token of an AppSync authorizer event, or None and why not (never raises)."""
    if not isinstance(event, Mapping):
        return None, "malformed_event"
    context = event.get("requestContext")
    if not isinstance(context, Mapping) or not all(
        isinstance(context.get(name), str) and context.get(name) for name in ("apiId", "accountId")
    ):
        return None, "malformed_event"
    raw = event.get("authorizationToken")
    if not isinstance(raw, str):
        return None, "malformed_event" if raw is not None else "missing_token"
    token = bearer_token(raw)
    return (token, "") if token is not None else (None, "missing_token")
