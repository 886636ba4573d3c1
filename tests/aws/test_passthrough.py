"""Pass-through: Cognito calls checked on moto, API Gateway flushes recorded with a Stubber.

moto implements AdminUserGlobalSignOut and ListUsers, so that call is checked
for its effect (the user's refresh token stops working). It implements
neither Cognito RevokeToken nor FlushStageAuthorizersCache /
ResetAuthorizersCache, so those requests are recorded by botocore's
``Stubber`` and asserted exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from revoker.app.operations import RuleEvent
from revoker.app.settings import Settings
from revoker.aws.clients import AwsClients
from revoker.aws.passthrough import PassThrough
from revoker.core.registry import RegistryLimits
from revoker.core.registry.rules import Rule, new_rule
from revoker.testing import FrozenClock

from .conftest import RecordingClient

T0 = 1_700_000_000.0
REGION = "us-east-1"
LIMITS = RegistryLimits()


def stubbed(service: str) -> tuple[Any, Stubber]:
    """A real botocore client whose requests a Stubber intercepts (nothing is sent)."""
    client = boto3.session.Session().client(
        service, region_name=REGION, aws_access_key_id="test", aws_secret_access_key="test"
    )
    return client, Stubber(client)


def rule(kind: str, value: str, *, now: float = T0) -> Rule:
    return new_rule(kind, value, now=now, limits=LIMITS, actor="test")


def aws(**settings: object) -> Settings:
    """Settings with the AWS options given (and the rest as their defaults)."""
    return Settings(audience=None, **settings)  # type: ignore[arg-type]


ADMIN = RuleEvent("admin")


class SleepRecorder:
    """A sleep that advances the frozen clock instead of waiting, and remembers each wait."""

    def __init__(self, clock: FrozenClock) -> None:
        self.clock = clock
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(seconds)


@pytest.fixture
def cognito_pool() -> Iterator[tuple[Any, str, str, str]]:
    """A moto user pool with alice signed in: (client, pool id, client id, alice's sub)."""
    with mock_aws():
        client = boto3.session.Session().client("cognito-idp", region_name=REGION)
        pool = client.create_user_pool(PoolName="p")["UserPool"]["Id"]
        app = client.create_user_pool_client(
            UserPoolId=pool, ClientName="c", ExplicitAuthFlows=["ADMIN_NO_SRP_AUTH"]
        )["UserPoolClient"]["ClientId"]
        client.admin_create_user(UserPoolId=pool, Username="alice")
        client.admin_set_user_password(
            UserPoolId=pool, Username="alice", Password="Secret-passw0rd!", Permanent=True
        )
        user = client.admin_get_user(UserPoolId=pool, Username="alice")
        sub = next(a["Value"] for a in user["UserAttributes"] if a["Name"] == "sub")
        yield client, pool, app, sub


def refresh_works(client: Any, pool: str, app: str, refresh_token: str) -> bool:
    try:
        client.admin_initiate_auth(
            UserPoolId=pool,
            ClientId=app,
            AuthFlow="REFRESH_TOKEN_AUTH",
            AuthParameters={"REFRESH_TOKEN": refresh_token},
        )
    except client.exceptions.NotAuthorizedException:
        return False
    return True


def test_a_subject_revoke_signs_the_user_out_of_cognito(
    cognito_pool: tuple[Any, str, str, str],
) -> None:
    """AdminUserGlobalSignOut (username found by sub on moto): the refresh token stops working."""
    client, pool, app, sub = cognito_pool
    result = client.admin_initiate_auth(
        UserPoolId=pool,
        ClientId=app,
        AuthFlow="ADMIN_NO_SRP_AUTH",
        AuthParameters={"USERNAME": "alice", "PASSWORD": "Secret-passw0rd!"},
    )
    refresh = result["AuthenticationResult"]["RefreshToken"]
    assert refresh_works(client, pool, app, refresh)
    passthrough = PassThrough(
        aws(passthrough_cognito=True, cognito_user_pool_id=pool, region=REGION),
        clients=AwsClients(ready={"cognito-idp": client}),
        clock=FrozenClock(T0),
    )
    done = passthrough(rule("subject", sub), ADMIN)
    assert done == ["cognito:AdminUserGlobalSignOut"]
    assert not refresh_works(client, pool, app, refresh)


def test_an_unknown_sub_is_not_signed_out(cognito_pool: tuple[Any, str, str, str]) -> None:
    """No user has the sub: nothing is called and nothing is reported done."""
    client, pool, _, _ = cognito_pool
    passthrough = PassThrough(
        aws(passthrough_cognito=True, cognito_user_pool_id=pool, region=REGION),
        clients=AwsClients(ready={"cognito-idp": client}),
        clock=FrozenClock(T0),
    )
    assert passthrough(rule("subject", "no-such-sub"), ADMIN) == []


def test_a_family_revoke_with_a_refresh_token_calls_revoke_token() -> None:
    """Cognito RevokeToken gets exactly the refresh token, the client id and its secret."""
    client, stub = stubbed("cognito-idp")
    stub.add_response(
        "revoke_token",
        {},
        {
            "Token": "refresh-1",
            "ClientId": "client-1",
            "ClientSecret": "client-secret-0123456789abcdef",
        },
    )
    passthrough = PassThrough(
        aws(passthrough_cognito=True, cognito_client_secret="client-secret-0123456789abcdef"),
        clients=AwsClients(ready={"cognito-idp": client}),
        clock=FrozenClock(T0),
    )
    with stub:
        event = RuleEvent("self", refresh_token="refresh-1", client_id="client-1")
        done = passthrough(rule("family", "o-1"), event)
        stub.assert_no_pending_responses()
    assert done == ["cognito:RevokeToken"]


def test_cognito_pass_through_is_off_unless_configured() -> None:
    """Without REVOKER_PASSTHROUGH_COGNITO no Cognito call is made at all."""
    client = RecordingClient()
    passthrough = PassThrough(
        aws(cognito_user_pool_id="us-east-1_x", region=REGION),
        clients=AwsClients(ready={"cognito-idp": client}),
        clock=FrozenClock(T0),
    )
    event = RuleEvent("self", refresh_token="r", client_id="c")
    assert passthrough(rule("family", "o"), event) == []
    assert passthrough(rule("subject", "s"), ADMIN) == []
    assert client.calls == []


def test_a_failed_cognito_call_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    """The rule is already durable: a Cognito error is a warning, and no token is logged."""
    client, stub = stubbed("cognito-idp")
    stub.add_client_error("revoke_token", "UnsupportedTokenTypeException")
    passthrough = PassThrough(
        aws(passthrough_cognito=True),
        clients=AwsClients(ready={"cognito-idp": client}),
        clock=FrozenClock(T0),
    )
    with stub:
        assert not passthrough.revoke_refresh_token("secret-refresh-token", "c")
    assert "UnsupportedTokenTypeException" in caplog.text
    assert "secret-refresh-token" not in caplog.text


def flush_setup(clock: FrozenClock) -> tuple[PassThrough, Stubber, Stubber, SleepRecorder]:
    rest, rest_stub = stubbed("apigateway")
    http, http_stub = stubbed("apigatewayv2")
    config = aws(
        flush_rest_stages=(("restapi1", "prod"),),
        flush_http_stages=(("httpapi1", "$default"), ("httpapi1", "beta")),
        sync_max_age_seconds=1.0,
    )
    sleep = SleepRecorder(clock)
    passthrough = PassThrough(
        config,
        clients=AwsClients(ready={"apigateway": rest, "apigatewayv2": http}),
        clock=clock,
        sleep=sleep,
    )
    return passthrough, rest_stub, http_stub, sleep


def expect_flushes(rest_stub: Stubber, http_stub: Stubber) -> None:
    rest_stub.add_response(
        "flush_stage_authorizers_cache", {}, {"restApiId": "restapi1", "stageName": "prod"}
    )
    for stage in ("$default", "beta"):
        http_stub.add_response(
            "reset_authorizers_cache", {}, {"ApiId": "httpapi1", "StageName": stage}
        )


def test_any_revoke_flushes_every_configured_stage_once_replicas_have_synced() -> None:
    """The flush waits the sync bound after the revoke, then flushes REST and HTTP stages."""
    clock = FrozenClock(T0)
    passthrough, rest_stub, http_stub, sleep = flush_setup(clock)
    expect_flushes(rest_stub, http_stub)
    with rest_stub, http_stub:
        done = passthrough(rule("token", "jti-1", now=T0), RuleEvent("self"))
        rest_stub.assert_no_pending_responses()
        http_stub.assert_no_pending_responses()
    assert done == ["rest:restapi1/prod", "http:httpapi1/$default", "http:httpapi1/beta"]
    assert sleep.waits == [1.0]


def test_flushes_are_debounced_per_container() -> None:
    """A revoke that settled before this container's last flush causes none; a later one does."""
    clock = FrozenClock(T0)
    passthrough, rest_stub, http_stub, sleep = flush_setup(clock)
    expect_flushes(rest_stub, http_stub)
    expect_flushes(rest_stub, http_stub)
    with rest_stub, http_stub:
        assert len(passthrough.flush_caches(T0)) == 3  # waits until T0 + 1, then flushes
        assert passthrough.flush_caches(T0) == []  # that flush already covered it
        assert passthrough.flush_caches(T0 - 60) == []  # so it covers older revokes too
        assert len(passthrough.flush_caches(T0 + 0.5)) == 3  # settles after the last flush
        rest_stub.assert_no_pending_responses()
        http_stub.assert_no_pending_responses()
    assert sleep.waits == [1.0, 0.5]


def test_a_failed_flush_is_logged_loudly_and_retried_next_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A flush error is an ERROR log line; the stage is not marked flushed."""
    clock = FrozenClock(T0)
    passthrough, rest_stub, http_stub, _ = flush_setup(clock)
    rest_stub.add_client_error("flush_stage_authorizers_cache", "TooManyRequestsException")
    for stage in ("$default", "beta"):
        http_stub.add_response(
            "reset_authorizers_cache", {}, {"ApiId": "httpapi1", "StageName": stage}
        )
    rest_stub.add_response(
        "flush_stage_authorizers_cache", {}, {"restApiId": "restapi1", "stageName": "prod"}
    )
    with rest_stub, http_stub:
        assert passthrough.flush_caches(T0) == ["http:httpapi1/$default", "http:httpapi1/beta"]
        assert passthrough.flush_caches(T0) == ["rest:restapi1/prod"]
    assert "TooManyRequestsException" in caplog.text
    assert any(r.levelname == "ERROR" for r in caplog.records)
