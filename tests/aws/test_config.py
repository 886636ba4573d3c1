"""AwsConfig from the environment: defaults, accepted spellings, and clear errors."""

from __future__ import annotations

import pytest

from revoker.aws.config import AwsConfig, StageRef
from revoker.core.errors import ConfigurationError


def test_defaults_are_the_conservative_choices() -> None:
    """No simple responses, the method ARN, a 1 s sync bound, no pass-through, no admin."""
    assert AwsConfig.from_env({}) == AwsConfig(
        simple_responses=False,
        auth_header="authorization",
        policy_resource="method",
        sync_max_age_seconds=1.0,
        admin_token=None,
        passthrough_cognito=False,
        flush_rest_stages=(),
        flush_http_stages=(),
        resolve_usernames=True,
    )


def test_every_variable_is_read() -> None:
    """Each REVOKER_* variable of the AWS handlers lands in its field."""
    config = AwsConfig.from_env(
        {
            "REVOKER_SIMPLE_RESPONSES": "TRUE",
            "REVOKER_AUTH_HEADER": "X-Token",
            "REVOKER_POLICY_RESOURCE": "api-wildcard",
            "REVOKER_SYNC_MAX_AGE": "0.25",
            "REVOKER_ADMIN_TOKEN": "s3cret",
            "REVOKER_ADMIN_TOKEN_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:x",
            "REVOKER_PASSTHROUGH_COGNITO": "yes",
            "REVOKER_COGNITO_CLIENT_SECRET": "cs",
            "REVOKER_FLUSH_REST_STAGES": "abc123/prod, abc123/beta",
            "REVOKER_FLUSH_HTTP_STAGES": "def456/$default",
            "REVOKER_RESOLVE_USERNAMES": "0",
        }
    )
    assert config.simple_responses
    assert config.passthrough_cognito
    assert config.auth_header == "x-token"
    assert config.policy_resource == "api-wildcard"
    assert config.sync_max_age_seconds == 0.25
    assert (config.admin_token, config.cognito_client_secret) == ("s3cret", "cs")
    assert config.flush_rest_stages == (StageRef("abc123", "prod"), StageRef("abc123", "beta"))
    assert config.flush_http_stages == (StageRef("def456", "$default"),)
    assert config.flushes
    assert not config.resolve_usernames


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        pytest.param("REVOKER_SIMPLE_RESPONSES", "maybe", "true or false", id="flag"),
        pytest.param("REVOKER_POLICY_RESOURCE", "everything", "method", id="resource"),
        pytest.param("REVOKER_SYNC_MAX_AGE", "soon", "number", id="age-text"),
        pytest.param("REVOKER_SYNC_MAX_AGE", "-1", "between", id="age-negative"),
        pytest.param("REVOKER_SYNC_MAX_AGE", "nan", "between", id="age-nan"),
        pytest.param("REVOKER_SYNC_MAX_AGE", "3600", "between", id="age-huge"),
        pytest.param("REVOKER_AUTH_HEADER", "bad header", "header name", id="header"),
        pytest.param("REVOKER_FLUSH_REST_STAGES", "no-slash", "apiId/stage", id="stage"),
    ],
)
def test_bad_values_are_configuration_errors(name: str, value: str, message: str) -> None:
    """A bad value names its variable in a one-line ConfigurationError."""
    with pytest.raises(ConfigurationError, match=message):
        AwsConfig.from_env({name: value})
