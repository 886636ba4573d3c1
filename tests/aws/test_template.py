"""deploy/aws/template.yaml: cfn-lint passes, and it agrees with the code it deploys."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

from revoker.aws.cloudtrail import SIGN_OUT_EVENTS

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
    assert len(handlers) == 3
    for handler in handlers:
        module, _, name = handler.rpartition(".")
        assert callable(getattr(importlib.import_module(module), name)), handler


def test_the_table_matches_the_store(template: dict[str, Any]) -> None:
    """The table's keys and TTL attribute are the ones the DynamoDB store writes."""
    table = template["Resources"]["RulesTable"]["Properties"]
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


def test_the_authorizer_may_only_read_the_table(template: dict[str, Any]) -> None:
    """Least privilege: the authorizer function gets GetItem and Query, nothing else."""
    policies = template["Resources"]["AuthorizerFunction"]["Properties"]["Policies"]
    [statement] = policies[0]["Statement"]
    assert sorted(statement["Action"]) == ["dynamodb:GetItem", "dynamodb:Query"]
