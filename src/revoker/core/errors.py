"""Every error revoker raises, each with a stable reason code.

The tree::

    RevokerError                      reason, http_status, exit_code
    ├── TokenRejected                 401: the token is bad (never a dependency)
    │   ├── MalformedToken            malformed
    │   ├── TokenTooLarge             too_large
    │   ├── UnsupportedAlgorithm      unsupported_alg
    │   ├── UnknownKid                unknown_kid
    │   ├── BadSignature              bad_signature
    │   ├── TokenExpired              expired
    │   ├── TokenNotYetValid          not_yet_valid
    │   ├── IssuedInFuture            issued_in_future
    │   ├── WrongIssuer               wrong_issuer
    │   ├── WrongAudience             wrong_audience
    │   ├── WrongTokenUse             wrong_token_use
    │   ├── MissingClaim              missing_claim
    │   ├── LifetimeTooLong           lifetime_too_long
    │   ├── SenderConstrained         sender_constrained: a DPoP- or certificate-bound token
    │   │                             presented without its proof (RFC 9449 §7.2, RFC 8705)
    │   ├── InvalidDpopProof          invalid_dpop_proof
    │   ├── InvalidLogoutToken        invalid_logout_token: not a back-channel logout token
    │   └── InvalidSecurityEvent      invalid_security_event: not an RFC 8417 security event
    ├── CannotDecide                  503: a dependency is down, not the token's fault
    │   ├── JwksUnavailable           jwks_unavailable
    │   └── RegistryStale             registry_stale
    ├── StoreError                    503: the rule store failed an operation
    ├── ConfigurationError            exit 2: revoker was set up wrongly
    ├── InvalidRule                   400, exit 2: a rule (or a rule query) asked for with bad input
    │   └── DuplicateRule             a rule with that id is stored already
    ├── RuleNotFound                  404: no active rule has that id
    └── RequestRefused                4xx: a request to the service or a handler, refused
        ├── BadRequest                400 invalid_request (and unsupported_token_type …)
        ├── Unauthenticated           401 with its WWW-Authenticate challenge
        ├── Forbidden                 403 (admin_disabled, insufficient_scope)
        ├── NotFound                  404 not_found
        ├── MethodNotAllowed          405 method_not_allowed, with Allow
        ├── PayloadTooLarge           413 request_too_large
        ├── UnsupportedMediaType      415 invalid_request
        └── Throttled                 429 too_many_requests, with Retry-After

Every transport maps any of them with one rule (``revoker.app.answers``): read
``reason``, ``http_status`` and ``exit_code`` off the class, and ``detail`` (the
message) off the instance. Messages name a claim, the value expected and, where
it is safe to show, the value received; never the token itself.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "CANNOT_DECIDE",
    "REASONS",
    "BadRequest",
    "BadSignature",
    "CannotDecide",
    "ConfigurationError",
    "DuplicateRule",
    "Forbidden",
    "InvalidDpopProof",
    "InvalidLogoutToken",
    "InvalidRule",
    "InvalidSecurityEvent",
    "IssuedInFuture",
    "JwksUnavailable",
    "LifetimeTooLong",
    "MalformedToken",
    "MethodNotAllowed",
    "MissingClaim",
    "NotFound",
    "PayloadTooLarge",
    "RegistryStale",
    "RequestRefused",
    "RevokerError",
    "RuleNotFound",
    "SenderConstrained",
    "StoreError",
    "Throttled",
    "TokenExpired",
    "TokenNotYetValid",
    "TokenRejected",
    "TokenTooLarge",
    "Unauthenticated",
    "UnknownKid",
    "UnsupportedAlgorithm",
    "UnsupportedMediaType",
    "WrongAudience",
    "WrongIssuer",
    "WrongTokenUse",
]

#: Every reason code a decision can carry, in the order of design.md.
REASONS: tuple[str, ...] = (
    "allowed",
    "malformed",
    "too_large",
    "unsupported_alg",
    "unknown_kid",
    "bad_signature",
    "expired",
    "not_yet_valid",
    "issued_in_future",
    "wrong_issuer",
    "wrong_audience",
    "wrong_token_use",
    "missing_claim",
    "lifetime_too_long",
    "sender_constrained",
    "invalid_dpop_proof",
    "invalid_logout_token",
    "invalid_security_event",
    "revoked_token",
    "revoked_family",
    "revoked_session",
    "revoked_subject",
    "revoked_email",
    "revoked_client",
    "revoked_key",
    "revoked_issuer",
    "registry_stale",
    "jwks_unavailable",
)


class RevokerError(Exception):
    """Base of every revoker error; carries a reason code, an HTTP status and an exit code."""

    reason: ClassVar[str] = "error"
    http_status: ClassVar[int] = 500
    exit_code: ClassVar[int] = 1

    @property
    def detail(self) -> str:
        """The human detail that goes with the reason code: one line, never a token."""
        return " ".join(str(self).split())


class TokenRejected(RevokerError):
    """The token itself is not acceptable: a 401, never a 5xx."""

    http_status = 401


class MalformedToken(TokenRejected):
    reason = "malformed"


class TokenTooLarge(TokenRejected):
    reason = "too_large"


class UnsupportedAlgorithm(TokenRejected):
    reason = "unsupported_alg"


class UnknownKid(TokenRejected):
    reason = "unknown_kid"


class BadSignature(TokenRejected):
    reason = "bad_signature"


class TokenExpired(TokenRejected):
    reason = "expired"


class TokenNotYetValid(TokenRejected):
    reason = "not_yet_valid"


class IssuedInFuture(TokenRejected):
    reason = "issued_in_future"


class WrongIssuer(TokenRejected):
    reason = "wrong_issuer"


class WrongAudience(TokenRejected):
    reason = "wrong_audience"


class WrongTokenUse(TokenRejected):
    reason = "wrong_token_use"


class MissingClaim(TokenRejected):
    reason = "missing_claim"


class LifetimeTooLong(TokenRejected):
    reason = "lifetime_too_long"


class SenderConstrained(TokenRejected):
    """A token bound to a key (``cnf.jkt``) or a certificate (``cnf.x5t#S256``) was presented
    without proof of holding it: as a plain Bearer, or over the wrong TLS client certificate."""

    reason = "sender_constrained"


class InvalidDpopProof(TokenRejected):
    """The DPoP proof that came with a DPoP-bound token does not hold (RFC 9449 §4.3)."""

    reason = "invalid_dpop_proof"


class InvalidLogoutToken(TokenRejected):
    """A token offered as an OIDC back-channel logout token breaks that profile's rules
    (Back-Channel Logout 1.0 §2.4, §2.6): ``typ``, ``events``, ``nonce``, ``sub``/``sid``.
    The transport answers 400, as §2.8 asks; checks shared with every profile (signature,
    issuer, audience, times) keep their own reason codes."""

    reason = "invalid_logout_token"


class InvalidSecurityEvent(TokenRejected):
    """A token offered as a Security Event Token breaks that profile's rules (RFC 8417,
    Shared Signals 1.0): ``typ``, exactly one event, a fresh ``iat``."""

    reason = "invalid_security_event"


class CannotDecide(RevokerError):
    """A dependency failed; the token may be fine. Distinct from a bad token."""

    http_status = 503


class JwksUnavailable(CannotDecide):
    reason = "jwks_unavailable"


class RegistryStale(CannotDecide):
    reason = "registry_stale"


class IssuerUnavailable(CannotDecide):
    """The issuer could not take a revocation revoker hands it (Cognito ``RevokeToken``
    throttled, failing or unreachable): the client should retry."""

    reason = "issuer_unavailable"


#: The reason codes that mean "cannot decide now" (a dependency is down), not "bad token".
CANNOT_DECIDE: frozenset[str] = frozenset({JwksUnavailable.reason, RegistryStale.reason})


class StoreError(RevokerError):
    """The rule store could not complete an operation (write, read, connect)."""

    reason = "store_error"
    http_status = 503


class ConfigurationError(RevokerError):
    """revoker was configured wrongly: a one-line message and exit code 2."""

    reason = "configuration"
    http_status = 500
    exit_code = 2


class InvalidRule(RevokerError, ValueError):
    """A rule (or a rule query) was asked for with bad input; the message is one line."""

    reason = "invalid_rule"
    http_status = 400
    exit_code = 2


class DuplicateRule(InvalidRule):
    """A rule with that id is stored already: an idempotent write found its own twin."""


class RuleNotFound(RevokerError, LookupError):
    """No active rule has the id asked for."""

    reason = "rule_not_found"
    http_status = 404


class RequestRefused(RevokerError):
    """A request refused before any operation ran; ``error`` is its OAuth-style code and
    ``headers`` what the answer must carry (a challenge, ``Allow``, ``Retry-After``)."""

    reason = "invalid_request"
    http_status = 400

    def __init__(
        self, description: str, *, error: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(description)
        self.error = error or self.reason
        self.headers = dict(headers or {})


class BadRequest(RequestRefused):
    """400: a parameter or a body the endpoint cannot take."""


class Unauthenticated(RequestRefused):
    """401: missing or wrong credentials; ``challenge`` goes into ``WWW-Authenticate``."""

    reason = "unauthorized"
    http_status = 401

    def __init__(self, description: str, *, error: str, challenge: str) -> None:
        super().__init__(description, error=error, headers={"WWW-Authenticate": challenge})


class Forbidden(RequestRefused):
    reason = "forbidden"
    http_status = 403


class NotFound(RequestRefused):
    reason = "not_found"
    http_status = 404


class MethodNotAllowed(RequestRefused):
    reason = "method_not_allowed"
    http_status = 405

    def __init__(self, description: str, *, allow: tuple[str, ...]) -> None:
        super().__init__(description, headers={"Allow": ", ".join(allow)})


class PayloadTooLarge(RequestRefused):
    reason = "request_too_large"
    http_status = 413


class UnsupportedMediaType(RequestRefused):
    reason = "invalid_request"
    http_status = 415


class Throttled(RequestRefused):
    reason = "too_many_requests"
    http_status = 429

    def __init__(self, description: str, *, retry_after: int) -> None:
        super().__init__(description, headers={"Retry-After": str(retry_after)})
