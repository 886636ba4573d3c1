"""The registry facade: revoke, lift, list and audit through a store; match through a replica.

A revoke returns once the store holds the rule durably, and this process's
replica holds it too, so the very next check here denies. Other processes see
it within their poll interval, or at once for stores that push (Redis,
PostgreSQL): ``start`` subscribes the replica to the store's push.

**The lifetime invariant.** A cut-off rule must outlive every token it matches,
so it lives ``max_token_lifetime_seconds`` past its cutoff; a verifier must
therefore never accept a token living longer than the lifetime the rules were
written for, whichever process wrote them. The store records that lifetime
(``claim_setting``): the first registry to use a store records its own; a
writer always writes for the recorded lifetime when it is longer than its own;
and a registry whose verifier accepts longer-lived tokens than recorded
(``require_lifetime``) refuses to serve: ``agree`` raises ``ConfigurationError``
at start, and until it agrees every sync fails, so checks deny
(``registry_stale``) rather than trust rules that may have been pruned too
early. ``revoker migrate --max-token-lifetime`` changes the record.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from revoker.core.clock import Clock, SystemClock
from revoker.core.errors import ConfigurationError, DuplicateRule, StoreError
from revoker.core.registry.replica import DEFAULT_MAX_STALENESS_SECONDS, Replica
from revoker.core.registry.rules import RegistryLimits, Rule, RuleKind, RuleNotFound, new_rule
from revoker.core.registry.store import AuditEntry, RuleFilter, RuleStore, open_store

__all__ = ["LIFETIME_SETTING", "Registry", "deterministic_rule_id"]

#: The name under which a store records the token lifetime its rules are written for.
LIFETIME_SETTING = "max_token_lifetime_seconds"


def deterministic_rule_id(kind: RuleKind | str, value: str, issuer: str | None, tag: str) -> str:
    """The same id for the same rule asked for twice (a retry, a concurrent request, a
    redelivered event), so the store's duplicate-id refusal makes the write idempotent."""
    text = "\0".join((tag, str(kind), issuer or "", value))
    return tag[:2] + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:30]


logger = logging.getLogger("revoker.registry")


class Registry:
    """Revocation rules in a store, with an in-memory replica for the checks."""

    def __init__(
        self,
        store: RuleStore,
        *,
        clock: Clock | None = None,
        limits: RegistryLimits = RegistryLimits(),  # noqa: B008 -- frozen, so one shared default is safe
        max_staleness_seconds: float = DEFAULT_MAX_STALENESS_SECONDS,
        fail_open: bool = False,
        poll_interval_seconds: float = 0.5,
        push: bool = True,
        push_poll_interval_seconds: float | None = None,
        index_snapshot_seconds: float = 0.0,
    ) -> None:
        """Options after ``limits`` go to the ``Replica`` (see there)."""
        self.store = store
        self.clock: Clock = clock or SystemClock()
        self.limits = limits
        self._required_lifetime = 0.0  # the longest token lifetime a verifier here accepts
        self._recorded_lifetime: float | None = None  # what the store says, once agreed
        self._agree_lock = threading.Lock()
        self.replica = Replica(
            store,
            clock=self.clock,
            max_staleness_seconds=max_staleness_seconds,
            fail_open=fail_open,
            poll_interval_seconds=poll_interval_seconds,
            push=push,
            push_poll_interval_seconds=push_poll_interval_seconds,
            index_snapshot_seconds=index_snapshot_seconds,
            before_sync=self._agree_once,
        )

    @classmethod
    def open(cls, url: str, **options: Any) -> Registry:
        """A registry on the store ``url`` names (see ``open_store``)."""
        return cls(open_store(url), **options)

    def revoke(
        self,
        kind: RuleKind | str,
        value: str,
        *,
        issuer: str | None = None,
        cutoff: float | None = None,
        expires_at: float | None = None,
        reason: str = "",
        actor: str = "system",
    ) -> Rule:
        """Store a new rule durably and apply it here; cut-off kinds default ``cutoff`` to now."""
        self._agree_once()
        rule = new_rule(
            kind,
            value,
            now=self.clock(),
            limits=self.limits,
            issuer=issuer,
            cutoff=cutoff,
            expires_at=expires_at,
            reason=reason,
            actor=actor,
        )
        self.store.add(rule)
        self.replica.add_rule(rule)
        self._sync_quietly()
        return rule

    def ensure(
        self,
        kind: RuleKind | str,
        value: str,
        *,
        tag: str = "",
        rule_id: str | None = None,
        issuer: str | None = None,
        cutoff: float | None = None,
        expires_at: float | None = None,
        reason: str = "",
        actor: str = "system",
    ) -> tuple[Rule, bool]:
        """Make sure a rule of ``kind`` and ``value`` exists (one with the id
        ``deterministic_rule_id`` gives); the rule, and whether this call created it.

        Idempotent across processes: a retry, or thirty-two concurrent requests, leave
        one rule. ``tag`` says whose rule it is (self-revocation, a logout event …), so
        two sources of the same value do not collide; ``rule_id`` gives the id outright
        (one per provider event). A rule with that id that is no longer active (lifted
        rules are deleted; an expired one may linger until pruned) is replaced.
        """
        self._agree_once()
        rule = new_rule(
            kind,
            value,
            now=self.clock(),
            limits=self.limits,
            issuer=issuer,
            cutoff=cutoff,
            expires_at=expires_at,
            reason=reason,
            actor=actor,
        )
        rule_id = rule_id or deterministic_rule_id(rule.kind, value, issuer, tag)
        rule = dataclasses.replace(rule, id=rule_id)
        for attempt in range(2):
            try:
                self.store.add(rule)
                break
            except DuplicateRule:
                existing = self.store.get(rule.id)
                now = self.clock()
                if existing is not None and (
                    existing.expires_at is None or existing.expires_at > now
                ):
                    self.replica.add_rule(existing)
                    return existing, False
                if attempt:
                    raise
                # Its twin expired and lingers until pruned: prune it, as prune would.
                self.store.prune(now)
        self.replica.add_rule(rule)
        self._sync_quietly()
        return rule, True

    def lift(self, rule_id: str, *, actor: str, reason: str = "") -> Rule:
        """Lift an active rule; ``RuleNotFound`` if there is none with that id."""
        rule = self.store.lift(rule_id, actor=actor, reason=reason, now=self.clock())
        if rule is None:
            raise RuleNotFound(f"no active rule has the id {rule_id!r}")
        self.replica.remove_rule(rule.id, rule)
        self._sync_quietly()
        return rule

    def get(self, rule_id: str) -> Rule | None:
        """The stored rule with this id, or None."""
        return self.store.get(rule_id)

    def rules(self, rule_filter: RuleFilter | None = None) -> list[Rule]:
        """One page of rules, oldest first (active ones unless the filter says otherwise)."""
        return self.store.list_rules(rule_filter or RuleFilter(), now=self.clock())

    def audit(self, *, limit: int = 100, since_seq: int = 0) -> list[AuditEntry]:
        """Audit entries after ``since_seq``, oldest first."""
        return self.store.audit_log(limit=limit, since_seq=since_seq)

    # -- the lifetime invariant (see the module docstring) ----------------------

    def require_lifetime(self, seconds: float) -> None:
        """A verifier using this registry accepts tokens living up to ``seconds``."""
        with self._agree_lock:
            if seconds > self._required_lifetime:
                self._required_lifetime = seconds
                self._recorded_lifetime = None  # agree again, against the new requirement

    def agree(self) -> float:
        """Agree with the store on the token lifetime; the recorded one.

        Records this registry's own lifetime when the store has none; writes for the
        recorded one when it is longer; raises ``ConfigurationError`` when a verifier
        here accepts longer-lived tokens than the store's rules are written for, and
        ``StoreError`` when the store cannot be reached.
        """
        with self._agree_lock:
            own = max(self.limits.max_token_lifetime_seconds, self._required_lifetime)
            recorded = self.store.claim_setting(LIFETIME_SETTING, own)
            if self._required_lifetime > recorded:
                raise ConfigurationError(
                    f"this verifier accepts tokens living up to {self._required_lifetime:g}s, "
                    f"but the store's rules are written for tokens of at most {recorded:g}s: "
                    "a revoked token could come back once its rule is pruned. Lower "
                    f"--max-token-lifetime to {recorded:g}s, or raise the store's with "
                    f"'revoker migrate --max-token-lifetime {self._required_lifetime:g}s'"
                )
            if recorded > self.limits.max_token_lifetime_seconds:
                self.limits = dataclasses.replace(self.limits, max_token_lifetime_seconds=recorded)
            self._recorded_lifetime = recorded
            return recorded

    def _agree_once(self) -> None:
        if self._recorded_lifetime is None:
            self.agree()

    def prune(self) -> int:
        """Delete expired rules from the store (the replica drops them on its own)."""
        return self.store.prune(self.clock())

    def match(self, claims: Mapping[str, Any], header: Mapping[str, Any], raw: str) -> Rule | None:
        """The rule revoking this token, or None; ``RegistryStale`` if the replica is too old."""
        self.replica.check_fresh()
        return self.replica.match(claims, header, raw)

    def sync(self) -> None:
        """Bring the replica up to date with the store now (``StoreError`` if it cannot)."""
        self.replica.sync()

    def start(self) -> None:
        """Sync the replica and keep it in step on a background thread (and by push)."""
        self.replica.start()

    def stop(self) -> None:
        self.replica.stop()

    def close(self) -> None:
        """Stop the replica and close the store."""
        self.replica.stop()
        self.store.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _sync_quietly(self) -> None:
        # The write is already durable and applied here; a failed catch-up is the
        # poll thread's to retry, not the caller's error.
        try:
            self.replica.sync()
        except StoreError as exc:
            logger.warning("revocation registry sync after a write failed: %s", exc)
