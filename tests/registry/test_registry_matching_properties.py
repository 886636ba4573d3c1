"""Properties: a rule matches every token inside its scope and none outside it."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from revoker.core.clock import FrozenClock
from revoker.core.registry import RegistryLimits, Rule, RuleKind
from revoker.core.registry.replica import Replica
from revoker.core.registry.rules import CUTOFF_KINDS, new_rule
from revoker.core.registry.stores.memory import MemoryStore

T0 = 1_700_000_000.0
LIMITS = RegistryLimits()

# No '.', so a value can never look like a whole token.
values = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_:/@",
    min_size=1,
    max_size=40,
)
issuers = st.sampled_from(["https://a.example", "https://b.example", "https://c.example"])
cutoffs = st.floats(min_value=T0 - 86400, max_value=T0, allow_nan=False)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Rule, str]:
    """A rule (kind, value, scope, cutoff) and the issuer its matching token carries."""
    kind = draw(st.sampled_from(list(RuleKind)))
    value = draw(values)
    token_issuer = value if kind is RuleKind.ISSUER else draw(issuers)
    scoped = kind is not RuleKind.ISSUER and draw(st.booleans())
    rule = new_rule(
        kind,
        value,
        now=T0,
        limits=LIMITS,
        issuer=token_issuer if scoped else None,
        cutoff=draw(cutoffs) if kind in CUTOFF_KINDS else None,
    )
    return rule, token_issuer


def token_for(
    rule: Rule, iss: str, *, via_aud: bool, iat: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Claims and header carrying the rule's value where its kind looks."""
    # Fillers contain '.', which no generated value does, so they never collide with one.
    claims: dict[str, Any] = {"iss": iss, "sub": "some.one", "iat": iat, "jti": "other.jti"}
    header: dict[str, Any] = {"alg": "RS256", "kid": "other.kid"}
    if rule.kind is RuleKind.KEY:
        header["kid"] = rule.value
    elif rule.kind is RuleKind.CLIENT and via_aud:
        claims["aud"] = ["someone.else", rule.value]
    elif rule.kind is RuleKind.EMAIL:
        claims["email"] = rule.value.upper()  # the provider's case is not the rule's
    else:
        claim = {
            RuleKind.TOKEN: "jti",
            RuleKind.FAMILY: "origin_jti",
            RuleKind.SESSION: "sid",
            RuleKind.SUBJECT: "sub",
            RuleKind.CLIENT: "client_id",
            RuleKind.ISSUER: "iss",
        }[rule.kind]
        claims[claim] = rule.value
    return claims, header


def replica_with(rule: Rule) -> Replica:
    store = MemoryStore()
    store.add(rule)
    replica = Replica(store, clock=FrozenClock(T0))
    replica.sync()
    return replica


def iat_at_or_before(rule: Rule, back: int) -> float:
    return math.floor(rule.cutoff) - back if rule.cutoff is not None else T0 - back


@given(scenario=scenarios(), via_aud=st.booleans(), back=st.integers(0, 86400))
def test_rule_matches_every_token_inside_its_scope(
    scenario: tuple[Rule, str], via_aud: bool, back: int
) -> None:
    """Value equal, issuer in scope and (for cut-offs) iat <= cutoff: the rule matches."""
    rule, iss = scenario
    claims, header = token_for(rule, iss, via_aud=via_aud, iat=iat_at_or_before(rule, back))
    assert replica_with(rule).match(claims, header, "a.b.c") == rule


@given(scenario=scenarios(), via_aud=st.booleans(), suffix=values)
def test_rule_never_matches_another_value(
    scenario: tuple[Rule, str], via_aud: bool, suffix: str
) -> None:
    """A token whose claim differs from the rule's value is never matched."""
    rule, iss = scenario
    if rule.kind is RuleKind.EMAIL:
        suffix = suffix.lower()  # an email rule holds its address in lower case
    other = Rule.from_dict(rule.to_dict() | {"value": rule.value + suffix})
    if rule.kind is RuleKind.ISSUER:
        iss = other.value
    claims, header = token_for(other, iss, via_aud=via_aud, iat=iat_at_or_before(rule, 0))
    assert replica_with(rule).match(claims, header, "a.b.c") is None


@given(scenario=scenarios().filter(lambda s: s[0].issuer is not None), via_aud=st.booleans())
def test_scoped_rule_never_matches_another_issuer(
    scenario: tuple[Rule, str], via_aud: bool
) -> None:
    """A rule scoped to one issuer ignores the same value under any other issuer."""
    rule, _ = scenario
    assert rule.issuer is not None
    claims, header = token_for(
        rule, rule.issuer + "/other", via_aud=via_aud, iat=iat_at_or_before(rule, 0)
    )
    assert replica_with(rule).match(claims, header, "a.b.c") is None


@given(
    scenario=scenarios().filter(lambda s: s[0].kind in CUTOFF_KINDS),
    via_aud=st.booleans(),
    later=st.floats(min_value=1e-6, max_value=86400, allow_nan=False),
)
def test_cutoff_rule_never_matches_a_later_token(
    scenario: tuple[Rule, str], via_aud: bool, later: float
) -> None:
    """A token issued any time after the cut-off is not revoked by it."""
    rule, iss = scenario
    assert rule.cutoff is not None
    iat = rule.cutoff + later
    if iat <= rule.cutoff:  # too small a step to be representable at this magnitude
        return
    claims, header = token_for(rule, iss, via_aud=via_aud, iat=iat)
    assert replica_with(rule).match(claims, header, "a.b.c") is None
