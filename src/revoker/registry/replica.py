"""The in-memory copy of the active rules that every check reads.

``match`` is the hot path: it runs on every request, so it does a handful of
dictionary look-ups (one per kind that has rules, keyed by the token's value;
string hashes are cached, so each costs tens of nanoseconds), takes no lock
and does no I/O. Each look-up yields the few rules for that value; their issuer
scope and cut-off are checked only then.

Writers (``sync``, ``add_rule``, ``remove_rule``) serialise on a lock and only
replace dictionary entries with new tuples or swap the whole index, which
CPython does atomically, so a reader sees either the old or the new state.

``sync`` follows the store's change log by sequence number and falls back to a
snapshot when the log was trimmed; a poll thread calls it, and ``notify`` wakes
that thread at once (for stores that push). The time of the last good sync
decides freshness: a replica that could not sync for ``max_staleness_seconds``
fails closed with ``RegistryStale`` unless ``fail_open`` was chosen.
"""

from __future__ import annotations

import heapq
import logging
import math
import threading
from collections.abc import Mapping
from typing import Any

from revoker.clock import Clock
from revoker.errors import RegistryStale
from revoker.registry.rules import Rule, RuleKind, signed_part_sha256
from revoker.registry.store import Change, RuleStore

__all__ = ["Replica"]

logger = logging.getLogger("revoker.registry")

# Kinds in the order ``match`` checks them; the index holds one dict per kind, in this order.
_ORDER = (
    RuleKind.KEY,
    RuleKind.TOKEN,
    RuleKind.FAMILY,
    RuleKind.SESSION,
    RuleKind.SUBJECT,
    RuleKind.CLIENT,
    RuleKind.ISSUER,
)
_POSITION = {kind: position for position, kind in enumerate(_ORDER)}
_BATCH = 10_000
_MAX_BATCHES = 10  # further behind than this, a snapshot is cheaper than replaying

# (issuer scope or None, cutoff or +inf, rule)
_Entry = tuple[str | None, float, Rule]
# Keys are rule values (str); look-ups pass whatever the claim holds.
_Values = dict[Any, tuple[_Entry, ...]]
_Index = tuple[_Values, ...]


class Replica:
    """Active rules in dictionaries, kept in step with a ``RuleStore``."""

    def __init__(
        self,
        store: RuleStore,
        *,
        clock: Clock,
        max_staleness_seconds: float = 30.0,
        fail_open: bool = False,
        poll_interval_seconds: float = 0.5,
    ) -> None:
        self._store = store
        self._clock = clock
        self._max_staleness_seconds = max_staleness_seconds
        self._fail_open = fail_open
        self._poll_interval_seconds = poll_interval_seconds
        self._rules = _Rules()
        self._index: _Index = self._rules.index  # what match reads; swapped whole on reload
        self._seq = -1  # never synced: the first sync takes a snapshot
        self._last_sync_at: float | None = None
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    # -- the hot path -------------------------------------------------------

    def match(self, claims: Mapping[str, Any], header: Mapping[str, Any], raw: str) -> Rule | None:
        """The first active rule that revokes this token, checking key, token, family,
        session, subject, client, then issuer rules; None when nothing does."""
        key_ix, token_ix, family_ix, session_ix, subject_ix, client_ix, issuer_ix = self._index
        try:
            iss = claims.get("iss")
            if key_ix:
                entries = key_ix.get(header.get("kid"))
                if entries and (rule := _scoped(entries, iss)):
                    return rule
            if token_ix:
                jti = claims.get("jti")
                if not jti or jti.__class__ is not str:
                    jti = signed_part_sha256(raw)
                entries = token_ix.get(jti)
                if entries and (rule := _scoped(entries, iss)):
                    return rule
            if family_ix:
                entries = family_ix.get(claims.get("origin_jti"))
                if entries and (rule := _scoped(entries, iss)):
                    return rule
            if session_ix:
                entries = session_ix.get(claims.get("sid"))
                if entries and (rule := _scoped(entries, iss)):
                    return rule
            if subject_ix or client_ix or issuer_ix:
                return _match_cutoffs(claims, iss, subject_ix, client_ix, issuer_ix)
        except TypeError:
            # An unhashable or non-numeric claim: retry with only well-typed claims.
            return self.match(_plain_claims(claims), _plain_header(header), raw)
        return None

    # -- keeping in step ----------------------------------------------------

    def sync(self) -> None:
        """Catch up with the store; a ``StoreError`` leaves the replica as it was."""
        with self._write_lock:
            now = self._clock()
            if self._seq < 0:
                self._reload(now)
            else:
                for _ in range(_MAX_BATCHES):
                    changes = self._store.changes_since(self._seq, limit=_BATCH)
                    if changes is None:
                        self._reload(now)
                        break
                    self._apply(changes, now)
                    if len(changes) < _BATCH:
                        break
                else:
                    self._reload(now)
            self._rules.sweep(now)
            self._last_sync_at = now

    def sync_if_older(self, max_age_seconds: float) -> bool:
        """Sync when the last good sync is older than ``max_age_seconds`` (a Lambda's bound)."""
        last = self._last_sync_at
        if last is not None and self._clock() - last <= max_age_seconds:
            return False
        self.sync()
        return True

    def add_rule(self, rule: Rule) -> None:
        """Apply a rule this process just stored, before the change log brings it back."""
        with self._write_lock:
            self._rules.insert(rule, self._clock())

    def remove_rule(self, rule_id: str) -> None:
        """Drop a rule this process just lifted, before the change log says so."""
        with self._write_lock:
            self._rules.remove(rule_id)

    def notify(self) -> None:
        """Wake the poll thread to sync now (a store's push calls this)."""
        self._wake.set()

    def start(self) -> None:
        """Sync once, then keep syncing every poll interval on a daemon thread."""
        if self._thread is not None:
            return
        self._stopping.clear()
        self._sync_logged()
        self._thread = threading.Thread(target=self._run, name="revoker-replica", daemon=True)
        self._thread.start()

    def stop(self, timeout_seconds: float = 5.0) -> None:
        """Stop the poll thread and wait for it (bounded)."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping.set()
        self._wake.set()
        thread.join(timeout_seconds)

    # -- freshness and counts -----------------------------------------------

    def check_fresh(self) -> None:
        """Raise ``RegistryStale`` if the last good sync is too old (unless failing open)."""
        if self._fail_open:
            return
        last = self._last_sync_at
        if last is None:
            raise RegistryStale("the revocation registry has not synced with its store yet")
        age = self._clock() - last
        if age > self._max_staleness_seconds:
            raise RegistryStale(
                f"the revocation registry last synced {age:.1f}s ago"
                f" (max_staleness_seconds={self._max_staleness_seconds:g})"
            )

    @property
    def is_fresh(self) -> bool:
        """Whether the last good sync is within ``max_staleness_seconds`` (ignores fail_open)."""
        return self.lag_seconds <= self._max_staleness_seconds

    @property
    def lag_seconds(self) -> float:
        """Seconds since the last good sync; infinite before the first."""
        last = self._last_sync_at
        return math.inf if last is None else max(0.0, self._clock() - last)

    @property
    def seq(self) -> int:
        """The store seq this replica has caught up to (-1 before the first sync)."""
        return self._seq

    @property
    def rule_count(self) -> int:
        return len(self._rules.by_id)

    def counts_by_kind(self) -> dict[RuleKind, int]:
        """Active rules per kind, every kind present."""
        counts = dict.fromkeys(RuleKind, 0)
        for rule in list(self._rules.by_id.values()):
            counts[rule.kind] += 1
        return counts

    # -- internals (callers hold _write_lock) ---------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._poll_interval_seconds)
            self._wake.clear()  # before syncing: a notify from now on means another round
            if self._stopping.is_set():
                break
            self._sync_logged()

    def _sync_logged(self) -> None:
        try:
            self.sync()
        except Exception as exc:  # noqa: BLE001 -- the poll thread must outlive any store failure
            if not self._failing:
                logger.warning("revocation registry cannot sync: %s", " ".join(str(exc).split()))
            self._failing = True
            return
        if self._failing:
            logger.info("revocation registry syncs again (seq %d)", self._seq)
        self._failing = False

    def _reload(self, now: float) -> None:
        seq, rules = self._store.snapshot(now)
        fresh = _Rules()
        for rule in rules:
            fresh.insert(rule, now)
        # Built aside, then published with one assignment: readers never see it half-full.
        self._rules, self._index, self._seq = fresh, fresh.index, seq

    def _apply(self, changes: list[Change], now: float) -> None:
        for change in changes:
            if change.op == "add":
                self._rules.insert(change.rule, now)
            else:
                self._rules.remove(change.rule.id)
            self._seq = change.seq


class _Rules:
    """The index ``match`` reads, the rules by id, and a heap of expiries to sweep."""

    __slots__ = ("by_id", "expiries", "index")

    def __init__(self) -> None:
        self.index: _Index = tuple({} for _ in _ORDER)
        self.by_id: dict[str, Rule] = {}
        self.expiries: list[tuple[float, str]] = []  # heap of (expires_at, rule id)

    def insert(self, rule: Rule, now: float) -> None:
        """Add a rule unless it is already here (writes come back through the log) or expired."""
        expires_at = rule.expires_at
        if rule.id in self.by_id or (expires_at is not None and expires_at <= now):
            return
        entry = (rule.issuer, math.inf if rule.cutoff is None else rule.cutoff, rule)
        values = self.index[_POSITION[rule.kind]]
        values[rule.value] = (*values.get(rule.value, ()), entry)
        self.by_id[rule.id] = rule
        if expires_at is not None:
            heapq.heappush(self.expiries, (expires_at, rule.id))

    def remove(self, rule_id: str) -> None:
        rule = self.by_id.pop(rule_id, None)
        if rule is None:
            return
        values = self.index[_POSITION[rule.kind]]
        kept = tuple(entry for entry in values.get(rule.value, ()) if entry[2].id != rule_id)
        if kept:
            values[rule.value] = kept
        else:
            values.pop(rule.value, None)

    def sweep(self, now: float) -> None:
        """Drop every rule whose expires_at has come (lifted ones left stale heap entries)."""
        expiries = self.expiries
        while expiries and expiries[0][0] <= now:
            _, rule_id = heapq.heappop(expiries)
            self.remove(rule_id)


def _scoped(entries: tuple[_Entry, ...], iss: Any) -> Rule | None:
    for scope, _, rule in entries:
        if scope is None or scope == iss:
            return rule
    return None


def _cut(entries: tuple[_Entry, ...], iss: Any, iat: Any) -> Rule | None:
    for scope, cutoff, rule in entries:
        # "not after the cut-off" rather than "<=": a NaN iat counts as revoked.
        if (scope is None or scope == iss) and not iat > cutoff:
            return rule
    return None


def _match_cutoffs(
    claims: Mapping[str, Any],
    iss: Any,
    subject_ix: _Values,
    client_ix: _Values,
    issuer_ix: _Values,
) -> Rule | None:
    iat = claims.get("iat")
    if subject_ix:
        entries = subject_ix.get(claims.get("sub"))
        if entries and (rule := _cut(entries, iss, iat)):
            return rule
    if client_ix:
        client = claims.get("client_id")
        if client is None:
            aud = claims.get("aud")
            clients = (aud,) if isinstance(aud, str) else aud if isinstance(aud, list) else ()
        else:
            clients = (client,)
        for candidate in clients:
            entries = client_ix.get(candidate)
            if entries and (rule := _cut(entries, iss, iat)):
                return rule
    if issuer_ix:
        entries = issuer_ix.get(iss)
        if entries and (rule := _cut(entries, iss, iat)):
            return rule
    return None


def _plain_claims(claims: Mapping[str, Any]) -> dict[str, Any]:
    """Only string claims, ``aud`` as its string members, and a numeric ``iat``.

    A missing or non-numeric ``iat`` becomes -inf: a token that cannot show it
    was issued after a cut-off is treated as issued before it (fail closed).
    """
    plain: dict[str, Any] = {k: v for k, v in claims.items() if isinstance(v, str)}
    aud = claims.get("aud")
    if isinstance(aud, list):
        plain["aud"] = [member for member in aud if isinstance(member, str)]
    iat = claims.get("iat")
    numeric = isinstance(iat, int | float) and not isinstance(iat, bool)
    plain["iat"] = iat if numeric else -math.inf
    return plain


def _plain_header(header: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in header.items() if isinstance(v, str)}
