"""The settings of the surfaces that authorize once, and the cost of importing their handlers."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from revoker.app.compose import Revoker
from revoker.app.settings import Settings
from revoker.app.sources import load_settings
from revoker.aws import realtime
from revoker.aws.appsync_invalidate import AppSyncInvalidator
from revoker.aws.clients import AwsClients
from revoker.aws.closer import ConnectionCloser
from revoker.core.errors import ConfigurationError


@pytest.mark.parametrize(
    "values",
    [
        pytest.param({"websocket_token_sources": ("cookie:session",)}, id="unknown-source"),
        pytest.param({"websocket_token_sources": ("header:",)}, id="no-name"),
        pytest.param({"websocket_token_sources": ()}, id="no-source"),
        pytest.param({"appsync_max_ttl_seconds": 3601.0}, id="ttl-over-appsync-bound"),
        pytest.param({"appsync_max_ttl_seconds": -1.0}, id="ttl-negative"),
        pytest.param({"websocket_max_connection_seconds": 0.0}, id="no-connection-life"),
        pytest.param({"appsync_invalidation_url": "http://api.example/graphql"}, id="not-https"),
    ],
)
def test_unusable_values_are_refused_however_they_are_given(values: dict[str, Any]) -> None:
    """Settings built directly are checked as the loaders check them: one line, no default."""
    with pytest.raises(ConfigurationError):
        Settings(audience=None, **values)


def test_the_environment_names_and_defaults() -> None:
    """REVOKER_CONNECTIONS, REVOKER_APPSYNC_MAX_TTL, … and what they default to."""
    default = load_settings(environ={}, config=None)
    assert (
        default.connections_store_url,
        default.appsync_invalidation_url,
        default.appsync_max_ttl_seconds,
        default.websocket_token_sources,
        default.websocket_max_connection_seconds,
    ) == (None, None, 0.0, ("header:authorization",), 7200.0)
    given = load_settings(
        environ={
            "REVOKER_CONNECTIONS": "memory://",
            "REVOKER_APPSYNC_MAX_TTL": "5m",
            "REVOKER_WEBSOCKET_MAX_CONNECTION": "1h",
            "REVOKER_WEBSOCKET_TOKEN_SOURCES": "protocol:bearer,query:access_token",
            "REVOKER_APPSYNC_INVALIDATION_URL": "https://x.appsync-api.eu-west-1.amazonaws.com/graphql",
        },
        config=None,
    )
    assert given.appsync_max_ttl_seconds == 300
    assert given.websocket_max_connection_seconds == 3600
    assert given.websocket_token_sources == ("protocol:bearer", "query:access_token")


def test_install_effects_adds_the_closer_and_the_invalidator_when_asked() -> None:
    """Any process (the CLI, the service) gets the same hooks from the same settings."""
    settings = Settings(
        audience=None,
        store_url="memory://",
        connections_store_url="memory://",
        appsync_invalidation_url="https://abc.appsync-api.eu-west-1.amazonaws.com/graphql",
    )
    with Revoker.for_rules(settings, effects=False) as revoker:
        installed = realtime.install(revoker, clients=AwsClients())
        assert isinstance(installed.closer, ConnectionCloser)
        assert isinstance(installed.invalidator, AppSyncInvalidator)
    assert not realtime.wanted(Settings(audience=None))


def test_a_custom_appsync_domain_needs_a_region() -> None:
    """The region is in AppSync's own host name; a custom domain needs AWS_REGION."""
    url = "https://graphql.example.com/graphql"
    with Revoker.for_rules(Settings(audience=None, store_url="memory://"), effects=False) as rev:
        with pytest.raises(ConfigurationError, match="AWS_REGION"):
            realtime.build(
                rev.settings.replace(appsync_invalidation_url=url),
                clients=AwsClients(),
                revoker=rev,
            )
        built = realtime.build(
            rev.settings.replace(appsync_invalidation_url=url, region="eu-west-1"),
            clients=AwsClients(),
            revoker=rev,
        )
        assert built.invalidator is not None


@pytest.mark.parametrize(
    "module",
    [
        "revoker.aws.lambda_authorizer",
        "revoker.aws.appsync_authorizer",
        "revoker.aws.websocket_handler",
        "revoker.aws.stream_handler",
    ],
)
def test_importing_a_handler_loads_no_web_framework_client_or_boto3(module: str) -> None:
    """A cold import stays light: boto3 only when a store or a call needs it."""
    code = (
        f"import sys, {module};"
        "heavy = {'starlette', 'fastapi', 'uvicorn', 'httpx', 'boto3', 'botocore', 'redis',"
        " 'psycopg', 'click', 'jwt'};"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    assert out == "[]"
