"""deploy/aws/template.yaml: cfn-lint passes, and it agrees with the code it deploys."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

from revoker.app.http_api import ROUTES
from revoker.aws.cloudtrail import SIGN_OUT_EVENTS
from revoker.core.registry import RegistryLimits

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "deploy" / "aws" / "template.yaml"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded: dict[str, Any] = cfn_yaml.load(str(TEMPLATE))
    return loaded


def test_cfn_lint_passes() -> None:
    """cfn-lint (the CI gate) finds no error or warning in the SAM template."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from cfnlint.runner import main; sys.exit(main())",
            str(TEMPLATE),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_handler_is_importable(template: dict[str, Any]) -> None:
    """Each revoker function's Handler names a callable in this package."""
    handlers = [
        resource["Properties"]["Handler"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function"
        and resource["Properties"]["Handler"].startswith("revoker.")
    ]
    assert sorted(handlers) == [
        "revoker.aws.appsync_authorizer.handler",
        "revoker.aws.events_handler.handler",
        "revoker.aws.lambda_authorizer.handler",
        "revoker.aws.revoke_handler.handler",
        "revoker.aws.stream_handler.handler",
        "revoker.aws.websocket_handler.handler",
    ]
    for handler in handlers:
        module, _, name = handler.rpartition(".")
        assert callable(getattr(importlib.import_module(module), name)), handler


def test_the_revoke_api_routes_every_path_of_the_shared_route_table(
    template: dict[str, Any],
) -> None:
    """Each path the revoke function answers (``HttpApi.ROUTES``) has an API route to it, so
    an endpoint added to both transports is not left unreachable on AWS."""
    events = template["Resources"]["RevokeFunction"]["Properties"]["Events"].values()
    routed = {(event["Properties"]["Path"], event["Properties"]["Method"]) for event in events}
    for path, methods in ROUTES:
        if path.startswith("/admin/"):
            assert ("/admin/{proxy+}", "ANY") in routed, path
            continue
        for method in methods:
            assert (path, method) in routed, f"{method} {path}"


@pytest.mark.parametrize("name", ["RulesTable", "ConnectionsTable"])
def test_the_tables_match_the_stores(template: dict[str, Any], name: str) -> None:
    """The keys and TTL attribute are the ones the DynamoDB stores write (both tables)."""
    table = template["Resources"][name]["Properties"]
    assert [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]] == [
        ("pk", "HASH"),
        ("sk", "RANGE"),
    ]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}


def test_the_eventbridge_rule_sends_exactly_the_events_the_handler_reads(
    template: dict[str, Any],
) -> None:
    """The rule's eventName list is SIGN_OUT_EVENTS: nothing missed, nothing wasted."""
    events = template["Resources"]["SignOutEventsFunction"]["Properties"]["Events"]
    pattern = events["CognitoSignOuts"]["Properties"]["Pattern"]
    assert set(pattern["detail"]["eventName"]) == SIGN_OUT_EVENTS
    assert pattern["detail"]["eventSource"] == ["cognito-idp.amazonaws.com"]


def statements(template: dict[str, Any], function: str) -> list[dict[str, Any]]:
    policies = template["Resources"][function]["Properties"]["Policies"]
    return [statement for policy in policies for statement in policy["Statement"]]


SETTINGS_ONLY = {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["setting"]}}


def actions_on(template: dict[str, Any], function: str, table: str) -> list[str]:
    """The actions granted on ``table`` without a condition."""
    found = []
    for statement in statements(template, function):
        if statement.get("Resource") == {"Fn::GetAtt": [table, "Arn"]} and (
            "Condition" not in statement
        ):
            actions = statement["Action"]
            found += [actions] if isinstance(actions, str) else actions
    return sorted(found)


@pytest.mark.parametrize("function", ["AuthorizerFunction", "AppSyncAuthorizerFunction"])
def test_the_authorizers_may_only_read_the_rules(template: dict[str, Any], function: str) -> None:
    """Least privilege: an authorizer reads the rules (GetItem, Query; BatchGetItem in the
    lookup mode) and never writes one: its one update is the lifetime agreement, on the
    ``setting`` partition only."""
    assert actions_on(template, function, "RulesTable") == [
        "dynamodb:BatchGetItem",
        "dynamodb:GetItem",
        "dynamodb:Query",
    ]
    conditioned = [s for s in statements(template, function) if "Condition" in s]
    assert conditioned == [
        {
            "Effect": "Allow",
            "Action": "dynamodb:UpdateItem",
            "Resource": {"Fn::GetAtt": ["RulesTable", "Arn"]},
            "Condition": SETTINGS_ONLY,
        }
    ]


@pytest.mark.parametrize("function", ["RevokeFunction", "SignOutEventsFunction"])
def test_the_rule_writers_may_read_the_tables_layout(
    template: dict[str, Any], function: str
) -> None:
    """Every process reads the table's layout (its log shards) with one BatchGetItem before
    its first write (stores/_dynamodb_shards.py): the writers need it, as the authorizers do."""
    assert "dynamodb:BatchGetItem" in actions_on(template, function, "RulesTable")


def test_the_connection_writers_get_exactly_what_they_call(template: dict[str, Any]) -> None:
    """The $connect authorizer records (PutItem via a transaction) and forgets (GetItem,
    BatchWriteItem); the routes forget; the stream function reads and scans."""
    assert actions_on(template, "AuthorizerFunction", "ConnectionsTable") == [
        "dynamodb:BatchWriteItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
    ]
    assert actions_on(template, "WebSocketRoutesFunction", "ConnectionsTable") == [
        "dynamodb:BatchWriteItem",
        "dynamodb:GetItem",
    ]
    assert actions_on(template, "StreamFunction", "ConnectionsTable") == [
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:Scan",
    ]
    assert actions_on(template, "StreamFunction", "RulesTable") == []


def test_the_stream_function_may_close_connections_and_call_one_mutation(
    template: dict[str, Any],
) -> None:
    """DeleteConnection on the example WebSocket stage only; the revokerInvalidate field only."""
    found = {
        s["Action"]: s["Resource"]
        for s in statements(template, "StreamFunction")
        if isinstance(s["Action"], str)
    }
    manage = found["execute-api:ManageConnections"]["Fn::Sub"]
    assert manage.endswith(":${WebSocketApi}/${StageName}/DELETE/@connections/*")
    graphql = found["appsync:GraphQL"]["Fn::Sub"]
    assert graphql == "${ExampleGraphQLApi.Arn}/types/Mutation/fields/revokerInvalidate"


def test_the_stream_filter_passes_what_the_stream_function_reads(
    template: dict[str, Any],
) -> None:
    """The event source mapping lets through new rules' change items and nothing else."""
    from revoker.aws.stream_handler import rule_of_record  # noqa: PLC0415
    from revoker.core.registry.rules import new_rule  # noqa: PLC0415

    event = template["Resources"]["StreamFunction"]["Properties"]["Events"]["NewRules"]
    assert event["Properties"]["Stream"] == {"Fn::GetAtt": ["RulesTable", "StreamArn"]}
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert template["Resources"]["RulesTable"]["Properties"]["StreamSpecification"] == {
        "StreamViewType": "NEW_IMAGE"
    }
    [entry] = event["Properties"]["FilterCriteria"]["Filters"]
    pattern = json.loads(entry["Pattern"])
    rule = new_rule("family", "f", now=1.7e9, limits=RegistryLimits(), actor="t")
    for pk, op, name in [("change", "add", "INSERT"), ("change", "lift", "INSERT"),
                         ("change#07", "add", "INSERT"), ("audit#07", "add", "INSERT"),
                         ("rule", "add", "INSERT"), ("rule#07", "add", "INSERT"),
                         ("change", "add", "REMOVE")]:  # fmt: skip
        record = {
            "eventName": name,
            "dynamodb": {
                "NewImage": {
                    "pk": {"S": pk},
                    "op": {"S": op},
                    "rule": {"S": json.dumps(rule.to_dict())},
                }
            },
        }
        assert matches(pattern, record) == (rule_of_record(record) is not None)


def matches(pattern: Any, value: Any) -> bool:
    """An event filter pattern of exact values and prefixes (lists of what is allowed), as
    Lambda reads it."""
    if isinstance(pattern, list):
        return any(
            value.startswith(allowed["prefix"])
            if isinstance(allowed, dict) and isinstance(value, str)
            else value == allowed
            for allowed in pattern
        )
    return isinstance(value, dict) and all(
        key in value and matches(sub, value[key]) for key, sub in pattern.items()
    )


def test_the_appsync_schema_and_resolvers_fit_the_invalidation(template: dict[str, Any]) -> None:
    """The mutation's arguments are the payload's fields; the subscription sets the filter
    the authorizer passes in resolverContext; the mutation sends those fields."""
    from revoker.aws.appsync_filter import invalidation_payload  # noqa: PLC0415
    from revoker.aws.appsync_invalidate import MUTATION  # noqa: PLC0415
    from revoker.core.registry.rules import new_rule  # noqa: PLC0415

    resources = template["Resources"]
    schema = resources["ExampleGraphQLSchema"]["Properties"]["Definition"]
    fields = "kind: String!, value: String!, issuer: String!, cutoff: Float!"
    assert f"revokerInvalidate({fields}): Boolean\n    @aws_iam" in schema
    rule = new_rule("family", "f", now=1.7e9, limits=RegistryLimits(), actor="t")
    assert sorted(invalidation_payload(rule)) == ["cutoff", "issuer", "kind", "value"]
    assert "revokerInvalidate(kind: $kind, value: $value, issuer: $issuer, cutoff: $cutoff)" in (
        MUTATION
    )
    subscribe = resources["OnMessageResolver"]["Properties"]["Code"]
    assert "setSubscriptionInvalidationFilter(JSON.parse(context.invalidation_filter))" in subscribe
    invalidate = resources["RevokerInvalidateResolver"]["Properties"]["Code"]
    assert "subscriptionField: 'onMessage'" in invalidate
    assert "payload: { kind, value, issuer, cutoff }" in invalidate


def test_the_websocket_default_token_sources_are_valid_settings(template: dict[str, Any]) -> None:
    """The template's default REVOKER_WEBSOCKET_TOKEN_SOURCES loads as a setting."""
    from revoker.app.sources import load_settings  # noqa: PLC0415

    default = template["Parameters"]["WebSocketTokenSources"]["Default"]
    settings = load_settings(environ={"REVOKER_WEBSOCKET_TOKEN_SOURCES": default}, config=None)
    assert settings.websocket_token_sources == ("protocol:bearer", "header:Authorization")
