"""The authorizer's answers: IAM policy resource, context values, simple responses."""

from __future__ import annotations

from typing import Any

import pytest

from revoker.aws.policy import Unauthorized, authorizer_context, policy_resource

ARN = "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/pets/42"


@pytest.mark.parametrize(
    ("arn", "mode", "expected"),
    [
        pytest.param(ARN, "method", ARN, id="method"),
        pytest.param(
            ARN,
            "api-wildcard",
            "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/*",
            id="wild",
        ),
        pytest.param(
            "arn:aws:execute-api:us-east-1:1:api/$default/POST/x",
            "api-wildcard",
            "arn:aws:execute-api:us-east-1:1:api/$default/*",
            id="http-default-stage",
        ),
        pytest.param("arn:aws:other", "api-wildcard", "arn:aws:other", id="not-execute-api"),
    ],
)
def test_policy_resource(arn: str, mode: str, expected: str) -> None:
    """The wildcard keeps the API and stage and allows every method and path below them."""
    assert policy_resource(arn, mode) == expected


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        pytest.param(
            {"sub": "s", "username": "u", "client_id": "c", "scope": "a b", "token_use": "access"},
            {
                "sub": "s",
                "username": "u",
                "groups": "",
                "scope": "a b",
                "client_id": "c",
                "token_use": "access",
            },
            id="access-token",
        ),
        pytest.param(
            {
                "sub": "s",
                "cognito:username": "u",
                "aud": "c",
                "cognito:groups": ["g1", "g2"],
                "token_use": "id",
            },
            {
                "sub": "s",
                "username": "u",
                "groups": "g1,g2",
                "scope": "",
                "client_id": "c",
                "token_use": "id",
            },
            id="id-token",
        ),
        pytest.param(
            {"sub": "s", "aud": ["c1", "c2"], "cognito:groups": "solo", "scope": 7},
            {
                "sub": "s",
                "username": "",
                "groups": "solo",
                "scope": "",
                "client_id": "c1",
                "token_use": "",
            },
            id="odd-shapes",
        ),
    ],
)
def test_context_is_six_strings(claims: dict[str, Any], expected: dict[str, str]) -> None:
    """Whatever the claims' shapes, the context has the six keys, each a string."""
    assert authorizer_context(claims) == expected


def test_unauthorized_says_exactly_unauthorized() -> None:
    """API Gateway maps only the exact message 'Unauthorized' to a 401."""
    assert str(Unauthorized()) == "Unauthorized"
    assert isinstance(Unauthorized(), Exception)
