"""The revoke function: RFC 7009 /revoke and the admin routes, from API Gateway proxy events."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from revoker.aws.clients import AwsClients
from revoker.aws.revoke_handler import handle
from revoker.aws.runtime import Runtime
from revoker.core.registry import RuleFilter
from revoker.testing import FrozenClock, StaticJwksFetcher, TokenFactory

from .conftest import load_event

ADMIN = "Bearer admin-secret-0123456789"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def runtime(make_runtime: Callable[..., Runtime]) -> Runtime:
    return make_runtime(REVOKER_ADMIN_TOKEN="admin-secret-0123456789")


def v1_event(
    method: str,
    path: str,
    body: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    base64_body: bool = False,
) -> dict[str, Any]:
    """A REST API (payload 1.0) proxy event."""
    if body is not None and base64_body:
        body = base64.b64encode(body.encode()).decode()
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers or {},
        "queryStringParameters": query,
        "requestContext": {"stage": "prod", "path": f"/prod{path}"},
        "body": body,
        "isBase64Encoded": base64_body,
    }


def v2_event(method: str, raw_path: str, body: str, headers: dict[str, str]) -> dict[str, Any]:
    """The Powertools HTTP API (payload 2.0) proxy event, re-aimed at ``raw_path``."""
    event = copy.deepcopy(load_event("powertools__apiGatewayProxyV2LambdaAuthorizerEvent.json"))
    event["rawPath"] = raw_path
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["http"]["path"] = raw_path
    event["requestContext"]["stage"] = "prod"
    event["headers"] = headers
    event["queryStringParameters"] = None
    event["body"] = base64.b64encode(body.encode()).decode()
    event["isBase64Encoded"] = True
    return event


def revoke(runtime: Runtime, form: dict[str, str], **headers: str) -> dict[str, Any]:
    all_headers = {"Content-Type": FORM, **headers}
    return handle(runtime, v1_event("POST", "/revoke", urlencode(form), headers=all_headers))


def admin(
    runtime: Runtime, method: str, path: str, body: Any = None, **query: str
) -> tuple[int, Any]:
    headers = {"Authorization": ADMIN, "Content-Type": "application/json"}
    text = None if body is None else json.dumps(body)
    answer = handle(runtime, v1_event(method, path, text, headers=headers, query=query or None))
    return answer["statusCode"], json.loads(answer["body"]) if answer["body"] else None


def test_a_token_revokes_its_own_family(runtime: Runtime, factory: TokenFactory) -> None:
    """POST /revoke with an access token: 200, empty body, and the ID token of that sign-in dies."""
    origin = "origin-1"
    access = factory.access_token(origin_jti=origin)
    id_token = factory.id_token(origin_jti=origin)
    answer = revoke(runtime, {"token": access, "token_type_hint": "access_token"})
    assert (answer["statusCode"], answer["body"]) == (200, "")
    assert answer["headers"]["Cache-Control"] == "no-store"
    assert runtime.authorizer.check(id_token).reason == "revoked_family"
    [rule] = runtime.registry.rules()
    assert (rule.kind, rule.value, rule.actor) == ("family", origin, "self:user-1")


def test_http_api_v2_events_with_a_stage_and_base64_body(
    runtime: Runtime, factory: TokenFactory
) -> None:
    """An HTTP API 2.0 event: the stage is stripped from rawPath and the body decoded."""
    token = factory.access_token(origin_jti=None)
    event = v2_event("POST", "/prod/revoke", urlencode({"token": token}), {"content-type": FORM})
    assert handle(runtime, event)["statusCode"] == 200
    assert runtime.authorizer.check(token).reason == "revoked_token"


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("not-a-token", id="garbage"),
        pytest.param("eyJhbGciOiJub25lIn0.e30.", id="alg-none"),
    ],
)
def test_an_invalid_token_still_gets_200_and_revokes_nothing(runtime: Runtime, token: str) -> None:
    """RFC 7009 2.2: an invalid token is answered 200; no rule is stored."""
    assert revoke(runtime, {"token": token})["statusCode"] == 200
    assert runtime.registry.rules(RuleFilter(include_expired=True)) == []


def test_an_expired_token_revokes_nothing(
    runtime: Runtime, factory: TokenFactory, clock: FrozenClock
) -> None:
    """A token past its exp needs no rule: 200 and nothing stored."""
    token = factory.access_token()
    clock.advance(7200)
    assert revoke(runtime, {"token": token})["statusCode"] == 200
    assert runtime.registry.rules() == []


@pytest.mark.parametrize(
    ("event", "status", "code"),
    [
        pytest.param(
            v1_event("POST", "/revoke", "token_type_hint=x", headers={"Content-Type": FORM}),
            400,
            "invalid_request",
            id="no-token",
        ),
        pytest.param(
            v1_event("POST", "/revoke", '{"token": "x"}', headers={"content-type": "text/json"}),
            415,
            "invalid_request",
            id="not-a-form",
        ),
        pytest.param(
            v1_event("POST", "/revoke", "token=a&token=b", headers={"Content-Type": FORM}),
            400,
            "invalid_request",
            id="repeated-field",
        ),
        pytest.param(
            {**v1_event("POST", "/revoke", "%%%"), "isBase64Encoded": True},
            400,
            "invalid_request",
            id="bad-base64",
        ),
        pytest.param(v1_event("GET", "/revoke"), 405, "method_not_allowed", id="get"),
        pytest.param(v1_event("POST", "/elsewhere"), 404, "not_found", id="unknown-path"),
        pytest.param({"hello": "world"}, 400, "invalid_request", id="not-a-proxy-event"),
        pytest.param(
            {**v1_event("POST", "/revoke"), "headers": ["a", "b"]},
            400,
            "invalid_request",
            id="headers-not-an-object",
        ),
        pytest.param(
            {**v1_event("POST", "/revoke"), "queryStringParameters": "a=b"},
            400,
            "invalid_request",
            id="query-not-an-object",
        ),
    ],
)
def test_bad_requests_get_a_stable_error_code(
    runtime: Runtime, event: dict[str, Any], status: int, code: str
) -> None:
    """Malformed requests are answered with a status and an OAuth-style code, never a trace."""
    answer = handle(runtime, event)
    assert answer["statusCode"] == status
    assert json.loads(answer["body"])["error"] == code


def test_unreachable_keys_give_503_not_200(
    make_runtime: Callable[..., Runtime], fetcher: StaticJwksFetcher, factory: TokenFactory
) -> None:
    """When the token cannot be checked the revoke answers 503: the caller must retry."""
    fetcher.document = None
    runtime = make_runtime()
    answer = revoke(runtime, {"token": factory.access_token()})
    assert answer["statusCode"] == 503
    assert json.loads(answer["body"])["error"] == "jwks_unavailable"


@pytest.mark.parametrize(
    ("authorization", "status", "code"),
    [
        pytest.param(None, 401, "unauthorized", id="missing"),
        pytest.param("Bearer wrong", 401, "invalid_token", id="wrong"),
        pytest.param("Basic admin-secret-0123456789", 401, "invalid_client", id="wrong-scheme"),
    ],
)
def test_admin_routes_need_the_admin_credential(
    runtime: Runtime, authorization: str | None, status: int, code: str
) -> None:
    """Without the admin bearer token the admin routes answer 401 with a challenge."""
    headers = {"Authorization": authorization} if authorization else {}
    answer = handle(runtime, v1_event("GET", "/admin/rules", headers=headers))
    assert answer["statusCode"] == status
    assert json.loads(answer["body"])["error"] == code
    assert answer["headers"]["WWW-Authenticate"].startswith("Bearer")


def test_admin_routes_are_off_without_a_configured_credential(
    make_runtime: Callable[..., Runtime],
) -> None:
    """No REVOKER_ADMIN_TOKEN: the admin routes answer 403 admin_disabled to everyone."""
    runtime = make_runtime()
    answer = handle(runtime, v1_event("GET", "/admin/rules", headers={"Authorization": ADMIN}))
    assert (answer["statusCode"], json.loads(answer["body"])["error"]) == (403, "admin_disabled")


def test_admin_create_list_get_lift_and_audit(runtime: Runtime, clock: FrozenClock) -> None:
    """The admin contract: create (201), list, get, lift (then 404), and the audit trail."""
    status, created = admin(
        runtime, "POST", "/admin/rules", {"kind": "subject", "value": "user-9", "reason": "fired"}
    )
    assert status == 201
    rule = created["rule"]
    assert (rule["kind"], rule["value"], rule["cutoff"], rule["actor"]) == (
        "subject",
        "user-9",
        clock(),
        "admin",
    )
    page = {"limit": 100, "offset": 0}
    assert admin(runtime, "GET", "/admin/rules", kind="subject") == (200, {"rules": [rule], **page})
    assert admin(runtime, "GET", "/admin/rules", kind="token") == (200, {"rules": [], **page})
    assert admin(runtime, "GET", f"/admin/rules/{rule['id']}") == (200, {"rule": rule})
    assert admin(runtime, "DELETE", f"/admin/rules/{rule['id']}", reason="oops")[0] == 200
    status, body = admin(runtime, "DELETE", f"/admin/rules/{rule['id']}")
    assert (status, body["error"]) == (404, "rule_not_found")
    status, audit = admin(runtime, "GET", "/admin/audit")
    assert [(e["action"], e["actor"], e["reason"]) for e in audit["entries"]] == [
        ("revoke", "admin", "fired"),
        ("lift", "admin", "oops"),
    ]


def test_admin_check_reports_the_reason(runtime: Runtime, factory: TokenFactory) -> None:
    """POST /admin/check answers allowed, the reason code and the matching rule."""
    token = factory.access_token()
    status, body = admin(runtime, "POST", "/admin/check", {"token": token})
    assert status == 200
    assert (body["allowed"], body["reason"], body["rule"]) == (True, "allowed", None)
    assert body["claims"]["sub"] == "user-1"
    admin(runtime, "POST", "/admin/rules", {"kind": "subject", "value": "user-1"})
    _, body = admin(runtime, "POST", "/admin/check", {"token": token})
    assert (body["allowed"], body["reason"], body["rule"]["kind"]) == (
        False,
        "revoked_subject",
        "subject",
    )
    assert admin(runtime, "POST", "/admin/check", {"token": "x"})[1]["reason"] == "malformed"


@pytest.mark.parametrize(
    ("method", "path", "body", "query", "status", "code"),
    [
        pytest.param(
            "POST",
            "/admin/rules",
            {"kind": "nope", "value": "x"},
            {},
            400,
            "invalid_rule",
            id="bad-kind",
        ),
        pytest.param(
            "POST", "/admin/rules", {"kind": "token"}, {}, 400, "invalid_rule", id="no-value"
        ),
        pytest.param(
            "POST",
            "/admin/rules",
            {"kind": "token", "value": "x", "expires_at": "soon"},
            {},
            400,
            "invalid_rule",
            id="bad-expiry",
        ),
        pytest.param(
            "POST", "/admin/rules", [1, 2], {}, 400, "invalid_request", id="not-an-object"
        ),
        pytest.param(
            "GET", "/admin/rules", None, {"kind": "nope"}, 400, "invalid_rule", id="bad-filter"
        ),
        pytest.param(
            "GET", "/admin/rules", None, {"limit": "-1"}, 400, "invalid_request", id="bad-limit"
        ),
        pytest.param(
            "GET", "/admin/audit", None, {"limit": "0"}, 400, "invalid_request", id="zero-limit"
        ),
        pytest.param("PUT", "/admin/rules", None, {}, 405, "method_not_allowed", id="put"),
        pytest.param("GET", "/admin/nothing", None, {}, 404, "not_found", id="unknown"),
    ],
)
def test_admin_input_errors(
    runtime: Runtime,
    *,
    method: str,
    path: str,
    body: Any,
    query: dict[str, str],
    status: int,
    code: str,
) -> None:
    """Bad admin input gets a 4xx with a stable code."""
    got_status, got = admin(runtime, method, path, body, **query)
    assert (got_status, got["error"]) == (status, code)


def test_the_admin_token_may_come_from_secrets_manager(
    make_runtime: Callable[..., Runtime],
) -> None:
    """REVOKER_ADMIN_TOKEN_SECRET_ARN: the credential is read once from Secrets Manager (moto)."""
    with mock_aws():
        clients = AwsClients(region="us-east-1")
        secrets = clients.get("secretsmanager")
        arn = secrets.create_secret(Name="revoker-admin", SecretString="from-the-vault-0123456789")[
            "ARN"
        ]
        runtime = make_runtime(clients=clients, REVOKER_ADMIN_TOKEN_SECRET_ARN=arn)
        good = {"Authorization": "Bearer from-the-vault-0123456789"}
        assert handle(runtime, v1_event("GET", "/admin/audit", headers=good))["statusCode"] == 200
        secrets.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
        # Read once per container: the deleted secret is not asked for again.
        assert handle(runtime, v1_event("GET", "/admin/audit", headers=good))["statusCode"] == 200


def stubbed_cognito() -> tuple[Any, Stubber]:
    client = boto3.session.Session().client(
        "cognito-idp", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return client, Stubber(client)


def test_a_supplied_refresh_token_is_passed_to_cognito_revoke_token(
    make_runtime: Callable[..., Runtime], factory: TokenFactory
) -> None:
    """With pass-through, /revoke's refresh_token goes to RevokeToken with the token's client."""
    client, stub = stubbed_cognito()
    stub.add_response(
        "revoke_token", {}, {"Token": "refresh-token-1", "ClientId": factory.client_id}
    )
    runtime = make_runtime(
        clients=AwsClients(ready={"cognito-idp": client}), REVOKER_PASSTHROUGH_COGNITO="true"
    )
    with stub:
        answer = revoke(runtime, {"token": factory.id_token(), "refresh_token": "refresh-token-1"})
        stub.assert_no_pending_responses()
    assert answer["statusCode"] == 200
    assert [r.kind for r in runtime.registry.rules()] == ["family"]


@pytest.mark.parametrize(
    "form",
    [
        pytest.param({"client_id": "client-9"}, id="with-client-id"),
        pytest.param({}, id="single-audience"),
    ],
)
def test_a_lone_refresh_token_goes_to_cognito_only(
    make_runtime: Callable[..., Runtime], form: dict[str, str]
) -> None:
    """token_type_hint=refresh_token: Cognito RevokeToken, no rule (its family is unreadable)."""
    client, stub = stubbed_cognito()
    client_id = form.get("client_id", "testclient0123456789abcdef")
    stub.add_response("revoke_token", {}, {"Token": "opaque-refresh", "ClientId": client_id})
    runtime = make_runtime(
        clients=AwsClients(ready={"cognito-idp": client}), REVOKER_PASSTHROUGH_COGNITO="true"
    )
    body = {"token": "opaque-refresh", "token_type_hint": "refresh_token", **form}
    with stub:
        assert revoke(runtime, body)["statusCode"] == 200
        stub.assert_no_pending_responses()
    assert runtime.registry.rules() == []


@pytest.mark.parametrize("raw", ["²", "٣", "9" * 5000], ids=["superscript", "arabic-indic", "huge"])
def test_regression_unicode_digits_in_a_limit_are_a_400(runtime: Runtime, raw: str) -> None:
    """A limit that str.isdigit() accepts but int() refuses is a 400, not a 500."""
    status, body = admin(runtime, "GET", "/admin/rules", None, limit=raw)
    assert status == 400
    assert body["error"] == "invalid_request"
