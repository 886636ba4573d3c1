"""Revocation edges through the service: one jti under two issuers, rules that would expire
before their tokens, an ECDSA twin of a revoked token, and the verified-token cache."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from hardening_attacks import P256_ORDER, Kit
from hardening_forgery import with_signature
from hardening_support import ADMIN, Serve, ask_auth

from revoker.core.clock import FrozenClock
from revoker.core.tokens import b64url_decode
from revoker.service.app import RevokerApp

LEEWAY = 5.0


def self_revoke(client: httpx.Client, token: str) -> None:
    assert client.post("/revoke", data={"token": token}).status_code == 200


def admin_rule(client: httpx.Client, **body: object) -> dict[str, object]:
    response = client.post("/admin/rules", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    rule: dict[str, object] = response.json()["rule"]
    return rule


def test_the_same_jti_under_two_issuers_is_two_tokens(
    kit: Kit, make_app: Callable[..., RevokerApp], serve: Serve
) -> None:
    """A self-revocation spares another issuer's equal jti; an unscoped admin rule takes both."""
    ours = kit.rs.access_token(jti="shared-jti", origin_jti=None)
    theirs = kit.ec.access_token(jti="shared-jti", origin_jti=None)
    with serve(make_app()) as client:
        self_revoke(client, ours)
        assert ask_auth(client, ours).reason == "revoked_token"
        assert ask_auth(client, theirs).reason == "allowed"
        admin_rule(client, kind="token", value="shared-jti")
        assert ask_auth(client, theirs).reason == "revoked_token"


def test_the_same_family_under_two_issuers_is_two_families(
    kit: Kit, make_app: Callable[..., RevokerApp], serve: Serve
) -> None:
    """A logout (family rule) at one issuer does not sign out an equal origin_jti elsewhere."""
    ours = kit.rs.access_token(origin_jti="shared-origin")
    theirs = kit.ec.access_token(origin_jti="shared-origin")
    with serve(make_app()) as client:
        self_revoke(client, ours)
        assert ask_auth(client, ours).reason == "revoked_family"
        assert ask_auth(client, theirs).reason == "allowed"


def walk(
    app: RevokerApp, client: httpx.Client, clock: FrozenClock, token: str, until: float
) -> set[str]:
    """The reasons /auth gives for ``token`` at 40 instants from now to ``until``, the
    replica synced at each (as its poll thread would, had the frozen clock moved by itself)."""
    start = clock.now
    reasons = set()
    for step in range(41):
        clock.now = start + (until - start) * step / 40
        app.state.registry.sync()
        reasons.add(ask_auth(client, token).reason)
    return reasons


def test_a_self_revocation_outlives_the_token(
    kit: Kit, clock: FrozenClock, make_app: Callable[..., RevokerApp], serve: Serve
) -> None:
    """A token rule from /revoke lives past the token's exp + leeway: revoked, then expired."""
    token = kit.rs.access_token(origin_jti=None)
    app = make_app()
    with serve(app) as client:
        self_revoke(client, token)
        (rule,) = app.state.registry.rules()
        exp = app.state.authorizer.verifier.verify(token).expires_at
        assert rule.expires_at is not None
        assert rule.expires_at >= exp + LEEWAY
        assert walk(app, client, clock, token, rule.expires_at + 1) == {"revoked_token", "expired"}
        assert ask_auth(client, token).reason == "expired"


def test_a_cut_off_rule_outlives_every_token_it_matches(
    kit: Kit, clock: FrozenClock, make_app: Callable[..., RevokerApp], serve: Serve
) -> None:
    """A token issued before a subject rule is revoked until it expires, never allowed again."""
    longest = kit.rs.access_token(sub="user-9", exp=int(clock.now) + 86_400)
    app = make_app()
    with serve(app) as client:
        assert ask_auth(client, longest).reason == "allowed"
        clock.advance(1)
        rule = admin_rule(client, kind="subject", value="user-9")
        expires_at = rule["expires_at"]
        assert isinstance(expires_at, float)
        reasons = walk(app, client, clock, longest, expires_at + 1)
        assert reasons == {"revoked_subject", "expired"}


def test_an_explicit_short_expiry_is_a_suspension_that_ends(
    kit: Kit, clock: FrozenClock, make_app: Callable[..., RevokerApp], serve: Serve
) -> None:
    """An admin's expires_at before the token's exp is a suspension: allowed again after it."""
    token = kit.rs.access_token(sub="user-5")
    app = make_app()
    with serve(app) as client:
        admin_rule(client, kind="subject", value="user-5", expires_at=clock.now + 60)
        assert ask_auth(client, token).reason == "revoked_subject"
        clock.advance(61)
        app.state.registry.sync()  # the sweep of expired rules runs with each sync
        assert ask_auth(client, token).reason == "allowed"


def test_the_ecdsa_twin_of_a_revoked_token_stays_revoked(
    kit: Kit, make_app: Callable[..., RevokerApp], serve: Serve
) -> None:
    """The malleable ECDSA twin (r, n - s) of a revoked jti-less token is denied as well."""
    token = kit.ec.access_token(jti=None, origin_jti=None)
    signature = b64url_decode(token.rsplit(".", 1)[1])
    r, s = signature[:32], int.from_bytes(signature[32:], "big")
    twin = with_signature(token, r + (P256_ORDER - s).to_bytes(32, "big"))
    with serve(make_app()) as client:
        assert ask_auth(client, twin).reason == "allowed"
        self_revoke(client, token)
        assert ask_auth(client, token).reason == "revoked_token"
        assert ask_auth(client, twin).reason == "revoked_token"


def test_a_cached_verification_never_hides_a_revocation(
    kit: Kit, make_app: Callable[..., RevokerApp], serve: Serve
) -> None:
    """A token verified (and cached) a moment ago is denied on the next request after a rule."""
    token = kit.rs.access_token(sub="user-3")
    with serve(make_app()) as client:
        for _ in range(3):
            assert ask_auth(client, token).reason == "allowed"
        admin_rule(client, kind="subject", value="user-3")
        assert ask_auth(client, token).reason == "revoked_subject"
        admin_rule(client, kind="key", value=kit.rs.kid)
        assert ask_auth(client, kit.rs.access_token()).reason == "revoked_key"
        assert ask_auth(client, kit.ec.access_token()).reason == "allowed"
