"""Email rules (for signals that name a user by address, RFC 9493 ``email``): a cut-off on the
token's ``email`` claim, compared in lower case, scoped like every rule."""

from __future__ import annotations

import json
from typing import Any

import pytest

from revoker.core.errors import REASONS, InvalidRule
from revoker.core.registry import Registry, RuleKind
from revoker.core.registry.rules import Rule, normal_email
from revoker.core.tokens import b64url_encode

T0 = 1_700_000_000.0
ISS_A = "https://issuer-a.example"
ISS_B = "https://issuer-b.example"


def token(**claims: Any) -> tuple[dict[str, Any], dict[str, Any], str]:
    head = {"alg": "RS256", "kid": "kid-1"}
    body = {"iss": ISS_A, "sub": "user-1", "iat": int(T0) - 60} | claims
    body = {k: v for k, v in body.items() if v is not None}
    raw = ".".join(b64url_encode(json.dumps(part).encode()) for part in (head, body)) + ".c2ln"
    return body, head, raw


@pytest.mark.parametrize(
    ("email", "revoked"),
    [
        pytest.param("alice@example.com", True, id="same"),
        pytest.param("Alice@Example.COM", True, id="other-case"),
        pytest.param("bob@example.com", False, id="another-address"),
        pytest.param(None, False, id="no-email-claim"),
        pytest.param(["alice@example.com"], False, id="not-a-string"),
    ],
)
def test_an_email_rule_matches_the_email_claim_in_lower_case(
    registry: Registry, email: Any, revoked: bool
) -> None:
    """Whatever case the provider writes, the address is the address; other claims never match."""
    rule = registry.revoke(RuleKind.EMAIL, "Alice@example.com")
    assert rule.value == "alice@example.com"
    found = registry.match(*token(email=email))
    assert found == (rule if revoked else None)
    if found is not None:
        assert found.reason_code == "revoked_email"


def test_it_is_a_cut_off_inclusive_of_its_second(registry: Registry) -> None:
    """Tokens issued up to the cutoff are denied; a sign-in one second later is not."""
    registry.revoke(RuleKind.EMAIL, "alice@example.com", cutoff=T0 - 10)
    assert registry.match(*token(email="alice@example.com", iat=int(T0) - 10)) is not None
    assert registry.match(*token(email="alice@example.com", iat=int(T0) - 9)) is None


def test_a_scoped_email_rule_leaves_another_issuers_tokens_alone(registry: Registry) -> None:
    """The same address at another issuer may be another person."""
    registry.revoke(RuleKind.EMAIL, "alice@example.com", issuer=ISS_A)
    assert registry.match(*token(email="alice@example.com")) is not None
    assert registry.match(*token(email="alice@example.com", iss=ISS_B)) is None


def test_the_reason_code_and_the_cut_off_kind_are_declared() -> None:
    """revoked_email is a stable reason code; an email rule needs a cutoff like a subject's."""
    assert "revoked_email" in REASONS
    with pytest.raises(InvalidRule, match="needs cutoff"):
        Rule(kind=RuleKind.EMAIL, value="a@example.com", created_at=T0)


def test_a_stored_email_rule_must_be_in_lower_case() -> None:
    """A hand-made rule in mixed case would never match: refused rather than kept."""
    with pytest.raises(InvalidRule, match="lower case"):
        Rule(kind=RuleKind.EMAIL, value="A@example.com", cutoff=T0, created_at=T0)
    assert normal_email("A@Example.com") == "a@example.com"
