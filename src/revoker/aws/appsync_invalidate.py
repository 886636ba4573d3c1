"""Telling AppSync about a new rule: the ``revokerInvalidate`` mutation, signed with SigV4.

``AppSyncInvalidator`` is a ``RuleHook`` (and what the DynamoDB stream function
calls): it posts ``invalidation_payload(rule)`` to the GraphQL endpoint
``REVOKER_APPSYNC_INVALIDATION_URL`` as the variables of::

    mutation RevokerInvalidate($kind: String!, $value: String!, $issuer: String!,
                               $cutoff: Float!) {
      revokerInvalidate(kind: $kind, value: $value, issuer: $issuer, cutoff: $cutoff)
    }

The request is signed with the function's IAM credentials (service ``appsync``),
so the schema can keep the mutation to IAM callers (``@aws_iam``); its resolver
(``deploy/aws/appsync/invalidate.js``) calls ``extensions.invalidateSubscriptions``
for each subscription field, and AppSync unsubscribes the subscriptions whose
invalidation filter (set from ``resolverContext.invalidation_filter``) the payload
satisfies. Best effort, like every rule hook: a failure is logged and reported,
never raised; the stream function retries the batch.

The standard library sends it (``urllib``) and botocore signs it: no HTTP client
or AppSync SDK beyond what the Lambda runtime has.
"""

from __future__ import annotations

import importlib
import json
import logging
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from revoker.aws.appsync_filter import invalidation_payload
from revoker.aws.clients import aws_errors

if TYPE_CHECKING:
    from revoker.app.operations import RuleEvent
    from revoker.core.clock import Clock
    from revoker.core.registry.rules import Rule

__all__ = ["MUTATION", "AppSyncInvalidator", "appsync_region"]

log = logging.getLogger("revoker.aws")

MUTATION = (
    "mutation RevokerInvalidate($kind: String!, $value: String!, $issuer: String!, "
    "$cutoff: Float!) { revokerInvalidate(kind: $kind, value: $value, issuer: $issuer, "
    "cutoff: $cutoff) }"
)
_HOST = re.compile(r"[a-z0-9]+\.appsync-api\.(?P<region>[a-z]{2}(-[a-z]+)+-[0-9])\.amazonaws\.com")
_MAX_ANSWER_BYTES = 64 * 1024


def appsync_region(url: str) -> str | None:
    """The region in an AppSync endpoint's default host name (None for a custom domain)."""
    host = urlsplit(url).hostname or ""
    match = _HOST.fullmatch(host)
    return match["region"] if match else None


class AppSyncInvalidator:
    """Posts the invalidation mutation for each new rule."""

    def __init__(
        self,
        url: str,
        *,
        region: str,
        clock: Clock,
        credentials: Callable[[], Any] | None = None,
        timeout_seconds: float = 5.0,
    ) -> None:
        self.url = url
        self._region = region
        self._clock = clock
        self._credentials = credentials or _session_credentials
        self._timeout_seconds = timeout_seconds

    def __call__(self, rule: Rule, event: RuleEvent) -> bool:
        return self.invalidate(rule)

    def invalidate(self, rule: Rule) -> bool:
        """Send the mutation for ``rule``; whether AppSync accepted it."""
        if rule.expires_at is not None and rule.expires_at <= self._clock():
            return True  # it matches no live token: nothing to unsubscribe
        body = json.dumps(
            {"query": MUTATION, "variables": invalidation_payload(rule)}, separators=(",", ":")
        ).encode()
        unsignable: tuple[type[Exception], ...] = (OSError, *aws_errors())
        try:
            headers = self._signed_headers(body)
        except unsignable as exc:
            log.warning("cannot sign the AppSync invalidation for rule %s: %s", rule.id, exc)
            return False
        try:
            request = urllib.request.Request(  # noqa: S310 - an https URL from the settings
                self.url, data=body, headers=headers, method="POST"
            )
            with urllib.request.urlopen(request, timeout=self._timeout_seconds) as answer:  # noqa: S310
                document = json.loads(answer.read(_MAX_ANSWER_BYTES))
        except urllib.error.HTTPError as exc:
            log.warning("AppSync invalidation for rule %s failed: HTTP %s", rule.id, exc.code)
            return False
        except (OSError, ValueError) as exc:
            log.warning("AppSync invalidation for rule %s failed: %s", rule.id, type(exc).__name__)
            return False
        if not isinstance(document, dict) or document.get("errors"):
            log.warning(
                "AppSync refused the invalidation for rule %s: %s", rule.id, _error_types(document)
            )
            return False
        return True

    def _signed_headers(self, body: bytes) -> dict[str, str]:
        auth = importlib.import_module("botocore.auth")
        awsrequest = importlib.import_module("botocore.awsrequest")
        credentials = self._credentials()
        if credentials is None:
            raise OSError("no AWS credentials to sign the AppSync request with")
        request = awsrequest.AWSRequest(
            method="POST", url=self.url, data=body, headers={"Content-Type": "application/json"}
        )
        auth.SigV4Auth(credentials, "appsync", self._region).add_auth(request)
        return dict(request.headers.items())


def _error_types(document: object) -> list[str]:
    """The ``errorType`` of each GraphQL error (never the messages: they may echo input)."""
    errors = document.get("errors") if isinstance(document, dict) else None
    found = errors if isinstance(errors, list) else []
    return sorted({str(e.get("errorType", "?"))[:64] for e in found if isinstance(e, dict)})


def _session_credentials() -> Any:
    """The process's AWS credentials (the Lambda role's), as botocore finds them."""
    session = importlib.import_module("botocore.session").get_session()
    return session.get_credentials()
