"""A local, Cognito-shaped issuer: try revoker without an AWS account.

It signs users in, refreshes and revokes like a Cognito user pool, in
Cognito's wire format (boto3's ``cognito-idp`` client works against it), and
mints tokens with Cognito's claims, header and kid shape. It also reproduces
the gap revoker exists for: after ``RevokeToken`` or ``GlobalSignOut`` the
refresh token stops working, but the JWTs already issued still verify.

Modules: ``users`` (who may sign in), ``keys`` (signing, rotation),
``issuer`` (the logic, no HTTP), ``server`` (HTTP, ``run_issuer``).
"""

from __future__ import annotations

from .issuer import DEFAULT_CLIENT_ID, CognitoError, DevIssuer
from .keys import cognito_kid
from .server import DEFAULT_POOL_ID, DevIssuerServer, run_issuer
from .users import DEFAULT_USERS, DevUser, load_users, parse_user_flag

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_POOL_ID",
    "DEFAULT_USERS",
    "CognitoError",
    "DevIssuer",
    "DevIssuerServer",
    "DevUser",
    "cognito_kid",
    "load_users",
    "parse_user_flag",
    "run_issuer",
]
