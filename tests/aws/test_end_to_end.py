"""The deployed path end to end, on loopback: sign in, call, revoke, be refused.

The Lambda entry points build their runtime from the environment, fetch the
dev issuer's keys over real HTTP (127.0.0.1) with the standard-library
fetcher, and share a SQLite store, as the DynamoDB table is shared on AWS.
"""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from revoker.aws import events_handler, lambda_authorizer, revoke_handler
from revoker.aws.runtime import reset_runtime
from revoker.devissuer import DevIssuerServer

from .conftest import load_event, with_token

V2 = "powertools__apiGatewayAuthorizerV2Event.json"
REQUEST_V1 = "samcli__ApiGatewayRestRequestAuthorizer.template.json"


@pytest.fixture
def deployed(
    dev_issuer: DevIssuerServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """The environment the SAM template gives the functions, pointed at the dev issuer."""
    env = {
        "REVOKER_ISSUER": dev_issuer.issuer,
        "REVOKER_JWKS_URL": dev_issuer.jwks_url,
        "REVOKER_AUDIENCE": dev_issuer.issuer_obj.client_id,
        "REVOKER_STORE": f"sqlite:///{tmp_path}/rules.db",
        "REVOKER_ADMIN_TOKEN": "admin-secret-0123456789",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_runtime()
    yield
    reset_runtime()


def revoke_event(form: dict[str, str], authorization: str | None = None) -> dict[str, object]:
    """A REST (v1) proxy event for POST /revoke with a base64 form body."""
    body = base64.b64encode(urlencode(form).encode()).decode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if authorization:
        headers["Authorization"] = authorization
    return {
        "resource": "/revoke",
        "path": "/revoke",
        "httpMethod": "POST",
        "headers": headers,
        "queryStringParameters": None,
        "requestContext": {"stage": "prod"},
        "body": body,
        "isBase64Encoded": True,
    }


@pytest.mark.usefixtures("deployed")
def test_a_signed_out_id_token_is_refused_by_the_authorizer(
    login: Callable[[], dict[str, str]],
) -> None:
    """Sign in, pass the authorizer, revoke at /revoke, then the same ID token gets 401."""
    tokens = login()
    id_token = tokens["IdToken"]
    event = with_token(REQUEST_V1, f"Bearer {id_token}")
    allowed = lambda_authorizer.handler(event, None)
    assert allowed["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    answer = revoke_handler.handler(revoke_event({"token": tokens["AccessToken"]}), None)
    assert (answer["statusCode"], answer["body"]) == (200, "")
    # Same container: the revoke function's write reaches the authorizer's store.
    with pytest.raises(lambda_authorizer.Unauthorized):
        lambda_authorizer.handler(event, None)
    with pytest.raises(lambda_authorizer.Unauthorized):
        lambda_authorizer.handler(with_token(V2, f"Bearer {tokens['AccessToken']}"), None)
    fresh = login()["IdToken"]  # a new sign-in is a new family
    assert lambda_authorizer.handler(with_token(V2, f"Bearer {fresh}"), None)["principalId"]


@pytest.mark.usefixtures("deployed")
def test_a_cloudtrail_sign_out_refuses_the_users_tokens(
    login: Callable[[], dict[str, str]],
) -> None:
    """A GlobalSignOut event carrying the sub revokes every token issued before it."""
    id_token = login()["IdToken"]
    event = with_token(V2, f"Bearer {id_token}")
    sub = lambda_authorizer.handler(event, None)["principalId"]
    trail = {
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.cognito-idp",
        "detail": {
            "eventSource": "cognito-idp.amazonaws.com",
            "eventName": "GlobalSignOut",
            "eventTime": "2099-01-01T00:00:00Z",
            "eventID": "e2e-1",
            "additionalEventData": {"sub": sub},
        },
    }
    # An event from the future is clamped to now: it still covers the token.
    assert events_handler.handler(trail, None)["status"] == "revoked"
    with pytest.raises(lambda_authorizer.Unauthorized):
        lambda_authorizer.handler(event, None)


def test_a_misconfigured_function_answers_500_not_401(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without REVOKER_STORE the authorizer raises a configuration error, never Unauthorized."""
    monkeypatch.delenv("REVOKER_STORE", raising=False)
    monkeypatch.setenv("REVOKER_AUDIENCE", "x")
    reset_runtime()
    try:
        with pytest.raises(lambda_authorizer.AuthorizerUnavailable):
            lambda_authorizer.handler(load_event(V2), None)
        answer = revoke_handler.handler(revoke_event({"token": "x"}), None)
        assert answer["statusCode"] == 500
    finally:
        reset_runtime()


def test_importing_the_handler_loads_no_web_framework_client_or_boto3() -> None:
    """A cold import of the authorizer loads no starlette, uvicorn, fastapi, httpx or boto3."""
    code = (
        "import sys, revoker.aws.lambda_authorizer;"
        "heavy = {'starlette', 'fastapi', 'uvicorn', 'httpx', 'boto3', 'botocore', 'redis',"
        " 'psycopg', 'click', 'jwt', 'prometheus_client'};"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"


def test_a_whole_invocation_on_a_non_aws_store_loads_neither_httpx_nor_boto3() -> None:
    """The first invocation fetches keys with urllib: httpx and boto3 stay unloaded."""
    code = (
        "import os, sys;"
        "os.environ.update(REVOKER_ISSUER='http://127.0.0.1:9/pool',"
        " REVOKER_JWKS_URL='http://127.0.0.1:9/jwks.json', REVOKER_AUDIENCE='c',"
        " REVOKER_STORE='memory://');"
        "from revoker.aws import lambda_authorizer as la;"
        "event = {'type': 'TOKEN', 'authorizationToken': 'Bearer a.b.c',"
        " 'methodArn': 'arn:aws:execute-api:us-east-1:1:a/s/GET/x'};"
        "\ntry:\n    la.handler(event, None)\nexcept la.Unauthorized:\n    pass\n"
        "print(sorted({'httpx', 'boto3', 'botocore', 'starlette'} & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    assert out == "[]"
