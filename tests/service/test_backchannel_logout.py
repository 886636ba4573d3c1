"""POST /backchannel-logout (OIDC Back-Channel Logout 1.0, final with errata 1): each §2.6
rule refused with 400 and nothing stored; a sid gives a session rule, a sub alone a subject
cut-off at iat; the issuer is the actor; a replay is 200 and creates nothing twice."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from service_support import ADMIN, T0, Serve, SwitchableStore, bearer, make_state

from revoker.core.registry import RuleKind
from revoker.core.signing import generate_key
from revoker.service.app import build_app
from revoker.service.console.signals import signal_cards
from revoker.service.state import ServiceState
from revoker.testing import FrozenClock, TokenFactory

EVENT = "http://schemas.openid.net/event/backchannel-logout"


def logout(client: httpx.Client, token: str) -> httpx.Response:
    return client.post("/backchannel-logout", data={"logout_token": token})


def test_a_sid_ends_that_session_and_spares_the_others(
    client: httpx.Client, factory: TokenFactory, state: ServiceState
) -> None:
    """A session rule scoped to the issuer, the issuer as actor, audited; other sessions live."""
    ended = factory.access_token(sid="session-1")
    other = factory.access_token(sid="session-2")
    response = logout(client, factory.logout_token(sid="session-1"))
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["cache-control"] == "no-store"
    assert client.get("/auth", headers=bearer(ended)).json()["reason"] == "revoked_session"
    assert client.get("/auth", headers=bearer(other)).status_code == 200
    (rule,) = state.registry.rules()
    assert (rule.kind, rule.value, rule.issuer, rule.actor) == (
        RuleKind.SESSION, "session-1", factory.issuer, factory.issuer,
    )  # fmt: skip
    (entry,) = state.registry.audit()
    assert (entry.action, entry.actor) == ("revoke", factory.issuer)


def test_a_sub_without_sid_is_a_subject_cut_off_at_the_tokens_iat(
    client: httpx.Client, factory: TokenFactory, clock: FrozenClock, state: ServiceState
) -> None:
    """Everything the user was issued up to the logout is denied; a later login is not."""
    before = factory.access_token(sub="user-7")
    clock.advance(5)
    token = factory.logout_token(sub="user-7", sid=None)
    clock.advance(5)
    after = factory.access_token(sub="user-7")
    assert logout(client, token).status_code == 200
    (rule,) = state.registry.rules()
    assert (rule.kind, rule.value, rule.cutoff) == (RuleKind.SUBJECT, "user-7", T0 + 5)
    assert client.get("/auth", headers=bearer(before)).json()["reason"] == "revoked_subject"
    assert client.get("/auth", headers=bearer(after)).status_code == 200


def test_an_ended_session_is_denied_for_one_token_lifetime_not_the_family_lifetime(
    client: httpx.Client, factory: TokenFactory, clock: FrozenClock, state: ServiceState
) -> None:
    """The provider ended the session and mints no new token of it, so the rule need outlive
    only the tokens issued up to the logout: one maximum token lifetime (plus the margin)."""
    issued = factory.access_token(sid="session-1", exp=int(clock()) + 86_000)
    clock.advance(60)
    assert logout(client, factory.logout_token(sid="session-1")).status_code == 200
    (rule,) = state.registry.rules()
    limits = state.registry.limits
    assert rule.expires_at == clock() + limits.max_token_lifetime_seconds + 300
    assert rule.expires_at < clock() + limits.family_lifetime_seconds
    clock.advance(85_000)  # the last token of the session still lives, and is still denied
    state.registry.sync()
    assert client.get("/auth", headers=bearer(issued)).json()["reason"] == "revoked_session"


def test_the_family_lifetime_is_kept_when_short_rules_are_turned_off(
    factory: TokenFactory, serve: Serve
) -> None:
    """short_rules_when_issuer_revoked=false: for providers whose session outlives a logout."""
    state = make_state(factory, short_rules_when_issuer_revoked=False)
    with serve(build_app(state)) as client:
        assert logout(client, factory.logout_token(sid="session-1")).status_code == 200
        (rule,) = state.registry.rules()
    assert rule.expires_at == factory.clock() + state.registry.limits.family_lifetime_seconds + 300


def test_a_replayed_logout_token_is_200_and_creates_nothing_twice(
    client: httpx.Client, factory: TokenFactory, state: ServiceState
) -> None:
    """The same jti again (a provider's retry): the same 200; one rule, one audit entry."""
    for token in (factory.logout_token(sub="u", sid=None),) * 2:
        assert logout(client, token).status_code == 200
    session = factory.logout_token(sid="s-1")
    assert logout(client, session).status_code == 200
    assert logout(client, session).status_code == 200
    assert logout(client, factory.logout_token(sid="s-1")).status_code == 200  # a new jti
    assert len(state.registry.rules()) == 2
    assert len(state.registry.audit()) == 2


def _other_key(factory: TokenFactory) -> str:
    header = {"kid": factory.kid, "alg": factory.alg, "typ": "logout+jwt"}
    claims = {"iss": factory.issuer, "aud": factory.client_id, "iat": int(factory.clock()),
              "exp": int(factory.clock()) + 120, "jti": "j", "sid": "s",
              "events": {EVENT: {}}}  # fmt: skip
    return factory.sign(claims, header=header, key=generate_key("RS256"))


def _alg_none(factory: TokenFactory) -> str:
    token = factory.logout_token()
    header = "eyJhbGciOiJub25lIiwidHlwIjoibG9nb3V0K2p3dCJ9"  # {"alg":"none","typ":"logout+jwt"}
    return f"{header}.{token.split('.')[1]}."


# §2.6, one rule per case: the logout token, and the reason code the 400 names.
CASES: list[tuple[str, Callable[[TokenFactory], str], str]] = [
    ("bad-signature", _other_key, "bad_signature"),
    ("alg-none", _alg_none, "unsupported_alg"),
    ("untrusted-issuer", lambda f: f.logout_token(iss="https://elsewhere.example"), "wrong_issuer"),
    ("wrong-audience", lambda f: f.logout_token(aud="someone-else"), "wrong_audience"),
    ("no-iat", lambda f: f.logout_token(iat=None), "missing_claim"),
    ("no-exp", lambda f: f.logout_token(exp=None), "missing_claim"),
    ("expired", lambda f: f.logout_token(iat=int(f.clock()) - 600, exp=int(f.clock()) - 300),
     "expired"),
    ("no-jti", lambda f: f.logout_token(jti=None), "missing_claim"),
    ("no-events", lambda f: f.logout_token(events=None), "invalid_logout_token"),
    ("other-event", lambda f: f.logout_token(events={"urn:example:other": {}}),
     "invalid_logout_token"),
    ("event-not-an-object", lambda f: f.logout_token(events={EVENT: "yes"}),
     "invalid_logout_token"),
    ("neither-sub-nor-sid", lambda f: f.logout_token(sub=None, sid=None), "invalid_logout_token"),
    ("nonce", lambda f: f.logout_token(nonce="n-1"), "invalid_logout_token"),
    ("typ-of-an-access-token", lambda f: f.logout_token(typ="at+jwt"), "invalid_logout_token"),
    ("an-id-token", lambda f: f.id_token(), "invalid_logout_token"),
    ("an-access-token", lambda f: f.access_token(), "invalid_logout_token"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("make", "code"), [(m, c) for _, m, c in CASES], ids=[i for i, _, _ in CASES]
)
def test_every_section_2_6_rule_is_400_with_nothing_stored(
    client: httpx.Client,
    factory: TokenFactory,
    state: ServiceState,
    make: Callable[[TokenFactory], str],
    code: str,
) -> None:
    """400 with an OAuth-style JSON error naming the check; no rule, no audit entry."""
    response = logout(client, make(factory))
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_request"
    assert body["error_description"].startswith(f"{code}: ")
    assert state.registry.rules() == []
    assert state.registry.audit() == []


@pytest.mark.parametrize(
    ("form", "content_type", "status"),
    [({}, "application/x-www-form-urlencoded", 400),
     ({"logout_token": ""}, "application/x-www-form-urlencoded", 400),
     ({"logout_token": "x"}, "application/json", 415)],
    ids=["missing", "empty", "json"],
)  # fmt: skip
def test_a_bad_form_is_a_4xx_and_stores_nothing(
    client: httpx.Client, state: ServiceState, form: dict[str, Any], content_type: str,
    status: int,
) -> None:  # fmt: skip
    """No logout token, or not a form: a clear 4xx."""
    response = client.post("/backchannel-logout", data=form, headers={"Content-Type": content_type})
    assert response.status_code == status
    assert state.registry.rules() == []


def test_a_store_outage_is_503_so_the_provider_may_retry(
    client: httpx.Client, factory: TokenFactory, store: SwitchableStore
) -> None:
    """Nothing acknowledged is lost: while the store is down the answer is 503, not 200."""
    store.failing = True
    response = logout(client, factory.logout_token())
    assert response.status_code == 503
    assert "retry-after" in response.headers


def test_it_can_be_turned_off(factory: TokenFactory, serve: Serve) -> None:
    """--no-backchannel-logout: the route answers 404 and stores nothing."""
    state = make_state(factory, backchannel_logout=False)
    with serve(build_app(state)) as client:
        assert logout(client, factory.logout_token()).status_code == 404
        assert client.get("/admin/rules", headers=ADMIN).json()["rules"] == []


def test_with_no_audience_check_it_is_off_unless_its_audience_is_named(
    factory: TokenFactory, serve: Serve
) -> None:
    """--audience '*' checks no audience, and §2.6 wants the logout token's aud to name this
    client: the route answers 404 saying so (never a 500), until the logout audience is set."""
    unchecked = make_state(factory, audience=None)
    with serve(build_app(unchecked)) as client:
        response = logout(client, factory.logout_token())
        assert response.status_code == 404
        assert "--backchannel-logout-audience" in response.json()["error_description"]
        assert logout(client, "garbage").status_code == 404
    named = make_state(factory, audience=None, backchannel_logout_audience=(factory.client_id,))
    with serve(build_app(named)) as client:
        assert logout(client, factory.logout_token()).status_code == 200


def test_the_console_card_tells_what_logout_tokens_did(
    client: httpx.Client, factory: TokenFactory, state: ServiceState
) -> None:
    """The overview's back-channel logout card: on, then the last outcome and the counts."""
    cards = {card.kind: card for card in signal_cards(state.signal_sources)}
    ((name, status),) = cards["backchannel_logout"].sources
    assert (name, status.healthy, status.detail) == (
        "POST /backchannel-logout", True, "on; no logout token yet"
    )  # fmt: skip
    token = factory.logout_token()
    assert logout(client, token).status_code == 200
    assert logout(client, token).status_code == 200  # a replay
    assert logout(client, "garbage").status_code == 400
    cards = {card.kind: card for card in signal_cards(state.signal_sources)}
    ((_, status),) = cards["backchannel_logout"].sources
    assert not status.healthy  # the last one was refused
    assert status.detail.endswith("(refused); 1 applied, 1 refused, 1 replay")
