"""/introspect (RFC 7662): caller credentials, the active document, exactly {"active": false}
for anything else, form handling, and the failed-credential limit."""

from __future__ import annotations

import httpx
import pytest
from service_support import (
    ADMIN,
    ADMIN_TOKEN,
    CLIENT,
    CLIENT_ID,
    CLIENT_SECRET,
    Serve,
    SwitchableStore,
    basic,
    bearer,
    make_state,
)

from revoker.core.registry import RuleKind
from revoker.service.app import build_app
from revoker.service.state import ServiceState
from revoker.testing import FrozenClock, TokenFactory


def introspect(
    client: httpx.Client, token: str, headers: dict[str, str], **form: str
) -> httpx.Response:
    return client.post("/introspect", data={"token": token, **form}, headers=headers)


@pytest.mark.parametrize("credentials", [ADMIN, CLIENT], ids=["admin-bearer", "client-basic"])
def test_an_active_access_token_returns_its_claims_and_rfc7662_fields(
    client: httpx.Client, factory: TokenFactory, credentials: dict[str, str]
) -> None:
    """Active: {"active": true, ...claims} with token_type, client_id, username and scope."""
    claims = factory.base_claims("access")
    response = introspect(client, factory.sign(claims), credentials)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    document = response.json()
    assert document["active"] is True
    assert document["token_type"] == "Bearer"
    for name in ("sub", "iss", "jti", "exp", "iat", "client_id", "username", "scope"):
        assert document[name] == claims[name], name


def test_an_id_token_gets_client_id_and_username_from_aud_and_cognito_username(
    client: httpx.Client, factory: TokenFactory
) -> None:
    """ID tokens have no client_id/username claims: RFC 7662's names are derived."""
    document = introspect(client, factory.id_token(), ADMIN).json()
    assert document["active"] is True
    assert document["client_id"] == factory.client_id
    assert document["username"] == "alice"
    assert document["aud"] == factory.client_id


@pytest.mark.parametrize(
    ("cnf", "token_type"),
    [({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}, "DPoP"),
     ({"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}, "Bearer")],
    ids=["dpop", "mtls"],
)  # fmt: skip
def test_a_sender_constrained_token_is_active_with_its_cnf(
    client: httpx.Client, factory: TokenFactory, cnf: dict[str, str], token_type: str
) -> None:
    """The caller of /introspect is a resource server, not the presenter: the answer is
    active with the token's cnf, and the resource server checks the proof (RFC 9449 §6.2,
    RFC 8705 §3.2). A revoked one is inactive all the same."""
    token = factory.access_token(cnf=cnf)
    document = introspect(client, token, CLIENT).json()
    assert (document["active"], document["cnf"], document["token_type"]) == (
        True, cnf, token_type
    )  # fmt: skip
    assert client.post("/revoke", data={"token": token}, headers=ADMIN).status_code == 200
    assert introspect(client, token, CLIENT).json() == {"active": False}


def test_a_claim_named_active_cannot_turn_the_answer_around(
    client: httpx.Client, factory: TokenFactory
) -> None:
    """The token's own claims never override "active"."""
    document = introspect(client, factory.access_token(active=False), ADMIN).json()
    assert document["active"] is True


@pytest.mark.parametrize(
    "make_token",
    [
        lambda f: "garbage",
        lambda f: f.access_token(iat=int(f.clock()) - 7200, exp=int(f.clock()) - 3600),
        lambda f: f.access_token(client_id="another-app"),
    ],
    ids=["invalid", "expired", "wrong-audience"],
)
def test_an_inactive_token_returns_exactly_active_false(
    client: httpx.Client, factory: TokenFactory, make_token: object
) -> None:
    """Invalid or expired: exactly {"active": false}, nothing else."""
    token: str = make_token(factory)  # type: ignore[operator]
    response = introspect(client, token, CLIENT)
    assert response.status_code == 200
    assert response.json() == {"active": False}


def test_a_revoked_token_returns_exactly_active_false(
    client: httpx.Client, factory: TokenFactory, state: ServiceState
) -> None:
    """Revoked (here: the subject): exactly {"active": false}."""
    token = factory.access_token(sub="user-9")
    assert introspect(client, token, ADMIN).json()["active"] is True
    factory.clock.advance(1)
    state.registry.revoke(RuleKind.SUBJECT, "user-9", actor="test")
    assert introspect(client, token, ADMIN).json() == {"active": False}


def test_a_stale_registry_makes_every_token_inactive(
    factory: TokenFactory, clock: FrozenClock, serve: Serve
) -> None:
    """Fail-closed: a replica past max_staleness answers {"active": false}, not a 5xx."""
    store = SwitchableStore()
    with serve(build_app(make_state(factory, store))) as client:
        token = factory.access_token()
        store.failing = True
        clock.advance(31)
        response = introspect(client, token, ADMIN)
    assert response.status_code == 200
    assert response.json() == {"active": False}


def test_the_hint_is_ignored(client: httpx.Client, factory: TokenFactory) -> None:
    """Any token_type_hint, even a wrong or unknown one, does not change the answer."""
    token = factory.access_token()
    for hint in ("refresh_token", "id_token", "nonsense"):
        assert introspect(client, token, ADMIN, token_type_hint=hint).json()["active"] is True


def test_no_credentials_get_401_with_both_challenges(
    client: httpx.Client, factory: TokenFactory
) -> None:
    """An unauthenticated caller: 401 invalid_client, WWW-Authenticate offers Basic and Bearer."""
    response = introspect(client, factory.access_token(), {})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Basic realm="revoker"')
    assert 'Bearer realm="revoker"' in challenge


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        (bearer("not-the-admin-token-0000000"), "invalid_token"),
        (bearer(ADMIN_TOKEN + "x"), "invalid_token"),
        ({"Authorization": basic(CLIENT_ID, "wrong-secret")}, "invalid_client"),
        ({"Authorization": basic("unknown-client", CLIENT_SECRET)}, "invalid_client"),
        ({"Authorization": "Basic !!!not-base64!!!"}, "invalid_client"),
        ({"Authorization": "Basic " + "bm8tY29sb24="}, "invalid_client"),
        ({"Authorization": "Digest username=x"}, "invalid_client"),
        ({"Authorization": "Bearer"}, "invalid_token"),
    ],
    ids=["other-bearer", "admin-token-plus-one", "wrong-secret", "unknown-client",
         "malformed-basic", "basic-without-colon", "other-scheme", "empty-bearer"],
)  # fmt: skip
def test_wrong_credentials_get_401(
    client: httpx.Client, factory: TokenFactory, headers: dict[str, str], error: str
) -> None:
    """Wrong or malformed credentials of any kind: 401 with an RFC 6749/6750 error code."""
    response = introspect(client, factory.access_token(), headers)
    assert response.status_code == 401
    assert response.json()["error"] == error
    assert "www-authenticate" in response.headers


def test_a_client_secret_is_form_decoded_as_rfc6749_says(
    client: httpx.Client, factory: TokenFactory
) -> None:
    """RFC 6749 §2.3.1: the id and secret are form-encoded before Base64 (':' is %3A)."""
    encoded = basic(CLIENT_ID, CLIENT_SECRET.replace(":", "%3A"))
    response = introspect(client, factory.access_token(), {"Authorization": encoded})
    assert response.status_code == 200


def test_ten_failures_a_minute_then_429_even_for_the_right_credential(
    client: httpx.Client, factory: TokenFactory, clock: FrozenClock
) -> None:
    """After 10 wrong credentials from one address: 429 with Retry-After, until the window ends."""
    token = factory.access_token()
    wrong = {"Authorization": basic(CLIENT_ID, "guess")}
    for _ in range(10):
        assert introspect(client, token, wrong).status_code == 401
    limited = introspect(client, token, CLIENT)
    assert limited.status_code == 429
    assert limited.json()["error"] == "too_many_requests"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    clock.advance(61)
    assert introspect(client, token, CLIENT).status_code == 200


def test_missing_credentials_are_not_counted_as_failures(
    client: httpx.Client, factory: TokenFactory
) -> None:
    """Callers without credentials are not guessing: they never reach the limit."""
    token = factory.access_token()
    for _ in range(15):
        assert introspect(client, token, {}).status_code == 401
    assert introspect(client, token, CLIENT).status_code == 200


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b"token_type_hint=access_token", "application/x-www-form-urlencoded", 400),
        (b"token=", "application/x-www-form-urlencoded", 400),
        (b"token=a&token=b", "application/x-www-form-urlencoded", 400),
        (b"token=%ff%fe", "application/x-www-form-urlencoded", 400),
        (b'{"token": "x"}', "application/json", 415),
        (b"token=x", "text/plain", 415),
    ],
    ids=["no-token", "empty-token", "repeated", "not-utf8", "json", "text"],
)
def test_a_bad_form_is_a_4xx_with_an_oauth_error(
    client: httpx.Client, content: bytes, content_type: str, status: int
) -> None:
    """A missing, repeated or undecodable parameter, or another media type: a clear 4xx."""
    response = client.post(
        "/introspect", content=content, headers={**ADMIN, "Content-Type": content_type}
    )
    assert response.status_code == status
    assert response.json()["error"] == "invalid_request"


def test_a_body_over_the_limit_is_413(client: httpx.Client) -> None:
    """The body limit (64 KiB by default) is enforced before parsing."""
    response = client.post("/introspect", data={"token": "x" * 70_000}, headers=ADMIN)
    assert response.status_code == 413
    assert response.json()["error"] == "request_too_large"


def test_a_streamed_body_over_the_limit_is_413(client: httpx.Client) -> None:
    """Without Content-Length (chunked), the limit holds while streaming."""

    def chunks() -> object:
        for _ in range(100):
            yield b"token=" + b"x" * 1024

    response = client.post(
        "/introspect",
        content=chunks(),  # type: ignore[arg-type]
        headers={**ADMIN, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413


def test_get_is_not_allowed(client: httpx.Client) -> None:
    """RFC 7662 is POST only: GET gets 405 with Allow."""
    response = client.get("/introspect", headers=ADMIN)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["error"] == "method_not_allowed"
