"""The lookup mode: a replica that holds no rules, and fetches a token's rules by key.

A Lambda container in front of a table of millions of rules cannot read them
all on a cold start. ``DynamoDBLookup`` stands in the registry's ``replica``
slot and answers ``match`` from the rules filed under the token's candidate
keys (``_dynamodb_keys.candidate_keys``: jti, origin_jti, sid, sub, client_id
and aud, kid, iss, email; each unscoped and scoped to the token's issuer),
fetched with one strongly consistent ``BatchGetItem`` (``DynamoDBStore.lookup``)
and matched by the replica's own ``index.match_index``, so it decides exactly
as a full replica of the same table would.

Each key's answer, rules or none, is cached per container for at most
``max_age_seconds`` (the Lambda's ``REVOKER_SYNC_MAX_AGE``): the staleness
contract of the replica mode, per key instead of per table. A token seen again
within that age costs nothing; a new one, only its keys not cached. When a
fetch fails, answers up to ``max_staleness_seconds`` old are still used (as a
replica serves its last sync that long), and beyond that the check fails
closed (``RegistryStale``) unless ``fail_open``.

``sync`` agrees on the token lifetime with the store (the registry's
``before_sync``; until it has, checks answer ``registry_stale``) and forgets
every cached answer, so a check after it sees every rule stored before it
(the WebSocket ``$connect`` order relies on that). Rules this process writes
drop their key from the cache (``add_rule``, ``remove_rule``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from revoker.core.clock import Clock
from revoker.core.errors import RegistryStale, StoreError
from revoker.core.registry.index import DictIndex, row_of
from revoker.core.registry.replica import (
    DEFAULT_MAX_STALENESS_SECONDS,
    PropagationPath,
    Replica,
)
from revoker.core.registry.rules import Rule, RuleKind
from revoker.core.registry.stores._dynamodb_keys import LookupKey, candidate_keys, lookup_key_of
from revoker.core.registry.stores.dynamodb import DynamoDBStore

__all__ = ["DEFAULT_CACHE_KEYS", "DynamoDBLookup"]

#: How many keys' answers a container keeps (least recently used go first): ~16 per token.
DEFAULT_CACHE_KEYS = 65_536

_Cached = tuple[float, tuple[Rule, ...]]  # (fetched at, the rules filed under the key)


class DynamoDBLookup(Replica):
    """A ``Replica`` whose ``match`` looks the token's keys up in DynamoDB (see above)."""

    def __init__(
        self,
        store: DynamoDBStore,
        *,
        clock: Clock,
        max_age_seconds: float,
        max_staleness_seconds: float = DEFAULT_MAX_STALENESS_SECONDS,
        fail_open: bool = False,
        before_sync: Callable[[], None] | None = None,
        cache_keys: int = DEFAULT_CACHE_KEYS,
    ) -> None:
        super().__init__(
            store,
            clock=clock,
            max_staleness_seconds=max_staleness_seconds,
            fail_open=fail_open,
            before_sync=before_sync,
        )
        self._lookups = store
        self._max_age = max_age_seconds
        self._stale_after = max(max_staleness_seconds, max_age_seconds)
        self._cache: OrderedDict[LookupKey, _Cached] = OrderedDict()
        self._cache_keys = max(1, cache_keys)
        self._cache_lock = threading.Lock()
        self._agreed = False
        self.fetches = 0  # BatchGetItem rounds made by match: a benchmark reads it

    # -- the check ------------------------------------------------------------

    def match(self, claims: Mapping[str, Any], header: Mapping[str, Any], raw: str) -> Rule | None:
        now = self._clock()
        keys = candidate_keys(claims, header, raw)
        found, missing = self._cached(keys, now, self._max_age)
        if missing:
            found.update(self._fetch(missing, now))
        rules = [
            r for rs in found.values() for r in rs if r.expires_at is None or r.expires_at > now
        ]
        if not rules:
            return None
        # Oldest first, as a replica inserts them, so the same rule is the one reported.
        rules.sort(key=lambda rule: (rule.created_at, rule.id))
        return DictIndex.from_rows(map(row_of, rules), now).match(claims, header, raw)

    def check_fresh(self) -> None:
        """``RegistryStale`` until the lifetime agreement (the first ``sync``) succeeded."""
        if not self._fail_open and not self._agreed:
            raise RegistryStale("the revocation registry has not synced with its store yet")

    # -- keeping in step ----------------------------------------------------------

    def sync(self) -> None:
        """Agree with the store (once), and forget every cached answer."""
        if self._before_sync is not None and not self._agreed:
            self._before_sync()
        self._agreed = True
        with self._cache_lock:
            self._cache.clear()
        self._last_sync_at = self._clock()

    def sync_if_older(self, max_age_seconds: float) -> bool:
        """Each key's answer ages on its own (see ``match``): sync only to agree at first."""
        if self._agreed:
            return False
        self.sync()
        return True

    def _sync(self, path: PropagationPath) -> None:
        self.sync()  # no change log to follow, by push or by poll: only the agreement

    def start(self) -> None:
        """No poll thread: there is nothing to keep in step, only the agreement to make."""
        self._sync_logged("poll")

    def add_rule(self, rule: Rule) -> None:
        with self._cache_lock:
            self._cache.pop(lookup_key_of(rule), None)

    def remove_rule(self, rule_id: str, rule: Rule | None = None) -> None:
        with self._cache_lock:
            stale = [
                k for k, (_, rules) in self._cache.items() if any(r.id == rule_id for r in rules)
            ]
            for key in stale:
                del self._cache[key]

    @property
    def rule_count(self) -> int:
        """Rules in the cached answers (not the table's: that is never read here)."""
        with self._cache_lock:
            return len({rule.id for _, rules in self._cache.values() for rule in rules})

    def counts_by_kind(self) -> dict[RuleKind, int]:
        counts = dict.fromkeys(RuleKind, 0)
        with self._cache_lock:
            seen = {rule.id: rule.kind for _, rules in self._cache.values() for rule in rules}
        for kind in seen.values():
            counts[kind] += 1
        return counts

    # -- internals --------------------------------------------------------------

    def _cached(
        self, keys: list[LookupKey], now: float, max_age: float
    ) -> tuple[dict[LookupKey, tuple[Rule, ...]], list[LookupKey]]:
        """The answers cached no longer than ``max_age`` ago, and the keys that have none."""
        found: dict[LookupKey, tuple[Rule, ...]] = {}
        missing: list[LookupKey] = []
        with self._cache_lock:
            for key in keys:
                hit = self._cache.get(key)
                if hit is not None and now - hit[0] <= max_age:
                    found[key] = hit[1]
                    self._cache.move_to_end(key)
                else:
                    missing.append(key)
        return found, missing

    def _fetch(self, keys: list[LookupKey], now: float) -> dict[LookupKey, tuple[Rule, ...]]:
        try:
            fetched = self._lookups.lookup(keys)
        except StoreError as exc:
            # As a replica serves its last sync: older answers, up to max_staleness.
            found, missing = self._cached(keys, now, self._stale_after)
            if missing and not self._fail_open:
                raise RegistryStale(
                    f"the revocation registry cannot look the rules up: {exc}"
                ) from exc
            return found
        self.fetches += 1
        answers = {key: tuple(rules) for key, rules in fetched.items()}
        with self._cache_lock:
            for key, rules in answers.items():
                self._cache[key] = (now, rules)  # the time before the read: never younger
                self._cache.move_to_end(key)
            while len(self._cache) > self._cache_keys:
                self._cache.popitem(last=False)
        self._last_sync_at = now
        return answers
