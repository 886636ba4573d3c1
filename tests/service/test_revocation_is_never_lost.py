"""A holder's /revoke is never lost to a refusal that will not last: a token that is not
valid yet (its issuer's clock runs fast, or it carries a future nbf) is revoked now and stays
denied once valid; a kid the keys could not be refetched for yet is 503 (retry), not a 200
that stored nothing; and whatever a genuine token's claims hold, its own rule can be stored."""

from __future__ import annotations

import httpx
from service_support import bearer

from revoker.core.registry import RuleKind
from revoker.service.state import ServiceState
from revoker.testing import FrozenClock, TokenFactory


def auth(client: httpx.Client, token: str) -> str:
    response = client.get("/auth", headers=bearer(token))
    return "allowed" if response.status_code == 200 else str(response.json()["reason"])


def test_a_token_not_valid_before_a_future_nbf_is_revoked_now_and_denied_once_valid(
    client: httpx.Client, factory: TokenFactory, state: ServiceState, clock: FrozenClock
) -> None:
    now = int(clock())
    token = factory.access_token(nbf=now + 600)
    assert auth(client, token) == "not_yet_valid"
    assert client.post("/revoke", data={"token": token}).status_code == 200
    assert [rule.kind for rule in state.registry.rules()] == [RuleKind.FAMILY]
    clock.advance(601)
    state.registry.sync()
    assert auth(client, token) == "revoked_family"


def test_a_token_from_an_issuer_whose_clock_runs_ahead_is_revoked_now(
    client: httpx.Client, factory: TokenFactory, state: ServiceState, clock: FrozenClock
) -> None:
    now = int(clock())
    token = factory.access_token(iat=now + 120, auth_time=now + 120, exp=now + 3720)
    assert auth(client, token) == "issued_in_future"
    assert client.post("/revoke", data={"token": token}).status_code == 200
    clock.advance(121)
    state.registry.sync()
    assert auth(client, token) == "revoked_family"


def test_an_unknown_kid_during_the_refetch_cooldown_is_503_then_a_plain_200(
    client: httpx.Client, state: ServiceState, clock: FrozenClock
) -> None:
    """The keys were fetched a moment ago (at start), so a new kid cannot be looked for yet:
    the client is told to retry. After the cooldown the keys are fetched again; a kid still
    missing is a token that does not verify: 200, nothing stored (RFC 7009 §2.2)."""
    stranger = TokenFactory(clock=clock, kid="a-key-not-published-yet")
    token = stranger.access_token()
    response = client.post("/revoke", data={"token": token})
    assert response.status_code == 503
    assert response.json()["error"] == "jwks_unavailable"
    assert int(response.headers["retry-after"]) > 0
    clock.advance(11)
    assert client.post("/revoke", data={"token": token}).status_code == 200
    assert state.registry.rules() == []


def test_a_jti_shaped_like_a_whole_token_is_revoked_by_the_tokens_hash(
    client: httpx.Client, factory: TokenFactory, state: ServiceState
) -> None:
    """A rule never holds what looks like a whole token; the replica matches the same hash."""
    token = factory.access_token(jti="eyJhbGciOi.eyJzdWIi.c2ln", origin_jti=None)
    assert client.post("/revoke", data={"token": token}).status_code == 200
    (rule,) = state.registry.rules()
    assert (rule.kind, len(rule.value)) == (RuleKind.TOKEN, 64)
    assert auth(client, token) == "revoked_token"


def test_a_sub_holding_a_nul_can_still_revoke_its_token(
    client: httpx.Client, factory: TokenFactory, state: ServiceState
) -> None:
    """The audit actor ``self:<sub>`` is written with the NUL escaped; the rule is stored."""
    token = factory.access_token(sub="alice\x00admin")
    assert client.post("/revoke", data={"token": token}).status_code == 200
    (rule,) = state.registry.rules()
    assert rule.actor == "self:alice\\x00admin"
    assert auth(client, token) == "revoked_family"
