"""Hardening, round two (the AWS functions): a stolen, already-revoked token can no longer sign
its victim out again; pass-through acts only for a rule the request created and only for what
the token proves; the revoke function's admin API holds the service's rules (token length,
throttling, no caller-chosen actor, any header bytes); a rule written by any process flushes
API Gateway's authorizer cache."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from revoker.app.compose import Revoker
from revoker.app.settings import Settings
from revoker.aws.clients import AwsClients
from revoker.aws.revoke_handler import handle
from revoker.aws.runtime import Runtime, build_runtime
from revoker.core.errors import ConfigurationError
from revoker.core.registry import RuleKind
from revoker.testing import StaticJwksFetcher, TokenFactory

from .conftest import BASE_ENV, RecordingClient

FORM = "application/x-www-form-urlencoded"
ADMIN_TOKEN = "admin-token-for-the-lambda-0123456789"


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


def revoke(runtime: Runtime, **form: str) -> dict[str, Any]:
    return handle(runtime, event("POST", "/revoke", urlencode(form), **{"Content-Type": FORM}))


@pytest.fixture
def cognito() -> RecordingClient:
    return RecordingClient()


@pytest.fixture
def passthrough_runtime(make_runtime: Callable[..., Runtime], cognito: RecordingClient) -> Runtime:
    """The template's default: Cognito pass-through on, for a pool."""
    clients = AwsClients(ready={"cognito-idp": cognito})
    return make_runtime(
        clients,
        REVOKER_PASSTHROUGH_COGNITO="true",
        REVOKER_COGNITO_USER_POOL_ID="us-east-1_TestPool1",
        REVOKER_REGION="us-east-1",
        REVOKER_ADMIN_TOKEN=ADMIN_TOKEN,
    )


def test_a_stolen_revoked_token_cannot_sign_its_victim_out_again(
    passthrough_runtime: Runtime, factory: TokenFactory, cognito: RecordingClient
) -> None:
    """A subject rule covers the stolen token; posting it to /revoke, again and again, never
    calls AdminUserGlobalSignOut (the victim's new sessions live on)."""
    token = factory.access_token(sub="victim")
    factory.clock.advance(1)
    passthrough_runtime.registry.revoke(RuleKind.SUBJECT, "victim", actor="cloudtrail")
    for _ in range(3):
        assert revoke(passthrough_runtime, token=token)["statusCode"] == 200
    assert "admin_user_global_sign_out" not in cognito.calls
    assert "list_users" not in cognito.calls


def test_revoke_token_is_called_once_for_the_rule_the_request_created(
    passthrough_runtime: Runtime, factory: TokenFactory, cognito: RecordingClient
) -> None:
    """The first revocation of a sign-in hands its refresh token to Cognito; repeating it
    (the family rule exists) calls nothing more: idempotent in its effect on the issuer."""
    token = factory.access_token()
    for _ in range(3):
        answer = revoke(passthrough_runtime, token=token, refresh_token="the-refresh-token")
        assert answer["statusCode"] == 200
    assert cognito.calls.count("revoke_token") == 1
    assert len(passthrough_runtime.registry.rules()) == 1


def test_a_family_whose_refresh_token_cognito_revoked_is_denied_for_one_token_lifetime(
    passthrough_runtime: Runtime, factory: TokenFactory, cognito: RecordingClient
) -> None:
    """RevokeToken runs before the family rule is written; once Cognito has revoked the
    refresh token no new token comes from the family, so its rule lives one maximum token
    lifetime (plus the prune margin), not the 30-day family lifetime."""
    token = factory.access_token(origin_jti="sign-in-1")
    answer = revoke(passthrough_runtime, token=token, refresh_token="the-refresh-token")
    assert answer["statusCode"] == 200
    assert cognito.calls.count("revoke_token") == 1
    (rule,) = passthrough_runtime.registry.rules()
    limits = passthrough_runtime.registry.limits
    assert (rule.kind, rule.value) == (RuleKind.FAMILY, "sign-in-1")
    assert rule.expires_at == factory.clock() + limits.max_token_lifetime_seconds + 300


class RefusingCognito(RecordingClient):
    """Cognito refusing RevokeToken (an unknown or foreign refresh token)."""

    def revoke_token(self, **_request: Any) -> dict[str, Any]:
        self.calls.append("revoke_token")
        error = {"Error": {"Code": "UnauthorizedException", "Message": "not this client's"}}
        raise ClientError(error, "RevokeToken")  # type: ignore[arg-type]


@pytest.mark.parametrize("why", ["cognito refused", "turned off", "no refresh token"])
def test_a_family_rule_keeps_the_family_lifetime_unless_the_issuer_revoked_it(
    make_runtime: Callable[..., Runtime], factory: TokenFactory, why: str
) -> None:
    """Without Cognito's word that the refresh token is dead (it refused, no refresh token
    was given, or short rules are off), the family may still mint tokens: 30 days."""
    cognito = RefusingCognito() if why == "cognito refused" else RecordingClient()
    short = "false" if why == "turned off" else "true"
    runtime = make_runtime(
        AwsClients(ready={"cognito-idp": cognito}),
        REVOKER_PASSTHROUGH_COGNITO="true",
        REVOKER_SHORT_RULES_WHEN_ISSUER_REVOKED=short,
        REVOKER_REGION="us-east-1",
    )
    form = {} if why == "no refresh token" else {"refresh_token": "the-refresh-token"}
    assert revoke(runtime, token=factory.access_token(), **form)["statusCode"] == 200
    (rule,) = runtime.registry.rules()
    family_lifetime = runtime.registry.limits.family_lifetime_seconds
    assert rule.expires_at == factory.clock() + family_lifetime + 300


def test_a_short_admin_token_is_refused_at_start(
    fetcher: StaticJwksFetcher, make_runtime: Callable[..., Runtime]
) -> None:
    """A three-character admin token is a misconfiguration, as it is for revoker serve."""
    with pytest.raises(ConfigurationError, match="at least 16"):
        build_runtime({**BASE_ENV, "REVOKER_ADMIN_TOKEN": "abc"}, fetcher=fetcher)


def test_wrong_admin_guesses_are_throttled(make_runtime: Callable[..., Runtime]) -> None:
    """Ten wrong guesses from one address, then 429 even for the right token."""
    runtime = make_runtime(REVOKER_ADMIN_TOKEN=ADMIN_TOKEN)
    for attempt in range(10):
        wrong = event("GET", "/admin/rules", Authorization=f"Bearer guess-{attempt:020d}")
        assert handle(runtime, wrong)["statusCode"] == 401
    right = handle(runtime, event("GET", "/admin/rules", Authorization=f"Bearer {ADMIN_TOKEN}"))
    assert right["statusCode"] == 429
    assert right["headers"]["Retry-After"] == "60"


def test_the_caller_cannot_choose_the_audit_actor(make_runtime: Callable[..., Runtime]) -> None:
    """An 'actor' field is an unknown field (400); every admin change is audited as admin."""
    runtime = make_runtime(REVOKER_ADMIN_TOKEN=ADMIN_TOKEN)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
    forged = json.dumps({"kind": "subject", "value": "u", "actor": "someone-else"})
    answer = handle(runtime, event("POST", "/admin/rules", forged, **headers))
    assert answer["statusCode"] == 400
    assert "actor" in json.loads(answer["body"])["error_description"]
    assert runtime.registry.audit() == []


@pytest.mark.parametrize(
    "authorization",
    ["Bearer \udcff\udcfe", "\udcff", "Basic \ud800", "Bearer " + "x" * 20_000],
    ids=["surrogate-bearer", "surrogate-bare", "surrogate-basic", "huge"],
)
def test_any_authorization_value_is_a_401_never_a_raise(
    make_runtime: Callable[..., Runtime], authorization: str
) -> None:
    """A lone surrogate (API Gateway hands over what the client sent) is a refusal."""
    runtime = make_runtime(REVOKER_ADMIN_TOKEN=ADMIN_TOKEN)
    answer = handle(runtime, event("GET", "/admin/audit", Authorization=authorization))
    assert answer["statusCode"] == 401


def stubbed(service: str) -> tuple[Any, Stubber]:
    client = boto3.session.Session().client(
        service, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )
    return client, Stubber(client)


def test_a_rule_written_by_the_cli_or_serve_flushes_the_authorizer_cache() -> None:
    """Any process that writes rules (revoker revoke --store dynamodb://…, revoker serve) with
    the flush settings flushes the stage after its rule is durable, as the revoke function does."""
    rest, stub = stubbed("apigateway")
    stub.add_response(
        "flush_stage_authorizers_cache", {}, {"restApiId": "restapi1", "stageName": "prod"}
    )
    settings = Settings(
        audience=None, store_url="memory://", flush_rest_stages=(("restapi1", "prod"),),
        sync_max_age_seconds=0,
    )  # fmt: skip
    with (
        stub,
        Revoker.for_rules(settings, aws_clients=AwsClients(ready={"apigateway": rest})) as cli,
    ):
        cli.operations.create_rule({"kind": "subject", "value": "u"}, actor="cli:ops")
        stub.assert_no_pending_responses()
