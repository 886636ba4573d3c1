"""Properties: the compact index answers every token as the dictionary index does.

Both indexes get the same snapshot and then the same adds, lifts (by value or
by id alone), sweeps and merges; after each step every generated token gets
the same answer (the same rule, or none) and every kind the same count.
Values and ids come from small pools, so rules share values and claims hit
them, in every encoding the compact index keeps (UUIDs, hex, short and long
text, text ending in NUL, non-ASCII); claims include odd types.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revoker.core.registry.compact import CompactIndex
from revoker.core.registry.index import RuleIndex, entry_of, match_index, row_of
from revoker.core.registry.rules import CUTOFF_KINDS, RuleKind, StoredRow, stored_rule

T0 = 1_700_000_000.0

VALUES = (
    "0b8e1c1e-3a51-4d6c-9a0e-6f1f2d4b5c6d",
    "9f1e2d3c-4b5a-4968-8776-655443322110",
    "c3a2b1d0e9f8a7b6c5d4e3f2a1b0c9d8",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "user-1",
    "auth0|5f7c8ec7c33c6c004bbafe82",
    "https://a.example",
    "https://b.example",
    "x" * 90,
    "ends-in-nul\x00",
    "naïve",
    "AB00",
    hashlib.sha256(b"h.p").hexdigest(),  # the token rule of a token whose jti cannot be one
)
# A jti no rule may hold (it looks like a whole token): matched by the signed part's hash.
TOKEN_SHAPED_JTI = "eyJhbGciOi.eyJzdWIi.c2ln"
ISSUERS = ("https://a.example", "https://b.example")
IDS = st.one_of(
    st.uuids().map(lambda u: u.hex),
    st.uuids().map(str),
    st.text(alphabet="abcdefghij-_0123456789", min_size=1, max_size=64),
)
# Around the cut-offs and expiries: exactly on them, just before and after.
TIMES = st.sampled_from([T0 - 100.0, T0 - 50.0, T0 - 50.0 + 1e-6, T0, T0 + 0.5])
IATS = st.one_of(
    TIMES,
    st.sampled_from([math.nan, -math.inf, math.inf]),
    st.sampled_from(["1700000000", None, True, [1]]),
)


@st.composite
def rows(draw: st.DrawFn) -> StoredRow:
    kind = draw(st.sampled_from(list(RuleKind)))
    value = draw(st.sampled_from(VALUES))
    if kind is RuleKind.ISSUER:
        issuer = draw(st.sampled_from([None, value]))
    else:
        issuer = draw(st.sampled_from([None, *ISSUERS]))
    cutoff = draw(TIMES) if kind in CUTOFF_KINDS else None
    expires = draw(st.sampled_from([None, T0 + 10.0, T0 + 20.0, T0 + 20.5, T0 + 1e6]))
    reason = draw(st.sampled_from(["", "signed out"]))
    actor = draw(st.sampled_from(["system", "admin"]))
    return (draw(IDS), kind.value, value, issuer, cutoff, expires, reason, actor, T0 - 1.0)


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


def agree(compact: CompactIndex, reference: RuleIndex, queries: list[Any]) -> None:
    assert compact.counts() == reference.counts
    for claims, header, raw in queries:
        assert compact.match(claims, header, raw) == match_index(
            reference.index, claims, header, raw
        )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    snapshot=st.lists(rows(), max_size=25, unique_by=lambda row: row[0]),
    steps=st.lists(operations, max_size=12),
    queries=st.lists(tokens(), min_size=5, max_size=25),
)
def test_the_compact_index_answers_as_the_dictionary_index(
    snapshot: list[StoredRow], steps: list[Any], queries: list[Any]
) -> None:
    """Same rules, same operations: the same rule (or none) for every token, the same counts."""
    now = T0
    compact = CompactIndex.from_rows(snapshot, now)
    reference = RuleIndex()
    reference.load(snapshot, now)
    agree(compact, reference, queries)
    known = [row[0] for row in snapshot]
    for step in steps:
        if step[0] == "add":
            row = step[1]
            if row[0] in known:
                continue  # a store never hands out two rules with one id
            known.append(row[0])
            compact.insert(entry_of(row), now)
            reference.insert(entry_of(row), now)
        elif step[0] == "lift" and known:
            rule_id = known[step[1] % len(known)]
            entry = reference.by_id.get(rule_id)
            rule = stored_rule(*entry) if entry is not None and step[2] else None
            compact.remove(rule_id, rule)
            reference.remove(rule_id)
        elif step[0] == "sweep":
            now = max(now, T0 + step[1])
            compact.sweep(now)
            reference.sweep(now)
        elif step[0] == "merge":
            compact.merge()
        agree(compact, reference, queries)
    assert (
        sorted(map(row_of, compact.rules()))
        == sorted(map(row_of, map(stored_rule, *zip(*reference.by_id.values(), strict=True))))
        if reference.by_id
        else not list(compact.rules())
    )
