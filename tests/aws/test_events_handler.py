"""Cognito's CloudTrail events (via EventBridge) become subject rules; usernames via moto."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from revoker.aws.clients import AwsClients
from revoker.aws.events_handler import handle
from revoker.aws.runtime import Runtime, build_runtime
from revoker.core.jwks import cognito_issuer
from revoker.testing import FrozenClock, StaticJwksFetcher, TokenFactory

from .conftest import T0, RecordingClient

REGION = "us-east-1"


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def trail_event(name: str, **detail: Any) -> dict[str, Any]:
    """An EventBridge 'AWS API Call via CloudTrail' event for Cognito."""
    return {
        "version": "0",
        "id": "eb-1",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.cognito-idp",
        "time": iso(T0),
        "region": REGION,
        "detail": {
            "eventVersion": "1.08",
            "eventTime": iso(T0),
            "eventSource": "cognito-idp.amazonaws.com",
            "eventName": name,
            "awsRegion": REGION,
            "eventID": f"ct-{name}",
            "readOnly": False,
            "eventType": "AwsApiCall",
            **detail,
        },
    }


class Pool:
    """A moto user pool with one user, a token factory for its issuer, and a runtime on it."""

    def __init__(self, clock: FrozenClock) -> None:
        self.clock = clock
        self.cognito = boto3.session.Session().client("cognito-idp", region_name=REGION)
        self.pool_id = self.cognito.create_user_pool(PoolName="p")["UserPool"]["Id"]
        self.cognito.admin_create_user(UserPoolId=self.pool_id, Username="alice")
        user = self.cognito.admin_get_user(UserPoolId=self.pool_id, Username="alice")
        self.sub = next(a["Value"] for a in user["UserAttributes"] if a["Name"] == "sub")
        self.issuer = cognito_issuer(REGION, self.pool_id)
        self.factory = TokenFactory(issuer=self.issuer, clock=clock)

    def runtime(self, **env: str) -> Runtime:
        environ = {
            "REVOKER_COGNITO_USER_POOL_ID": self.pool_id,
            "AWS_REGION": REGION,
            "REVOKER_AUDIENCE": self.factory.client_id,
            "REVOKER_STORE": "memory://",
            **env,
        }
        clients = AwsClients(ready={"cognito-idp": self.cognito})
        fetcher = StaticJwksFetcher(self.factory.jwks())
        return build_runtime(environ, fetcher=fetcher, clock=self.clock, clients=clients)

    def admin_event(self, name: str, username: str = "alice", **detail: Any) -> dict[str, Any]:
        request = {"userPoolId": self.pool_id, "username": username}
        return trail_event(name, requestParameters=request, **detail)


@pytest.fixture
def pool() -> Iterator[Pool]:
    with mock_aws():
        yield Pool(FrozenClock(T0 + 30))


@pytest.fixture
def runtime(pool: Pool) -> Iterator[Runtime]:
    runtime = pool.runtime()
    yield runtime
    runtime.close()


@pytest.mark.parametrize(
    "name",
    [
        "AdminUserGlobalSignOut",
        "AdminDisableUser",
        "AdminResetUserPassword",
    ],
)
def test_admin_events_revoke_the_users_tokens_issued_before_them(
    pool: Pool, runtime: Runtime, name: str
) -> None:
    """The username is resolved to the sub with AdminGetUser; cutoff is the event's time."""
    before = pool.factory.access_token(sub=pool.sub, iat=int(T0 - 10))
    after = pool.factory.access_token(sub=pool.sub, iat=int(T0 + 20))
    result = handle(runtime, pool.admin_event(name))
    assert result["status"] == "revoked"
    [rule] = runtime.registry.rules()
    assert (rule.kind, rule.value, rule.issuer, rule.cutoff, rule.actor) == (
        "subject",
        pool.sub,
        pool.issuer,
        T0,
        "cloudtrail",
    )
    assert rule.reason == f"cognito {name}"
    runtime.sync()
    assert runtime.authorizer.check(before).reason == "revoked_subject"
    assert runtime.authorizer.check(after).allowed


@pytest.mark.parametrize("name", ["GlobalSignOut", "ChangePassword"])
def test_user_events_that_carry_the_sub_need_no_look_up(pool: Pool, name: str) -> None:
    """A sub in additionalEventData: no look-up, and no sign-out passed back to Cognito."""
    runtime = pool.runtime(REVOKER_PASSTHROUGH_COGNITO="true")
    cognito = RecordingClient()
    runtime.clients = AwsClients(ready={"cognito-idp": cognito})
    event = trail_event(
        name,
        requestParameters={"accessToken": "HIDDEN_DUE_TO_SECURITY_REASONS"},
        additionalEventData={"sub": pool.sub},
    )
    assert handle(runtime, event)["status"] == "revoked"
    assert [r.value for r in runtime.registry.rules()] == [pool.sub]
    assert cognito.calls == []
    runtime.close()


def test_a_redelivered_event_adds_no_second_rule(pool: Pool, runtime: Runtime) -> None:
    """The rule id comes from the CloudTrail event id: a second delivery is a duplicate."""
    event = pool.admin_event("AdminDisableUser")
    first = handle(runtime, event)
    assert handle(runtime, copy.deepcopy(event)) == {
        "status": "duplicate",
        "rule_id": first["rule_id"],
    }
    assert len(runtime.registry.rules()) == 1


def ignored(runtime: Runtime, event: Any) -> str:
    result = handle(runtime, event)
    assert result["status"] == "ignored"
    assert runtime.registry.rules() == []
    return str(result["reason"])


def test_a_deleted_user_cannot_be_attributed(pool: Pool, runtime: Runtime) -> None:
    """AdminDeleteUser after the deletion: AdminGetUser finds no user, so no sub; ignored."""
    pool.cognito.admin_delete_user(UserPoolId=pool.pool_id, Username="alice")
    reason = ignored(runtime, pool.admin_event("AdminDeleteUser"))
    assert "no longer exists" in reason


@pytest.mark.parametrize(
    ("mutate", "why"),
    [
        pytest.param(
            lambda d: d.update(errorCode="UserNotFoundException"), "failed", id="failed-call"
        ),
        pytest.param(lambda d: d.update(eventName="AdminCreateUser"), "does not end", id="other"),
        pytest.param(lambda d: d.update(eventSource="s3.amazonaws.com"), "not a Cognito", id="s3"),
        pytest.param(
            lambda d: d["requestParameters"].update(username="HIDDEN_FOR_SECURITY_REASONS"),
            "does not carry the user",
            id="hidden-username",
        ),
        pytest.param(
            lambda d: d["requestParameters"].update(userPoolId="us-east-1_Other"),
            "another user pool",
            id="other-pool",
        ),
        pytest.param(lambda d: d.update(eventTime="yesterday"), "eventTime", id="bad-time"),
        pytest.param(lambda d: d.update(eventTime=iso(T0 - 3 * 86400)), "older than", id="too-old"),
        pytest.param(lambda d: d.pop("eventID"), "event id", id="no-event-id"),
    ],
)
def test_events_that_cannot_be_attributed_are_ignored_with_a_reason(
    pool: Pool,
    runtime: Runtime,
    caplog: pytest.LogCaptureFixture,
    mutate: Any,
    why: str,
) -> None:
    """Unusable events add no rule, and the log says why."""
    event = pool.admin_event("AdminUserGlobalSignOut")
    event["id"] = None  # the envelope id is only a fallback for the CloudTrail eventID
    mutate(event["detail"])
    caplog.set_level("INFO", logger="revoker.aws")
    assert why in ignored(runtime, event)
    assert why in caplog.text


def test_username_resolution_can_be_switched_off(pool: Pool) -> None:
    """REVOKER_RESOLVE_USERNAMES=false: username-only events are ignored, not looked up."""
    runtime = pool.runtime(REVOKER_RESOLVE_USERNAMES="false")
    assert "REVOKER_RESOLVE_USERNAMES" in ignored(runtime, pool.admin_event("AdminDisableUser"))
    runtime.close()
