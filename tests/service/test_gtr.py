"""POST /global-token-revocation (draft-parecki-oauth-global-token-revocation): a sub_id becomes
a user cut-off; the caller is a configured bearer or a JWT of a configured issuer (Okta's
Universal Logout); 204, 400, 401, 403 and 422 as the draft lists them, nothing stored on any."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from service_support import ADMIN, T0, Serve, SwitchableStore, service_settings
from ssf_support import denied

from revoker.app.signals.gtr import GlobalTokenRevocation
from revoker.core.authorizer import Authorizer
from revoker.core.errors import JwksUnavailable
from revoker.core.registry import Registry, RuleKind
from revoker.core.signing import generate_key
from revoker.service.app import build_app
from revoker.service.state import ServiceState
from revoker.testing import FrozenClock, TokenFactory

GTR_TOKEN = "gtr-token-for-tests-0123456789"
OKTA = "https://example.okta.com"
ENDPOINT = "https://api.example.com/global-token-revocation"


class DiscoveryFetcher:
    """Serves one issuer's OIDC discovery document and JWKS, as its well-known URLs would."""

    def __init__(self, issuer: str, jwks: dict[str, Any]) -> None:
        self.documents = {
            issuer + "/.well-known/openid-configuration": {
                "issuer": issuer, "jwks_uri": issuer + "/oauth2/v1/keys",
            },
            issuer + "/oauth2/v1/keys": jwks,
        }  # fmt: skip

    def fetch_json(self, url: str) -> dict[str, Any]:
        if url not in self.documents:
            raise JwksUnavailable(f"nothing at {url}")
        return dict(self.documents[url])


@pytest.fixture
def okta(factory: TokenFactory) -> TokenFactory:
    """Okta's org, signing the JWTs its Universal Logout sends (RFC 7523 style)."""
    signer = TokenFactory(issuer=OKTA, clock=factory.clock, kid="okta-key")
    signer.key = factory.key  # one RSA key per session is enough; the kid tells them apart
    return signer


def okta_jwt(okta: TokenFactory, **overrides: Any) -> str:
    now = int(okta.clock())
    claims = {"iss": OKTA, "sub": "0oa-client", "aud": ENDPOINT, "iat": now, "exp": now + 300,
              "jti": "jti-1"} | overrides  # fmt: skip
    return okta.sign({k: v for k, v in claims.items() if v is not None})


@pytest.fixture
def state(factory: TokenFactory, okta: TokenFactory, store: SwitchableStore) -> ServiceState:
    settings = service_settings(
        factory, gtr_token=GTR_TOKEN, gtr_issuers=(OKTA,), gtr_audience=(ENDPOINT,)
    )
    registry = Registry(store, clock=factory.clock, max_staleness_seconds=30)
    state = ServiceState.assemble(settings, Authorizer(factory.verifier(), registry))
    operations = state.revoker.operations
    operations.install_signals(
        gtr=GlobalTokenRevocation(operations, fetcher=DiscoveryFetcher(OKTA, okta.jwks()))
    )
    return state


def revoke(client: httpx.Client, body: Any, *, token: str | None = GTR_TOKEN,
           content_type: str = "application/json") -> httpx.Response:  # fmt: skip
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post("/global-token-revocation", content=content, headers=headers)


def test_an_iss_sub_is_a_subject_cut_off_at_now(
    client: httpx.Client, factory: TokenFactory, state: ServiceState, clock: FrozenClock
) -> None:
    """204 with no body; the user's tokens until now are denied, a later sign-in is not."""
    before = factory.access_token(sub="user-1")
    response = revoke(client, {"sub_id": {"format": "iss_sub", "iss": factory.issuer,
                                          "sub": "user-1"}})  # fmt: skip
    assert (response.status_code, response.content) == (204, b"")
    assert response.headers["cache-control"] == "no-store"
    (rule,) = state.registry.rules()
    assert (rule.kind, rule.value, rule.issuer, rule.cutoff, rule.actor) == (
        RuleKind.SUBJECT, "user-1", factory.issuer, T0, "gtr",
    )  # fmt: skip
    assert denied(client, before) == "revoked_subject"
    clock.advance(1)
    assert denied(client, factory.access_token(sub="user-1")) is None


@pytest.mark.parametrize(
    ("sub_id", "kind", "value"),
    [
        pytest.param({"format": "email", "email": "User@Example.com"}, RuleKind.EMAIL,
                     "user@example.com", id="email"),
        pytest.param({"format": "opaque", "id": "e193177dfdc52e3dd03f78c"}, RuleKind.SUBJECT,
                     "e193177dfdc52e3dd03f78c", id="opaque"),
        pytest.param({"format": "complex", "user": {"format": "email", "email": "u@x.io"}},
                     RuleKind.EMAIL, "u@x.io", id="complex-user"),
        pytest.param({"format": "aliases", "identifiers": [
            {"format": "phone_number", "phone_number": "+12065550100"},
            {"format": "email", "email": "u@x.io"}]}, RuleKind.EMAIL, "u@x.io", id="aliases"),
    ],
)  # fmt: skip
def test_each_user_format_becomes_its_rule(
    client: httpx.Client, state: ServiceState, *, sub_id: dict[str, Any], kind: RuleKind,
    value: str,
) -> None:  # fmt: skip
    """The draft's three example formats (email, opaque, iss_sub), complex and aliases."""
    assert revoke(client, {"sub_id": sub_id}).status_code == 204
    (rule,) = state.registry.rules()
    assert (rule.kind, rule.value) == (kind, value)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param({}, "application/json", id="no-sub-id"),
        pytest.param({"sub_id": "user-1"}, "application/json", id="sub-id-not-an-object"),
        pytest.param({"sub_id": {"id": "u"}}, "application/json", id="no-format"),
        pytest.param({"sub_id": {"format": "phone_number", "phone_number": "+1"}},
                     "application/json", id="a-format-naming-no-user"),
        pytest.param({"sub_id": {"format": "iss_sub", "iss": "https://i.example"}},
                     "application/json", id="iss-sub-without-sub"),
        pytest.param(b"{not json", "application/json", id="not-json"),
        pytest.param(b"[]", "application/json", id="not-an-object"),
        pytest.param({"sub_id": {"format": "opaque", "id": "u"}}, "text/plain",
                     id="not-sent-as-json"),
    ],
)  # fmt: skip
def test_a_malformed_request_is_400_with_nothing_stored(
    client: httpx.Client, state: ServiceState, *, body: Any, content_type: str
) -> None:
    """400: malformed, or an unrecognized or unsupported subject identifier (§3.4.2)."""
    response = revoke(client, body, content_type=content_type)
    assert response.status_code == 400
    assert state.registry.rules() == []


def test_a_subject_that_cannot_become_a_rule_is_422(
    client: httpx.Client, state: ServiceState
) -> None:
    """ "Unable to log out the user": an id no rule can hold (shaped like a whole token)."""
    response = revoke(client, {"sub_id": {"format": "opaque", "id": "eyJh.eyJz.c2ln"}})
    assert (response.status_code, response.json()["error"]) == (422, "unable_to_process")
    assert state.registry.rules() == []


def test_a_missing_or_wrong_credential_is_401_and_spends_its_budget(
    client: httpx.Client, state: ServiceState
) -> None:
    """401 with a Bearer challenge; ten wrong tokens, then 429; the admin budget is separate."""
    body = {"sub_id": {"format": "opaque", "id": "u"}}
    missing = revoke(client, body, token=None)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    for n in range(9):
        assert revoke(client, body, token=f"wrong-gtr-token-{n:06d}").status_code == 401
    assert revoke(client, body).status_code == 429
    assert state.registry.rules() == []
    assert client.get("/admin/rules", headers=ADMIN).status_code == 200


def test_okta_universal_logout_signs_a_jwt_and_a_replay_creates_nothing(
    client: httpx.Client, factory: TokenFactory, okta: TokenFactory, state: ServiceState
) -> None:
    """A JWT of a --gtr-issuer with aud the endpoint: 204; the issuer is the actor; the same
    JWT again (a retry) finds its rule."""
    sub_id = {"format": "iss_sub", "iss": OKTA + "/oauth2/default", "sub": "alice@example.com"}
    jwt = okta_jwt(okta)
    assert revoke(client, {"sub_id": sub_id}, token=jwt).status_code == 204
    assert revoke(client, {"sub_id": sub_id}, token=jwt).status_code == 204
    (rule,) = state.registry.rules()
    assert (rule.kind, rule.value, rule.actor) == (RuleKind.SUBJECT, "alice@example.com", OKTA)
    assert rule.issuer is None  # Okta's authorization server is not trusted here: every issuer
    assert len(state.registry.audit()) == 1


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda o: okta_jwt(o, aud="https://elsewhere.example/gtr"), id="wrong-aud"),
        pytest.param(lambda o: okta_jwt(o, iat=int(o.clock()) - 900, exp=int(o.clock()) - 600),
                     id="expired"),
        pytest.param(lambda o: okta_jwt(o, exp=None), id="no-exp"),
        pytest.param(lambda o: o.sign({"iss": OKTA, "aud": ENDPOINT, "iat": int(o.clock()),
                     "exp": int(o.clock()) + 60}, key=generate_key("RS256")), id="foreign-key"),
        pytest.param(lambda o: okta_jwt(o, iss="https://other.okta.com"), id="other-issuer"),
    ],
)  # fmt: skip
def test_a_jwt_that_does_not_verify_is_401(
    client: httpx.Client, okta: TokenFactory, state: ServiceState, make: Any
) -> None:
    """Signature, issuer, audience and times, as an access token's are checked."""
    response = revoke(client, {"sub_id": {"format": "opaque", "id": "u"}}, token=make(okta))
    assert response.status_code == 401
    assert state.registry.rules() == []


def test_a_jwt_caller_revokes_only_its_own_hosts_users(
    client: httpx.Client, factory: TokenFactory, okta: TokenFactory, state: ServiceState
) -> None:
    """403 for an iss_sub of an issuer on another host than the JWT's (draft §6.2)."""
    sub_id = {"format": "iss_sub", "iss": factory.issuer, "sub": "user-1"}
    response = revoke(client, {"sub_id": sub_id}, token=okta_jwt(okta))
    assert response.status_code == 403
    assert state.registry.rules() == []
    # The bearer token is the operator's own: it may revoke anyone.
    assert revoke(client, {"sub_id": sub_id}).status_code == 204


def test_without_a_caller_configured_the_route_is_404(factory: TokenFactory, serve: Serve) -> None:
    """No --gtr-token nor --gtr-issuer: Global Token Revocation is off."""
    from service_support import make_state  # noqa: PLC0415

    with serve(build_app(make_state(factory))) as client:
        assert revoke(client, {"sub_id": {"format": "opaque", "id": "u"}}).status_code == 404
