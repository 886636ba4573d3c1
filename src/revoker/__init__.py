"""revoker: JWT verification with real revocation.

The front door: ``Revoker.from_settings(load_settings())`` composes a verifier,
a registry and an authorizer from the one settings declaration (flags, the
environment, ``revoker.toml``); ``revoker.operations.check(token)`` returns a
``Decision`` with a stable reason code. The parts (``Verifier``, ``Authorizer``)
can also be built by hand.

The names below are loaded on first use (PEP 562), so importing ``revoker``,
or any module under it (``revoker.aws.lambda_authorizer`` for one), runs no
more than this file: no cryptography, no web framework, no HTTP client and no
store driver until a name that needs one is touched.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from revoker.app.compose import Revoker, build_verifier
    from revoker.app.settings import Settings
    from revoker.app.sources import load_settings
    from revoker.core.authorizer import Authorizer, Decision
    from revoker.core.errors import (
        CannotDecide,
        ConfigurationError,
        RevokerError,
        StoreError,
        TokenRejected,
    )
    from revoker.core.jwks import JwksCache, JwksSource
    from revoker.core.verify import VerificationPolicy, VerifiedToken, Verifier

__all__ = [
    "Authorizer",
    "CannotDecide",
    "ConfigurationError",
    "Decision",
    "JwksCache",
    "JwksSource",
    "Revoker",
    "RevokerError",
    "Settings",
    "StoreError",
    "TokenRejected",
    "VerificationPolicy",
    "VerifiedToken",
    "Verifier",
    "build_verifier",
    "load_settings",
]

# name -> the module that defines it
_HOMES = {
    "Authorizer": "revoker.core.authorizer",
    "Decision": "revoker.core.authorizer",
    "CannotDecide": "revoker.core.errors",
    "ConfigurationError": "revoker.core.errors",
    "RevokerError": "revoker.core.errors",
    "StoreError": "revoker.core.errors",
    "TokenRejected": "revoker.core.errors",
    "JwksCache": "revoker.core.jwks",
    "JwksSource": "revoker.core.jwks",
    "Revoker": "revoker.app.compose",
    "Settings": "revoker.app.settings",
    "build_verifier": "revoker.app.compose",
    "load_settings": "revoker.app.sources",
    "VerificationPolicy": "revoker.core.verify",
    "VerifiedToken": "revoker.core.verify",
    "Verifier": "revoker.core.verify",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'revoker' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
