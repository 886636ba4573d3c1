"""The authorizer: verify (with a cache of verified tokens) and match the registry.

``Authorizer.check(token)`` answers one question: is this token genuine,
valid now, and not revoked? Verification is cached per token until its
``exp``; the registry match runs on every check, cached or not, so the cache
can never hide a revocation.

A sender-constrained token (``cnf``: DPoP-bound or certificate-bound) also needs
the request's proof: ``check(token, proof=ProofContext(...))``. That check runs on
every request too, before the registry match, and costs an unbound token one
attribute test.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from revoker.core.binding import ProofContext, check_binding
from revoker.core.clock import Clock
from revoker.core.errors import ConfigurationError, RevokerError

if TYPE_CHECKING:
    from revoker.core.dpop import DpopVerifier
    from revoker.core.registry import Registry, Rule
    from revoker.core.verify import VerifiedToken, Verifier

__all__ = ["Authorizer", "Decision", "ProofContext"]

DEFAULT_CACHE_SIZE = 50_000


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer for one token: allowed or not, with a stable reason code."""

    allowed: bool
    reason: str
    claims: Mapping[str, Any] | None = field(default=None, repr=False)
    rule: Rule | None = None
    token: VerifiedToken | None = field(default=None, repr=False)
    #: What the reason code means for this token, in words: the claim that failed,
    #: the value expected and received where that is safe to show, or the rule that
    #: matched. Empty when allowed. Never the token itself.
    detail: str = ""

    @property
    def verified(self) -> bool:
        """The token itself is genuine and valid now (it may still be revoked)."""
        return self.token is not None


class Authorizer:
    """Verify + verified-token cache + proof of a bound token + registry match -> ``Decision``.

    ``dpop``: the verifier of DPoP proofs; without one a DPoP-bound token is refused
    (``sender_constrained``) whatever comes with it.
    """

    def __init__(
        self,
        verifier: Verifier,
        registry: Registry | None = None,
        *,
        cache_size: int = DEFAULT_CACHE_SIZE,
        clock: Clock | None = None,
        dpop: DpopVerifier | None = None,
    ) -> None:
        self.verifier = verifier
        self.registry = registry
        self.dpop = dpop
        self.clock = clock or verifier.clock
        self._cache_size = max(0, cache_size)
        # raw token -> (verified token, the instant it stops being valid)
        self._cache: dict[str, tuple[VerifiedToken, float]] = {}
        self._leeway = verifier.policy.leeway_seconds
        # A key the issuer drops (or replaces) must not live on in the cache: verify again.
        for keys in {id(keys): keys for keys in verifier.keys.values()}.values():
            keys.on_change(self.clear_cache)
        if registry is not None:
            # The rules must outlive every token this verifier accepts (see Registry).
            registry.require_lifetime(verifier.policy.max_lifetime_seconds)

    def check(
        self, token: str, *, proof: ProofContext | None = None, prove_binding: bool = True
    ) -> Decision:
        """Decide on ``token``, presented with ``proof``. Never raises for any token input.

        ``proof`` is what the request proves besides the token (a DPoP proof, the method
        and URI, the client certificate's thumbprint); None for a plain Bearer request.
        ``prove_binding=False`` is for introspection (RFC 9449 §6.2, RFC 8705 §3.2): the
        caller is not the token's presenter, and the resource server that asks checks the
        proof against the ``cnf`` the answer carries.
        """
        try:
            verified = self._verified(token)
            # Never cached: the proof belongs to this request. One test for an unbound token.
            if prove_binding and (
                verified.binding is not None or (proof is not None and proof.dpop is not None)
            ):
                check_binding(verified, proof, self.dpop)
        except RevokerError as exc:
            return Decision(False, exc.reason, detail=exc.detail)
        registry = self.registry
        if registry is not None:
            try:
                rule = registry.match(verified.claims, verified.header, token)
            except RevokerError as exc:  # registry_stale: we cannot say it is not revoked
                return Decision(False, exc.reason, verified.claims, None, verified, exc.detail)
            if rule is not None:
                return Decision(
                    False, rule.reason_code, verified.claims, rule, verified, rule.describe()
                )
        return Decision(True, "allowed", verified.claims, None, verified)

    def may_block(self, token: str) -> bool:
        """Whether ``check(token)`` could wait on the network (a JWKS fetch).

        False for a token in the verified cache and for one whose key is loaded:
        those checks cost microseconds and can run on an event loop; the rest
        belong in a worker thread, so a slow JWKS endpoint stalls only them.
        """
        return token not in self._cache and self.verifier.may_fetch(token)

    def verify(self, token: str) -> VerifiedToken:
        """Verification alone (cached), raising the typed error: no proof of a bound token
        (see ``check``), no registry match."""
        return self._verified(token)

    def verify_for_revocation(self, token: str) -> VerifiedToken:
        """Verification for revoking ``token``: ``Verifier.verify_for_revocation`` (a token
        not valid yet passes; an unknown kid the keys could not be refetched for is an
        outage), answered from the cache when the token is there."""
        entry = self._cache.get(token)
        if entry is not None and self.clock() < entry[1]:
            return entry[0]
        return self.verifier.verify_for_revocation(token)

    def _verified(self, token: str) -> VerifiedToken:
        cache = self._cache
        entry = cache.get(token)
        if entry is not None:
            if self.clock() < entry[1]:
                return entry[0]
            cache.pop(token, None)
        verified = self.verifier.verify(token)
        if self._cache_size:
            if len(cache) >= self._cache_size:
                self._evict_one()
            cache[token] = (verified, verified.expires_at + self._leeway)
        return verified

    def _evict_one(self) -> None:
        # Oldest insertion first: dicts keep insertion order. Another thread may
        # have emptied or changed the cache meanwhile; that is harmless.
        with contextlib.suppress(StopIteration, KeyError, RuntimeError):
            del self._cache[next(iter(self._cache))]

    def clear_cache(self) -> None:
        self._cache.clear()

    # --- revocation by token -------------------------------------------------

    def revoke_token(self, token: str, *, actor: str, reason: str = "") -> Rule:
        """Revoke a genuine token: its family when it has ``origin_jti``, else the token.

        Always makes sure the token's own rule exists, even when another rule (a subject
        cut-off, a suspension) denies it now: that one may be lifted or expire while the
        token is still alive. Idempotent: asking twice, or from many processes at once,
        leaves one rule. A token that does not verify revokes nothing: the
        ``TokenRejected`` error is raised so the caller can say why.
        """
        verified = self.verify_for_revocation(token)
        return self.revoke_verified(verified, actor=actor, reason=reason)[0]

    def revoke_verified(
        self,
        verified: VerifiedToken,
        *,
        actor: str,
        reason: str = "",
        expires_at: float | None = None,
    ) -> tuple[Rule, bool]:
        """``revoke_token`` for a token already verified; the rule and whether it is new.
        ``expires_at`` shortens a family rule whose sign-in the issuer has ended."""
        from revoker.core.registry.rules import self_revocation  # noqa: PLC0415 - optional

        registry = self._require_registry()
        kind, value, default_expiry = self_revocation(verified, registry.limits)
        expires_at = expires_at if expires_at is not None else default_expiry
        return registry.ensure(
            kind,
            value,
            tag="self",
            issuer=verified.issuer,
            expires_at=expires_at,
            reason=reason,
            actor=actor,
        )

    def _require_registry(self) -> Registry:
        if self.registry is None:
            raise ConfigurationError("this authorizer has no registry to revoke into")
        return self.registry
