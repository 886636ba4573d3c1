"""What the Lambda authorizer answers: an IAM policy, or an HTTP API simple response.

An allow is an IAM policy whose one statement lets ``execute-api:Invoke`` on
the method (route) ARN of this request, or, with ``api-wildcard``, on every
method and path of the stage::

    arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/GET/pets  ->  …:API/STAGE/*

The trade-off with API Gateway's authorizer cache: the gateway caches the
*policy* per identity source (the token) for the authorizer's TTL and applies
it to every route the token calls. A policy naming one method then denies (403)
the token's calls to other routes until the cache entry expires; the wildcard
avoids that, at the price of a cached allow covering the whole stage. Either
way, a cached allow outlives a revocation until the TTL ends, unless the
revoke flushes the cache (``REVOKER_FLUSH_*_STAGES``) or caching is off.

The ``context`` reaches the backend (``$context.authorizer.*`` /
``requestContext.authorizer``); API Gateway accepts only strings, numbers and
booleans in it, so lists (``cognito:groups``) are joined with commas.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from revoker.app.identity import Identity

__all__ = [
    "Unauthorized",
    "allow_policy",
    "authorizer_context",
    "policy_resource",
    "simple_response",
]

ContextValue = str | int | float | bool


class Unauthorized(Exception):
    """Raised to deny: API Gateway turns the message ``Unauthorized`` into a 401."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


def policy_resource(arn: str, mode: str) -> str:
    """The ARN a policy allows: the request's own (``method``), or its stage with ``/*``
    (``api-wildcard``)."""
    if mode != "api-wildcard":
        return arn
    prefix, slash, path = arn.partition("/")
    stage = path.split("/", 1)[0]
    if not slash or not stage:
        return arn  # not an execute-api method ARN: allow exactly what was asked
    return f"{prefix}/{stage}/*"


def allow_policy(
    principal_id: str, resource: str, context: Mapping[str, ContextValue]
) -> dict[str, Any]:
    """The IAM policy response that allows ``execute-api:Invoke`` on ``resource``."""
    return {
        "principalId": principal_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": resource}
            ],
        },
        "context": dict(context),
    }


def simple_response(authorized: bool, context: Mapping[str, ContextValue]) -> dict[str, Any]:
    """The HTTP API 2.0 simple response."""
    return {"isAuthorized": authorized, "context": dict(context)}


def authorizer_context(
    claims: Mapping[str, Any], kind: str | None = None
) -> dict[str, ContextValue]:
    """The identity passed on to the backend: six keys, every value a string."""
    return dict(Identity.from_claims(claims, kind=kind).context())
