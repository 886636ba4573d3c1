"""AppSync invalidation filters: a rule's payload satisfies a token's filter exactly when the
replica says the rule revokes the token.

AppSync itself cannot run here, so ``satisfies`` evaluates a filter group the way
the AppSync docs define enhanced (and invalidation) filters: the group matches
when any filter does; a filter matches when all its conditions hold; ``eq``,
``in`` and ``ge`` compare the payload's field with the condition's value.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revoker.aws.appsync_filter import (
    MAX_CONDITIONS,
    MAX_FILTERS,
    MAX_IN_VALUES,
    NotInvalidatable,
    invalidation_filter,
    invalidation_payload,
)
from revoker.core.clock import FrozenClock
from revoker.core.registry import RegistryLimits
from revoker.core.registry.replica import Replica
from revoker.core.registry.rules import Rule, RuleKind, new_rule
from revoker.core.registry.stores.memory import MemoryStore
from revoker.core.verify import VerifiedToken

NOW = 1_700_000_000.0
LIMITS = RegistryLimits()
ISSUERS = ("https://issuer.example/a", "https://issuer.example/b")


def satisfies(group: dict[str, Any], payload: dict[str, Any]) -> bool:
    """AppSync's evaluation of a filter group against an invalidation payload."""

    def holds(condition: dict[str, Any]) -> bool:
        field, operator, value = condition["fieldName"], condition["operator"], condition["value"]
        given_value = payload.get(field)
        if operator == "eq":
            return bool(given_value == value)
        if operator == "in":
            return given_value in value
        if operator == "ge":
            return isinstance(given_value, int | float) and given_value >= value
        raise AssertionError(f"unexpected operator {operator}")

    return any(all(holds(c) for c in f["filters"]) for f in group["filterGroup"])


def replica_matches(rule: Rule, token: VerifiedToken) -> bool:
    replica = Replica(MemoryStore(), clock=FrozenClock(NOW))
    replica.add_rule(rule)
    return replica.match(token.claims, token.header, token.raw) is not None


def token(**claims: Any) -> VerifiedToken:
    header = {"alg": "RS256", "kid": claims.pop("kid", "key-1")}
    raw = claims.pop("raw", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln")
    base = {"iss": ISSUERS[0], "sub": "user-1", "iat": NOW - 100, "exp": NOW + 3500}
    return VerifiedToken(raw=raw, header=header, claims={**base, **claims})


def rule(kind: str, value: str, **options: Any) -> Rule:
    return new_rule(kind, value, now=NOW, limits=LIMITS, actor="test", **options)


SMALL = st.sampled_from(["a", "b", "user-1"])
TOKENS = st.builds(
    lambda iss, sub, jti, origin, sid, client, aud, iat, kid, raw, email: token(
        **{
            k: v
            for k, v in {
                "iss": iss,
                "sub": sub,
                "jti": jti,
                "origin_jti": origin,
                "sid": sid,
                "client_id": client,
                "aud": aud,
                "iat": iat,
                "kid": kid,
                "raw": raw,
                "email": email,
            }.items()
            if v is not None
        }
    ),
    iss=st.sampled_from(ISSUERS),
    sub=SMALL,
    jti=st.none() | SMALL,
    origin=st.none() | SMALL,
    sid=st.none() | SMALL,
    client=st.none() | SMALL,
    aud=st.none() | SMALL | st.lists(SMALL, max_size=4),
    iat=st.integers(min_value=int(NOW) - 300, max_value=int(NOW)),
    kid=SMALL,
    raw=st.sampled_from(["h.p1.s", "h.p2.s"]),
    email=st.none() | st.sampled_from(["a@example.com", "A@Example.com", "b@example.com"]),
)


@st.composite
def rules(draw: st.DrawFn) -> Rule:
    kind = draw(st.sampled_from(list(RuleKind)))
    if kind is RuleKind.ISSUER:
        value = draw(st.sampled_from(ISSUERS))
        issuer = draw(st.sampled_from([None, value]))
    elif kind is RuleKind.TOKEN:
        from revoker.core.registry.rules import signed_part_sha256  # noqa: PLC0415

        value = draw(SMALL | st.sampled_from([signed_part_sha256("h.p1.s")]))
        issuer = draw(st.sampled_from([None, *ISSUERS]))
    elif kind is RuleKind.EMAIL:
        value = draw(st.sampled_from(["a@example.com", "B@example.com"]))
        issuer = draw(st.sampled_from([None, *ISSUERS]))
    else:
        value = draw(SMALL)
        issuer = draw(st.sampled_from([None, *ISSUERS]))
    cutoff = None
    if kind in (RuleKind.SUBJECT, RuleKind.EMAIL, RuleKind.CLIENT, RuleKind.ISSUER):
        cutoff = float(draw(st.integers(min_value=int(NOW) - 300, max_value=int(NOW))))
    return rule(kind, value, issuer=issuer, cutoff=cutoff)


@settings(max_examples=3000, deadline=None)
@given(verified=TOKENS, revocation=rules())
def test_a_payload_satisfies_the_filter_exactly_when_the_rule_matches(
    verified: VerifiedToken, revocation: Rule
) -> None:
    """Every kind, issuer scope and inclusive cut-off: AppSync's verdict is the replica's."""
    group = invalidation_filter(verified)
    payload = invalidation_payload(revocation)
    assert satisfies(group, payload) == replica_matches(revocation, verified)


@settings(max_examples=500, deadline=None)
@given(verified=TOKENS)
def test_a_filter_stays_within_appsyncs_limits(verified: VerifiedToken) -> None:
    """At most 10 filters, 5 conditions each, 5 values per ``in``, short field names."""
    group = invalidation_filter(verified)["filterGroup"]
    assert 1 <= len(group) <= MAX_FILTERS
    for item in group:
        assert 1 <= len(item["filters"]) <= MAX_CONDITIONS
        for condition in item["filters"]:
            assert len(condition["fieldName"]) <= 256
            if condition["operator"] == "in":
                assert len(condition["value"]) <= MAX_IN_VALUES


def test_a_cut_off_is_inclusive() -> None:
    """A token issued in the rule's cut-off second is invalidated; one a second later is not."""
    issued = token(iat=NOW - 10)
    later = token(iat=NOW - 9)
    payload = invalidation_payload(rule("subject", "user-1", cutoff=NOW - 10))
    assert satisfies(invalidation_filter(issued), payload)
    assert not satisfies(invalidation_filter(later), payload)


def test_a_scoped_rule_leaves_another_issuers_token_alone() -> None:
    """The same sub under another issuer does not satisfy a rule scoped to the first."""
    payload = invalidation_payload(rule("subject", "user-1", issuer=ISSUERS[0], cutoff=NOW))
    assert satisfies(invalidation_filter(token(iss=ISSUERS[0])), payload)
    assert not satisfies(invalidation_filter(token(iss=ISSUERS[1])), payload)


def test_audiences_beyond_five_are_split_over_filters() -> None:
    """Twelve audiences: three client filters, each ``in`` of at most five."""
    audiences = [f"client-{n}" for n in range(12)]
    group = invalidation_filter(token(aud=audiences))["filterGroup"]
    clients = [f for f in group if f["filters"][0]["value"] == "client"]
    assert [len(f["filters"][1]["value"]) for f in clients] == [5, 5, 2]
    payload = invalidation_payload(rule("client", "client-11", cutoff=NOW))
    assert satisfies({"filterGroup": group}, payload)


def test_a_token_with_too_many_audiences_is_not_invalidatable() -> None:
    """More client filters than one group holds: NotInvalidatable (the authorizer denies)."""
    with pytest.raises(NotInvalidatable):
        invalidation_filter(token(aud=[f"client-{n}" for n in range(40)]))


@pytest.mark.parametrize(
    ("revocation", "expected"),
    [
        pytest.param(
            rule("family", "f-1"),
            {"kind": "family", "value": "f-1", "issuer": "*", "cutoff": 0},
            id="family-unscoped",
        ),
        pytest.param(
            rule("subject", "u", issuer=ISSUERS[1], cutoff=NOW - 5),
            {"kind": "subject", "value": "u", "issuer": ISSUERS[1], "cutoff": NOW - 5},
            id="subject-scoped",
        ),
    ],
)
def test_the_payload_names_kind_value_issuer_and_cutoff(
    revocation: Rule, expected: dict[str, Any]
) -> None:
    """The mutation's variables: '*' for an unscoped rule, 0 for a rule without cut-off."""
    assert invalidation_payload(revocation) == expected
