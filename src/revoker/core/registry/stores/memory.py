"""The in-process store: the ``RuleStore`` contract in dictionaries, behind one lock.

For tests, demos and single-process use; nothing survives the process.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable
from typing import Literal

from revoker.core.errors import ConfigurationError, StoreError
from revoker.core.registry.rules import DuplicateRule, Rule
from revoker.core.registry.store import (
    DEFAULT_CHANGE_RETENTION_SECONDS,
    AuditEntry,
    Change,
    RuleFilter,
    SavedIndex,
)

__all__ = ["MemoryStore", "open_memory_store"]


class MemoryStore:
    """A ``RuleStore`` in memory; safe to share between threads."""

    def __init__(
        self, *, change_retention_seconds: float = DEFAULT_CHANGE_RETENTION_SECONDS
    ) -> None:
        self._retention_seconds = change_retention_seconds
        self._lock = threading.Lock()
        self._rules: dict[str, Rule] = {}  # insertion order is the order of ``add``
        self._changes: list[tuple[float, Change]] = []  # (at, change), ascending seq
        self._audit: list[AuditEntry] = []
        self._seq = 0
        self._trimmed_through = 0
        self._settings: dict[str, float] = {}
        self._saved_index: SavedIndex | None = None
        self._closed = False

    def add(self, rule: Rule) -> int:
        with self._lock:
            self._check_open()
            if rule.id in self._rules:
                raise DuplicateRule(f"a rule with id {rule.id!r} already exists")
            seq = self._append("add", rule, at=rule.created_at, actor=rule.actor, why=rule.reason)
            self._rules[rule.id] = rule
            return seq

    def add_many(self, rules: Iterable[Rule]) -> int:
        """``add`` for many rules at once (all or none); the last seq written."""
        batch = list(rules)
        with self._lock:
            self._check_open()
            ids = {rule.id for rule in batch}
            if len(ids) < len(batch) or not ids.isdisjoint(self._rules):
                raise DuplicateRule("a rule with one of these ids already exists, or is repeated")
            for rule in batch:
                self._append("add", rule, at=rule.created_at, actor=rule.actor, why=rule.reason)
                self._rules[rule.id] = rule
            return self._seq

    def lift(self, rule_id: str, *, actor: str, reason: str, now: float) -> Rule | None:
        with self._lock:
            self._check_open()
            rule = self._rules.get(rule_id)
            if rule is None or not _active(rule, now):
                return None
            del self._rules[rule_id]
            self._append("lift", rule, at=now, actor=actor, why=reason)
            return rule

    def changes_since(self, seq: int, *, limit: int = 10_000) -> list[Change] | None:
        with self._lock:
            self._check_open()
            if seq < self._trimmed_through or seq > self._seq:
                return None
            start = bisect.bisect_right(self._changes, seq, key=lambda entry: entry[1].seq)
            return [change for _, change in self._changes[start : start + max(limit, 1)]]

    def snapshot(self, now: float) -> tuple[int, list[Rule]]:
        with self._lock:
            self._check_open()
            return self._seq, [rule for rule in self._rules.values() if _active(rule, now)]

    def get(self, rule_id: str) -> Rule | None:
        with self._lock:
            self._check_open()
            return self._rules.get(rule_id)

    def list_rules(self, rule_filter: RuleFilter, *, now: float) -> list[Rule]:
        f = rule_filter
        with self._lock:
            self._check_open()
            chosen = [
                rule
                for rule in self._rules.values()
                if (f.kind is None or rule.kind is f.kind)
                and (f.value is None or rule.value == f.value)
                and (f.issuer is None or rule.issuer == f.issuer)
                and (f.include_expired or _active(rule, now))
            ]
        return chosen[f.offset : f.offset + f.limit]

    def audit_log(self, *, limit: int = 100, since_seq: int = 0) -> list[AuditEntry]:
        with self._lock:
            self._check_open()
            start = bisect.bisect_right(self._audit, since_seq, key=lambda entry: entry.seq)
            return self._audit[start : start + max(limit, 1)]

    def prune(self, now: float) -> int:
        with self._lock:
            self._check_open()
            expired = [rule_id for rule_id, rule in self._rules.items() if not _active(rule, now)]
            for rule_id in expired:
                del self._rules[rule_id]
            # Trim a prefix of the log only, so "trimmed through seq n" stays true.
            horizon = now - self._retention_seconds
            keep = next(
                (i for i, (at, _) in enumerate(self._changes) if at >= horizon),
                len(self._changes),
            )
            if keep:
                self._trimmed_through = self._changes[keep - 1][1].seq
                del self._changes[:keep]
            return len(expired)

    def claim_setting(self, name: str, value: float) -> float:
        with self._lock:
            self._check_open()
            return self._settings.setdefault(name, value)

    def record_setting(self, name: str, value: float) -> None:
        with self._lock:
            self._check_open()
            self._settings[name] = value

    def save_index(self, seq: int, data: bytes, *, written_at: float) -> None:
        with self._lock:
            self._check_open()
            self._saved_index = SavedIndex(seq, written_at, bytes(data))

    def saved_index(self) -> SavedIndex | None:
        with self._lock:
            self._check_open()
            return self._saved_index

    def saved_index_info(self) -> tuple[int, float] | None:
        saved = self.saved_index()
        return None if saved is None else (saved.seq, saved.written_at)

    def close(self) -> None:
        with self._lock:
            self._closed = True

    def _append(
        self, op: Literal["add", "lift"], rule: Rule, *, at: float, actor: str, why: str
    ) -> int:
        self._seq += 1
        self._changes.append((at, Change(seq=self._seq, op=op, rule=rule)))
        action: Literal["revoke", "lift"] = "revoke" if op == "add" else "lift"
        self._audit.append(
            AuditEntry(
                seq=self._seq,
                at=at,
                actor=actor,
                action=action,
                rule_id=rule.id,
                kind=str(rule.kind),
                value=rule.value,
                reason=why,
            )
        )
        return self._seq

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the memory store is closed")


def open_memory_store(url: str) -> MemoryStore:
    """``memory://``: a fresh, empty store each time."""
    if url.partition("://")[2]:
        raise ConfigurationError("a memory:// store URL takes no path or options")
    return MemoryStore()


def _active(rule: Rule, now: float) -> bool:
    return rule.expires_at is None or rule.expires_at > now
