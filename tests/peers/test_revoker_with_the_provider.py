"""revoker against a real, OpenID-certified provider nobody on this team wrote (panva's
oidc-provider, from npm), as a user would run both: `revoker serve` trusting the provider by
OIDC discovery alone (no --jwks-url), tokens from real authorization-code logins in every
signing algorithm, revocation through /revoke, the provider's own back-channel logout
reaching /backchannel-logout, and DPoP-bound tokens."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from oidc_peer import LogoutReceiver, OidcProvider
from oidc_peer_tokens import unverified_claims

from process_support import ServeProcess

RESOURCE = "https://api.example.test"
SCOPE = "openid offline_access api:read"
ADMIN_TOKEN = "admin-token-for-the-peer-0123456789"
ALGS = ("RS256", "PS256", "ES256", "EdDSA")


def serve_args(provider: OidcProvider, store: str, *extra: str) -> list[str]:
    """The flags a user of this provider gives: its issuer, the API (the resource) and the
    clients as audiences, its algorithms; keys by discovery."""
    args = ["--issuer", provider.issuer, "--audience", RESOURCE, "--store", store]
    for alg in ALGS:
        args += ["--audience", provider.client(alg).client_id, "--algorithm", alg]
    return [*args, *extra]


@pytest.fixture
def start_serve(tmp_path: Path) -> Iterator[Callable[..., tuple[ServeProcess, str]]]:
    started: list[ServeProcess] = []

    def start(provider: OidcProvider, *extra: str) -> tuple[ServeProcess, str]:
        args = serve_args(provider, f"sqlite:///{tmp_path}/rules.db", *extra)
        serve = ServeProcess(*args, env={"REVOKER_ADMIN_TOKEN": ADMIN_TOKEN}, cwd=tmp_path)
        started.append(serve)
        return serve, serve.wait_ready()

    yield start
    for serve in started:
        serve.kill()


def auth(url: str, token: str, **headers: str) -> httpx.Response:
    return httpx.get(f"{url}/auth", headers={"Authorization": f"Bearer {token}", **headers})


def reason(response: httpx.Response) -> str:
    return str(response.json()["reason"])


def test_every_algorithms_id_and_access_tokens_are_allowed_by_discovery(
    oidc_provider: OidcProvider, start_serve: Callable[..., tuple[ServeProcess, str]]
) -> None:
    """RS256, PS256, ES256 and Ed25519 (EdDSA) tokens from real logins pass /auth, with the
    identity headers read from standard claims."""
    _, url = start_serve(oidc_provider)
    for alg in ALGS:
        client = oidc_provider.client(alg)
        with oidc_provider.session() as browser:
            tokens = browser.login(f"user-{alg}", client=client, scope=SCOPE, resource=RESOURCE)
        assert tokens.id_token is not None
        id_response = auth(url, tokens.id_token)
        assert id_response.status_code == 200, (alg, id_response.headers)
        assert id_response.headers["x-auth-subject"] == f"user-{alg}"
        assert id_response.headers["x-auth-client-id"] == client.client_id
        access = auth(url, tokens.access_token)
        assert access.status_code == 200, (alg, access.headers)
        assert access.headers["x-auth-token-use"] == "access"  # RFC 9068: typ at+jwt
        assert access.headers["x-auth-scope"] == "api:read"
        assert access.headers["x-auth-client-id"] == client.client_id


def test_a_kind_that_cannot_be_told_is_refused_when_one_kind_is_asked_for(
    oidc_provider: OidcProvider, tmp_path: Path
) -> None:
    """With --token-use access, the provider's ID token (no token_use, no at+jwt) is refused
    with a reason and a message saying why; its access token passes."""
    with oidc_provider.session() as browser:
        tokens = browser.login("carol", scope=SCOPE, resource=RESOURCE)
    assert tokens.id_token is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("REVOKER_")}
    flags = [*serve_args(oidc_provider, "memory://"), "--token-use", "access", "--json"]

    def check(token: str) -> dict[str, object]:
        result = subprocess.run(
            [sys.executable, "-m", "revoker.cli", "check", token, *flags],
            capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path, check=False,
        )  # fmt: skip
        decision: dict[str, object] = json.loads(result.stdout)
        return decision

    refused = check(tokens.id_token)
    assert refused["reason"] == "wrong_token_use"
    assert "kind cannot be told" in str(refused["detail"])
    assert check(tokens.access_token)["allowed"] is True


def test_a_token_revoked_through_revoke_is_denied(
    oidc_provider: OidcProvider, start_serve: Callable[..., tuple[ServeProcess, str]]
) -> None:
    """RFC 7009 at revoker: the access token's holder revokes it; /auth denies it at once,
    while the provider itself cannot revoke its own JWT access tokens."""
    _, url = start_serve(oidc_provider)
    with oidc_provider.session() as browser:
        tokens = browser.login("dave", scope=SCOPE, resource=RESOURCE)
    assert auth(url, tokens.access_token).status_code == 200
    revoked = httpx.post(f"{url}/revoke", data={"token": tokens.access_token})
    assert revoked.status_code == 200
    denied = auth(url, tokens.access_token)
    assert (denied.status_code, reason(denied)) == (401, "revoked_token")
    assert 'error_description="revoked_token: the token ' in denied.headers["www-authenticate"]


def test_the_providers_back_channel_logout_denies_that_session_only(
    new_oidc_provider: Callable[..., OidcProvider],
    logout_receiver: LogoutReceiver,
    start_serve: Callable[..., tuple[ServeProcess, str]],
) -> None:
    """Two sessions of one user; the provider POSTs its logout token for one to revoker;
    that session's ID and access tokens are denied, the other session's stay allowed, and a
    replayed logout token is answered 200 and creates nothing."""
    provider = new_oidc_provider(access_token_sid=True)
    _, url = start_serve(provider)
    leaving, staying = provider.session(), provider.session()
    gone = leaving.login("erin", scope=SCOPE, resource=RESOURCE)
    kept = staying.login("erin", scope=SCOPE, resource=RESOURCE)
    assert gone.sid != kept.sid
    assert unverified_claims(gone.access_token)["sid"] == gone.sid
    with logout_receiver.forwarding_to(f"{url}/backchannel-logout"):
        leaving.logout(gone)
    delivery = logout_receiver.wait_for(gone.sid)
    assert delivery.forwarded_status == 200
    assert gone.id_token is not None
    assert kept.id_token is not None
    for token in (gone.access_token, gone.id_token):
        denied = auth(url, token)
        assert (denied.status_code, reason(denied)) == (401, "revoked_session")
    for token in (kept.access_token, kept.id_token):
        assert auth(url, token).status_code == 200
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    rules = httpx.get(f"{url}/admin/rules", headers=admin).json()["rules"]
    assert [(r["kind"], r["value"], r["issuer"], r["actor"]) for r in rules] == [
        ("session", gone.sid, provider.issuer, provider.issuer)
    ]
    replay = httpx.post(f"{url}/backchannel-logout", data={"logout_token": delivery.logout_token})
    assert (replay.status_code, replay.headers["cache-control"]) == (200, "no-store")
    assert len(httpx.get(f"{url}/admin/rules", headers=admin).json()["rules"]) == 1
    # The provider keeps offline_access alive after logout: a refreshed token of the ended
    # session carries its sid, and revoker still denies it.
    refreshed = provider.refresh(gone, resource=RESOURCE)
    assert reason(auth(url, refreshed.access_token)) == "revoked_session"
    leaving.close()
    staying.close()


def test_an_access_token_is_not_a_logout_token(
    oidc_provider: OidcProvider, start_serve: Callable[..., tuple[ServeProcess, str]]
) -> None:
    """A genuine access token posted as a logout token is 400, and creates nothing."""
    _, url = start_serve(oidc_provider)
    with oidc_provider.session() as browser:
        tokens = browser.login("frank", scope=SCOPE, resource=RESOURCE)
    answer = httpx.post(f"{url}/backchannel-logout", data={"logout_token": tokens.access_token})
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"
    assert answer.json()["error_description"].startswith("invalid_logout_token: ")
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    assert httpx.get(f"{url}/admin/rules", headers=admin).json()["rules"] == []


def test_a_dpop_bound_token_needs_its_proof(
    oidc_provider: OidcProvider, start_serve: Callable[..., tuple[ServeProcess, str]]
) -> None:
    """The provider binds the token to a key (cnf.jkt): as a Bearer it is refused
    (sender_constrained); with --dpop and a proof of the client's own request, allowed."""
    _, url = start_serve(oidc_provider, "--dpop")
    with oidc_provider.session() as browser:
        tokens = browser.login("grace", scope=SCOPE, resource=RESOURCE, dpop=True)
    assert tokens.token_type == "DPoP"
    key = tokens.dpop_key
    assert key is not None
    bearer = auth(url, tokens.access_token)
    assert (bearer.status_code, reason(bearer)) == (401, "sender_constrained")
    original = {"X-Original-Method": "GET", "X-Original-URI": "/orders/7",
                "X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.example.test"}  # fmt: skip
    proof = key.proof("GET", "https://api.example.test/orders/7", access_token=tokens.access_token)
    headers = {"Authorization": f"DPoP {tokens.access_token}", "DPoP": proof, **original}
    allowed = httpx.get(f"{url}/auth", headers=headers)
    assert allowed.status_code == 200, allowed.headers
    replayed = httpx.get(f"{url}/auth", headers=headers)
    assert (replayed.status_code, reason(replayed)) == (401, "invalid_dpop_proof")
    assert replayed.headers["www-authenticate"].startswith('DPoP error="invalid_dpop_proof"')
