"""The dictionary index: one dictionary per rule kind, keyed by value (the reference).

``Replica`` keeps its rules in ``compact.CompactIndex`` (numpy arrays, about 60 B
a rule); this module is what that index is checked against, and what it keeps
its recent adds in (a ``RuleIndex`` of a few thousand rules). ``match_index`` is
the reference matching.

Memory is the constraint here (a million rules in every process), so a rule is
kept as one flat ``Entry``, a tuple of its nine fields in the stores' column
order, with its kind as a plain string and its issuer, reason and actor
interned. Such a tuple holds only strings, floats and None, so the garbage
collector stops tracking it: a full collection never walks the million rules.
A ``Rule`` is built from an entry only when a match returns one (a denial).

``RuleIndex`` holds the dictionaries (in ``ORDER``, the order ``match`` checks
the kinds), the entries by id, and their expiries. A value maps to one entry,
or to a list of entries when several rules share it; writers replace a slot
whole, never mutate a published one, so a lock-free reader sees old or new.

The helpers below are the slow branches of ``match``: scoped and cut-off
checks once a look-up found entries, and the fallback for claims of odd types.
"""

from __future__ import annotations

import bisect
import heapq
import math
import sys
from collections.abc import Iterable, Iterator, Mapping
from functools import partial
from typing import Any

from revoker.core.registry.rules import (
    LOOKS_LIKE_JWS,
    Rule,
    RuleKind,
    StoredRow,
    signed_part_sha256,
    stored_rule,
)

__all__ = [
    "ORDER",
    "EmptyIndex",
    "Entry",
    "Expiries",
    "Index",
    "RuleIndex",
    "Slot",
    "Values",
    "entry_of",
    "match_cutoffs",
    "match_index",
    "plain_claims",
    "plain_header",
    "row_of",
    "rule_of",
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
    RuleKind.EMAIL,
)
# The kind's plain string (one object per kind) -> its dict's position in the index.
_KIND_TEXT = {kind.value: kind.value for kind in RuleKind}
_POSITION = {kind.value: position for position, kind in enumerate(ORDER)}
# (id, kind, value, issuer, cutoff, expires_at, reason, actor, created_at), as a store row.
Entry = StoredRow
# One entry, or a list of them for a value several rules share.
Slot = Entry | list[Entry]
# Keys are rule values (str); look-ups pass whatever the claim holds.
Values = dict[Any, Slot]
Index = tuple[Values, ...]
_BUCKET_SECONDS = 60.0


def row_of(rule: Rule) -> StoredRow:
    """A rule's fields as a store row."""
    return (rule.id, rule.kind.value, rule.value, rule.issuer, rule.cutoff, rule.expires_at,
            rule.reason, rule.actor, rule.created_at)  # fmt: skip


def entry_of(row: StoredRow | Rule) -> Entry:
    """The compact entry for a stored row (trusted: a store wrote it) or a ``Rule``."""
    if isinstance(row, Rule):
        row = row_of(row)
    rule_id, kind, value, issuer, cutoff, expires_at, reason, actor, created_at = row
    intern = sys.intern
    return (
        rule_id,
        _KIND_TEXT[kind],
        value,
        None if issuer is None else intern(issuer),
        cutoff,
        expires_at,
        intern(reason),
        intern(actor),
        created_at,
    )


def rule_of(entry: Entry) -> Rule:
    """The full ``Rule`` an entry stands for (equal to the one it was made from)."""
    return stored_rule(*entry)


class Expiries:
    """Entries grouped by the minute their ``expires_at`` falls in.

    One list slot per rule instead of a heap tuple; only the minute keys are a
    heap. A minute's list is sorted once, when its minute comes, and then cut at
    ``now`` by bisection, so a sweep costs the entries it removes, not the
    minute's size. Lifted entries stay until their minute comes, then are skipped.
    """

    __slots__ = ("_buckets", "_keys", "_sorted")

    def __init__(self) -> None:
        self._buckets: dict[int, list[Entry]] = {}
        self._keys: list[int] = []  # heap of bucket keys
        self._sorted: set[int] = set()  # buckets whose minute has come, kept in order

    def add(self, entry: Entry) -> None:
        key = math.floor(_expires(entry) / _BUCKET_SECONDS)
        bucket = self._buckets.get(key)
        if bucket is None:
            self._buckets[key] = [entry]
            heapq.heappush(self._keys, key)
        elif key in self._sorted:
            bisect.insort(bucket, entry, key=_expires)
        else:
            bucket.append(entry)

    def pop_due(self, now: float) -> list[Entry]:
        """Take out every entry whose ``expires_at`` is at or before ``now``, oldest first."""
        due: list[Entry] = []
        keys, buckets, ordered = self._keys, self._buckets, self._sorted
        while keys and keys[0] * _BUCKET_SECONDS <= now:
            key = keys[0]
            bucket = buckets[key]
            if key not in ordered:
                bucket.sort(key=_expires)
                ordered.add(key)
            cut = bisect.bisect_right(bucket, now, key=_expires)
            due += bucket[:cut]
            if cut < len(bucket):  # the current minute: the rest expire later
                del bucket[:cut]
                break
            del buckets[heapq.heappop(keys)]
            ordered.discard(key)
        return due


class RuleIndex:
    """The index ``match`` reads, the entries by id, and their expiries."""

    __slots__ = ("by_id", "counts", "expiries", "index")

    def __init__(self) -> None:
        self.index: Index = tuple({} for _ in ORDER)
        self.by_id: dict[str, Entry] = {}
        self.counts = [0] * len(ORDER)  # rules per kind, in ORDER: a scrape reads, never counts
        self.expiries = Expiries()

    def load(self, rows: Iterable[StoredRow], now: float) -> None:
        """Insert many trusted rows (a snapshot), in order: ``insert(entry_of(row))`` for
        each, written out in one loop, because a replica loads a million at start."""
        by_id, index, counts, buckets = self.by_id, self.index, self.counts, self.expiries
        position_of, kind_text, intern = _POSITION, _KIND_TEXT, sys.intern
        for rule_id, kind, value, issuer, cutoff, expires_at, reason, actor, created in rows:
            if (expires_at is not None and expires_at <= now) or rule_id in by_id:
                continue
            entry = (rule_id, kind_text[kind], value, None if issuer is None else intern(issuer),
                     cutoff, expires_at, intern(reason), intern(actor), created)  # fmt: skip
            position = position_of[kind]
            values = index[position]
            slot = values.get(value)
            if slot is None:
                values[value] = entry
            else:
                values[value] = [slot, entry] if isinstance(slot, tuple) else [*slot, entry]
            by_id[rule_id] = entry
            counts[position] += 1
            if expires_at is not None:
                buckets.add(entry)

    def insert(self, entry: Entry, now: float) -> None:
        """Add an entry unless its rule is already here (writes come back through the log)
        or expired."""
        rule_id, expires_at = entry[0], entry[5]
        if rule_id in self.by_id or (expires_at is not None and expires_at <= now):
            return
        position = _POSITION[entry[1]]
        values = self.index[position]
        value = entry[2]
        slot = values.get(value)
        self.counts[position] += 1
        if slot is None:
            values[value] = entry
        elif isinstance(slot, tuple):
            values[value] = [slot, entry]
        else:
            values[value] = [*slot, entry]
        self.by_id[rule_id] = entry
        if expires_at is not None:
            self.expiries.add(entry)

    def remove(self, rule_id: str) -> None:
        entry = self.by_id.pop(rule_id, None)
        if entry is None:
            return
        position = _POSITION[entry[1]]
        values = self.index[position]
        self.counts[position] -= 1
        value = entry[2]
        slot = values.get(value)
        kept = (
            [] if slot is None or isinstance(slot, tuple) else [e for e in slot if e is not entry]
        )
        if not kept:
            values.pop(value, None)
        else:
            values[value] = kept[0] if len(kept) == 1 else kept

    def sweep(self, now: float) -> None:
        """Drop every rule whose expires_at has come (lifted ones are already gone)."""
        by_id = self.by_id
        for entry in self.expiries.pop_due(now):
            if by_id.get(entry[0]) is entry:
                self.remove(entry[0])

    def counts_by_kind(self) -> dict[RuleKind, int]:
        return dict(zip(ORDER, self.counts, strict=True))


class DictIndex:
    """The dictionary index behind the compact index's interface: the fastest match (a few
    dict look-ups) at about 400 B a rule, so a replica uses it below ``COMPACT_ABOVE``
    rules and the compact index (about 60 B a rule, numpy) above."""

    __slots__ = ("_rules", "match")

    def __init__(self, rules: RuleIndex | None = None) -> None:
        self._rules = rules or RuleIndex()
        index = self._rules.index
        # Bound once: the replica's match costs one call, as the inline match did.
        self.match = partial(match_index, index)

    @classmethod
    def from_rows(cls, rows: Iterable[StoredRow], now: float) -> DictIndex:
        rules = RuleIndex()
        rules.load(rows, now)
        return cls(rules)

    def insert(self, entry: Entry, now: float) -> None:
        self._rules.insert(entry, now)

    def remove(self, rule_id: str, rule: Rule | None = None) -> None:
        self._rules.remove(rule_id)

    def sweep(self, now: float) -> None:
        self._rules.sweep(now)

    @property
    def rule_count(self) -> int:
        return len(self._rules.by_id)

    def counts_by_kind(self) -> dict[RuleKind, int]:
        return self._rules.counts_by_kind()

    def rules(self) -> Iterator[Rule]:
        return map(rule_of, list(self._rules.by_id.values()))

    def entries(self) -> list[Entry]:
        return list(self._rules.by_id.values())


class EmptyIndex:
    """A replica's index before its first write or sync: nothing matches, nothing is counted."""

    rule_count = 0

    def match(self, claims: Mapping[str, Any], header: Mapping[str, Any], raw: str) -> None:
        return None

    def sweep(self, now: float) -> None:
        return None

    def remove(self, rule_id: str, rule: Rule | None = None) -> None:
        return None

    def counts_by_kind(self) -> dict[RuleKind, int]:
        return dict.fromkeys(ORDER, 0)

    def rules(self) -> Iterable[Rule]:
        return ()


def _expires(entry: Entry) -> float:
    expires_at = entry[5]
    return math.inf if expires_at is None else expires_at


def scoped(slot: Slot, iss: Any) -> Rule | None:
    for entry in (slot,) if isinstance(slot, tuple) else slot:
        scope = entry[3]
        if scope is None or scope == iss:
            return rule_of(entry)
    return None


def _cut(slot: Slot, iss: Any, iat: Any) -> Rule | None:
    for entry in (slot,) if isinstance(slot, tuple) else slot:
        scope, cutoff = entry[3], entry[4]
        # "not after the cut-off" rather than "<=": a NaN iat counts as revoked. Cut-off
        # kinds always have a cutoff; inf (never) keeps mypy and a hand-made row safe.
        if (scope is None or scope == iss) and not iat > (math.inf if cutoff is None else cutoff):
            return rule_of(entry)
    return None


def match_cutoffs(  # noqa: PLR0917 -- the hot path's indexes, positional for speed
    claims: Mapping[str, Any],
    iss: Any,
    subject_ix: Values,
    client_ix: Values,
    issuer_ix: Values,
    email_ix: Values,
) -> Rule | None:
    iat = claims.get("iat")
    if subject_ix:
        entries = subject_ix.get(claims.get("sub"))
        if entries and (rule := _cut(entries, iss, iat)):
            return rule
    if email_ix:
        email = claims.get("email")
        # As rules.normal_email: rules hold the address in lower case.
        entries = email_ix.get(email.lower()) if email.__class__ is str else None
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


def match_index(
    index: Index, claims: Mapping[str, Any], header: Mapping[str, Any], raw: str
) -> Rule | None:
    """The first rule in ``index`` that revokes this token, checking key, token, family,
    session, subject, email, client, then issuer rules; None when nothing does.

    The reference for matching: ``compact.CompactIndex.match`` gives the same answer
    for the same rules (a property test holds it to that).
    """
    key_ix, token_ix, family_ix, session_ix, subject_ix, client_ix, issuer_ix, email_ix = index
    try:
        iss = claims.get("iss")
        if key_ix:
            entries = key_ix.get(header.get("kid"))
            if entries and (rule := scoped(entries, iss)):
                return rule
        if token_ix:
            jti = claims.get("jti")
            # As rules.usable_jti: what a token rule can hold, else the signed part's hash.
            if (
                jti.__class__ is not str
                or not jti
                or len(jti) > 1024
                or "\x00" in jti
                or (jti[:3] == "eyJ" and LOOKS_LIKE_JWS.fullmatch(jti))
            ):
                jti = signed_part_sha256(raw)
            entries = token_ix.get(jti)
            if entries and (rule := scoped(entries, iss)):
                return rule
        if family_ix:
            entries = family_ix.get(claims.get("origin_jti"))
            if entries and (rule := scoped(entries, iss)):
                return rule
        if session_ix:
            entries = session_ix.get(claims.get("sid"))
            if entries and (rule := scoped(entries, iss)):
                return rule
        if subject_ix or client_ix or issuer_ix or email_ix:
            return match_cutoffs(claims, iss, subject_ix, client_ix, issuer_ix, email_ix)
    except TypeError:
        # An unhashable or non-numeric claim: retry with only well-typed claims.
        return match_index(index, plain_claims(claims), plain_header(header), raw)
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
