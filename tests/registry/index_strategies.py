"""What the compact index's property tests generate, and the model they step.

Rules and tokens come from small pools, so rules share values and claims hit them, in
every encoding the compact index keeps (UUIDs, hex, short and long text, text ending
in NUL, non-ASCII, a lone surrogate); claims include odd types. ``IndexModel`` applies
the same adds, lifts (by value or by id alone), sweeps and merges to compact indexes
and to the dictionary index they must agree with.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from hypothesis import strategies as st

from revoker.core.registry.compact import CompactIndex
from revoker.core.registry.index import RuleIndex, entry_of, match_index, row_of
from revoker.core.registry.rules import CUTOFF_KINDS, RuleKind, StoredRow, stored_rule

T0 = 1_700_000_000.0

VALUES = (
    "0b8e1c1e-3a51-4d6c-9a0e-6f1f2d4b5c6d",  # a UUID: 16 bytes in the arrays
    "9f1e2d3c-4b5a-4968-8776-655443322110",
    "c3a2b1d0e9f8a7b6c5d4e3f2a1b0c9d8",  # hex
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "user-1",
    "auth0|5f7c8ec7c33c6c004bbafe82",
    "https://a.example",
    "https://b.example",
    "x" * 90,  # longer than the arrays keep: escaped, saved in the header
    "ends-in-nul\x00",  # escaped too
    "naïve",
    "AB00",
    "lone-\udc80-surrogate",  # UTF-8 with surrogatepass, in the arrays and in the JSON
    hashlib.sha256(b"h.p").hexdigest(),  # the token rule of a token whose jti cannot be one
)
# A jti no rule may hold (it looks like a whole token): matched by the signed part's hash.
TOKEN_SHAPED_JTI = "eyJhbGciOi.eyJzdWIi.c2ln"
ISSUERS = ("https://a.example", "https://b.example")
IDS = st.one_of(
    st.uuids().map(lambda u: u.hex),
    st.uuids().map(str),
    st.text(alphabet="abcdefghij-_0123456789", min_size=1, max_size=70),
)
# Around the cut-offs and expiries: exactly on them, just before and after.
TIMES = st.sampled_from([T0 - 100.0, T0 - 50.0, T0 - 50.0 + 1e-6, T0, T0 + 0.5])
IATS = st.one_of(
    TIMES,
    st.sampled_from([math.nan, -math.inf, math.inf]),
    st.sampled_from(["1700000000", "1", None, True, [1]]),
)
EXPIRIES = st.sampled_from([None, T0 + 10.0, T0 + 20.0, T0 + 20.5, T0 + 1e6])


@st.composite
def rows(draw: st.DrawFn) -> StoredRow:
    kind = draw(st.sampled_from(list(RuleKind)))
    value = draw(st.sampled_from(VALUES))
    if kind is RuleKind.ISSUER:
        issuer = draw(st.sampled_from([None, value]))
    else:
        issuer = draw(st.sampled_from([None, *ISSUERS]))
    cutoff = draw(TIMES) if kind in CUTOFF_KINDS else None
    reason = draw(st.sampled_from(["", "signed out", "naïve \udc80"]))
    actor = draw(st.sampled_from(["system", "admin"]))
    return (draw(IDS), kind.value, value, issuer, cutoff, draw(EXPIRIES), reason, actor, T0 - 1.0)


@st.composite
def tokens(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any], str]:
    pool = st.sampled_from([*VALUES, "nothing", TOKEN_SHAPED_JTI])
    odd = st.sampled_from([1, 2.5, ["a"], {"k": "v"}, None])
    claim = st.one_of(pool, pool, odd)
    claims: dict[str, Any] = {"iat": draw(IATS)}
    for name in ("iss", "jti", "origin_jti", "sid", "sub", "client_id", "email"):
        if draw(st.booleans()):
            claims[name] = draw(
                st.one_of(st.sampled_from(ISSUERS), claim) if name == "iss" else claim
            )
    if draw(st.booleans()):
        claims["aud"] = draw(st.one_of(pool, st.lists(st.one_of(pool, odd), max_size=3)))
    header = {"alg": "RS256", "kid": draw(claim)}
    return claims, header, draw(st.sampled_from(["h.p.s", "h.q.s"]))


operations = st.one_of(
    st.tuples(st.just("add"), rows()),
    st.tuples(st.just("lift"), st.integers(min_value=0), st.booleans()),
    st.tuples(st.just("sweep"), st.sampled_from([10.0, 20.0, 20.5, 30.0])),
    st.tuples(st.just("merge")),
)


class IndexModel:
    """Compact indexes and the reference index they must agree with, stepped alike."""

    def __init__(self, compacts: list[CompactIndex], reference: RuleIndex, known: list[str]):
        self.compacts = compacts
        self.reference = reference
        self.known = known  # every id ever used: a store never reuses one

    @classmethod
    def from_rows(cls, snapshot: list[StoredRow], now: float) -> IndexModel:
        """One compact index and the reference, both loaded from ``snapshot``."""
        reference = RuleIndex()
        reference.load(snapshot, now)
        compact = CompactIndex.from_rows(snapshot, now)
        return cls([compact], reference, [row[0] for row in snapshot])

    def step(self, step: tuple[Any, ...], now: float) -> float:
        """Apply one operation to every index; the time after it."""
        if step[0] == "add":
            row = step[1]
            if row[0] not in self.known:
                self.known.append(row[0])
                for compact in self.compacts:
                    compact.insert(entry_of(row), now)
                self.reference.insert(entry_of(row), now)
        elif step[0] == "lift" and self.known:
            rule_id = self.known[step[1] % len(self.known)]
            entry = self.reference.by_id.get(rule_id)
            rule = stored_rule(*entry) if entry is not None and step[2] else None
            for compact in self.compacts:
                compact.remove(rule_id, rule)
            self.reference.remove(rule_id)
        elif step[0] == "sweep":
            now = max(now, T0 + step[1])
            self.sweep(now)
        elif step[0] == "merge":
            for compact in self.compacts:
                compact.merge()
        return now

    def sweep(self, now: float) -> None:
        for compact in self.compacts:
            compact.sweep(now)
        self.reference.sweep(now)

    def agree(self, queries: list[Any]) -> None:
        """Same answers to every token, same counts, same rules, in every index."""
        expected_rules = {row_of(stored_rule(*entry)) for entry in self.reference.by_id.values()}
        for compact in self.compacts:
            assert compact.counts() == self.reference.counts
            listed = [row_of(rule) for rule in compact.rules()]
            assert len(listed) == len(expected_rules)
            assert set(listed) == expected_rules
        for claims, header, raw in queries:
            expected = match_index(self.reference.index, claims, header, raw)
            for compact in self.compacts:
                assert compact.match(claims, header, raw) == expected
