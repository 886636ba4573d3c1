"""Global Token Revocation (draft-parecki-oauth-global-token-revocation): a ``sub_id`` -> a
user cut-off, for an identity provider (Okta's Universal Logout) or an incident tool.

``POST /global-token-revocation`` with ``{"sub_id": {…RFC 9493…}}``. The caller
authenticates (§3.2) with either

- ``Authorization: Bearer <--gtr-token>``, compared in constant time; or
- ``Authorization: Bearer <a JWT>`` signed by one of ``--gtr-issuer`` (RFC 7523 style,
  what Okta's Universal Logout sends): keys by OIDC discovery with the issuers' cache
  rules, ``aud`` one of ``--gtr-audience``, ``exp`` and ``iat`` required and fresh.

The subject (``subjects.user_target``: ``iss_sub``, ``email``, ``opaque``, a complex
subject's ``user``, ``aliases``) becomes a subject or email cut-off at now, scoped to
the named issuer when it is trusted. A JWT caller speaks for its own tenant only (§6.2):
an ``iss_sub`` naming an issuer on another host than the JWT's is 403. A JWT's rule has
one id per (issuer, ``jti``), so a replayed request creates nothing twice.

Answers, as the draft lists them (§3.4): 204 once the rule is durable; 400 for a
malformed request or an unsupported subject format; 401 for a missing or wrong
credential (counted by the failed-credential limit, a budget of its own); 403 for a
subject outside the caller's tenant; 422 when the subject cannot become a rule.
Nothing answers 404 "user not found": revoker keeps no user directory, and a cut-off
for a user who has no tokens does no harm. An outage is 503 (the caller may retry).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from revoker.app.logfields import fields
from revoker.app.signals.receiver import KeyFetcher
from revoker.app.signals.subjects import MalformedSubject, Scope, read_identifier, user_target
from revoker.core.claims import VerificationPolicy
from revoker.core.errors import (
    BadRequest,
    Forbidden,
    InvalidRule,
    RequestRefused,
    TokenRejected,
    Unauthenticated,
)
from revoker.core.jwks import JwksCache, JwksFetcher, JwksSource
from revoker.core.registry.rules import signed_part_sha256, usable_jti
from revoker.core.tokens import token_fingerprint
from revoker.core.verify import Verifier

if TYPE_CHECKING:
    from revoker.app.access import Access
    from revoker.app.operations import Operations
    from revoker.core.registry import Rule

__all__ = ["BUDGET", "GlobalTokenRevocation", "Unprocessable"]

log = logging.getLogger("revoker.signals")

#: The failed-credential budget of this endpoint's callers.
BUDGET = "gtr"
_ENDPOINT = "global_token_revocation"


class Unprocessable(RequestRefused):
    """422 (the draft's "Unable to Process Request"): the subject cannot become a rule."""

    reason = "unable_to_process"
    http_status = 422


@dataclass(frozen=True, slots=True)
class Caller:
    """Who called: ``actor`` for the audit; the JWT's issuer and rule id when it was one."""

    actor: str
    issuer: str | None = None
    rule_id: str | None = None


class GlobalTokenRevocation:
    """The endpoint's logic over ``operations`` (see the module docstring)."""

    def __init__(self, operations: Operations, *, fetcher: JwksFetcher | None = None) -> None:
        revoker = operations.revoker
        settings = revoker.settings
        self._operations = operations
        self._registry = revoker.registry
        self._clock = revoker.clock
        self._token = settings.gtr_token
        self.verifier: Verifier | None = None
        self._own_fetcher: KeyFetcher | None = None
        if settings.gtr_issuers:
            if fetcher is None:
                fetcher = self._own_fetcher = KeyFetcher(
                    timeout_seconds=settings.jwks_timeout_seconds
                )
            caches = {
                issuer: JwksCache(
                    JwksSource.from_discovery(issuer),
                    fetcher=fetcher,
                    cooldown_seconds=settings.jwks_cooldown_seconds,
                    clock=self._clock,
                )
                for issuer in settings.gtr_issuers
            }
            policy = VerificationPolicy(
                issuers=settings.gtr_issuers,
                audience=settings.gtr_audience,
                algorithms=frozenset(settings.algorithms),
                leeway_seconds=settings.leeway_seconds,
                max_lifetime_seconds=settings.max_token_lifetime_seconds,
                required_claims=(),
            )
            self.verifier = Verifier(policy, caches, clock=self._clock)
        try:
            self._trusted = revoker.verifier.policy.issuers
        except Exception:  # noqa: BLE001 - without token issuers, rules scope to every issuer
            self._trusted = ()

    def close(self) -> None:
        if self._own_fetcher is not None:
            self._own_fetcher.close()

    def warm(self) -> None:
        if self.verifier is not None:
            for cache in self.verifier.keys.values():
                try:
                    cache.warm()
                except Exception as exc:  # noqa: BLE001 - logged; checks retry later
                    log.warning("cannot load the keys of a revocation caller yet: %s", exc)

    # -- authentication -------------------------------------------------------------

    def authenticate(self, access: Access, header: str | None, client: str) -> Caller:
        """The caller, or ``Unauthenticated`` (counted) / ``Throttled``."""
        access.throttled(client, budget=BUDGET)
        presented = _bearer(header)
        if self.verifier is not None and presented.count(".") == 2:
            return self._signed_caller(access, presented, client)
        if self._token is None:  # only a signed JWT could have passed
            access.record_failure(client, _ENDPOINT, budget=BUDGET)
            raise Unauthenticated(
                "send Authorization: Bearer <a JWT signed by a configured issuer>",
                error="invalid_token" if presented else "unauthorized",
                challenge=access.challenge(basic=False, error="invalid_token"),
            )
        access.secret_gate(header, client, _ENDPOINT, secret=self._token, budget=BUDGET)
        return Caller(actor="gtr")

    def _signed_caller(self, access: Access, presented: str, client: str) -> Caller:
        assert self.verifier is not None  # noqa: S101 - the caller checked
        try:
            verified = self.verifier.verify(presented)
        except TokenRejected as exc:
            access.record_failure(client, _ENDPOINT, budget=BUDGET)
            log.warning(
                "a revocation caller's JWT was refused",
                extra=fields(reason=exc.reason, detail=exc.detail, client=client,
                             token=token_fingerprint(presented)),
            )  # fmt: skip
            raise Unauthenticated(
                f"the JWT was refused: {exc.reason}",
                error="invalid_token",
                challenge=access.challenge(basic=False, error="invalid_token"),
            ) from exc
        issuer = verified.issuer
        jti = verified.jti
        key = jti if usable_jti(jti) else signed_part_sha256(presented)
        digest = hashlib.sha256(f"gtr\0{issuer}\0{key}".encode("utf-8", "surrogatepass"))
        return Caller(actor=issuer[:256], issuer=issuer, rule_id="gt" + digest.hexdigest()[:30])

    # -- the request ----------------------------------------------------------------

    def revoke(self, body: Mapping[str, Any], caller: Caller) -> tuple[Rule, bool]:
        """The cut-off for ``body["sub_id"]``; the rule and whether this call created it."""
        if "sub_id" not in body:
            raise BadRequest("the body needs a 'sub_id' (an RFC 9493 subject identifier)")
        try:
            identifier = read_identifier(body["sub_id"], "'sub_id'")
            target = user_target(identifier, Scope(self._trusted, caller.issuer or ""))
        except MalformedSubject as exc:
            raise BadRequest(str(exc)) from exc
        if target is None:
            raise BadRequest(
                f"the subject format {identifier.format[:64]!r} names no user revoker can "
                "revoke: use iss_sub, email or opaque (or a complex subject's user)"
            )
        self._check_tenant(identifier.members, caller)
        now = self._clock()
        reason = f"Global Token Revocation by {caller.actor[:128]}; {target.named}"
        try:
            if caller.rule_id is not None:
                rule, created = self._registry.ensure(
                    target.kind, target.value, rule_id=caller.rule_id, issuer=target.issuer,
                    cutoff=now, reason=reason, actor=caller.actor,
                )  # fmt: skip
            else:
                rule = self._registry.revoke(
                    target.kind, target.value, issuer=target.issuer, cutoff=now, reason=reason,
                    actor=caller.actor,
                )  # fmt: skip
                created = True
        except InvalidRule as exc:
            raise Unprocessable(f"the subject cannot become a rule: {exc}") from exc
        if created:
            from revoker.app.operations import RuleEvent  # noqa: PLC0415 - a cycle otherwise

            self._operations.rule_created(rule, RuleEvent("gtr"))
        observer = self._operations.revoker.observer
        if observer is not None:
            observer.signal("gtr", "applied" if created else "replay")
        return rule, created

    @staticmethod
    def _check_tenant(sub_id: Mapping[str, Any], caller: Caller) -> None:
        """A JWT caller revokes users of its own host's issuers only (draft §6.2)."""
        if caller.issuer is None:
            return
        user = sub_id.get("user") if sub_id.get("format") == "complex" else sub_id
        named = user.get("iss") if isinstance(user, dict) else None
        if isinstance(named, str) and _origin(named) != _origin(caller.issuer):
            raise Forbidden(
                "the caller may revoke users of its own issuer only", error="access_denied"
            )


def _bearer(header: str | None) -> str:
    scheme, _, rest = (header or "").strip().partition(" ")
    return rest.strip() if scheme.lower() == "bearer" else ""


def _origin(url: str) -> tuple[str, str]:
    try:
        parts = urlsplit(url)
    except ValueError:
        return ("", url)
    return parts.scheme.lower(), parts.netloc.lower()
