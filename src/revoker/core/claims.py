"""Claims: what a token must satisfy after its signature, one small check each.

``VerificationPolicy`` holds the choices (issuers, audience, token use, times);
``check_claims`` runs the checks in a fixed order. No I/O, and ``now`` is passed
in, so every time edge is testable without sleeping.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from revoker.core.errors import (
    ConfigurationError,
    IssuedInFuture,
    LifetimeTooLong,
    MalformedToken,
    MissingClaim,
    TokenExpired,
    TokenNotYetValid,
    WrongAudience,
    WrongTokenUse,
)
from revoker.core.signature import SUPPORTED_ALGORITHMS
from revoker.core.tokens import DEFAULT_MAX_TOKEN_BYTES

__all__ = [
    "COGNITO_MAX_LIFETIME_SECONDS",
    "DEFAULT_LEEWAY_SECONDS",
    "TOKEN_USES",
    "VerificationPolicy",
    "check_claims",
]

TOKEN_USES = frozenset({"id", "access"})
DEFAULT_LEEWAY_SECONDS = 5.0
COGNITO_MAX_LIFETIME_SECONDS = 86_400.0


@dataclass(frozen=True, slots=True, kw_only=True)
class VerificationPolicy:
    """What a token must satisfy. The risky choices have no default.

    ``audience``: accepted ``aud`` (ID tokens) or ``client_id`` (Cognito access
    tokens) values; ``None`` switches the check off, explicitly.
    ``token_use``: accepted ``token_use`` values (``{"id"}``, ``{"access"}`` or
    both); ``None`` for issuers that do not set the claim.
    """

    issuers: tuple[str, ...]
    audience: tuple[str, ...] | None
    token_use: frozenset[str] | None
    algorithms: frozenset[str] = frozenset({"RS256"})
    leeway_seconds: float = DEFAULT_LEEWAY_SECONDS
    max_lifetime_seconds: float = COGNITO_MAX_LIFETIME_SECONDS
    required_claims: tuple[str, ...] = ("sub",)
    max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES

    def __post_init__(self) -> None:
        # One accepted shape per option: a bare string would turn `in` into a
        # substring test (audience "abc" accepting "b"), so it is refused here.
        if not _strings(self.issuers, tuple):
            raise ConfigurationError("issuers must be a non-empty tuple of strings")
        if self.audience is not None and not _strings(self.audience, tuple):
            raise ConfigurationError("audience must be a non-empty tuple of strings, or None")
        if not _strings(self.algorithms, frozenset) or self.algorithms - SUPPORTED_ALGORITHMS:
            raise ConfigurationError(
                f"algorithms must be a non-empty subset of {sorted(SUPPORTED_ALGORITHMS)}"
            )
        if self.token_use is not None and (
            not _strings(self.token_use, frozenset) or self.token_use - TOKEN_USES
        ):
            raise ConfigurationError("token_use must be a non-empty subset of {'id', 'access'}")
        if not _strings(self.required_claims, tuple, allow_empty=True):
            raise ConfigurationError("required_claims must be a tuple of claim names")
        if not 0 <= self.leeway_seconds <= 300:
            raise ConfigurationError("leeway_seconds must lie between 0 and 300")
        if not 0 < self.max_lifetime_seconds < math.inf:
            raise ConfigurationError("max_lifetime_seconds must be positive and finite")
        if isinstance(self.max_token_bytes, bool) or not (
            isinstance(self.max_token_bytes, int) and self.max_token_bytes > 0
        ):
            raise ConfigurationError("max_token_bytes must be a positive integer")


def _strings(value: object, kind: type[Collection[Any]], *, allow_empty: bool = False) -> bool:
    """``value`` is a ``kind`` of strings, and not empty unless allowed."""
    if not isinstance(value, kind):
        return False
    return (allow_empty or len(value) > 0) and all(isinstance(item, str) for item in value)


def _number_claim(claims: Mapping[str, Any], name: str, *, required: bool) -> float | None:
    value = claims.get(name)
    if value is None:
        if name in claims or required:
            raise MissingClaim(f"the token has no usable '{name}' claim")
        return None
    # bool is an int in Python; a NaN or infinity would make every comparison lie.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedToken(f"claim '{name}' must be a number")
    try:
        number = float(value)  # a JSON integer of 400 digits overflows here
    except OverflowError:
        raise MalformedToken(f"claim '{name}' must be finite") from None
    if not math.isfinite(number):
        raise MalformedToken(f"claim '{name}' must be finite")
    return number


def _check_times(claims: Mapping[str, Any], policy: VerificationPolicy, now: float) -> None:
    leeway = policy.leeway_seconds
    exp = _number_claim(claims, "exp", required=True)
    iat = _number_claim(claims, "iat", required=True)
    nbf = _number_claim(claims, "nbf", required=False)
    assert exp is not None  # noqa: S101 - required=True guarantees it
    assert iat is not None  # noqa: S101
    if now >= exp + leeway:
        raise TokenExpired("the token expired")
    if nbf is not None and now + leeway < nbf:
        raise TokenNotYetValid("the token's 'nbf' lies in the future")
    if iat > now + leeway:
        raise IssuedInFuture("the token's 'iat' lies in the future")
    if exp - iat > policy.max_lifetime_seconds:
        raise LifetimeTooLong(
            f"the token lives longer than {policy.max_lifetime_seconds:.0f} seconds"
        )


def _check_token_use(claims: Mapping[str, Any], policy: VerificationPolicy) -> None:
    if policy.token_use is None:
        return
    token_use = claims.get("token_use")
    if token_use is None:
        raise MissingClaim("the token has no 'token_use' claim")
    if token_use not in policy.token_use:
        raise WrongTokenUse(f"token_use must be one of {sorted(policy.token_use)}")


def _audience_values(claims: Mapping[str, Any]) -> list[Any]:
    # Cognito access tokens carry the app client in client_id, not aud.
    if claims.get("token_use") == "access" and "client_id" in claims:
        return [claims["client_id"]]
    if "aud" in claims:
        aud = claims["aud"]
        return aud if isinstance(aud, list) else [aud]
    if "client_id" in claims:
        return [claims["client_id"]]
    raise MissingClaim("the token has neither 'aud' nor 'client_id'")


def _check_audience(claims: Mapping[str, Any], policy: VerificationPolicy) -> None:
    if policy.audience is None:
        return
    values = _audience_values(claims)
    if any(not isinstance(value, str) for value in values):
        raise MalformedToken("'aud' and 'client_id' must be strings")
    accepted = policy.audience
    if not any(value in accepted for value in values):
        raise WrongAudience(f"the audience must be one of {list(accepted)}")


def _check_string_claims(claims: Mapping[str, Any], policy: VerificationPolicy) -> None:
    for name in policy.required_claims:
        if claims.get(name) in (None, ""):
            raise MissingClaim(f"the token has no '{name}' claim")
    for name in ("sub", "jti", "origin_jti", "sid", "client_id", "token_use"):
        value = claims.get(name)
        if value is not None and not isinstance(value, str):
            raise MalformedToken(f"claim '{name}' must be a string")


def check_claims(claims: Mapping[str, Any], policy: VerificationPolicy, now: float) -> None:
    """Every claim check after the signature, in a fixed order."""
    _check_string_claims(claims, policy)
    _check_times(claims, policy, now)
    _check_token_use(claims, policy)
    _check_audience(claims, policy)
