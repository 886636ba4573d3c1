"""Tokens minted by moto's Cognito, an issuer nobody on this team wrote, verified by revoker.

moto's tokens differ from real Cognito's in ways that matter here:

- the header is ``{"typ": "JWT", "kid": "dummy", "alg": "RS256"}``; real Cognito
  sends no ``typ`` and a per-pool kid. revoker ignores ``typ``, so both verify;
- every pool of every region is signed by one fixed key (moto's
  ``cognitoidp/resources/jwks-private.json``), so a token from one pool passes
  another pool's signature check: only the issuer check tells pools apart;
- the JWKS is served by moto's ``CognitoIdpJsonWebKeyResponse`` for the usual
  ``{issuer}/.well-known/jwks.json``; here it is called in-process, no network.

Claims are Cognito-shaped (``token_use``, ``client_id`` on access tokens, ``aud``
on ID tokens, a shared ``origin_jti``); moto's clock is the wall clock, so each
test pins a FrozenClock to the token's own ``iat``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.cognitoidp.responses import CognitoIdpJsonWebKeyResponse

from revoker.core.clock import FrozenClock
from revoker.core.errors import TokenExpired, WrongAudience, WrongIssuer, WrongTokenUse
from revoker.core.jwks import JwksCache, JwksSource, cognito_issuer, parse_jwks
from revoker.core.tokens import parse_unverified
from revoker.core.verify import VerificationPolicy, Verifier, verify_signature

REGION = "us-east-1"
USERNAME = "alice"
PASSWORD = "Corr3ct-Horse-Battery!"


class MotoJwksFetcher:
    """A JwksFetcher that asks moto's own JWKS endpoint handler, in-process."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def fetch_json(self, url: str) -> dict[str, Any]:
        self.calls.append(url)
        status, _, body = CognitoIdpJsonWebKeyResponse.serve_json_web_key(None, url, {})
        assert status == 200
        document: dict[str, Any] = json.loads(body)
        return document


@dataclass(frozen=True)
class Pool:
    """A moto user pool with one app client and one confirmed user."""

    client: Any
    pool_id: str
    client_id: str

    @property
    def issuer(self) -> str:
        return cognito_issuer(REGION, self.pool_id)

    def admin_login(self) -> dict[str, str]:
        result = self.client.admin_initiate_auth(
            UserPoolId=self.pool_id,
            ClientId=self.client_id,
            AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": USERNAME, "PASSWORD": PASSWORD},
        )
        tokens: dict[str, str] = result["AuthenticationResult"]
        return tokens

    def user_login(self) -> dict[str, str]:
        result = self.client.initiate_auth(
            ClientId=self.client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": USERNAME, "PASSWORD": PASSWORD},
        )
        tokens: dict[str, str] = result["AuthenticationResult"]
        return tokens

    def refresh(self, refresh_token: str) -> dict[str, str]:
        result = self.client.initiate_auth(
            ClientId=self.client_id,
            AuthFlow="REFRESH_TOKEN_AUTH",
            AuthParameters={"REFRESH_TOKEN": refresh_token},
        )
        tokens: dict[str, str] = result["AuthenticationResult"]
        return tokens


def create_pool(client: Any, name: str) -> Pool:
    pool_id = client.create_user_pool(PoolName=name)["UserPool"]["Id"]
    client_id = client.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName=f"{name}-app",
        ExplicitAuthFlows=[
            "ALLOW_USER_PASSWORD_AUTH",
            "ALLOW_ADMIN_USER_PASSWORD_AUTH",
            "ALLOW_REFRESH_TOKEN_AUTH",
        ],
    )["UserPoolClient"]["ClientId"]
    client.admin_create_user(
        UserPoolId=pool_id,
        Username=USERNAME,
        TemporaryPassword="Temp-Passw0rd!",
        MessageAction="SUPPRESS",
    )
    client.admin_set_user_password(
        UserPoolId=pool_id, Username=USERNAME, Password=PASSWORD, Permanent=True
    )
    return Pool(client=client, pool_id=pool_id, client_id=client_id)


@pytest.fixture
def cognito() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("cognito-idp", region_name=REGION)


@pytest.fixture
def pool(cognito: Any) -> Pool:
    return create_pool(cognito, "revoker-test")


def verifier_for(
    pool: Pool,
    token: str,
    *,
    token_use: frozenset[str] = frozenset({"id", "access"}),
    fetcher: MotoJwksFetcher | None = None,
) -> Verifier:
    """A verifier for ``pool`` on a clock pinned one second after ``token`` was issued."""
    clock = FrozenClock(parse_unverified(token).claims["iat"] + 1)
    cache = JwksCache(
        JwksSource.from_cognito(REGION, pool.pool_id),
        fetcher=fetcher or MotoJwksFetcher(),
        clock=clock,
    )
    policy = VerificationPolicy(
        issuers=(pool.issuer,), audience=(pool.client_id,), token_use=token_use
    )
    return Verifier(policy, {pool.issuer: cache}, clock=clock)


@pytest.mark.parametrize("login", ["admin_login", "user_login"])
def test_moto_id_token_verifies(pool: Pool, login: str) -> None:
    """moto's ID token verifies: aud is the app client, token_use is id."""
    token = getattr(pool, login)()["IdToken"]
    verified = verifier_for(pool, token).verify(token)
    assert verified.token_use == "id"
    assert verified.claims["aud"] == pool.client_id
    assert verified.claims["cognito:username"] == USERNAME
    assert verified.issuer == pool.issuer


@pytest.mark.parametrize("login", ["admin_login", "user_login"])
def test_moto_access_token_verifies(pool: Pool, login: str) -> None:
    """moto's access token verifies: client_id is the app client (no aud), token_use access."""
    token = getattr(pool, login)()["AccessToken"]
    verified = verifier_for(pool, token).verify(token)
    assert verified.token_use == "access"
    assert verified.claims["client_id"] == pool.client_id
    assert "aud" not in verified.claims
    assert verified.claims["username"] == USERNAME


def test_token_use_separates_moto_tokens(pool: Pool) -> None:
    """An access-only verifier refuses moto's ID token, and an ID-only one the access token."""
    tokens = pool.admin_login()
    access_only = verifier_for(pool, tokens["AccessToken"], token_use=frozenset({"access"}))
    id_only = verifier_for(pool, tokens["IdToken"], token_use=frozenset({"id"}))
    assert access_only.verify(tokens["AccessToken"])
    assert id_only.verify(tokens["IdToken"])
    with pytest.raises(WrongTokenUse):
        access_only.verify(tokens["IdToken"])
    with pytest.raises(WrongTokenUse):
        id_only.verify(tokens["AccessToken"])


def test_another_app_client_is_refused(cognito: Any, pool: Pool) -> None:
    """A token for one app client fails a verifier expecting another client of the same pool."""
    other_client_id = cognito.create_user_pool_client(
        UserPoolId=pool.pool_id, ClientName="other-app"
    )["UserPoolClient"]["ClientId"]
    other = Pool(client=cognito, pool_id=pool.pool_id, client_id=other_client_id)
    tokens = pool.admin_login()
    for name in ("AccessToken", "IdToken"):
        with pytest.raises(WrongAudience):
            verifier_for(other, tokens[name]).verify(tokens[name])


def test_moto_header_differs_from_real_cognito(pool: Pool) -> None:
    """moto adds typ and uses kid 'dummy'; revoker accepts the header all the same."""
    tokens = pool.admin_login()
    for name in ("AccessToken", "IdToken"):
        header = parse_unverified(tokens[name]).header
        assert header == {"typ": "JWT", "kid": "dummy", "alg": "RS256"}
        assert verifier_for(pool, tokens[name]).verify(tokens[name]).kid == "dummy"


def test_jwks_comes_from_the_cognito_url(pool: Pool) -> None:
    """revoker asks for {issuer}/.well-known/jwks.json, which moto serves with kid 'dummy'."""
    fetcher = MotoJwksFetcher()
    token = pool.admin_login()["AccessToken"]
    verifier_for(pool, token, fetcher=fetcher).verify(token)
    assert set(fetcher.calls) == {pool.issuer + "/.well-known/jwks.json"}
    assert set(parse_jwks(fetcher.fetch_json(fetcher.calls[0]))) == {"dummy"}


def test_pools_share_moto_key_so_the_issuer_check_matters(cognito: Any, pool: Pool) -> None:
    """Pool A's token passes pool B's signature check (one key for all); the issuer refuses it."""
    other = create_pool(cognito, "other-pool")
    token = pool.admin_login()["AccessToken"]
    other_keys = parse_jwks(MotoJwksFetcher().fetch_json(other.issuer + "/.well-known/jwks.json"))
    verify_signature(parse_unverified(token), other_keys["dummy"])  # no error: same key
    with pytest.raises(WrongIssuer):
        verifier_for(other, token).verify(token)


def test_access_and_id_tokens_share_origin_jti(pool: Pool) -> None:
    """Both tokens of a login carry the refresh token's origin_jti, and a refresh keeps it."""
    first = pool.admin_login()
    access = verifier_for(pool, first["AccessToken"]).verify(first["AccessToken"])
    identity = verifier_for(pool, first["IdToken"]).verify(first["IdToken"])
    assert access.origin_jti is not None
    assert access.origin_jti == identity.origin_jti
    assert access.jti != identity.jti
    refreshed = pool.refresh(first["RefreshToken"])
    renewed = verifier_for(pool, refreshed["IdToken"]).verify(refreshed["IdToken"])
    assert renewed.origin_jti == access.origin_jti


def test_moto_tokens_expire_after_an_hour(pool: Pool) -> None:
    """moto's tokens live 3600 s; past exp plus leeway they are expired."""
    token = pool.admin_login()["AccessToken"]
    verifier = verifier_for(pool, token)
    verified = verifier.verify(token)
    assert verified.expires_at - verified.issued_at == 3600
    assert isinstance(verifier.clock, FrozenClock)
    verifier.clock.now = verified.expires_at + verifier.policy.leeway_seconds
    with pytest.raises(TokenExpired):
        verifier.verify(token)
