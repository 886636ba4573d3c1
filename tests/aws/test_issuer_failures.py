"""When what revoker hands on fails: a refresh token Cognito could not take is a 503 (retry),
never a 200 while the token still works; a refusal by Cognito is RFC 7009's 200; one failed
read of the admin token secret does not turn the admin API off for the container's life."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import boto3
from botocore.stub import Stubber

from revoker.aws.clients import AwsClients
from revoker.aws.revoke_handler import handle
from revoker.aws.runtime import ADMIN_SECRET_RETRY_SECONDS, Runtime
from revoker.testing import FrozenClock

FORM = "application/x-www-form-urlencoded"
ADMIN_TOKEN = "admin-token-from-the-secret-0123456789"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:revoker-admin-AbCdEf"
REFRESH = "an-opaque-refresh-token-cognito-encrypted"


def event(method: str, path: str, body: str | None = None, **headers: str) -> dict[str, Any]:
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "queryStringParameters": None,
        "requestContext": {"stage": "prod", "identity": {"sourceIp": "203.0.113.9"}},
        "body": body,
        "isBase64Encoded": False,
    }


def revoke_refresh(runtime: Runtime) -> dict[str, Any]:
    form = {"token": REFRESH, "token_type_hint": "refresh_token", "client_id": "app-client"}
    return handle(runtime, event("POST", "/revoke", urlencode(form), **{"Content-Type": FORM}))


def cognito_runtime(make_runtime: Callable[..., Runtime]) -> tuple[Runtime, Stubber]:
    cognito = boto3.client("cognito-idp", region_name="us-east-1")
    stub = Stubber(cognito)
    runtime = make_runtime(
        AwsClients(ready={"cognito-idp": cognito}),
        REVOKER_PASSTHROUGH_COGNITO="true",
        REVOKER_COGNITO_USER_POOL_ID="us-east-1_TestPool1",
        REVOKER_REGION="us-east-1",
    )
    return runtime, stub


def test_a_refresh_token_cognito_could_not_take_is_503_then_200_once_it_can(
    make_runtime: Callable[..., Runtime],
) -> None:
    runtime, stub = cognito_runtime(make_runtime)
    request = {"Token": REFRESH, "ClientId": "app-client"}
    stub.add_client_error("revoke_token", "InternalErrorException", http_status_code=500,
                          expected_params=request)  # fmt: skip
    stub.add_client_error("revoke_token", "TooManyRequestsException", http_status_code=400,
                          expected_params=request)  # fmt: skip
    stub.add_response("revoke_token", {}, expected_params=request)
    with stub:
        for _ in range(2):
            answer = revoke_refresh(runtime)
            assert answer["statusCode"] == 503
            assert '"issuer_unavailable"' in answer["body"]
            assert int(answer["headers"]["Retry-After"]) > 0
        assert revoke_refresh(runtime)["statusCode"] == 200
        stub.assert_no_pending_responses()


def test_a_refresh_token_cognito_refuses_is_rfc_7009s_200(
    make_runtime: Callable[..., Runtime],
) -> None:
    """An invalid token is answered 200 (§2.2): retrying could not change Cognito's answer."""
    runtime, stub = cognito_runtime(make_runtime)
    stub.add_client_error("revoke_token", "UnauthorizedException", http_status_code=400)
    with stub:
        assert revoke_refresh(runtime)["statusCode"] == 200
        stub.assert_no_pending_responses()


def test_a_failed_read_of_the_admin_secret_is_retried(
    make_runtime: Callable[..., Runtime], clock: FrozenClock
) -> None:
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    stub = Stubber(secrets)
    stub.add_client_error("get_secret_value", "ThrottlingException", http_status_code=400)
    stub.add_response("get_secret_value", {"SecretString": ADMIN_TOKEN})
    runtime = make_runtime(
        AwsClients(ready={"secretsmanager": secrets}),
        REVOKER_ADMIN_TOKEN_SECRET_ARN=SECRET_ARN,
    )
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with stub:
        assert handle(runtime, event("GET", "/admin/rules", **admin))["statusCode"] == 403
        assert handle(runtime, event("GET", "/admin/rules", **admin))["statusCode"] == 403
        clock.advance(ADMIN_SECRET_RETRY_SECONDS)
        assert handle(runtime, event("GET", "/admin/rules", **admin))["statusCode"] == 200
        assert handle(runtime, event("GET", "/admin/rules", **admin))["statusCode"] == 200
        stub.assert_no_pending_responses()
