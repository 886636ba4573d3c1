"""Shared fixtures. Tests that need Redis or PostgreSQL skip without them,
unless REVOKER_REQUIRE_SERVICES=1 (CI), where a missing service fails."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from revoker.devissuer import DevIssuerServer, DevUser
from revoker.testing import TokenFactory
from shared_fixtures import need_fixtures
from verify_support import fresh

REPO_ROOT = Path(__file__).resolve().parents[1]


def require_services() -> bool:
    return os.environ.get("REVOKER_REQUIRE_SERVICES", "") in ("1", "true", "yes")


def service_missing(what: str) -> None:
    """Skip on a laptop without the service; fail in CI, where it must be there."""
    if require_services():
        pytest.fail(f"{what} is required (REVOKER_REQUIRE_SERVICES=1) but unreachable")
    pytest.skip(f"{what} is not running here")


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """``../shared/fixtures``; skips without it (fails under REVOKER_REQUIRE_SERVICES=1)."""
    return need_fixtures()


@pytest.fixture(scope="session")
def dev_issuer() -> Iterator[DevIssuerServer]:
    """A Cognito-shaped issuer on an ephemeral loopback port, for the whole session."""
    users = [DevUser(username="alice", password="alice-password", email="alice@example.com")]
    with DevIssuerServer(users=users) as server:
        yield server


@pytest.fixture
def login(dev_issuer: DevIssuerServer) -> Callable[[], dict[str, str]]:
    """Signs alice in at the dev issuer; returns the AuthenticationResult tokens."""

    def sign_in() -> dict[str, str]:
        result = dev_issuer.issuer_obj.initiate_auth(
            {
                "AuthFlow": "USER_PASSWORD_AUTH",
                "ClientId": dev_issuer.issuer_obj.client_id,
                "AuthParameters": {"USERNAME": "alice", "PASSWORD": "alice-password"},
            }
        )
        tokens: dict[str, str] = result["AuthenticationResult"]
        return tokens

    return sign_in


# --- the verifier suites' factories (test_verify*.py; helpers in verify_support.py) ---


@pytest.fixture(scope="session")
def rs256_template() -> TokenFactory:
    return TokenFactory()


@pytest.fixture(scope="session")
def es256_template() -> TokenFactory:
    return TokenFactory(alg="ES256", kid="ec-key-1")


@pytest.fixture
def factory(rs256_template: TokenFactory) -> TokenFactory:
    """An RS256 factory on a frozen clock of its own (suites may define their own ``factory``)."""
    return fresh(rs256_template)


@pytest.fixture
def ec_factory(es256_template: TokenFactory) -> TokenFactory:
    return fresh(es256_template)
