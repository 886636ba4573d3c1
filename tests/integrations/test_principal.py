"""``Principal``: the one object every integration hands a view, read as ``Identity`` reads."""

from __future__ import annotations

import dataclasses

import pytest

from revoker.app.identity import Identity
from revoker.core.authorizer import Authorizer
from revoker.core.tokens import token_fingerprint
from revoker.integrations.principal import Principal
from revoker.testing import TokenFactory


def _principal(factory: TokenFactory, token: str) -> Principal:
    decision = Authorizer(factory.verifier()).check(token)
    return Principal.from_decision(decision, token)


def test_the_six_values_are_identitys() -> None:
    """sub, username, groups, scopes, client_id and token_use come from ``Identity``."""
    factory = TokenFactory()
    token = factory.id_token(**{"cognito:groups": ["admin", "staff"]})
    principal = _principal(factory, token)
    claims = Authorizer(factory.verifier()).check(token).claims
    assert claims is not None
    assert principal.to_identity() == Identity.from_claims(claims)
    assert (principal.username, principal.groups, principal.token_use) == (
        "alice",
        ("admin", "staff"),
        "id",
    )
    assert principal.issuer == factory.issuer
    assert principal.reason == "allowed"
    assert principal.expires_at == claims["exp"]


def test_it_is_immutable_all_the_way_down(factory: TokenFactory) -> None:
    """Neither the fields nor the claims (nested lists and objects) can be changed."""
    principal = _principal(factory, factory.id_token(**{"cognito:groups": ["a"], "x": {"y": [1]}}))
    with pytest.raises(dataclasses.FrozenInstanceError):
        principal.sub = "someone-else"  # type: ignore[misc]
    with pytest.raises(TypeError):
        principal.claims["sub"] = "someone-else"  # type: ignore[index]
    assert principal.claims["cognito:groups"] == ("a",)
    with pytest.raises(TypeError):
        principal.claims["x"]["y"] = []  # type: ignore[index]


def test_it_never_holds_the_token(factory: TokenFactory) -> None:
    """Only the token's fingerprint is kept; the repr shows no claim values."""
    token = factory.access_token()
    principal = _principal(factory, token)
    assert principal.token_fingerprint == token_fingerprint(token)
    assert token not in repr(principal)
    assert all(token != getattr(principal, field.name) for field in dataclasses.fields(principal))
    assert "claims" not in repr(principal)


def test_scopes_and_groups_are_checked_in_the_order_given(factory: TokenFactory) -> None:
    """``missing_scopes``/``missing_groups`` list what is absent; the has/in forms say whether."""
    principal = _principal(factory, factory.access_token(scope="a b", **{"cognito:groups": ["g"]}))
    assert principal.missing_scopes(["b", "c", "d"]) == ("c", "d")
    assert principal.has_scopes("a", "b")
    assert not principal.has_scopes("a", "z")
    assert principal.in_groups("g")
    assert principal.missing_groups(["h", "g"]) == ("h",)
    assert principal.is_authenticated
    assert principal.display_name == "alice"


def test_a_denied_decision_has_no_principal(factory: TokenFactory) -> None:
    """Building a principal from a refusal is a programming error, said plainly."""
    decision = Authorizer(factory.verifier()).check("not-a-jwt")
    with pytest.raises(ValueError, match="malformed"):
        Principal.from_decision(decision, "not-a-jwt")
