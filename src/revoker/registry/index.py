"""The index ``Replica.match`` reads: one dictionary per rule kind, keyed by value.

``RuleIndex`` holds the dictionaries (in ``ORDER``, the order ``match`` checks
the kinds), the rules by id, and a heap of expiries to sweep. Each value maps
to a tuple of ``Entry`` (issuer scope, cut-off, rule); writers replace a whole
tuple, never mutate one, so a lock-free reader sees the old or the new.

The helpers below are the slow branches of ``match``: scoped and cut-off
checks once a look-up found entries, and the fallback for claims of odd types.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping
from typing import Any

from revoker.registry.rules import Rule, RuleKind

__all__ = [
    "ORDER",
    "Entry",
    "Index",
    "RuleIndex",
    "Values",
    "match_cutoffs",
    "plain_claims",
    "plain_header",
    "scoped",
]

# Kinds in the order ``match`` checks them; the index holds one dict per kind, in this order.
ORDER = (
    RuleKind.KEY,
    RuleKind.TOKEN,
    RuleKind.FAMILY,
    RuleKind.SESSION,
    RuleKind.SUBJECT,
    RuleKind.CLIENT,
    RuleKind.ISSUER,
)
_POSITION = {kind: position for position, kind in enumerate(ORDER)}
# (issuer scope or None, cutoff or +inf, rule)
Entry = tuple[str | None, float, Rule]
# Keys are rule values (str); look-ups pass whatever the claim holds.
Values = dict[Any, tuple[Entry, ...]]
Index = tuple[Values, ...]


class RuleIndex:
    """The index ``match`` reads, the rules by id, and a heap of expiries to sweep."""

    __slots__ = ("by_id", "expiries", "index")

    def __init__(self) -> None:
        self.index: Index = tuple({} for _ in ORDER)
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


def scoped(entries: tuple[Entry, ...], iss: Any) -> Rule | None:
    for scope, _, rule in entries:
        if scope is None or scope == iss:
            return rule
    return None


def _cut(entries: tuple[Entry, ...], iss: Any, iat: Any) -> Rule | None:
    for scope, cutoff, rule in entries:
        # "not after the cut-off" rather than "<=": a NaN iat counts as revoked.
        if (scope is None or scope == iss) and not iat > cutoff:
            return rule
    return None


def match_cutoffs(
    claims: Mapping[str, Any],
    iss: Any,
    subject_ix: Values,
    client_ix: Values,
    issuer_ix: Values,
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


def plain_claims(claims: Mapping[str, Any]) -> dict[str, Any]:
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


def plain_header(header: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in header.items() if isinstance(v, str)}
