"""Between a Cognito username and its ``sub``, through the user pool's admin API.

Tokens carry ``sub``; CloudTrail's admin events carry the ``username`` the
admin typed; AdminUserGlobalSignOut wants a username. ``AdminGetUser`` goes
one way, ``ListUsers`` with a ``sub = "…"`` filter the other. A user who no
longer exists (AdminDeleteUser) resolves to None: its sub cannot be known.
"""

from __future__ import annotations

import re

from revoker.aws.clients import AwsClients, aws_error_code, aws_errors

__all__ = ["CognitoUsers"]

# A sub is a UUID in Cognito; anything with quotes or backslashes could not be filtered safely.
_SUB = re.compile(r"[A-Za-z0-9_.:@+-]{1,128}")


class CognitoUsers:
    """Resolves usernames and subs in a user pool (boto3 ``cognito-idp``)."""

    def __init__(self, clients: AwsClients) -> None:
        self._clients = clients

    def sub_of(self, user_pool_id: str, username: str) -> str | None:
        """The ``sub`` of ``username`` (or an alias of it); None if no such user exists."""
        client = self._clients.get("cognito-idp")
        try:
            user = client.admin_get_user(UserPoolId=user_pool_id, Username=username)
        except aws_errors() as exc:
            if aws_error_code(exc) == "UserNotFoundException":
                return None
            raise
        for attribute in user.get("UserAttributes", []):
            if attribute.get("Name") == "sub" and isinstance(attribute.get("Value"), str):
                return str(attribute["Value"])
        return None

    def username_of(self, user_pool_id: str, sub: str) -> str | None:
        """The username whose ``sub`` this is; None if none (or the sub cannot be a filter)."""
        if not _SUB.fullmatch(sub):
            return None
        client = self._clients.get("cognito-idp")
        found = client.list_users(UserPoolId=user_pool_id, Filter=f'sub = "{sub}"', Limit=1)
        for user in found.get("Users", []):
            username = user.get("Username")
            if isinstance(username, str) and username:
                return username
        return None
