"""revoker: JWT verification with real revocation.

The front door: build a ``Verifier`` (or ``Settings`` + ``build_verifier``),
give it a ``Registry`` in an ``Authorizer``, and ``check(token)`` returns a
``Decision`` with a stable reason code. Importing this package loads no web
framework, no HTTP client and no store driver.
"""

from revoker.authorizer import Authorizer, Decision
from revoker.errors import (
    CannotDecide,
    ConfigurationError,
    RevokerError,
    StoreError,
    TokenRejected,
)
from revoker.jwks import JwksCache, JwksSource
from revoker.settings import Settings, build_verifier
from revoker.verify import VerificationPolicy, VerifiedToken, Verifier

__all__ = [
    "Authorizer",
    "CannotDecide",
    "ConfigurationError",
    "Decision",
    "JwksCache",
    "JwksSource",
    "RevokerError",
    "Settings",
    "StoreError",
    "TokenRejected",
    "VerificationPolicy",
    "VerifiedToken",
    "Verifier",
    "build_verifier",
]
