"""/revoke (RFC 7009): self-revocation by possession, admin revocation of any token, 200 for
invalid tokens, unsupported_token_type for refresh tokens, 503 when the store is down."""

from __future__ import annotations

import json

import httpx
import pytest
from service_support import (
    ADMIN,
    CLIENT,
    CLIENT_ID,
    Serve,
    SwitchableStore,
    basic,
    bearer,
    make_state,
    unreachable_keys_verifier,
)

from revoker.core.registry import RuleKind
from revoker.core.tokens import b64url_encode
from revoker.service.app import build_app
from revoker.service.state import ServiceState
from revoker.testing import FrozenClock, TokenFactory


def revoke(
    client: httpx.Client, token: str, headers: dict[str, str], **form: str
) -> httpx.Response:
    return client.post("/revoke", data={"token": token, **form}, headers=headers)


def auth(client: httpx.Client, token: str) -> httpx.Response:
    return client.get("/auth", headers=bearer(token))


def test_a_bearer_revokes_its_own_family_without_credentials(
    client: httpx.Client, factory: TokenFactory, state: ServiceState
) -> None:
    """No Authorization: a valid token proves possession; its family goes, actor self:<sub>."""
    claims = factory.base_claims("access", sub="user-7")
    token = factory.sign(claims)
    sibling = factory.sign(factory.base_claims("id", origin_jti=claims["origin_jti"]))
    response = revoke(client, token, {})
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["cache-control"] == "no-store"
    assert auth(client, token).json()["reason"] == "revoked_family"
    assert auth(client, sibling).json()["reason"] == "revoked_family"  # the ID token of the login
    (entry,) = state.registry.audit()
    assert (entry.kind, entry.value, entry.actor) == ("family", claims["origin_jti"], "self:user-7")


def test_a_token_without_origin_jti_is_revoked_by_its_jti(
    client: httpx.Client, factory: TokenFactory, state: ServiceState
) -> None:
    """Without origin_jti only that token goes: a token rule on its jti."""
    claims = factory.base_claims("access", origin_jti=None)
    token = factory.sign(claims)
    other = factory.access_token(origin_jti=None)
    assert revoke(client, token, {}).status_code == 200
    assert auth(client, token).json()["reason"] == "revoked_token"
    assert auth(client, other).status_code == 200
    (rule,) = state.registry.rules()
    assert (rule.kind, rule.value) == (RuleKind.TOKEN, claims["jti"])


def test_the_same_token_as_bearer_is_self_revocation(
    client: httpx.Client, factory: TokenFactory
) -> None:
    """Authorization: Bearer <the same token> is accepted (clients that always send it)."""
    token = factory.access_token()
    assert revoke(client, token, bearer(token)).status_code == 200
    assert auth(client, token).status_code == 401


def test_an_admin_revokes_any_token(
    client: httpx.Client, factory: TokenFactory, state: ServiceState
) -> None:
    """The admin bearer revokes someone else's token; the audit says admin."""
    token = factory.id_token()
    assert revoke(client, token, ADMIN).status_code == 200
    assert auth(client, token).status_code == 401
    assert state.registry.audit()[0].actor == "admin"


def test_a_configured_client_revokes_a_token_it_presents(
    client: httpx.Client, factory: TokenFactory, state: ServiceState
) -> None:
    """Basic with a configured client: the token is revoked, the actor names the client."""
    token = factory.access_token()
    assert revoke(client, token, CLIENT).status_code == 200
    assert state.registry.audit()[0].actor == f"client:{CLIENT_ID}"


def test_revoking_twice_is_still_200_and_adds_no_rule(
    client: httpx.Client, factory: TokenFactory, state: ServiceState
) -> None:
    """An already revoked token: 200, the existing rule stands, nothing more is audited."""
    token = factory.access_token()
    assert revoke(client, token, {}).status_code == 200
    assert revoke(client, token, ADMIN).status_code == 200
    assert len(state.registry.rules()) == 1
    assert [entry.actor for entry in state.registry.audit()] == ["self:user-1"]


@pytest.mark.parametrize(
    ("make_token", "headers"),
    [
        (lambda f: "garbage", {}),
        (lambda f: f.access_token(iat=int(f.clock()) - 7200, exp=int(f.clock()) - 3600), {}),
        (lambda f: f.access_token(client_id="other-app"), {}),
        (lambda f: "garbage", ADMIN),
    ],
    ids=["garbage", "expired", "wrong-audience", "garbage-as-admin"],
)
def test_an_invalid_token_gets_200_and_revokes_nothing(
    client: httpx.Client,
    factory: TokenFactory,
    state: ServiceState,
    make_token: object,
    headers: dict[str, str],
) -> None:
    """RFC 7009 §2.2: an invalid token is not an error; nothing is stored."""
    token: str = make_token(factory)  # type: ignore[operator]
    assert revoke(client, token, headers).status_code == 200
    assert state.registry.rules() == []


def _jwe() -> str:
    header = b64url_encode(json.dumps({"cty": "JWT", "enc": "A256GCM", "alg": "RSA-OAEP"}).encode())
    return f"{header}.{'A' * 342}.{'B' * 16}.{'C' * 500}.{'D' * 22}"


@pytest.mark.parametrize(
    ("token", "hint"),
    [
        (_jwe(), None),
        (_jwe(), "access_token"),
        ("an-opaque-refresh-token-" + "x" * 60, "refresh_token"),
    ],
    ids=["cognito-jwe", "jwe-mislabelled", "opaque-hinted-refresh"],
)
def test_refresh_tokens_get_unsupported_token_type(
    client: httpx.Client, state: ServiceState, token: str, hint: str | None
) -> None:
    """§2.2.1: a refresh token (a JWE, or a non-JWT so hinted) is 400 unsupported_token_type."""
    form = {"token_type_hint": hint} if hint else {}
    response = revoke(client, token, {}, **form)
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_token_type"
    assert state.registry.rules() == []


@pytest.mark.parametrize(
    "header",
    [b"[" * 5000, b"\xff\xfe", b'{"alg": "RS256"}', b"[]"],
    ids=["deeply-nested", "not-utf8", "no-enc", "not-an-object"],
)
def test_five_segments_that_are_not_a_jwe_are_just_an_invalid_token(
    client: httpx.Client, header: bytes
) -> None:
    """A five-part token whose header is not a JWE header: 200 (invalid), never a 5xx."""
    token = b64url_encode(header) + ".a.b.c.d"
    assert revoke(client, token, {}).status_code == 200


def test_a_jwt_hinted_as_refresh_token_is_still_revoked(
    client: httpx.Client, factory: TokenFactory
) -> None:
    """§2.1: a wrong hint does not stop the search across the types we do support."""
    token = factory.access_token()
    assert revoke(client, token, {}, token_type_hint="refresh_token").status_code == 200
    assert auth(client, token).status_code == 401


@pytest.mark.parametrize("hint", ["access_token", "id_token", "something-else"])
def test_other_hints_are_ignored(client: httpx.Client, factory: TokenFactory, hint: str) -> None:
    """§2.2: an invalid or unknown hint value is ignored."""
    token = factory.access_token()
    assert revoke(client, token, {}, token_type_hint=hint).status_code == 200
    assert auth(client, token).status_code == 401


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ("other-bearer", "invalid_token"),
        ({"Authorization": basic(CLIENT_ID, "wrong")}, "invalid_client"),
        ({"Authorization": "Negotiate abc"}, "invalid_client"),
    ],
    ids=["another-bearer", "wrong-basic-secret", "other-scheme"],
)
def test_credentials_that_are_not_accepted_get_401_and_revoke_nothing(
    client: httpx.Client,
    factory: TokenFactory,
    state: ServiceState,
    headers: dict[str, str] | str,
    error: str,
) -> None:
    """A bearer that is neither the admin token nor the token itself, or a wrong client: 401."""
    if headers == "other-bearer":
        headers = bearer(factory.access_token())  # a valid token, but not the one revoked
    token = factory.access_token()
    assert isinstance(headers, dict)
    response = revoke(client, token, headers)
    assert response.status_code == 401
    assert response.json()["error"] == error
    assert state.registry.rules() == []
    assert auth(client, token).status_code == 200


def test_wrong_bearers_on_revoke_count_toward_the_limit(
    client: httpx.Client, factory: TokenFactory
) -> None:
    """Guessing the admin token through /revoke is throttled like anywhere else."""
    token = factory.access_token()
    for attempt in range(10):
        assert revoke(client, token, bearer(f"guess-{attempt:020d}")).status_code == 401
    assert revoke(client, token, ADMIN).status_code == 429
    assert revoke(client, token, {}).status_code == 200  # no credential: nothing to throttle


def test_a_missing_token_is_invalid_request(client: httpx.Client) -> None:
    """The token parameter is required: 400 invalid_request."""
    response = client.post("/revoke", data={"token_type_hint": "access_token"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_a_store_outage_is_503_with_retry_after(
    client: httpx.Client, factory: TokenFactory, store: SwitchableStore
) -> None:
    """§2.2.1: the store cannot take the write: 503 store_unavailable, the token still works."""
    token = factory.access_token()
    store.failing = True
    response = revoke(client, token, {})
    assert response.status_code == 503
    assert response.json()["error"] == "store_unavailable"
    assert response.headers["retry-after"].isdigit()
    store.failing = False
    assert auth(client, token).status_code == 200


def test_a_stale_registry_is_503_not_a_false_200(
    factory: TokenFactory, clock: FrozenClock, serve: Serve
) -> None:
    """A replica past max_staleness cannot tell if the token is revoked already: 503."""
    store = SwitchableStore()
    with serve(build_app(make_state(factory, store))) as client:
        token = factory.access_token()
        store.failing = True
        clock.advance(31)
        response = revoke(client, token, {})
    assert response.status_code == 503
    assert response.json()["error"] == "store_unavailable"


def test_unreachable_keys_are_503_jwks_unavailable(factory: TokenFactory, serve: Serve) -> None:
    """The issuer's keys cannot be fetched: the token may be genuine, so 503, not 200."""
    state = make_state(factory, verifier=unreachable_keys_verifier(factory))
    with serve(build_app(state)) as client:
        response = revoke(client, factory.access_token(), {})
    assert response.status_code == 503
    assert response.json()["error"] == "jwks_unavailable"
