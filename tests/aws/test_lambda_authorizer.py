"""The Lambda authorizer, driven by the real Powertools and SAM CLI sample events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from revoker.aws.lambda_authorizer import AuthorizerUnavailable, Unauthorized, authorize
from revoker.aws.runtime import Runtime
from revoker.core.registry.rules import new_rule
from revoker.testing import FrozenClock, StaticJwksFetcher, TokenFactory

from .conftest import with_token

# (fixture file, the ARN API Gateway asks about, its stage wildcard)
EVENTS = [
    pytest.param(
        "powertools__apiGatewayAuthorizerTokenEvent.json",
        "arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/*/GET/",
        "arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/*/*",
        id="rest-token-powertools",
    ),
    pytest.param(
        "samcli__ApiGatewayAuthorizer.template.json",
        "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod/GET/pets",
        "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod/*",
        id="rest-token-samcli",
    ),
    pytest.param(
        "samcli__ApiGatewayRestRequestAuthorizer.template.json",
        "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod/GET/pets",
        "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod/*",
        id="rest-request-samcli",
    ),
    pytest.param(
        "powertools__apiGatewayAuthorizerRequestEvent.json",
        "arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/GET/request",
        "arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/*",
        id="http-1.0-powertools",
    ),
    pytest.param(
        "powertools__apiGatewayAuthorizerV2Event.json",
        "arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/GET/request",
        "arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/*",
        id="http-2.0-powertools",
    ),
]
V2 = "powertools__apiGatewayAuthorizerV2Event.json"


def policy(resource: str, context: dict[str, Any], principal: str = "user-1") -> dict[str, Any]:
    return {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": resource}
            ],
        },
        "context": context,
    }


ACCESS_CONTEXT = {
    "sub": "user-1",
    "username": "alice",
    "groups": "admins,staff",
    "scope": "aws.cognito.signin.user.admin",
    "client_id": "testclient0123456789abcdef",
    "token_use": "access",
}


@pytest.mark.parametrize(("name", "arn", "wildcard"), EVENTS)
def test_a_valid_token_gets_the_exact_iam_policy(
    runtime: Runtime, factory: TokenFactory, name: str, arn: str, wildcard: str
) -> None:
    """Every event kind answers an allow policy on its ARN, with the identity as context."""
    token = factory.access_token(**{"cognito:groups": ["admins", "staff"]})
    assert authorize(runtime, with_token(name, f"Bearer {token}")) == policy(arn, ACCESS_CONTEXT)


@pytest.mark.parametrize(("name", "arn", "wildcard"), EVENTS)
def test_api_wildcard_allows_the_whole_stage(
    make_runtime: Callable[..., Runtime], factory: TokenFactory, name: str, arn: str, wildcard: str
) -> None:
    """With REVOKER_POLICY_RESOURCE=api-wildcard the policy names apiId/stage/*."""
    runtime = make_runtime(REVOKER_POLICY_RESOURCE="api-wildcard")
    answer = authorize(runtime, with_token(name, f"Bearer {factory.access_token()}"))
    assert answer["policyDocument"]["Statement"][0]["Resource"] == wildcard


@pytest.mark.parametrize(("name", "arn", "wildcard"), EVENTS)
@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="missing"),
        pytest.param("Bearer not.a.jwt", id="garbage"),
        pytest.param("Basic dXNlcjpwYXNz", id="other-scheme"),
        pytest.param("Bearer ", id="empty-bearer"),
    ],
)
def test_missing_or_malformed_tokens_raise_unauthorized(
    runtime: Runtime, name: str, arn: str, wildcard: str, authorization: str | None
) -> None:
    """No usable token raises Exception('Unauthorized'): API Gateway's 401."""
    with pytest.raises(Exception, match=r"^Unauthorized$") as raised:
        authorize(runtime, with_token(name, authorization))
    assert type(raised.value) is Unauthorized
    assert str(raised.value) == "Unauthorized"


@pytest.mark.parametrize(("name", "arn", "wildcard"), EVENTS)
def test_a_revoked_id_token_is_refused(
    runtime: Runtime, factory: TokenFactory, name: str, arn: str, wildcard: str
) -> None:
    """Once its family is revoked, the ID token of that sign-in gets 401 on every event kind."""
    origin = "family-1"
    token = factory.id_token(origin_jti=origin)
    assert authorize(runtime, with_token(name, f"Bearer {token}"))["principalId"] == "user-1"
    runtime.registry.revoke("family", origin, actor="test")
    with pytest.raises(Unauthorized):
        authorize(runtime, with_token(name, f"Bearer {token}"))


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param("Bearer {t}", id="bearer"),
        pytest.param("bearer {t}", id="lowercase-scheme"),
        pytest.param("{t}", id="bare"),
        pytest.param("  Bearer   {t}  ", id="extra-spaces"),
    ],
)
def test_the_token_may_be_bearer_or_bare(
    runtime: Runtime, factory: TokenFactory, authorization: str
) -> None:
    """TOKEN events accept 'Bearer <jwt>' in any case, or the bare token."""
    event = with_token(
        "samcli__ApiGatewayAuthorizer.template.json",
        authorization.format(t=factory.access_token()),
    )
    assert authorize(runtime, event)["principalId"] == "user-1"


def test_request_headers_match_case_insensitively_and_the_name_is_configurable(
    make_runtime: Callable[..., Runtime], factory: TokenFactory
) -> None:
    """REVOKER_AUTH_HEADER names the header; its case in the event does not matter."""
    runtime = make_runtime(REVOKER_AUTH_HEADER="X-Api-Token")
    event = with_token("samcli__ApiGatewayRestRequestAuthorizer.template.json", None)
    event["headers"]["x-API-token"] = f"Bearer {factory.access_token()}"
    assert authorize(runtime, event)["principalId"] == "user-1"
    event["headers"] = {"Authorization": f"Bearer {factory.access_token()}"}
    with pytest.raises(Unauthorized):
        authorize(runtime, event)


def test_http_api_simple_responses(
    make_runtime: Callable[..., Runtime], factory: TokenFactory
) -> None:
    """HTTP API 2.0 with simple responses: isAuthorized true with context, false without."""
    runtime = make_runtime(REVOKER_SIMPLE_RESPONSES="true")
    token = factory.id_token()
    assert authorize(runtime, with_token(V2, f"Bearer {token}")) == {
        "isAuthorized": True,
        "context": {
            "sub": "user-1",
            "username": "alice",
            "groups": "",
            "scope": "",
            "client_id": "testclient0123456789abcdef",
            "token_use": "id",
        },
    }
    runtime.registry.revoke("subject", "user-1", actor="test")
    assert authorize(runtime, with_token(V2, f"Bearer {token}")) == {
        "isAuthorized": False,
        "context": {},
    }
    assert authorize(runtime, with_token(V2, None)) == {"isAuthorized": False, "context": {}}


def test_simple_responses_do_not_change_rest_events(
    make_runtime: Callable[..., Runtime], factory: TokenFactory
) -> None:
    """REST and HTTP 1.0 events still get policies and 401s with simple responses on."""
    runtime = make_runtime(REVOKER_SIMPLE_RESPONSES="true")
    event = with_token("powertools__apiGatewayAuthorizerRequestEvent.json", None)
    with pytest.raises(Unauthorized):
        authorize(runtime, event)


def test_a_single_identity_source_is_read_when_the_header_is_absent(
    runtime: Runtime, factory: TokenFactory
) -> None:
    """HTTP API 2.0 without the header falls back to a one-value identitySource."""
    event = with_token(V2, None)
    event["identitySource"] = [f"Bearer {factory.access_token()}"]
    assert authorize(runtime, event)["principalId"] == "user-1"


def test_the_context_holds_strings_only(runtime: Runtime, factory: TokenFactory) -> None:
    """API Gateway refuses nested or null context values: every value is a string."""
    token = factory.id_token(**{"cognito:groups": ["a", 7, None], "cognito:username": None})
    answer = authorize(runtime, with_token(V2, f"Bearer {token}"))
    assert all(type(v) is str for v in answer["context"].values())
    assert answer["context"]["groups"] == "a"
    assert answer["context"]["username"] == ""


def test_a_replica_syncs_when_older_than_the_bound(
    runtime: Runtime, factory: TokenFactory, clock: FrozenClock
) -> None:
    """A rule stored by another process is seen once the replica is over 1 s old, not before."""
    token = factory.access_token()
    event = with_token("samcli__ApiGatewayAuthorizer.template.json", f"Bearer {token}")
    authorize(runtime, event)  # first invocation: snapshot
    elsewhere = new_rule(
        "subject", "user-1", now=clock(), limits=runtime.registry.limits, actor="other"
    )
    runtime.registry.store.add(elsewhere)  # written by another container
    clock.advance(0.5)
    assert authorize(runtime, event)["principalId"] == "user-1"
    clock.advance(0.6)
    with pytest.raises(Unauthorized):
        authorize(runtime, event)


def test_keys_are_fetched_once_per_container(
    runtime: Runtime, factory: TokenFactory, fetcher: StaticJwksFetcher
) -> None:
    """Many invocations with many tokens cost one JWKS fetch."""
    for _ in range(5):
        event = with_token(V2, f"Bearer {factory.access_token()}")
        authorize(runtime, event)
    assert len(fetcher.calls) == 1


def test_unreachable_keys_are_an_outage_not_a_401(
    make_runtime: Callable[..., Runtime], factory: TokenFactory, fetcher: StaticJwksFetcher
) -> None:
    """When the JWKS cannot be fetched the authorizer raises a non-401 error (a 500)."""
    fetcher.document = None
    runtime = make_runtime()
    event = with_token(V2, f"Bearer {factory.access_token()}")
    with pytest.raises(AuthorizerUnavailable) as raised:
        authorize(runtime, event)
    assert str(raised.value) != "Unauthorized"
    assert raised.value.reason == "jwks_unavailable"


def test_a_stale_registry_is_an_outage_not_a_401(
    runtime: Runtime, factory: TokenFactory, clock: FrozenClock
) -> None:
    """A replica that cannot sync past max staleness fails closed with a 500, not a 401."""
    event = with_token(V2, f"Bearer {factory.access_token()}")
    authorize(runtime, event)
    runtime.registry.store.close()  # the store is unreachable from now on
    clock.advance(31)
    with pytest.raises(AuthorizerUnavailable) as raised:
        authorize(runtime, event)
    assert raised.value.reason == "registry_stale"


@pytest.mark.parametrize(
    "event",
    [
        pytest.param([], id="not-an-object"),
        pytest.param({"type": "WHATEVER"}, id="unknown-type"),
        pytest.param({"version": "3.0", "routeArn": "arn:x"}, id="unknown-version"),
        pytest.param({"type": "TOKEN", "authorizationToken": "x"}, id="no-method-arn"),
    ],
)
def test_something_that_is_not_an_authorizer_event_is_a_configuration_error(
    runtime: Runtime, event: Any
) -> None:
    """A function wired to the wrong event source answers 500, not 401."""
    with pytest.raises(AuthorizerUnavailable) as raised:
        authorize(runtime, event)
    assert raised.value.reason == "unrecognised_event"
