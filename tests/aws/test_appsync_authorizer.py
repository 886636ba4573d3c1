"""The AppSync Lambda authorizer: the Powertools event and response, moto's Cognito tokens."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revoker.aws.appsync_authorizer import authorize_appsync, denied, handler, ttl_override
from revoker.aws.lambda_authorizer import AuthorizerUnavailable
from revoker.aws.runtime import Runtime, build_runtime, install_runtime
from revoker.core.tokens import parse_unverified
from revoker.testing import FrozenClock

from .conftest import APPSYNC_RESPONSE, appsync_event, load_event
from .moto_cognito import MotoJwksFetcher, MotoPool, clock_after

DENIED = {"isAuthorized": False, "resolverContext": {}, "deniedFields": [], "ttlOverride": 0}


@pytest.fixture
def alice(moto_pool: MotoPool) -> dict[str, str]:
    return moto_pool.login("alice")


@pytest.fixture
def clock(alice: dict[str, str]) -> FrozenClock:
    return clock_after(alice["AccessToken"], alice["IdToken"])


@pytest.fixture
def make(moto_pool: MotoPool, clock: FrozenClock) -> Iterator[Callable[..., Runtime]]:
    built: list[Runtime] = []

    def runtime(fetcher: MotoJwksFetcher | None = None, **env: str) -> Runtime:
        made = build_runtime(
            moto_pool.env(**env), fetcher=fetcher or MotoJwksFetcher(), clock=clock
        )
        built.append(made)
        return made

    yield runtime
    for made in built:
        made.close()


def test_the_answer_has_the_shape_of_the_appsync_sample(
    make: Callable[..., Runtime], alice: dict[str, str]
) -> None:
    """Allowed or denied, the answer has the sample response's four keys and their types."""
    sample = load_event(APPSYNC_RESPONSE)
    runtime = make()
    for answer in (
        authorize_appsync(runtime, appsync_event(alice["AccessToken"])),
        authorize_appsync(runtime, appsync_event("not-a-token")),
    ):
        assert set(answer) == set(sample)
        assert {k: type(v) for k, v in answer.items()} == {k: type(v) for k, v in sample.items()}


@pytest.mark.parametrize("scheme", ["", "Bearer ", "bearer "])
def test_an_access_token_is_authorized_with_its_identity(
    make: Callable[..., Runtime], moto_pool: MotoPool, alice: dict[str, str], scheme: str
) -> None:
    """isAuthorized, the identity as strings, no denied fields, and no caching by default."""
    runtime = make()
    answer = authorize_appsync(runtime, appsync_event(scheme + alice["AccessToken"]))
    context = answer["resolverContext"]
    invalidation = json.loads(context.pop("invalidation_filter"))
    sub = moto_pool.subs["alice"]
    assert answer == {
        "isAuthorized": True,
        "resolverContext": {
            "sub": sub,
            "username": "alice",
            "groups": "staff",
            "scope": "aws.cognito.signin.user.admin",
            "client_id": moto_pool.client_id,
            "token_use": "access",
        },
        "deniedFields": [],
        "ttlOverride": 0,
    }
    kinds = [f["filters"][0]["value"] for f in invalidation["filterGroup"]]
    assert kinds == ["key", "token", "family", "subject", "client", "issuer"]


def test_an_id_token_is_authorized_too(
    make: Callable[..., Runtime], moto_pool: MotoPool, alice: dict[str, str]
) -> None:
    """An ID token's client is its aud; its username comes from cognito:username."""
    answer = authorize_appsync(make(), appsync_event(alice["IdToken"]))
    context = answer["resolverContext"]
    assert answer["isAuthorized"] is True
    assert (context["client_id"], context["username"], context["token_use"]) == (
        moto_pool.client_id,
        "alice",
        "id",
    )
    assert all(type(value) is str for value in context.values())


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(("0", 3599, 0), id="default-no-cache"),
        pytest.param(("300", 3599, 300), id="the-bound"),
        pytest.param(("300", 100, 100), id="the-token-expires-first"),
        pytest.param(("1h", 3599, 3599), id="hour-bound"),
        pytest.param(("90.9", 3599, 90), id="whole-seconds"),
    ],
)
def test_ttl_override_never_outlives_the_bound_or_the_token(
    make: Callable[..., Runtime],
    alice: dict[str, str],
    clock: FrozenClock,
    case: tuple[str, int, int],
) -> None:
    """ttlOverride = min(REVOKER_APPSYNC_MAX_TTL, the token's remaining life), whole seconds."""
    bound, seconds_left, expected = case
    token = alice["AccessToken"]
    clock.now = parse_unverified(token).claims["exp"] - seconds_left
    answer = authorize_appsync(make(REVOKER_APPSYNC_MAX_TTL=bound), appsync_event(token))
    assert answer["ttlOverride"] == expected
    assert type(answer["ttlOverride"]) is int


def test_ttl_override_is_never_negative() -> None:
    """A token at its exp (within the leeway) gets 0, not a negative TTL."""
    assert ttl_override(300, 1000.0, 1003.5) == 0


@pytest.mark.parametrize(
    "reason",
    ["missing", "garbage", "expired", "wrong_audience", "revoked_family", "revoked_subject"],
)
def test_each_denial_is_the_one_denied_answer(
    make: Callable[..., Runtime],
    alice: dict[str, str],
    clock: FrozenClock,
    reason: str,
) -> None:
    """No token, a bad one, an expired, foreign or revoked one: isAuthorized false, no TTL."""
    runtime = make()
    token = alice["AccessToken"]
    claims = parse_unverified(token).claims
    authorization: Any = token
    if reason == "missing":
        authorization = None
    elif reason == "garbage":
        authorization = "Bearer BE9DC5E3-D410-4733-AF76-70178092E681"
    elif reason == "expired":
        clock.now = claims["exp"] + 6
    elif reason == "wrong_audience":
        runtime = make(REVOKER_AUDIENCE="another-app-client")
    elif reason == "revoked_family":
        runtime.registry.revoke("family", claims["origin_jti"], actor="test")
    else:
        runtime.registry.revoke("subject", claims["sub"], actor="test")
    assert authorize_appsync(runtime, appsync_event(authorization)) == DENIED


def test_a_revocation_is_seen_on_the_next_request(
    make: Callable[..., Runtime], alice: dict[str, str]
) -> None:
    """Allowed, then the ID token's family is revoked: the same token is denied."""
    runtime = make()
    token = alice["IdToken"]
    assert authorize_appsync(runtime, appsync_event(token))["isAuthorized"] is True
    runtime.registry.revoke("family", parse_unverified(token).claims["origin_jti"], actor="t")
    assert authorize_appsync(runtime, appsync_event(token)) == DENIED


class NoKeys:
    def fetch_json(self, url: str) -> dict[str, Any]:
        raise OSError("unreachable")


def test_unreachable_keys_are_an_outage_not_a_denial(
    make: Callable[..., Runtime], alice: dict[str, str]
) -> None:
    """jwks_unavailable raises AuthorizerUnavailable: AppSync errors, it caches no denial."""
    runtime = make(fetcher=NoKeys())  # type: ignore[arg-type]
    with pytest.raises(AuthorizerUnavailable) as raised:
        authorize_appsync(runtime, appsync_event(alice["AccessToken"]))
    assert raised.value.reason == "jwks_unavailable"


@pytest.mark.parametrize(
    "event",
    [
        pytest.param([], id="not-an-object"),
        pytest.param({}, id="empty"),
        pytest.param({"authorizationToken": "x"}, id="no-request-context"),
        pytest.param({"authorizationToken": "x", "requestContext": "ctx"}, id="context-text"),
        pytest.param({"authorizationToken": "x", "requestContext": {"apiId": "a"}}, id="no-acct"),
        pytest.param({"authorizationToken": 7, "requestContext": {}}, id="token-number"),
    ],
)
def test_a_malformed_event_is_denied(make: Callable[..., Runtime], event: Any) -> None:
    """Not an AppSync authorizer event: the denied answer, never an exception."""
    assert authorize_appsync(make(), event) == DENIED


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda e: e.pop("requestContext"), id="no-context"),
        pytest.param(lambda e: e["requestContext"].pop("apiId"), id="no-api-id"),
        pytest.param(lambda e: e["requestContext"].update(accountId=None), id="null-account"),
        pytest.param(lambda e: e.update(authorizationToken=["x"]), id="token-list"),
    ],
)
def test_a_malformed_event_with_a_valid_token_is_denied(
    make: Callable[..., Runtime], alice: dict[str, str], mutate: Callable[[Any], Any]
) -> None:
    """A valid token in an event AppSync would never send still gets isAuthorized false."""
    event = appsync_event(alice["AccessToken"])
    mutate(event)
    assert authorize_appsync(make(), event) == DENIED


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=8,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(event=JSON | st.fixed_dictionaries({"authorizationToken": JSON, "requestContext": JSON}))
def test_any_event_is_answered_without_an_exception(
    make: Callable[..., Runtime], event: Any
) -> None:
    """Whatever arrives, the answer is the denied one (there is no valid token in it)."""
    assert authorize_appsync(make(), event) == DENIED


def test_the_handler_builds_its_runtime_from_the_environment(
    moto_pool: MotoPool, alice: dict[str, str], clock: FrozenClock
) -> None:
    """The entry point answers with the container's runtime."""
    runtime = build_runtime(moto_pool.env(), fetcher=MotoJwksFetcher(), clock=clock)
    install_runtime(runtime)
    try:
        assert handler(appsync_event(alice["AccessToken"]), None)["isAuthorized"] is True
        assert handler(appsync_event(None), None) == denied()
    finally:
        install_runtime(None)


def test_a_misconfigured_function_is_an_outage(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without REVOKER_STORE the entry point raises AuthorizerUnavailable, not a denial."""
    monkeypatch.delenv("REVOKER_STORE", raising=False)
    install_runtime(None)
    with pytest.raises(AuthorizerUnavailable):
        handler(appsync_event("x"), None)
    install_runtime(None)
