"""Cognito-shaped tokens minted by moto's Cognito (an issuer this project did not write).

``MotoPool`` creates a user pool with one app client and users on moto's
in-process Cognito (inside an active ``mock_aws``), signs them in, and serves
the pool's JWKS to revoker through ``MotoJwksFetcher`` (moto's own JWKS
handler, called in-process). moto's clock is the wall clock, so a test pins
its ``FrozenClock`` just after the tokens' ``iat`` (``clock_after``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from moto.cognitoidp.responses import CognitoIdpJsonWebKeyResponse

from revoker.core.clock import FrozenClock
from revoker.core.jwks import cognito_issuer
from revoker.core.tokens import parse_unverified

REGION = "us-east-1"
PASSWORD = "Corr3ct-Horse-Battery!"


class MotoJwksFetcher:
    """A ``JwksFetcher`` that asks moto's JWKS endpoint handler, in-process."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def fetch_json(self, url: str) -> dict[str, Any]:
        self.calls.append(url)
        status, _, body = CognitoIdpJsonWebKeyResponse.serve_json_web_key(None, url, {})
        assert status == 200
        document: dict[str, Any] = json.loads(body)
        return document


@dataclass
class MotoPool:
    """A moto user pool with one app client; ``login`` signs a user in (creating it once)."""

    client: Any
    pool_id: str = ""
    client_id: str = ""
    subs: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, client: Any, name: str = "revoker-aws") -> MotoPool:
        pool = cls(client)
        pool.pool_id = client.create_user_pool(PoolName=name)["UserPool"]["Id"]
        pool.client_id = client.create_user_pool_client(
            UserPoolId=pool.pool_id,
            ClientName=f"{name}-app",
            ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        )["UserPoolClient"]["ClientId"]
        client.create_group(GroupName="staff", UserPoolId=pool.pool_id)
        return pool

    @property
    def issuer(self) -> str:
        return cognito_issuer(REGION, self.pool_id)

    def env(self, **extra: str) -> dict[str, str]:
        """The environment a function trusting this pool runs with."""
        return {
            "REVOKER_ISSUER": self.issuer,
            "REVOKER_AUDIENCE": self.client_id,
            "REVOKER_TOKEN_USE": "any",
            "REVOKER_STORE": "memory://",
            **extra,
        }

    def login(self, username: str) -> dict[str, str]:
        """Sign ``username`` in (created on first use, in group ``staff``): its tokens."""
        if username not in self.subs:
            self.client.admin_create_user(
                UserPoolId=self.pool_id,
                Username=username,
                TemporaryPassword="Temp-Passw0rd!",
                MessageAction="SUPPRESS",
            )
            self.client.admin_set_user_password(
                UserPoolId=self.pool_id, Username=username, Password=PASSWORD, Permanent=True
            )
            self.client.admin_add_user_to_group(
                UserPoolId=self.pool_id, Username=username, GroupName="staff"
            )
            user = self.client.admin_get_user(UserPoolId=self.pool_id, Username=username)
            attributes = {a["Name"]: a["Value"] for a in user["UserAttributes"]}
            self.subs[username] = attributes["sub"]
        result = self.client.admin_initiate_auth(
            UserPoolId=self.pool_id,
            ClientId=self.client_id,
            AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD},
        )
        tokens: dict[str, str] = result["AuthenticationResult"]
        return tokens


def clock_after(*tokens: str) -> FrozenClock:
    """A frozen clock one second after the latest ``iat`` among ``tokens``."""
    return FrozenClock(max(float(parse_unverified(t).claims["iat"]) for t in tokens) + 1)
