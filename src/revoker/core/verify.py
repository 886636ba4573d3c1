"""Verify an access or ID token: the shared signed-JWS step, then this profile's claims.

``signed.verify_signed`` parses, refuses ``crit``, checks the algorithm and the
issuer (before any key is looked up, so keys are only ever fetched for a trusted
issuer), and the signature; ``claims.check_claims`` then checks times, the token's
kind and the audience, and refuses tokens of another profile. This module puts
them in order and names the result. Logout tokens and security events have
verifiers of their own (``logout_token``, ``security_event``) on the same keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from revoker.core.binding import Confirmation, parse_confirmation
from revoker.core.claims import (
    COGNITO_MAX_LIFETIME_SECONDS,
    DEFAULT_LEEWAY_SECONDS,
    TOKEN_USES,
    VerificationPolicy,
    check_claims,
)
from revoker.core.clock import Clock, SystemClock
from revoker.core.errors import ConfigurationError, JwksUnavailable, UnknownKid
from revoker.core.jwks import JwksCache
from revoker.core.signature import SUPPORTED_ALGORITHMS, verify_signature
from revoker.core.signed import verify_signed
from revoker.core.tokens import UnverifiedToken, peek_header

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
    #: ``"id"``, ``"access"``, or None when the token does not say (see ``claims``).
    kind: str | None = None
    #: The token's ``cnf``: what its presenter must prove (None for a Bearer token).
    binding: Confirmation | None = None

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
    def session_id(self) -> str | None:
        return _optional_str(self.claims, "sid")

    @property
    def token_use(self) -> str | None:
        """The kind under Cognito's name: ``token_use`` where the token carries it, else the
        kind read from RFC 9068's ``typ`` (or Keycloak's ``typ`` claim), else None."""
        return self.kind

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


class Verifier:
    """Verifies access and ID tokens of trusted issuers, each with its own key cache."""

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
        """Return the verified token, or raise a ``TokenRejected``/``CannotDecide`` error.

        A sender-constrained token (``cnf``) verifies here; whether the request proves
        its key is the authorizer's check (``binding.check_binding``), on every request.
        """
        parsed = verify_signed(token, self.policy, self.keys)
        kind = check_claims(parsed.claims, self.policy, self.clock(), parsed.header)
        return self._verified(token, parsed, kind)

    def verify_for_revocation(self, token: str) -> VerifiedToken:
        """``verify`` for a token its holder wants revoked (RFC 7009).

        Two refusals would lose a revocation the token later needs, so they differ here:
        a token not valid *yet* (``nbf``, or ``iat`` ahead of this clock: the issuer's
        clock runs fast) passes, since it will be valid later; and an unknown ``kid`` that
        the key cache could not look for now (its refetch cooldown) raises
        ``JwksUnavailable``, since the key may be one the issuer just added.
        """
        fetches = self._fetch_count()
        try:
            parsed = verify_signed(token, self.policy, self.keys)
        except UnknownKid as exc:
            if self._fetch_count() == fetches:
                raise JwksUnavailable(
                    f"{exc.detail}, and the keys cannot be fetched again yet: retry shortly"
                ) from None
            raise
        kind = check_claims(parsed.claims, self.policy, self.clock(), parsed.header, early_ok=True)
        return self._verified(token, parsed, kind)

    def _fetch_count(self) -> int:
        return sum(cache.fetch_count for cache in self._distinct_caches)

    @staticmethod
    def _verified(token: str, parsed: UnverifiedToken, kind: str | None) -> VerifiedToken:
        return VerifiedToken(
            raw=token,
            header=parsed.header,
            claims=parsed.claims,
            kind=kind,
            binding=parse_confirmation(parsed.claims),
        )
