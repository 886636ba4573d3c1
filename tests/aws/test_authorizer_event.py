"""Telling authorizer events apart and finding their token, beyond the fixture events."""

from __future__ import annotations

from typing import Any

import pytest

from revoker.aws.authorizer_event import parse_authorizer_event

ARN = "arn:aws:execute-api:us-east-1:1:api/prod/GET/x"


@pytest.mark.parametrize(
    ("event", "kind", "token"),
    [
        pytest.param(
            {"type": "TOKEN", "authorizationToken": "Bearer t1", "methodArn": ARN},
            "rest-token",
            "t1",
            id="token",
        ),
        pytest.param(
            {"type": "REQUEST", "methodArn": ARN, "headers": {"AUTHORIZATION": "t2"}},
            "rest-request",
            "t2",
            id="request-upper-header",
        ),
        pytest.param(
            {"type": "REQUEST", "methodArn": ARN, "headers": None},
            "rest-request",
            None,
            id="request-no-headers",
        ),
        pytest.param(
            {"version": "1.0", "type": "REQUEST", "methodArn": ARN, "identitySource": "Bearer t3"},
            "http-1.0",
            "t3",
            id="v1-identity-source",
        ),
        pytest.param(
            {"version": "1.0", "methodArn": ARN, "identitySource": "Bearer t3,other"},
            "http-1.0",
            None,
            id="v1-several-sources",
        ),
        pytest.param(
            {"version": "2.0", "routeArn": ARN, "identitySource": ["t4", "x"]},
            "http-2.0",
            None,
            id="v2-several-sources",
        ),
        pytest.param(
            {"version": "2.0", "routeArn": ARN, "headers": {"authorization": "Bearer a b"}},
            "http-2.0",
            None,
            id="v2-two-words",
        ),
        pytest.param(
            {"type": "TOKEN", "authorizationToken": "Bearer " + "x" * 20_000, "methodArn": ARN},
            "rest-token",
            None,
            id="oversized",
        ),
        pytest.param(
            {"type": "TOKEN", "authorizationToken": 42, "methodArn": ARN},
            "rest-token",
            None,
            id="not-a-string",
        ),
    ],
)
def test_kind_and_token(event: dict[str, Any], kind: str, token: str | None) -> None:
    """The kind comes from the event's own fields; an unusable token reads as None."""
    request = parse_authorizer_event(event)
    assert (request.kind, request.token, request.resource_arn) == (kind, token, ARN)
