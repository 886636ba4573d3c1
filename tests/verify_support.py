"""Helpers shared by the verifier suites (test_verify*.py): factories, policies, token surgery.

The fixtures that use them (``factory``, ``ec_factory``) live in tests/conftest.py.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from revoker.core.clock import FrozenClock
from revoker.core.errors import (
    RevokerError,
)
from revoker.core.jwks import JwksCache, JwksSource
from revoker.core.tokens import b64url_decode, b64url_encode
from revoker.core.verify import (
    VerificationPolicy,
    Verifier,
)
from revoker.testing import StaticJwksFetcher, TokenFactory

NOW = 1_700_000_000
OTHER_ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_OtherPool"


# --- helpers -------------------------------------------------------------------


def fresh(template: TokenFactory) -> TokenFactory:
    """The template's key (RSA generation is slow) on a clock of its own."""
    factory = copy.copy(template)
    factory.clock = FrozenClock(NOW)
    return factory


def jwks_url(factory: TokenFactory) -> str:
    return factory.issuer + "/.well-known/jwks.json"


def policy_for(factory: TokenFactory, **overrides: Any) -> VerificationPolicy:
    """A policy trusting the factory, with any field overridden (``audience=None`` included)."""
    fields: dict[str, Any] = {
        "issuers": (factory.issuer,),
        "audience": (factory.client_id,),
        "token_use": frozenset({"id", "access"}),
        "algorithms": frozenset({factory.alg}),
    }
    fields.update(overrides)
    return VerificationPolicy(**fields)


def verifier_for(
    factory: TokenFactory,
    policy: VerificationPolicy | None = None,
    *,
    jwks: dict[str, Any] | None = None,
    fetcher: StaticJwksFetcher | None = None,
) -> Verifier:
    fetcher = fetcher or StaticJwksFetcher(factory.jwks() if jwks is None else jwks)
    cache = JwksCache(JwksSource.from_url(jwks_url(factory)), fetcher=fetcher, clock=factory.clock)
    return Verifier(policy or policy_for(factory), {factory.issuer: cache}, clock=factory.clock)


def rejected(
    verifier: Verifier, token: str, error: type[RevokerError], reason: str
) -> RevokerError:
    """``verify`` raises exactly ``error`` with ``reason``."""
    with pytest.raises(error) as info:
        verifier.verify(token)
    assert type(info.value) is error
    assert info.value.reason == reason
    return info.value


def replace_signature(token: str, signature: bytes) -> str:
    return token.rsplit(".", 1)[0] + "." + b64url_encode(signature)


def replace_header(token: str, header: dict[str, Any]) -> str:
    _, payload, signature = token.split(".")
    return f"{b64url_encode(json.dumps(header).encode())}.{payload}.{signature}"


def replace_payload(token: str, payload: bytes) -> str:
    header, _, signature = token.split(".")
    return f"{header}.{b64url_encode(payload)}.{signature}"


def with_token_use(factory: TokenFactory, kind: str, token_use: Any) -> str:
    """A token whose token_use is set apart from its kind (None drops the claim)."""
    # base_claims takes token_use as its own parameter, so it cannot be overridden there.
    claims = factory.base_claims(kind)
    claims["token_use"] = token_use
    return factory.sign({k: v for k, v in claims.items() if v is not None})


def signature_of(token: str) -> bytes:
    return b64url_decode(token.rsplit(".", 1)[1])
