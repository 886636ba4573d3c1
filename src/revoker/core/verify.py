"""Verify a token: parse, ``crit``, algorithm, issuer, key, signature, then the claims.

The issuer is checked before any key is looked up, so keys are only ever fetched
for a trusted issuer. The signature lives in ``signature``, the claim checks in
``claims``; this module puts them in order and names the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from revoker.core.claims import (
    COGNITO_MAX_LIFETIME_SECONDS,
    DEFAULT_LEEWAY_SECONDS,
    TOKEN_USES,
    VerificationPolicy,
    check_claims,
)
from revoker.core.clock import Clock, SystemClock
from revoker.core.errors import (
    ConfigurationError,
    MalformedToken,
    UnknownKid,
    UnsupportedAlgorithm,
    WrongIssuer,
)
from revoker.core.jwks import JwksCache
from revoker.core.signature import SUPPORTED_ALGORITHMS, verify_signature
from revoker.core.tokens import parse_unverified, peek_header

__all__ = [
    "COGNITO_MAX_LIFETIME_SECONDS",
    "DEFAULT_LEEWAY_SECONDS",
    "SUPPORTED_ALGORITHMS",
    "TOKEN_USES",
    "VerificationPolicy",
    "VerifiedToken",
    "Verifier",
    "check_claims",
    "verify_signature",
]


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """A token whose signature and claims passed every check."""

    raw: str
    header: dict[str, Any]
    claims: dict[str, Any] = field(repr=False)

    @property
    def issuer(self) -> str:
        return str(self.claims["iss"])

    @property
    def subject(self) -> str | None:
        return _optional_str(self.claims, "sub")

    @property
    def jti(self) -> str | None:
        return _optional_str(self.claims, "jti")

    @property
    def origin_jti(self) -> str | None:
        return _optional_str(self.claims, "origin_jti")

    @property
    def token_use(self) -> str | None:
        return _optional_str(self.claims, "token_use")

    @property
    def kid(self) -> str:
        return str(self.header["kid"])

    @property
    def expires_at(self) -> float:
        return float(self.claims["exp"])

    @property
    def issued_at(self) -> float:
        return float(self.claims["iat"])


def _optional_str(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    return value if isinstance(value, str) else None


def _check_crit(header: Mapping[str, Any]) -> None:
    if "crit" not in header:
        return
    crit = header["crit"]
    if not isinstance(crit, list) or not crit or not all(isinstance(c, str) for c in crit):
        raise MalformedToken("'crit' must be a non-empty list of names")
    # revoker understands no JWS extension, so any critical one must be refused.
    raise MalformedToken(f"unsupported critical header extension {crit[0][:64]!r}")


class Verifier:
    """Verifies tokens of trusted issuers, each with its own key cache."""

    def __init__(
        self,
        policy: VerificationPolicy,
        keys: Mapping[str, JwksCache],
        *,
        clock: Clock | None = None,
    ) -> None:
        missing = [issuer for issuer in policy.issuers if issuer not in keys]
        if missing:
            raise ConfigurationError(f"no key source for issuer {missing[0]!r}")
        self.policy = policy
        self.keys = {issuer: keys[issuer] for issuer in policy.issuers}
        self._distinct_caches = tuple({id(cache): cache for cache in self.keys.values()}.values())
        self.clock = clock or SystemClock()

    def warm(self) -> None:
        """Fetch every issuer's keys now."""
        for cache in self.keys.values():
            cache.warm()

    def may_fetch(self, token: str) -> bool:
        """Whether verifying ``token`` now could wait on a JWKS fetch (an unknown or stale kid).

        Cheap and unverified: it only lets a server keep such checks off its event loop.
        """
        header = peek_header(token) if len(token) <= self.policy.max_token_bytes else None
        kid = header.get("kid") if header is not None else None
        if not isinstance(kid, str):
            return False  # refused before any key is looked up
        return any(cache.would_fetch(kid) for cache in self._distinct_caches)

    def verify(self, token: str) -> VerifiedToken:
        """Return the verified token, or raise a ``TokenRejected``/``CannotDecide`` error."""
        policy = self.policy
        parsed = parse_unverified(token, max_bytes=policy.max_token_bytes)
        header = parsed.header
        _check_crit(header)
        alg = header["alg"]
        if alg not in policy.algorithms:
            raise UnsupportedAlgorithm(f"alg must be one of {sorted(policy.algorithms)}")
        issuer = parsed.claims.get("iss")
        cache = self.keys.get(issuer) if isinstance(issuer, str) else None
        if cache is None:
            raise WrongIssuer(f"the issuer must be one of {list(policy.issuers)}")
        kid = header.get("kid")
        if kid is None:
            raise UnknownKid("the token header has no 'kid'")
        if not isinstance(kid, str):
            raise MalformedToken("'kid' must be a string")
        verify_signature(parsed, cache.get(kid))
        check_claims(parsed.claims, policy, self.clock())
        return VerifiedToken(raw=token, header=header, claims=parsed.claims)
