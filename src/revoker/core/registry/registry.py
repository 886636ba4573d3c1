"""The registry facade: revoke, lift, list and audit through a store; match through a replica.

A revoke returns once the store holds the rule durably, and this process's
replica holds it too, so the very next check here denies. Other processes see
it within their poll interval, or at once for stores that push (Redis,
PostgreSQL): ``start`` subscribes the replica to the store's push.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from revoker.core.clock import Clock, SystemClock
from revoker.core.errors import StoreError
from revoker.core.registry.replica import Replica
from revoker.core.registry.rules import RegistryLimits, Rule, RuleKind, RuleNotFound, new_rule
from revoker.core.registry.store import AuditEntry, RuleFilter, RuleStore, open_store

__all__ = ["Registry"]

logger = logging.getLogger("revoker.registry")


class Registry:
    """Revocation rules in a store, with an in-memory replica for the checks."""

    def __init__(
        self,
        store: RuleStore,
        *,
        clock: Clock | None = None,
        limits: RegistryLimits = RegistryLimits(),  # noqa: B008 -- frozen, so one shared default is safe
        max_staleness_seconds: float = 30.0,
        fail_open: bool = False,
        poll_interval_seconds: float = 0.5,
        push: bool = True,
        push_poll_interval_seconds: float | None = None,
    ) -> None:
        """Options after ``limits`` go to the ``Replica`` (see there)."""
        self.store = store
        self.clock: Clock = clock or SystemClock()
        self.limits = limits
        self.replica = Replica(
            store,
            clock=self.clock,
            max_staleness_seconds=max_staleness_seconds,
            fail_open=fail_open,
            poll_interval_seconds=poll_interval_seconds,
            push=push,
            push_poll_interval_seconds=push_poll_interval_seconds,
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

    def lift(self, rule_id: str, *, actor: str, reason: str = "") -> Rule:
        """Lift an active rule; ``RuleNotFound`` if there is none with that id."""
        rule = self.store.lift(rule_id, actor=actor, reason=reason, now=self.clock())
        if rule is None:
            raise RuleNotFound(f"no active rule has the id {rule_id!r}")
        self.replica.remove_rule(rule.id)
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
