"""One mapping from every error in the tree to an answer: a status, a JSON body, headers.

Every transport answers errors through ``answer_for``: the service turns the
``Answer`` into a Starlette response, the Lambda handlers into a proxy
response, the CLI into a line on stderr and an exit code. Bodies follow RFC 6749
§5.2: ``{"error": code, "error_description": text}``.

What an outsider may read: a bad token or a bad request is described (the
detail names the claim or the field; never the token); an outage is only named
(``store_unavailable`` or ``jwks_unavailable`` with ``Retry-After``), its message
stays in the log, since a store's error may name a host or echo a URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from revoker.core.errors import (
    CannotDecide,
    ConfigurationError,
    InvalidRule,
    RegistryStale,
    RequestRefused,
    RevokerError,
    RuleNotFound,
    StoreError,
    TokenRejected,
)

__all__ = ["NO_STORE", "RETRY_AFTER_SECONDS", "Answer", "answer_for", "error_answer"]

#: Token responses must not be cached (RFC 6749 §5.1 asks the same of token endpoints).
NO_STORE: Mapping[str, str] = {"Cache-Control": "no-store", "Pragma": "no-cache"}
#: Seconds a client should wait before retrying a 503 (RFC 7009 §2.2.1 suggests Retry-After).
RETRY_AFTER_SECONDS = 5


@dataclass(frozen=True, slots=True)
class Answer:
    """What to answer: the status, a JSON body (None: empty), and headers."""

    status: int
    body: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=lambda: dict(NO_STORE))


def error_answer(
    status: int,
    error: str,
    description: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Answer:
    body: dict[str, str] = {"error": error}
    if description:
        body["error_description"] = description
    return Answer(status, body, {**NO_STORE, **(headers or {})})


def answer_for(exc: RevokerError) -> Answer:
    """The answer for any revoker error: a stable code, never a traceback."""
    retry = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if isinstance(exc, RequestRefused):
        return error_answer(exc.http_status, exc.error, exc.detail, exc.headers)
    if isinstance(exc, StoreError | RegistryStale):
        return error_answer(
            503, "store_unavailable", "the rule store is unavailable; retry later", retry
        )
    if isinstance(exc, CannotDecide):
        return error_answer(503, exc.reason, "cannot decide now; retry later", retry)
    if isinstance(exc, InvalidRule | RuleNotFound | TokenRejected):
        return error_answer(exc.http_status, exc.reason, exc.detail)
    if isinstance(exc, ConfigurationError):
        return error_answer(500, "server_error", "the service is misconfigured")
    return error_answer(500, "server_error", "the request could not be completed")
