"""Which tokens each kind of rule revokes, through the Registry facade on a frozen clock."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from revoker.core.clock import FrozenClock
from revoker.core.registry import Registry, RuleKind, RuleNotFound
from revoker.core.tokens import b64url_encode, parse_unverified
from revoker.testing import TokenFactory

T0 = 1_700_000_000.0
ISS_A = "https://issuer-a.example"
ISS_B = "https://issuer-b.example"


def token(
    header: dict[str, Any] | None = None, **claims: Any
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Claims, header and a raw compact form (unsigned: matching never looks at the signature)."""
    head = header if header is not None else {"alg": "RS256", "kid": "kid-1"}
    body = {"iss": ISS_A, "sub": "user-1", "iat": int(T0) - 60} | claims
    body = {k: v for k, v in body.items() if v is not None}
    raw = (
        ".".join(b64url_encode(json.dumps(part).encode()) for part in (head, body))
        + ".c2lnbmF0dXJl"
    )
    return body, head, raw


@pytest.mark.parametrize(
    ("kind", "value", "hit", "miss"),
    [
        pytest.param("token", "jti-1", {"jti": "jti-1"}, {"jti": "jti-2"}, id="token"),
        pytest.param("family", "o-1", {"origin_jti": "o-1"}, {"origin_jti": "o-2"}, id="family"),
        pytest.param("session", "s-1", {"sid": "s-1"}, {"sid": "s-2"}, id="session"),
        pytest.param("subject", "user-1", {"sub": "user-1"}, {"sub": "user-2"}, id="subject"),
        pytest.param("client", "c-1", {"client_id": "c-1"}, {"client_id": "c-2"}, id="client"),
        pytest.param("issuer", ISS_A, {"iss": ISS_A}, {"iss": ISS_B}, id="issuer"),
    ],
)
def test_each_kind_matches_its_claim(
    registry: Registry, kind: str, value: str, hit: dict[str, Any], miss: dict[str, Any]
) -> None:
    """A rule revokes the token whose claim equals its value, and only that one."""
    rule = registry.revoke(kind, value)
    found = registry.match(*token(**hit))
    assert found == rule
    assert found is not None
    assert found.reason_code == f"revoked_{kind}"
    assert registry.match(*token(**miss)) is None


def test_key_rule_matches_the_header_kid(registry: Registry) -> None:
    """A key rule revokes every token signed under that kid, whatever its claims."""
    rule = registry.revoke(RuleKind.KEY, "kid-leaked")
    assert registry.match(*token({"alg": "RS256", "kid": "kid-leaked"})) == rule
    assert registry.match(*token({"alg": "RS256", "kid": "kid-fine"})) is None
    assert registry.match(*token({"alg": "RS256"})) is None


@pytest.mark.parametrize("kind", ["subject", "client", "issuer"])
@pytest.mark.parametrize(
    ("cutoff", "iat", "revoked"),
    [
        pytest.param(T0, int(T0), True, id="same-second"),
        pytest.param(T0, int(T0) + 1, False, id="next-second"),
        pytest.param(T0, int(T0) - 3600, True, id="earlier"),
        pytest.param(T0 - 0.5, int(T0) - 1, True, id="fraction-after-iat"),
        pytest.param(T0 - 0.5, int(T0), False, id="fraction-before-iat"),
    ],
)
def test_cutoff_edges(
    registry: Registry, kind: str, cutoff: float, iat: int, revoked: bool
) -> None:
    """Cut-off kinds revoke tokens with iat <= cutoff (same second revoked, one later allowed)."""
    value = {"subject": "user-1", "client": "c-1", "issuer": ISS_A}[kind]
    rule = registry.revoke(kind, value, cutoff=cutoff)
    found = registry.match(*token(iat=iat, client_id="c-1"))
    assert found == (rule if revoked else None)


def test_missing_iat_counts_as_before_the_cutoff(registry: Registry) -> None:
    """A token that cannot show when it was issued is revoked by a cut-off rule (fail closed)."""
    rule = registry.revoke("subject", "user-1")
    assert registry.match(*token(iat=None)) == rule
    assert registry.match(*token(iat="yesterday")) == rule


def test_issuer_scope_separates_equal_values(registry: Registry) -> None:
    """The same jti under two issuers: a scoped rule revokes only its issuer's token."""
    rule = registry.revoke("token", "jti-1", issuer=ISS_A)
    assert registry.match(*token(jti="jti-1", iss=ISS_A)) == rule
    assert registry.match(*token(jti="jti-1", iss=ISS_B)) is None


def test_two_scoped_rules_on_one_value(registry: Registry) -> None:
    """Rules for the same value under two issuers each match their own issuer's token."""
    rule_a = registry.revoke("session", "s-1", issuer=ISS_A)
    rule_b = registry.revoke("session", "s-1", issuer=ISS_B)
    assert registry.match(*token(sid="s-1", iss=ISS_A)) == rule_a
    assert registry.match(*token(sid="s-1", iss=ISS_B)) == rule_b
    assert registry.match(*token(sid="s-1", iss="https://c.example")) is None


def test_unscoped_rule_matches_any_issuer(registry: Registry) -> None:
    """A rule without an issuer scope revokes the value under every issuer."""
    rule = registry.revoke("family", "o-1")
    assert registry.match(*token(origin_jti="o-1", iss=ISS_A)) == rule
    assert registry.match(*token(origin_jti="o-1", iss=ISS_B)) == rule


@pytest.mark.parametrize(
    ("claims", "revoked"),
    [
        pytest.param({"aud": ["other", "c-1"]}, True, id="aud-list"),
        pytest.param({"aud": "c-1"}, True, id="aud-str"),
        pytest.param({"aud": ["other"]}, False, id="aud-list-miss"),
        pytest.param({"client_id": "c-1"}, True, id="client-id"),
        pytest.param({"client_id": "c-2", "aud": "c-1"}, False, id="client-id-wins-over-aud"),
    ],
)
def test_client_rule_reads_client_id_else_aud(
    registry: Registry, claims: dict[str, Any], revoked: bool
) -> None:
    """Client rules compare client_id when present (access tokens), else each aud (ID tokens)."""
    rule = registry.revoke("client", "c-1")
    assert registry.match(*token(**claims)) == (rule if revoked else None)


def test_token_without_jti_is_revoked_by_its_sha256(registry: Registry) -> None:
    """A token with no jti is named by the SHA-256 of its signed part (header.payload)."""
    claims, header, raw = token(jti=None)
    rule = registry.revoke("token", hashlib.sha256(raw.rpartition(".")[0].encode()).hexdigest())
    assert registry.match(claims, header, raw) == rule
    assert registry.match(*token(jti=None, sub="user-2")) is None


@pytest.mark.parametrize("jti", [pytest.param("", id="empty"), pytest.param(7, id="not-a-string")])
def test_unusable_jti_falls_back_to_the_sha256(registry: Registry, jti: object) -> None:
    """An empty or non-string jti cannot name a token, so its SHA-256 does."""
    claims, header, raw = token(jti=jti)
    rule = registry.revoke("token", hashlib.sha256(raw.rpartition(".")[0].encode()).hexdigest())
    assert registry.match(claims, header, raw) == rule


def test_token_with_jti_is_not_matched_by_its_sha256(registry: Registry) -> None:
    """When a token has a jti, the jti names it; its hash does not."""
    claims, header, raw = token(jti="jti-1")
    registry.revoke("token", hashlib.sha256(raw.rpartition(".")[0].encode()).hexdigest())
    assert registry.match(claims, header, raw) is None


def test_real_token_from_the_factory(registry: Registry) -> None:
    """A minted Cognito access token parsed as the authorizer would is matched by its family."""
    raw = TokenFactory().access_token()
    parsed = parse_unverified(raw)
    rule = registry.revoke("family", parsed.claims["origin_jti"])
    assert registry.match(parsed.claims, parsed.header, parsed.raw) == rule


def test_check_order_puts_key_rules_first(registry: Registry) -> None:
    """With several matching rules, the first in key, token, family … issuer order is reported."""
    registry.revoke("subject", "user-1")
    registry.revoke("token", "jti-1")
    key_rule = registry.revoke("key", "kid-1")
    assert registry.match(*token(jti="jti-1")) == key_rule


def test_odd_claim_types_do_not_raise(registry: Registry) -> None:
    """Unhashable or oddly typed claims never raise; well-typed ones still match."""
    rule = registry.revoke("session", "s-1")
    registry.revoke("subject", "user-9")
    registry.revoke("client", "c-9")
    registry.revoke("key", "k-9")
    claims, header, raw = token(
        {"alg": "RS256", "kid": ["x"]}, sub={"a": 1}, aud=[["x"], "c-8"], sid="s-1", jti=5
    )
    assert registry.match(claims, header, raw) == rule
    claims["sid"] = ["s-1"]
    assert registry.match(claims, header, raw) is None


def test_rule_expires_and_is_pruned(registry: Registry, clock: FrozenClock) -> None:
    """Past expires_at a rule stops matching after the next sync, and prune deletes it."""
    rule = registry.revoke("token", "jti-1", expires_at=T0 + 600)
    keeper = registry.revoke("key", "kid-9")
    clock.advance(599)
    registry.replica.sync()
    assert registry.match(*token(jti="jti-1")) == rule
    clock.advance(1)
    registry.replica.sync()
    assert registry.match(*token(jti="jti-1")) is None
    assert registry.prune() == 1
    assert registry.get(rule.id) is None
    assert registry.get(keeper.id) == keeper


def test_lift_stops_matching_at_once(registry: Registry) -> None:
    """A lifted rule no longer matches in this process, and lifting it again is RuleNotFound."""
    rule = registry.revoke("subject", "user-1")
    assert registry.lift(rule.id, actor="bob", reason="false alarm") == rule
    assert registry.match(*token()) is None
    with pytest.raises(RuleNotFound, match=rule.id):
        registry.lift(rule.id, actor="bob")


def test_revoke_is_audited_and_listed(registry: Registry) -> None:
    """Revoke and lift leave audit entries with actor and reason; rules() lists active ones."""
    rule = registry.revoke("session", "s-1", actor="alice", reason="logout")
    assert registry.rules() == [rule]
    registry.lift(rule.id, actor="bob", reason="undo")
    assert registry.rules() == []
    entries = registry.audit()
    assert [(e.action, e.actor, e.reason) for e in entries] == [
        ("revoke", "alice", "logout"),
        ("lift", "bob", "undo"),
    ]
