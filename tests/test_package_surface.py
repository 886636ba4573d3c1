"""Guards: the public names, and what importing revoker loads."""

from __future__ import annotations

import subprocess
import sys

import revoker
from revoker.core import errors


def test_exported_names_are_sorted_and_exist() -> None:
    """__all__ is sorted and every name in it is importable from the package."""
    assert list(revoker.__all__) == sorted(revoker.__all__)
    for name in revoker.__all__:
        assert hasattr(revoker, name), name


def test_every_error_class_has_a_known_reason_code() -> None:
    """Each concrete error's reason is a design.md reason code or an operational code."""
    operational = {"store_error", "configuration", "error", "invalid_rule", "rule_not_found",
                   "invalid_request", "unauthorized", "forbidden", "not_found",
                   "method_not_allowed", "request_too_large", "too_many_requests"}  # fmt: skip
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type) and issubclass(obj, errors.RevokerError):
            assert obj.reason in errors.REASONS or obj.reason in operational, name


def test_token_errors_are_401_and_dependency_errors_are_503() -> None:
    """A bad token never looks like an outage, and an outage never looks like a bad token."""
    assert errors.BadSignature.http_status == 401
    assert errors.MalformedToken.http_status == 401
    assert errors.JwksUnavailable.http_status == 503
    assert errors.RegistryStale.http_status == 503
    assert not issubclass(errors.RegistryStale, errors.TokenRejected)


def test_importing_revoker_loads_no_framework_client_or_driver() -> None:
    """The Lambda cold start depends on a light import: no web framework, httpx or driver."""
    code = (
        "import sys, revoker, revoker.core.authorizer, revoker.core.registry;"
        "heavy = {'starlette', 'fastapi', 'uvicorn', 'httpx', 'redis', 'psycopg', 'boto3',"
        " 'botocore', 'prometheus_client', 'click', 'jwt'};"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"


def test_importing_revoker_integrations_loads_no_web_framework() -> None:
    """``revoker.integrations`` (the Principal, the Guard, the settings mapping) loads no
    framework: each one comes in only with its own module."""
    code = (
        "import sys, revoker, revoker.integrations, revoker.integrations.guard,"
        " revoker.integrations.config;"
        "heavy = {'starlette', 'fastapi', 'flask', 'werkzeug', 'django', 'rest_framework',"
        " 'pydantic', 'anyio', 'uvicorn', 'gunicorn', 'waitress', 'httpx', 'redis', 'psycopg',"
        " 'boto3', 'prometheus_client', 'click', 'jwt'};"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"


def test_each_integration_loads_only_its_own_framework() -> None:
    """The Flask module loads no Django or Starlette; the Django one no DRF until named."""
    code = (
        "import sys, importlib;"
        "importlib.import_module(sys.argv[1]);"
        "print(sorted({'starlette', 'fastapi', 'flask', 'django', 'rest_framework'}"
        " & set(sys.modules)))"
    )
    expected = {
        "revoker.integrations.flask": "['flask']",
        "revoker.integrations.django": "['django']",
        "revoker.integrations.starlette": "['starlette']",
        "revoker.integrations.fastapi": "['fastapi', 'starlette']",
    }
    for module, loaded in expected.items():
        out = subprocess.run(
            [sys.executable, "-c", code, module], capture_output=True, text=True, check=True
        ).stdout.strip()
        assert out == loaded, module
