"""``Guard``: one process's revoker for an app, its decisions, and the RFC 6750 refusals."""

from __future__ import annotations

import multiprocessing
import time
import warnings
from pathlib import Path

import pytest
from integrations_support import app_settings, build_for, claims_of, denied_token

from revoker.core.clock import FrozenClock
from revoker.core.registry import RuleKind
from revoker.integrations.guard import MISSING_TOKEN, Guard, Refusal, bearer_token
from revoker.integrations.principal import Principal
from revoker.testing import TokenFactory


@pytest.fixture
def guard(factory: TokenFactory) -> Guard[Principal]:
    return Guard(app_settings(factory), build=build_for(factory))


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (None, None),
        ("Bearer abc", "abc"),
        ("bearer   abc  ", "abc"),
        ("Bearer", ""),
        ("Basic YTpi", None),
        ("abc", None),
    ],
    ids=["absent", "bearer", "any-case-and-spaces", "empty", "basic", "no-scheme"],
)
def test_only_a_bearer_header_carries_a_token(header: str | None, token: str | None) -> None:
    """Another scheme counts as no token; an empty bearer is a (malformed) token."""
    assert bearer_token(header) == token


def test_the_refusals_follow_rfc_6750(guard: Guard[Principal]) -> None:
    """No token: a bare challenge; a bad one: invalid_token + reason; a scope: its name."""
    assert guard.missing.reason == MISSING_TOKEN
    assert guard.missing.headers["WWW-Authenticate"] == 'Bearer realm="revoker"'
    expired = guard.refusal("expired")
    assert (expired.status, expired.body) == (
        401,
        {"error": "invalid_token", "error_description": "expired"},
    )
    assert expired.headers["Cache-Control"] == "no-store"
    principal = guard.decide(TokenFactory().access_token())  # another key: refused
    assert isinstance(principal, Refusal)
    assert principal.reason == "bad_signature"


@pytest.mark.parametrize(
    ("reason", "error"),
    [("registry_stale", "store_unavailable"), ("jwks_unavailable", "jwks_unavailable")],
)
def test_cannot_decide_is_503_as_the_service_answers(
    guard: Guard[Principal], reason: str, error: str
) -> None:
    """An outage is never a bad token: 503, Retry-After, no challenge."""
    refusal = guard.refusal(reason)
    assert (refusal.status, refusal.body["error"]) == (503, error)
    assert refusal.headers["Retry-After"] == "5"
    assert "WWW-Authenticate" not in refusal.headers


def test_scopes_groups_and_a_quote_in_a_scope(
    guard: Guard[Principal], factory: TokenFactory
) -> None:
    """Missing scopes: 403 insufficient_scope listing them, quoted safely; groups: 403."""
    principal = guard.decide(factory.access_token(scope="a"))
    assert isinstance(principal, Principal)
    assert guard.authorize(principal, ["a"]) is None
    refusal = guard.authorize(principal, ["a", 'b"c'])
    assert refusal is not None
    assert refusal.headers["WWW-Authenticate"] == (
        'Bearer error="insufficient_scope", scope="a b\\"c"'
    )
    forbidden = guard.authorize(principal, (), ["admin"])
    assert forbidden is not None
    assert (forbidden.status, forbidden.body["error"]) == (403, "forbidden")
    assert guard.authorize(None, ["a"]) is guard.missing


def test_the_principal_is_built_once_but_the_rules_match_every_time(
    guard: Guard[Principal], factory: TokenFactory
) -> None:
    """The same token gives the same principal object, until a rule revokes it."""
    token = factory.access_token()
    first, second = guard.decide(token), guard.decide(token)
    assert isinstance(first, Principal)
    assert first is second
    guard.revoker.registry.revoke(RuleKind.FAMILY, claims_of(token)["origin_jti"])
    refused = guard.decide(token)
    assert isinstance(refused, Refusal)
    assert refused.reason == "revoked_family"


def test_revoke_makes_sure_the_family_rule_exists_once(
    guard: Guard[Principal], factory: TokenFactory
) -> None:
    """Logout is idempotent: the second call finds the rule; a bad token revokes nothing."""
    token = factory.access_token()
    first = guard.revoke(token)
    again = guard.revoke(token)
    assert first.created
    assert not again.created
    assert first.rule is not None
    assert first.rule == again.rule
    assert first.rule.actor == "self:user-1"
    assert guard.revoke("not-a-jwt").refused == "malformed"


def test_close_then_a_check_starts_again(guard: Guard[Principal], factory: TokenFactory) -> None:
    """Closed, the guard is not started; the next check starts a new revoker."""
    first = guard.start()
    guard.close()
    assert not guard.started
    assert isinstance(guard.decide(factory.access_token()), Principal)
    assert guard.revoker is not first


def _child(guard: Guard[Principal], token: str, parent_id: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    started_at_fork = guard.started
    outcome = guard.decide(token)
    out.put((started_at_fork, isinstance(outcome, Principal), id(guard.revoker) != parent_id))


def test_a_forked_child_starts_its_own_revoker_and_leaves_the_parents(
    rs256_template: TokenFactory, tmp_path: Path
) -> None:
    """After a fork the child is not "started": it builds its own revoker on first use,
    and the parent's (its SQLite connection included) keeps working."""
    factory = TokenFactory(clock=FrozenClock(time.time()))
    factory.key = rs256_template.key
    settings = app_settings(factory, store_url=f"sqlite:///{tmp_path / 'rules.db'}")
    guard: Guard[Principal] = Guard(settings, build=build_for(factory, store=None, frozen=False))
    parent = guard.start()
    token = factory.access_token()
    context = multiprocessing.get_context("fork")
    out: multiprocessing.Queue = context.Queue()  # type: ignore[type-arg]
    child = context.Process(target=_child, args=(guard, token, id(parent), out))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
        child.start()
    result = out.get(timeout=30)
    child.join(30)
    out.close()
    out.join_thread()
    assert result == (False, True, True)
    assert child.exitcode == 0
    assert guard.revoker is parent
    denied = denied_token("revoked_subject", factory, parent.registry)  # the parent's store works
    assert isinstance(guard.decide(denied), Refusal)
    guard.close()
