"""The OpenID provider peer and its harness: real provider-signed tokens, checked with PyJWT
against the JWKS the provider serves over HTTP (independent of revoker's own verifier)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import jwt
import oidc_peer
import pytest
from oidc_peer import (
    ALGS,
    BACKCHANNEL_LOGOUT_EVENT,
    RESOURCE,
    Client,
    LogoutReceiver,
    OidcProvider,
    PeerError,
    unverified_claims,
)

API_SCOPE = "openid offline_access api:read"


def verify(
    provider: OidcProvider, token: str, *, alg: str, audience: str, require: list[str]
) -> dict[str, Any]:
    """Verify a token's signature with the key its kid names in the provider's served JWKS."""
    key = jwt.PyJWKSet.from_dict(provider.jwks())[jwt.get_unverified_header(token)["kid"]]
    claims: dict[str, Any] = jwt.decode(
        token,
        key.key,
        algorithms=[alg],
        audience=audience,
        issuer=provider.issuer,
        options={"require": require},
    )
    return claims


def verify_id_token(provider: OidcProvider, token: str, client: Client) -> dict[str, Any]:
    return verify(
        provider,
        token,
        alg=client.alg,
        audience=client.client_id,
        require=["iss", "sub", "aud", "exp", "iat", "sid"],
    )


def verify_access_token(provider: OidcProvider, token: str, client: Client) -> dict[str, Any]:
    return verify(
        provider,
        token,
        alg=client.alg,
        audience=RESOURCE,
        require=["iss", "sub", "aud", "exp", "iat", "jti", "client_id"],
    )


def test_discovery_names_the_loopback_issuer_and_the_logout_features(
    oidc_provider: OidcProvider,
) -> None:
    """The discovery document is served for the loopback issuer, with back-channel logout on."""
    meta = oidc_provider.metadata
    assert meta["issuer"] == oidc_provider.issuer
    assert oidc_provider.issuer.startswith("http://127.0.0.1:")
    assert meta["jwks_uri"] == f"{oidc_provider.issuer}/jwks"
    assert meta["backchannel_logout_supported"] is True
    assert meta["backchannel_logout_session_supported"] is True
    assert meta["end_session_endpoint"].startswith(oidc_provider.issuer)
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert "ES256" in meta["dpop_signing_alg_values_supported"]
    assert set(ALGS) <= set(meta["id_token_signing_alg_values_supported"])


def test_jwks_serves_one_public_signing_key_per_alg(oidc_provider: OidcProvider) -> None:
    """The JWKS has one public key per alg, each with a kid and no private member."""
    keys = oidc_provider.jwks()["keys"]
    assert sorted(key["alg"] for key in keys) == sorted(ALGS)
    assert len({key["kid"] for key in keys}) == len(keys)
    for key in keys:
        assert key["use"] == "sig"
        assert not {"d", "p", "q", "dp", "dq", "qi"} & key.keys()


def test_login_gives_an_id_token_for_the_client_with_the_session_id(
    oidc_provider: OidcProvider,
) -> None:
    """An ID token verifies against the JWKS: aud is the client id, sub the user, with a sid."""
    client = oidc_provider.client("RS256")
    tokens = oidc_provider.session().login("alice", client=client)
    assert tokens.id_token is not None
    claims = verify_id_token(oidc_provider, tokens.id_token, client)
    assert claims["aud"] == "rp-rs256"
    assert claims["sub"] == "alice"
    assert claims["sid"] == tokens.sid
    assert claims["exp"] - claims["iat"] == 600
    assert "nonce" in claims
    assert jwt.get_unverified_header(tokens.id_token) == {"alg": "RS256", "kid": "peer-rs256"}


def test_login_for_a_resource_gives_an_rfc_9068_jwt_access_token(
    oidc_provider: OidcProvider,
) -> None:
    """With a resource the access token is an at+jwt for it, with client_id, sub, jti and scope."""
    client = oidc_provider.client("RS256")
    tokens = oidc_provider.session().login(
        "alice", client=client, scope=API_SCOPE, resource=RESOURCE
    )
    header = jwt.get_unverified_header(tokens.access_token)
    assert header == {"alg": "RS256", "typ": "at+jwt", "kid": "peer-rs256"}
    claims = verify_access_token(oidc_provider, tokens.access_token, client)
    assert claims["aud"] == RESOURCE
    assert claims["client_id"] == "rp-rs256"
    assert claims["sub"] == "alice"
    assert claims["scope"] == "api:read"
    assert claims["exp"] - claims["iat"] == tokens.expires_in == 600
    assert "sid" not in claims  # the provider's default; see access_token_sid
    assert tokens.token_type == "Bearer"
    assert tokens.refresh_token is not None


@pytest.mark.parametrize("alg", ALGS)
def test_each_client_gets_its_tokens_signed_with_its_alg(
    oidc_provider: OidcProvider, alg: str
) -> None:
    """The RS256, PS256, ES256 and EdDSA clients get ID and access tokens signed in that alg."""
    client = oidc_provider.client(alg)
    tokens = oidc_provider.session().login("bob", client=client, scope=API_SCOPE, resource=RESOURCE)
    assert tokens.id_token is not None
    assert jwt.get_unverified_header(tokens.id_token)["alg"] == alg
    assert jwt.get_unverified_header(tokens.access_token)["alg"] == alg
    assert verify_id_token(oidc_provider, tokens.id_token, client)["sub"] == "bob"
    assert verify_access_token(oidc_provider, tokens.access_token, client)["sub"] == "bob"


def test_without_a_resource_the_access_token_is_opaque(oidc_provider: OidcProvider) -> None:
    """Without a resource the access token is the provider's opaque one, known by introspection."""
    tokens = oidc_provider.session().login("alice")
    assert "." not in tokens.access_token
    answer = oidc_provider.introspect(tokens.access_token, client=tokens.client)
    assert answer["active"] is True
    assert answer["sub"] == "alice"


def test_two_sessions_of_one_user_have_distinct_sids(oidc_provider: OidcProvider) -> None:
    """Two browsers signing the same user in to the same client get two different sids."""
    first = oidc_provider.session().login("carol")
    second = oidc_provider.session().login("carol")
    assert first.sid != second.sid


def test_one_session_signs_in_to_a_second_client_without_the_login_form(
    oidc_provider: OidcProvider,
) -> None:
    """A second client in the same browser session gets its own sid for the same user."""
    session = oidc_provider.session()
    first = session.login("dave", client=oidc_provider.client("RS256"))
    second = session.login("dave-is-ignored", client=oidc_provider.client("ES256"))
    assert second.id_token is not None
    assert unverified_claims(second.id_token)["sub"] == "dave"
    assert first.sid != second.sid


def test_rp_initiated_logout_posts_a_logout_token_for_the_session(
    oidc_provider: OidcProvider, logout_receiver: LogoutReceiver
) -> None:
    """Logging out one session POSTs a logout+jwt with its sid; the other session is untouched."""
    client = oidc_provider.client("ES256")
    stays = oidc_provider.session().login("erin", client=client)
    leaving = oidc_provider.session()
    leaves = leaving.login("erin", client=client)

    leaving.logout(leaves)

    delivery = logout_receiver.wait_for(leaves.sid)
    assert delivery.content_type == "application/x-www-form-urlencoded"
    assert jwt.get_unverified_header(delivery.logout_token) == {
        "alg": "ES256",
        "typ": "logout+jwt",
        "kid": "peer-es256",
    }
    claims = verify(
        oidc_provider,
        delivery.logout_token,
        alg="ES256",
        audience=client.client_id,
        require=["iss", "aud", "iat", "exp", "jti", "events", "sid", "sub"],
    )
    assert claims["events"] == {BACKCHANNEL_LOGOUT_EVENT: {}}
    assert claims["sid"] == leaves.sid
    assert claims["sub"] == "erin"
    assert claims["aud"] == client.client_id
    assert claims["exp"] - claims["iat"] == 120
    assert "nonce" not in claims
    delivered_sids = {unverified_claims(d.logout_token)["sid"] for d in logout_receiver.deliveries}
    assert stays.sid not in delivered_sids


def test_declining_the_global_sign_out_logs_out_only_the_hinted_client(
    oidc_provider: OidcProvider, logout_receiver: LogoutReceiver
) -> None:
    """Declining ("No, stay signed in") ends only the hinted client's part of the session."""
    session = oidc_provider.session()
    hinted = session.login("frank", client=oidc_provider.client("PS256"))
    other = session.login("frank", client=oidc_provider.client("EdDSA"))

    session.logout(hinted, everywhere=False)

    assert unverified_claims(logout_receiver.wait_for(hinted.sid).logout_token)["aud"] == "rp-ps256"
    delivered_sids = {unverified_claims(d.logout_token)["sid"] for d in logout_receiver.deliveries}
    assert other.sid not in delivered_sids  # POSTs finish before the logout's redirect


def test_logout_leaves_offline_refresh_tokens_and_jwt_access_tokens_working(
    oidc_provider: OidcProvider,
) -> None:
    """offline_access outlives logout: the refresh token still works, the JWT still verifies."""
    client = oidc_provider.client("RS256")
    session = oidc_provider.session()
    tokens = session.login("grace", client=client, scope=API_SCOPE, resource=RESOURCE)

    session.logout(tokens)

    assert verify_access_token(oidc_provider, tokens.access_token, client)["sub"] == "grace"
    fresh = oidc_provider.refresh(tokens, resource=RESOURCE)
    assert verify_access_token(oidc_provider, fresh.access_token, client)["sub"] == "grace"
    assert fresh.sid == tokens.sid


def test_logout_ends_the_opaque_access_token_of_an_online_session(
    oidc_provider: OidcProvider,
) -> None:
    """Without offline_access the opaque access token expires with the session at logout."""
    session = oidc_provider.session()
    tokens = session.login("grace", scope="openid")
    assert tokens.refresh_token is None
    assert oidc_provider.introspect(tokens.access_token, client=tokens.client)["active"] is True

    session.logout(tokens)

    assert oidc_provider.introspect(tokens.access_token, client=tokens.client) == {"active": False}


def test_the_provider_cannot_revoke_or_introspect_its_jwt_access_tokens(
    oidc_provider: OidcProvider,
) -> None:
    """The provider refuses to revoke or introspect its own JWT access tokens (revoker's gap)."""
    tokens = oidc_provider.session().login("heidi", scope=API_SCOPE, resource=RESOURCE)
    with pytest.raises(PeerError, match="unsupported_token_type"):
        oidc_provider.revoke(tokens.access_token, client=tokens.client)
    with pytest.raises(PeerError, match="unsupported_token_type"):
        oidc_provider.introspect(tokens.access_token, client=tokens.client)


def test_refresh_gives_a_new_access_token_in_the_same_session(oidc_provider: OidcProvider) -> None:
    """The refresh_token grant issues a new JWT access token and an ID token with the same sid."""
    client = oidc_provider.client("ES256")
    tokens = oidc_provider.session().login(
        "ivan", client=client, scope=API_SCOPE, resource=RESOURCE
    )

    fresh = oidc_provider.refresh(tokens, resource=RESOURCE)

    old = verify_access_token(oidc_provider, tokens.access_token, client)
    new = verify_access_token(oidc_provider, fresh.access_token, client)
    assert new["jti"] != old["jti"]
    assert new["sub"] == "ivan"
    assert fresh.sid == tokens.sid


def test_revoking_the_refresh_token_at_the_provider_ends_it(oidc_provider: OidcProvider) -> None:
    """RFC 7009 revocation of a refresh token makes introspection report it inactive."""
    tokens = oidc_provider.session().login("judy")
    assert tokens.refresh_token is not None
    oidc_provider.revoke(
        tokens.refresh_token, client=tokens.client, token_type_hint="refresh_token"
    )
    assert oidc_provider.introspect(tokens.refresh_token, client=tokens.client) == {"active": False}


def test_a_dpop_login_binds_the_access_token_to_the_key(oidc_provider: OidcProvider) -> None:
    """A DPoP proof at the token endpoint binds the access token: cnf.jkt is the key's."""
    client = oidc_provider.client("EdDSA")
    key = oidc_peer.DpopKey()
    tokens = oidc_provider.session().login(
        "mallory", client=client, scope=API_SCOPE, resource=RESOURCE, dpop=key
    )
    assert tokens.token_type == "DPoP"
    claims = verify_access_token(oidc_provider, tokens.access_token, client)
    assert claims["cnf"] == {"jkt": key.jkt}

    fresh = oidc_provider.refresh(tokens, resource=RESOURCE)
    assert unverified_claims(fresh.access_token)["cnf"] == {"jkt": key.jkt}


def test_the_access_token_sid_option_puts_the_session_id_in_access_tokens(
    new_oidc_provider: Callable[..., OidcProvider], logout_receiver: LogoutReceiver
) -> None:
    """With access_token_sid, access tokens (refreshed ones too) carry the sid logout names."""
    provider = new_oidc_provider(access_token_sid=True)
    session = provider.session()
    tokens = session.login("oscar", scope=API_SCOPE, resource=RESOURCE)
    fresh = provider.refresh(tokens, resource=RESOURCE)

    session.logout(tokens)

    logout = unverified_claims(logout_receiver.wait_for(tokens.sid).logout_token)
    for token in (tokens.access_token, fresh.access_token):
        assert verify_access_token(provider, token, tokens.client)["sid"] == logout["sid"]


def test_forwarding_hands_the_logout_post_to_the_service_and_its_status_back(
    oidc_provider: OidcProvider, logout_receiver: LogoutReceiver
) -> None:
    """While forwarding, the service gets the same logout POST and the provider its status."""
    session = oidc_provider.session()
    tokens = session.login("peggy")
    with LogoutReceiver() as service, logout_receiver.forwarding_to(service.url):
        session.logout(tokens)
        arrived = service.wait_for(tokens.sid)
    relayed = logout_receiver.wait_for(tokens.sid)
    assert arrived.logout_token == relayed.logout_token
    assert arrived.content_type == "application/x-www-form-urlencoded"
    assert (relayed.forwarded_to, relayed.forwarded_status) == (service.url, 200)


def test_a_service_refusing_the_logout_shows_in_the_provider_diagnostics(
    oidc_provider: OidcProvider, logout_receiver: LogoutReceiver
) -> None:
    """A logout the service does not answer 200 is logged by the provider, without the token."""
    session = oidc_provider.session()
    tokens = session.login("quentin", client=oidc_provider.client("PS256"))
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        closed = f"http://127.0.0.1:{unused.getsockname()[1]}/backchannel-logout"
        with logout_receiver.forwarding_to(closed):
            session.logout(tokens)
    assert logout_receiver.wait_for(tokens.sid).forwarded_status is None
    diagnostics = oidc_provider.diagnostics()
    assert "back-channel logout failed: rp-ps256: expected 200 OK" in diagnostics
    assert "502" in diagnostics
    assert tokens.id_token is not None
    assert tokens.id_token not in diagnostics


def test_a_provider_bound_first_is_pointed_at_a_logout_uri_chosen_later(
    logout_receiver: LogoutReceiver,
) -> None:
    """The issuer is known before node starts; the URI given at start gets the logouts."""
    provider = OidcProvider()
    try:
        issuer = provider.issuer
        assert not provider.running
        provider.start(backchannel_logout_uri=logout_receiver.url)
        assert provider.metadata["issuer"] == issuer
        session = provider.session()
        tokens = session.login("oscar")
        session.logout(tokens)
        assert unverified_claims(logout_receiver.wait_for(tokens.sid).logout_token)["iss"] == issuer
    finally:
        provider.stop()
    assert not provider.running
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", provider.port), timeout=1).close()


@pytest.mark.parametrize(
    ("required", "outcome"),
    [("", pytest.skip.Exception), ("1", pytest.fail.Exception)],
    ids=["laptop-skips", "ci-fails"],
)
def test_a_missing_npm_install_names_the_command_to_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, required: str, outcome: type[BaseException]
) -> None:
    """Without node_modules it skips (fails under REVOKER_REQUIRE_SERVICES=1), naming npm ci."""
    monkeypatch.setenv("REVOKER_REQUIRE_SERVICES", required)
    monkeypatch.setattr(oidc_peer, "PEER_DIR", tmp_path)
    provider = OidcProvider()
    with pytest.raises(outcome, match=r"npm ci --prefix tests/peers/oidc_provider"):
        provider.start()
    provider.stop()
